"""Patient search through the keyed blind index (ADR 0018), over the local stack in moto: the KMS HMAC search key
made by local.bootstrap, the patients table, and the service the patients function and the dashboard use."""

from __future__ import annotations

import json
import os
import uuid
from datetime import date

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from practicepay.adapters.dynamo import practice_pk
from practicepay.patients.models import CreatePatientRequest, UpdatePatientRequest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service(aws_env):
    from practicepay.patients.wiring import patient_service

    return patient_service()


@pytest.fixture(scope="module")
def table(aws_env):
    return boto3.resource("dynamodb").Table(os.environ["PATIENTS_TABLE"])


@pytest.fixture
def practice() -> str:
    return f"prc_search_{uuid.uuid4().hex[:10]}"


def add(service, practice: str, first: str, last: str, dob: str | None = None, external_id: str | None = None) -> str:
    body = {"external_id": external_id or f"ehr-{uuid.uuid4().hex[:8]}", "first_name": first, "last_name": last}
    if dob:
        body["date_of_birth"] = dob
    return service.create(practice, uuid.uuid4().hex, CreatePatientRequest.model_validate_json(json.dumps(body))).id


def found(service, practice: str, **asked) -> set[str]:
    return {p.id for p in service.search(practice, **asked)}


def items(table, practice: str) -> list[dict]:
    out, args = [], {"KeyConditionExpression": Key("pk").eq(practice_pk(practice))}
    while True:
        page = table.query(**args)
        out += page["Items"]
        if "LastEvaluatedKey" not in page:
            return out
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_search_by_last_name_prefix_first_and_last_and_birth_date(service, practice):
    maria = add(service, practice, "María", "López", "1984-03-09")
    mario = add(service, practice, "Mario", "Lopez", "1990-11-02")
    sean = add(service, practice, "Seán", "O'Brien-Smith", "1984-03-09")

    assert found(service, practice, query="lopez") == {maria, mario}
    assert found(service, practice, query="LÓP") == {maria, mario}
    assert found(service, practice, query="maria lopez") == {maria}
    assert found(service, practice, query="lopez mari") == {maria, mario}  # the last word is a prefix
    assert found(service, practice, query="obrien") == {sean}
    assert found(service, practice, query="smi") == {sean}
    assert found(service, practice, date_of_birth=date(1984, 3, 9)) == {maria, sean}
    assert found(service, practice, query="lop", date_of_birth=date(1984, 3, 9)) == {maria}
    assert found(service, practice, query="nobody") == set()
    assert found(service, practice, query="lo") == set()  # a two-letter word is whole, not a prefix
    [view] = service.search(practice, query="maria lopez")
    assert (view.first_name, view.last_name) == ("María", "López")  # only the patients found are unsealed


def test_a_long_name_is_found_past_a_page_of_patients_its_index_terms_also_match(service, practice):
    """An index term is at most 8 letters: "christopherson" is looked up as Christop…, which every Christopher
    matches too. The patients sought are found however many others come first, and a page says when more match."""
    for n in range(7):
        add(service, practice, f"Ann{n}", "Christopher")  # written first: their ids come first in the index
    eve = add(service, practice, "Eve", "Christopherson")
    ada = add(service, practice, "Ada", "Christophersen")
    assert found(service, practice, query="christopherson", limit=2) == {eve}
    assert found(service, practice, query="christophers", limit=2) == {eve, ada}
    assert len(service.search(practice, query="christop", limit=4)) == 4  # nine match: a full page of four
    assert len(service.search(practice, query="christop", limit=25)) == 9


def test_search_by_the_platforms_id(service, practice):
    patient = add(service, practice, "Ines", "Ng", external_id="ehr-77")
    add(service, practice, "Ines", "Ng", external_id="ehr-78")
    assert found(service, practice, external_id="ehr-77") == {patient}
    assert found(service, practice, external_id="ehr-77", query="wong") == set()  # the name must match too
    assert found(service, practice, external_id="ehr-unknown") == set()
    assert len(found(service, practice, query="ng ines")) == 2


def test_another_practices_patient_is_never_found(service, practice):
    other = f"{practice}_other"
    add(service, other, "Hana", "Kowalski")
    assert found(service, practice, query="kowalski") == set()
    assert found(service, other, query="kowalski") != set()
    assert service.index.macs(practice, ["pre:kowalski"]) != service.index.macs(other, ["pre:kowalski"])


def test_a_new_last_name_replaces_the_old_ones_index(service, practice, table):
    patient = add(service, practice, "Dana", "Whitfield", "1970-01-01")
    before = {i["sk"] for i in items(table, practice) if i["sk"].startswith("SEARCH#")}

    service.update(practice, patient, UpdatePatientRequest.model_validate_json('{"last_name": "Okafor"}'))

    assert found(service, practice, query="whitfield") == set()
    assert found(service, practice, query="whi") == set()
    assert found(service, practice, query="okafor dana") == {patient}
    assert found(service, practice, date_of_birth=date(1970, 1, 1)) == {patient}
    index = [i for i in items(table, practice) if i["sk"].startswith("SEARCH#")]
    [record] = [i for i in items(table, practice) if i["sk"] == f"PATIENT#{patient}"]
    assert {i["sk"].split("#")[1] for i in index} == set(record["search_macs"])  # nothing stale left behind
    assert before - {i["sk"] for i in index}  # the old name's items are gone


def test_no_name_or_birth_date_is_stored_in_the_clear(service, practice, table):
    add(service, practice, "Marisol", "Quintero", "1966-06-16")
    stored = items(table, practice)
    assert any(i["sk"].startswith("SEARCH#") for i in stored)
    for item in stored:  # the sealed PHI is ciphertext; the index items hold only MACs and the patient id
        text = json.dumps(item, default=str).casefold()
        for secret in ("marisol", "quintero", "1966-06-16", "19660616"):
            assert secret not in text, (secret, item["sk"])


def test_reindex_indexes_patients_written_before_the_index(service, practice, table):
    patient = add(service, practice, "Olu", "Adeyemi")
    pk = practice_pk(practice)
    for item in items(table, practice):  # as the patient was stored before search existed
        if item["sk"].startswith("SEARCH#"):
            table.delete_item(Key={"pk": pk, "sk": item["sk"]})
    table.update_item(Key={"pk": pk, "sk": f"PATIENT#{patient}"}, UpdateExpression="REMOVE search_macs")
    assert found(service, practice, query="adeyemi") == set()

    assert service.reindex(practice) == 1
    assert found(service, practice, query="adeyemi olu") == {patient}
    assert service.reindex(practice) == 0  # already indexed: nothing rewritten
