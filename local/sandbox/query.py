"""GET list semantics: the SEARCH header (`field[op]=value&…`, AND-ed, nested through references), sort,
`page[number]`/`page[limit]` paging and `expand[field][]` (nested: `expand[token][][customer][]`).

Only the operators the official SDK documents (splash-api.md §1): `equals` (ignores case), `greater`, `less`,
`like` (`%`), `in` (comma list) and `sort`. Any other (`exact`, `notin`, `notlike`, `diff`, seen only in a
third-party client) is refused with `query_error`, so code relying on one fails here, not silently in production."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.sandbox.errors import refuse
from local.sandbox.resources import Resource
from local.sandbox.store import Record, Store, public
from local.sandbox.tables import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX

OPS = frozenset({"equals", "greater", "less", "like", "in"})
_KEY = re.compile(r"^([A-Za-z0-9_]+)((?:\[[^\[\]]*\])+)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
ExpandTree = dict[str, "ExpandTree"]


@dataclass(frozen=True)
class Condition:
    path: tuple[str, ...]
    op: str
    value: str


@dataclass(frozen=True)
class Search:
    conditions: tuple[Condition, ...] = ()
    sort: tuple[tuple[tuple[str, ...], bool], ...] = ()  # (path, descending), most significant first


def parse_search(header: str, resource: Resource) -> Search:
    """Parse `SEARCH: a[op]=v&b[sort]=desc` (not URL-encoded). Unknown op/field or compound or/and → query_error."""
    conditions, sort = [], []
    for clause in filter(None, header.strip().split("&")):
        key, sep, value = clause.partition("=")
        match = _KEY.match(key.strip())
        if not sep or not match:
            raise refuse("query_error", msg=f"Cannot parse search clause {clause!r}")
        *path, op = (match.group(1), *_PART.findall(match.group(2)))
        if not path or path[0] not in resource.columns:
            raise refuse("query_error", msg=f"{resource.name} has no field {path[0] if path else op!r}")
        if op == "sort":
            if value.strip().lower() not in ("asc", "desc"):
                raise refuse("query_error", msg=f"A sort is asc or desc, not {value!r}")
            sort.append((tuple(path), value.strip().lower() == "desc"))
        elif op in OPS:
            conditions.append(Condition(tuple(path), op, value))
        else:
            raise refuse("query_error", msg=f"Unknown search operator {op!r} in {clause!r}")
    return Search(tuple(conditions), tuple(sort))


def reference(store: Store, field: str, value: Any) -> Record | None:
    """The public record a field's value points to: a token by its token string, a payment by its `g…` id,
    anything else by its prefixed id."""
    if field == "token":
        target = store.token_by_value(value)
    elif field == "payment" and isinstance(value, str) and value in store.instruments:
        return store.instruments[value].public(value)
    else:
        target = store.resolve(value)
    return public(target) if target else None


def field_value(store: Store, record: Record, path: tuple[str, ...]) -> Any:
    value: Any = record.get(path[0])
    for parent, part in zip(path, path[1:], strict=False):
        holder = value if isinstance(value, dict) else reference(store, parent, value)
        value = holder.get(part) if holder else None
    return value


def _comparable(actual: Any, expected: str) -> tuple[Any, Any]:
    if isinstance(actual, int) and not isinstance(actual, bool):
        try:
            return actual, int(expected)
        except ValueError:
            raise refuse("query_error", msg=f"{expected!r} is not a number") from None
    return str(actual).casefold(), expected.casefold()


def _like(actual: Any, pattern: str) -> bool:
    regex = ".*".join(re.escape(piece) for piece in pattern.split("%"))
    return re.fullmatch(regex, str(actual), re.IGNORECASE | re.DOTALL) is not None


def matches(actual: Any, op: str, expected: str) -> bool:
    if actual is None:
        return False
    if op == "in":
        return any(matches(actual, "equals", item) for item in expected.split(","))
    if op == "like":
        return _like(actual, expected)
    left, right = _comparable(actual, expected)
    return bool({"equals": left == right, "greater": left > right, "less": left < right}[op])


def apply_search(store: Store, rows: list[Record], search: Search) -> list[Record]:
    found = [r for r in rows if all(matches(field_value(store, r, c.path), c.op, c.value) for c in search.conditions)]
    for path, descending in reversed(search.sort):  # stable sorts, least significant key first
        keyed = [(_sort_key(field_value(store, r, path)), r) for r in found]
        keyed.sort(key=lambda pair: pair[0], reverse=descending)
        found = [r for _, r in keyed]
    return found


def _sort_key(value: Any) -> tuple[bool, Any]:
    """Nulls first ascending; values of one column share a type, so they compare."""
    return value is not None, value if isinstance(value, int | str) else str(value)


@dataclass(frozen=True)
class Page:
    number: int
    limit: int

    def slice(self, rows: list[Record]) -> tuple[list[Record], dict[str, Any]]:
        last = max(1, -(-len(rows) // self.limit))
        start = (self.number - 1) * self.limit
        return rows[start : start + self.limit], {"current": self.number, "last": last, "hasMore": self.number < last}


def parse_page(args: Mapping[str, str]) -> Page:
    number, limit = args.get("page[number]", "1"), args.get("page[limit]", str(PAGE_LIMIT_DEFAULT))
    if not number.isdigit() or not limit.isdigit() or int(number) < 1 or int(limit) < 1:
        raise refuse("query_error", msg="page[number] and page[limit] are positive integers")
    return Page(int(number), min(int(limit), PAGE_LIMIT_MAX))


def parse_expand(keys: list[str]) -> ExpandTree:
    """`expand[customer][]`, `expand[token][][customer][]` → {"customer": {}}, {"token": {"customer": {}}}."""
    tree: ExpandTree = {}
    for key in keys:
        if not key.startswith("expand["):
            continue
        node = tree
        for part in filter(None, _PART.findall(key)):
            node = node.setdefault(part, {})
    return tree


def expand(store: Store, record: Record, tree: ExpandTree) -> Record:
    """Replace each named reference by the record it points to (unknown names are ignored)."""
    for field, subtree in tree.items():
        target = reference(store, field, record.get(field))
        if target is not None:
            record[field] = expand(store, target, subtree)
    return record
