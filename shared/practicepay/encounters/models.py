"""An encounter's charges as the clinical platform sends them (POST /events/encounters, or its EventBridge bus)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, StrictInt, model_validator

from practicepay.api.models import StrictRequest, examples
from practicepay.invoices.models import (
    EXTERNAL_ID,
    MAX_INVOICE_TOTAL,
    MAX_LINE_ITEMS,
    MAX_QUANTITY,
    Cents,
    Invoice,
    IsoDate,
)
from practicepay.practices.models import PRACTICE_ID


class EncounterCharge(StrictRequest):
    service_date: IsoDate = Field(description="When the service was provided, YYYY-MM-DD.")
    description: str = Field(min_length=1, max_length=500, description="What was provided. PHI: stored encrypted.")
    cpt_code: str | None = Field(
        default=None, pattern=r"^[0-9]{4}[0-9A-Z]$", description="CPT/HCPCS code. PHI: stored encrypted."
    )
    quantity: StrictInt = Field(default=1, ge=1, le=MAX_QUANTITY)
    amount: Cents = Field(description="The unit amount in integer cents (the patient's responsibility).")


class Encounter(StrictRequest):
    model_config = examples(
        {
            "encounter_id": "enc-2026-118734",
            "revision": 1,
            "patient_external_id": "ehr-58213",
            "due_date": "2027-01-04",
            "charges": [
                {
                    "service_date": "2026-12-01",
                    "description": "Office visit, established patient, 30 minutes",
                    "cpt_code": "99214",
                    "amount": 18500,
                },
                {"service_date": "2026-12-01", "description": "Lipid panel", "cpt_code": "80061", "amount": 4500},
            ],
        }
    )

    encounter_id: str = Field(pattern=EXTERNAL_ID, description="The platform's encounter id (no PHI).")
    revision: StrictInt = Field(
        ge=1, le=1_000_000, description="Increases with each correction; a revision already applied is ignored."
    )
    patient_external_id: str = Field(pattern=EXTERNAL_ID, description="The patient's external_id at PracticePay.")
    due_date: IsoDate | None = Field(default=None, description="Default: today plus the practice's payment terms.")
    charges: list[EncounterCharge] = Field(min_length=1, max_length=MAX_LINE_ITEMS)

    @model_validator(mode="after")
    def _total_in_range(self) -> Encounter:
        total = sum(c.quantity * c.amount for c in self.charges)
        if total > MAX_INVOICE_TOTAL:
            raise ValueError(f"the charges total {total} cents, over the maximum of {MAX_INVOICE_TOTAL} cents")
        return self


class EncounterMessage(Encounter):
    """The detail of an encounter event on the platform's bus: the encounter and the practice it belongs to (the
    API takes the practice from the caller's token instead)."""

    practice_id: str = Field(pattern=PRACTICE_ID)


class EncounterResult(BaseModel):
    object: Literal["encounter"] = "encounter"
    encounter_id: str
    revision: int = Field(description="The revision the invoice now reflects.")
    result: Literal["created", "updated", "unchanged"] = Field(
        description="unchanged: this revision (or a later one) was already applied; nothing was written."
    )
    invoice: Invoice


@dataclass(frozen=True)
class EncounterLink:
    """Which invoice bills an encounter, and the encounter's revision it reflects (stored as `ENCOUNTER#<id>` in
    the invoices table by practicepay.encounters.store, with the invoice it names)."""

    practice_id: str
    encounter_id: str
    invoice_id: str
    revision: int
