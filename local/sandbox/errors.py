"""Splash error items (`{field?, code, severity, msg, errorCode}`) and the collector the rules fill in."""

from __future__ import annotations

from typing import Any

from local.sandbox.tables import ERRORS

ErrorItem = dict[str, Any]


def error_item(error_code: str, field: str | None = None, msg: str | None = None) -> ErrorItem:
    kind = ERRORS[error_code]
    item: ErrorItem = {"field": field} if field else {}
    item.update(code=kind.code, severity=kind.severity, msg=msg or kind.msg, errorCode=error_code)
    return item


class ApiError(Exception):
    """The request is refused: answered with these errors and empty data (HTTP 200 unless it is bad syntax),
    nothing stored."""

    def __init__(self, errors: list[ErrorItem], status: int = 200):
        super().__init__(", ".join(f"{e.get('field', '-')}: {e['errorCode']}" for e in errors))
        self.errors = errors
        self.status = status


class Problems:
    """Collects every problem of a request, as Splash reports all failing fields at once."""

    def __init__(self) -> None:
        self.errors: list[ErrorItem] = []

    def add(self, error_code: str, field: str | None = None, msg: str | None = None) -> None:
        self.errors.append(error_item(error_code, field, msg))

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ApiError(self.errors)


def refuse(error_code: str, field: str | None = None, msg: str | None = None) -> ApiError:
    return ApiError([error_item(error_code, field, msg)])
