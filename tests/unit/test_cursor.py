import base64
import json

import pytest

from practicepay.adapters.cursors import decode_cursor, encode_cursor
from practicepay.errors import MalformedRequest

pytestmark = pytest.mark.unit


def raw_cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_round_trip_main_partition():
    key = {"pk": "PRACTICE#a", "sk": "INVOICE#inv_01"}
    cursor = encode_cursor(key)

    assert decode_cursor(cursor, "pk", "PRACTICE#a") == key
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor


def test_round_trip_patient_index():
    key = {"pk": "PRACTICE#a", "sk": "INVOICE#inv_01", "gsi1pk": "PRACTICE#a#PATIENT#p1"}

    assert decode_cursor(encode_cursor(key), "gsi1pk", "PRACTICE#a#PATIENT#p1") == key


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!not-base64!!!",
        "abc",
        "é",
        base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
        base64.urlsafe_b64encode(b"{not json").decode(),
    ],
)
def test_garbage_is_malformed(cursor):
    with pytest.raises(MalformedRequest):
        decode_cursor(cursor, "pk", "PRACTICE#a")


def test_cursor_from_another_practice_is_refused():
    cursor = encode_cursor({"pk": "PRACTICE#b", "sk": "INVOICE#inv_01"})

    with pytest.raises(MalformedRequest) as exc_info:
        decode_cursor(cursor, "pk", "PRACTICE#a")
    assert exc_info.value.status == 400
    assert exc_info.value.errors == [{"field": "cursor", "message": "cursor is invalid for this listing"}]


def test_cursor_from_another_listing_is_refused():
    cursor = encode_cursor({"pk": "PRACTICE#a", "sk": "INVOICE#inv_01"})

    with pytest.raises(MalformedRequest):
        decode_cursor(cursor, "gsi2pk", "PRACTICE#a#STATUS#draft")


@pytest.mark.parametrize("value", [["PRACTICE#a"], "PRACTICE#a", 42, None, True])
def test_non_object_json_is_refused(value):
    with pytest.raises(MalformedRequest):
        decode_cursor(raw_cursor(value), "pk", "PRACTICE#a")


@pytest.mark.parametrize(
    "key",
    [
        {"pk": "PRACTICE#a", "sk": "INVOICE#1", "practice_id": "b"},
        {"pk": "PRACTICE#a", "sk": {"S": "INVOICE#1"}},
        {"pk": "PRACTICE#a", "sk": 1},
    ],
)
def test_unexpected_keys_or_values_are_refused(key):
    with pytest.raises(MalformedRequest):
        decode_cursor(raw_cursor(key), "pk", "PRACTICE#a")


def test_deeply_nested_json_is_malformed():
    cursor = base64.urlsafe_b64encode(b"[" * 1000).decode()  # 1,336 characters

    with pytest.raises(MalformedRequest):
        decode_cursor(cursor, "pk", "PRACTICE#a")
