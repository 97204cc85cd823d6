"""The SEARCH header: `field[op]=value&field[op]=value` (AND-ed, not URL-encoded), plus `field[sort]=asc|desc`.

Only the operators the official SDK documents (splash-api.md §1): `equals` (ignores case), `greater`, `less`,
`like` (`%` wildcards), `in` (comma list) and `sort`. There is no case-sensitive or negated operator. A server that
does not apply a search answers everything, so a caller always checks the results on the fields it searched."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

_FORBIDDEN = set("&=[]\r\n")


def _check(text: str) -> str:
    if not text or _FORBIDDEN & set(text):
        raise ValueError(f"SEARCH value {text!r} may not be empty or contain & = [ ] or line breaks")
    return text


class Search:
    def __init__(self) -> None:
        self._parts: list[str] = []

    def _add(self, field: str, op: str, value: object) -> Search:
        self._parts.append(f"{_check(field)}[{op}]={_check(str(value))}")
        return self

    def equals(self, field: str, value: object) -> Search:
        """Equality, ignoring case: compare the results exactly client-side."""
        return self._add(field, "equals", value)

    def greater(self, field: str, value: object) -> Search:
        return self._add(field, "greater", value)

    def less(self, field: str, value: object) -> Search:
        return self._add(field, "less", value)

    def in_(self, field: str, values: Iterable[object]) -> Search:
        return self._add(field, "in", ",".join(_check(str(v)) for v in values))

    def like(self, field: str, pattern: str) -> Search:
        return self._add(field, "like", pattern)

    def sort(self, field: str, direction: Literal["asc", "desc"] = "asc") -> Search:
        return self._add(field, "sort", direction)

    def header(self) -> str:
        return "&".join(self._parts)

    def __bool__(self) -> bool:
        return bool(self._parts)
