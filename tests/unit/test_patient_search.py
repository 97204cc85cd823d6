"""The blind index's rules (patients.search): how names and dates of birth become terms, and how a query does."""

from __future__ import annotations

from datetime import date

import pytest

from practicepay.patients.search import MAX_TERMS, matches, patient_terms, query_terms, words

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Zoë", ["zoe"]),
        ("JOSÉ", ["jose"]),
        ("O'Brien-Smith", ["brien", "smith"]),  # the one-letter "o" is dropped
        ("Mary  Ann", ["mary", "ann"]),
        ("Ng", ["ng"]),
        ("ﬁona", ["fiona"]),  # NFKD unfolds the ligature
        ("123 -- ", []),
    ],
)
def test_words_fold_accents_case_and_cut_at_non_letters(text, expected):
    assert words(text) == expected


def test_every_prefix_of_three_letters_or_more_is_indexed():
    terms = patient_terms("Ann", "Smith", None)
    assert {"pre:smi", "pre:smit", "pre:smith", "pre:ann"} <= terms
    assert "pre:sm" not in terms and "name:smith" not in terms


def test_a_two_letter_name_is_indexed_whole():
    assert patient_terms("Li", "Ng", None) == {"name:li", "name:ng"}


def test_the_joined_form_of_a_name_of_several_words_is_indexed():
    terms = patient_terms("Sean", "O'Brien-Smith", None)
    assert {"pre:bri", "pre:brien", "pre:smith", "pre:obr", "pre:obriensm"} <= terms
    assert "pre:o" not in terms and "name:o" not in terms
    assert "pre:obr" in patient_terms("Sean", "O'Brien", None)


def test_accents_and_case_do_not_change_the_terms():
    assert patient_terms("Zoë", "MÜLLER", date(1980, 2, 29)) == patient_terms("zoe", "muller", date(1980, 2, 29))


def test_the_date_of_birth_is_one_term():
    assert "dob:1980-02-29" in patient_terms("Ann", "Lee", date(1980, 2, 29))
    assert not any(t.startswith("dob:") for t in patient_terms("Ann", "Lee", None))


def test_a_patient_never_has_more_terms_than_a_transaction_can_move():
    longest = "Abcdefghijkl Bcdefghijklm Cdefghijklmn Defghijklmno"
    terms = patient_terms(longest, longest.lower()[::-1], date(1990, 1, 1))
    assert len(terms) <= MAX_TERMS
    assert 2 * MAX_TERMS + 1 <= 100  # every old term deleted, every new one put, and the patient


def test_a_query_asks_for_each_word_as_a_prefix_and_the_date():
    assert query_terms("smi", None) == ["pre:smi"]
    assert query_terms("Ann SMITH", date(1980, 2, 29)) == ["pre:ann", "pre:smith", "dob:1980-02-29"]
    assert query_terms("Li", None) == ["name:li"]
    assert query_terms("Christopherson", None) == ["pre:christop"]
    assert query_terms("  ", None) == []
    assert query_terms(None, date(2001, 5, 6)) == ["dob:2001-05-06"]


def test_every_indexed_query_term_is_a_term_of_the_patient_it_names():
    patient = patient_terms("Zoë", "O'Brien-Smith", date(1975, 7, 1))
    for query in ("zoe", "ZOË o'brien", "brien", "obrien", "smi", "obriensmith", "zoe smith"):
        assert set(query_terms(query, date(1975, 7, 1))) <= patient, query


def test_matches_checks_the_whole_query_against_the_unsealed_patient():
    assert matches("Chris", "Christopherson", None, "christopherson", None)
    assert not matches("Chris", "Christophe", None, "christopherson", None)  # same index prefix "christop"
    assert matches("Ann", "Smith", date(1980, 1, 1), "smi ann", date(1980, 1, 1))
    assert not matches("Ann", "Smith", date(1980, 1, 1), "smi", date(1980, 1, 2))
    assert not matches("Li", "Wong", None, "lin", None)
    assert not matches("Lin", "Wong", None, "li", None)  # a two-letter word is whole
