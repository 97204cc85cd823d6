"""The base of every request body model: unknown fields are refused (a typo is a 422, never silently dropped) and
surrounding whitespace is stripped from strings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
