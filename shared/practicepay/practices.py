"""The practice record: which Splash merchant a practice charges through, and whether it is boarded.
Onboarding (issue #7) writes it; the local stack seeds a demo practice boarded in the sandbox."""

from __future__ import annotations

import time
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from pydantic import BaseModel, ConfigDict, Field, field_validator

from practicepay.adapters.dynamo import plain
from practicepay.billing.schedule import RetryPolicy
from practicepay.errors import Conflict
from practicepay.splash.models import MerchantStatus


class BillingSettings(BaseModel):
    """A practice's autopay settings (issue #7 adds the API that changes them); copied onto each plan and membership
    when it is made, so a patient's agreed schedule does not change under them."""

    model_config = ConfigDict(frozen=True)
    card_retry_days: tuple[int, ...] = Field(default=(1, 3, 7), max_length=6)
    """Soft card declines are tried again this many days after the first attempt (hard declines never are)."""
    ach_redeposit_delay_days: int = Field(default=5, ge=1, le=60)
    """An R01/R09 return is re-presented this many days after the returned presentment (NACHA: twice at most)."""
    notice_days: int = Field(default=3, ge=0, le=30)
    """How many days before each autopay charge installment.upcoming is emitted (the patient notice)."""

    @field_validator("card_retry_days")
    @classmethod
    def _increasing(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 1 or d > 60 for d in days) or list(days) != sorted(set(days)):
            raise ValueError("card_retry_days are increasing day counts from 1 to 60")
        return days

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            card_retry_days=self.card_retry_days,
            ach_redeposit_delay_days=self.ach_redeposit_delay_days,
            notice_days=self.notice_days,
        )


class Practice(BaseModel):
    model_config = ConfigDict(frozen=True)
    practice_id: str
    name: str
    splash_merchant_id: str | None = None
    merchant_status: int | None = None
    billing: BillingSettings = BillingSettings()
    updated_at: str

    def merchant_for_charging(self) -> str:
        """The boarded merchant to charge through; Conflict (409) when the practice cannot take payments yet."""
        if self.splash_merchant_id is None or self.merchant_status != MerchantStatus.BOARDED:
            raise Conflict(
                "This practice cannot take payments yet: its Splash merchant account is not boarded. "
                "Finish onboarding first."
            )
        return self.splash_merchant_id


class PracticeStore:
    """Practice records change rarely (onboarding); reads are cached per container for `cache_seconds`."""

    def __init__(self, table_name: str, resource: Any | None = None, cache_seconds: float = 60.0):
        self._table = (resource or boto3.resource("dynamodb")).Table(table_name)
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Practice]] = {}
        self._merchants: dict[str, tuple[float, Practice]] = {}

    def get(self, practice_id: str) -> Practice | None:
        item = self._table.get_item(Key={"practice_id": practice_id}, ConsistentRead=True).get("Item")
        return Practice.model_validate(plain(item)) if item else None

    def by_merchant(self, merchant_id: str) -> Practice | None:
        """The practice boarded as `merchant_id` (the by_merchant index; cached like `require`). A merchant that
        is not one of our practices' is None: its alerts and txns are not ours."""
        cached = self._merchants.get(merchant_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        out = self._table.query(
            IndexName="by_merchant", KeyConditionExpression=Key("splash_merchant_id").eq(merchant_id), Limit=2
        )
        items = out["Items"]
        practice = Practice.model_validate(plain(items[0])) if len(items) == 1 else None
        if practice is not None:
            self._merchants[merchant_id] = (time.monotonic() + self._cache_seconds, practice)
        return practice

    def set_merchant_status(self, practice: Practice, status: int, now: str) -> Practice:
        changed = practice.model_copy(update={"merchant_status": status, "updated_at": now})
        self._table.update_item(
            Key={"practice_id": practice.practice_id},
            UpdateExpression="SET merchant_status = :s, updated_at = :t",
            ExpressionAttributeValues={":s": status, ":t": now},
        )
        self._cache.pop(practice.practice_id, None)
        self._merchants.pop(practice.splash_merchant_id or "", None)
        return changed

    def put(self, practice: Practice) -> None:
        self._table.put_item(Item=practice.model_dump(exclude_none=True))
        self._cache.pop(practice.practice_id, None)

    def require(self, practice_id: str) -> Practice:
        cached = self._cache.get(practice_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        practice = self.get(practice_id)
        if practice is not None:
            self._cache[practice_id] = (time.monotonic() + self._cache_seconds, practice)
        if practice is None:
            raise Conflict("This practice is not set up for payments yet. Finish onboarding first.")
        return practice
