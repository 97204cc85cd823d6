"""Patients API: patients (PHI, sealed at rest) and their payment methods on file. Thin: validate, call the
service."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from practicepay.api.params import IdempotencyKey
from practicepay.api.problems import responses
from practicepay.api.resolver import build_resolver, resolve
from practicepay.auth.context import practice_id
from practicepay.invoices.models import EXTERNAL_ID
from practicepay.observability import entrypoint
from practicepay.patients.models import (
    AddPaymentMethodRequest,
    CreatePatientRequest,
    Patient,
    PatientList,
    PaymentMethod,
    PaymentMethodList,
    UpdatePatientRequest,
)
from practicepay.patients.wiring import patient_service

app = build_resolver()
PatientId = Annotated[str, Path(max_length=64)]


@app.post(
    "/patients",
    summary="Create a patient",
    tags=["patients"],
    responses=responses((201, "The patient", Patient), 400, 401, 409, 413, 415, 422),
)
def create_patient(body: CreatePatientRequest, idempotency_key: IdempotencyKey) -> Response[Patient]:
    patient = patient_service().create(practice_id(app), idempotency_key, body, app.lambda_context)
    return Response(201, "application/json", patient, headers={"Location": f"/patients/{patient.id}"})


@app.get(
    "/patients",
    summary="List patients, or find one by external_id",
    tags=["patients"],
    responses=responses((200, "Patients", PatientList), 400, 401),
)
def list_patients(
    external_id: Annotated[str | None, Query(pattern=EXTERNAL_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> PatientList:
    return patient_service().list(practice_id(app), external_id=external_id, limit=limit, cursor=cursor)


@app.get(
    "/patients/<patient_id>",
    summary="Get a patient",
    tags=["patients"],
    responses=responses((200, "The patient", Patient), 401, 404),
)
def get_patient(patient_id: PatientId) -> Patient:
    return patient_service().get(practice_id(app), patient_id)


@app.patch(
    "/patients/<patient_id>",
    summary="Change a patient's details",
    tags=["patients"],
    responses=responses((200, "The patient", Patient), 400, 401, 404, 409, 422),
)
def update_patient(patient_id: PatientId, body: UpdatePatientRequest) -> Patient:
    return patient_service().update(practice_id(app), patient_id, body)


@app.post(
    "/patients/<patient_id>/payment-methods",
    summary="Save a card or bank account on file (a Splash token)",
    tags=["payment methods"],
    responses=responses((201, "The payment method", PaymentMethod), 400, 401, 404, 409, 422, 503),
)
def add_payment_method(
    patient_id: PatientId, body: AddPaymentMethodRequest, idempotency_key: IdempotencyKey
) -> Response[PaymentMethod]:
    method = patient_service().add_method(practice_id(app), patient_id, idempotency_key, body, app.lambda_context)
    return Response(201, "application/json", method)


@app.get(
    "/patients/<patient_id>/payment-methods",
    summary="List a patient's payment methods (no tokens)",
    tags=["payment methods"],
    responses=responses((200, "Payment methods", PaymentMethodList), 401, 404),
)
def list_payment_methods(patient_id: PatientId) -> PaymentMethodList:
    return patient_service().methods(practice_id(app), patient_id)


@app.delete(
    "/patients/<patient_id>/payment-methods/<method_id>",
    summary="Remove a payment method",
    tags=["payment methods"],
    responses=responses((200, "The deactivated method", PaymentMethod), 401, 404, 503),
)
def remove_payment_method(patient_id: PatientId, method_id: Annotated[str, Path(max_length=64)]) -> PaymentMethod:
    return patient_service().remove_method(practice_id(app), patient_id, method_id)


@entrypoint(correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return resolve(app, event, context)
