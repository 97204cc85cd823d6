"""The pay page's forms as posted (application/x-www-form-urlencoded: every value a string), checked strictly:
each field a bounded pattern, unknown fields refused; the values are converted here, never trusted as typed."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Token = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
SubmitId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16,43}$")]
Csrf = Annotated[str, Field(min_length=16, max_length=64)]
Lang = Literal["en", "es"]
Stamp = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")]
Checked = Literal["on"]
_AMOUNT = re.compile(r"\d{0,9}(\.\d{1,2})?")


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    csrf: Csrf
    lang: Lang = "en"


class IdentityForm(_Form):
    dob_month: Annotated[str, Field(pattern=r"^\d{1,2}$")] | None = None
    dob_day: Annotated[str, Field(pattern=r"^\d{1,2}$")] | None = None
    dob_year: Annotated[str, Field(pattern=r"^\d{4}$")] | None = None
    last_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    postal_code: Annotated[str, Field(pattern=r"^\d{5}(-?\d{4})?$")] | None = None

    @property
    def date_of_birth(self) -> date | None:
        try:
            return date(int(self.dob_year or ""), int(self.dob_month or ""), int(self.dob_day or ""))
        except ValueError:
            return None

    def complete(self, mode: str) -> bool:
        """Whether this is an answer to the practice's question (a real date; or a last name and a ZIP code)."""
        if mode == "date_of_birth":
            return self.date_of_birth is not None
        return self.last_name is not None and self.postal_code is not None


class _Submit(_Form):
    submit_id: SubmitId
    started: Stamp
    token: Token


class PayForm(_Submit):
    method: Literal["card", "bank"]
    amount_choice: Literal["full", "other"]
    amount: Annotated[str, Field(max_length=12)] = ""
    save: Checked | None = None
    ach_consent: Checked | None = None

    @model_validator(mode="after")
    def _bank_needs_consent(self) -> PayForm:
        if self.method == "bank" and self.ach_consent is None:
            raise ValueError("ach_consent: the debit authorization must be accepted")
        return self

    @property
    def saved(self) -> bool:
        """Kept on file: a card the patient asked to save (a bank account here is for this one debit only)."""
        return self.save == "on" and self.method == "card"

    def amount_cents(self) -> int | None:
        """ "12.34", "$1,234.5" or "20" as cents; None when it is no amount."""
        text = self.amount.replace("$", "").replace(",", "").strip()
        if not text or not _AMOUNT.fullmatch(text):  # digits and at most 2 decimals: no NaN, Infinity, 1e400, 1_000
            return None
        cents = int(Decimal(text) * 100)
        return cents if cents > 0 else None


class PlanForm(_Submit):
    installments: Annotated[str, Field(pattern=r"^\d{1,2}$")]
    first: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]

    @model_validator(mode="after")
    def _real_date(self) -> PlanForm:
        date.fromisoformat(self.first)  # 2025-13-45 is no date (a ValueError is a validation error here)
        return self

    plan_consent: Checked

    @property
    def count(self) -> int:
        return int(self.installments)

    @property
    def first_date(self) -> date:
        return date.fromisoformat(self.first)
