import pytest

from practicepay.ids import id_pattern, new_id

pytestmark = pytest.mark.unit


def test_new_id_matches_its_pattern():
    assert id_pattern("inv").match(new_id("inv"))


def test_pattern_rejects_other_prefix_and_ambiguous_letters():
    assert not id_pattern("inv").match(new_id("pay"))
    assert not id_pattern("inv").match("inv_" + "i" * 26)


def test_ids_sort_in_time_order():
    start = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    ids = [new_id("inv", now_ms=start + step) for step in (0, 1, 2, 999, 1000, 86_400_000, 2**40)]

    assert sorted(ids) == ids


def test_ids_are_unique():
    assert len({new_id("inv") for _ in range(1000)}) == 1000
