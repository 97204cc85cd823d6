"""The rules of the patients' blind index (ADR 0018): which terms a patient is found by, and which a search asks
for. Names and dates of birth are sealed PHI; the index keeps only keyed MACs of these terms (practicepay.adapters.
blind_index), so the table can be searched without being decrypted, and a copy of it without the key says nothing.

A name is folded (NFKD, accents removed, case folded) and cut into words at anything that is not a letter; one-letter
words are dropped, but the joined form of a name of several words is kept ("O'Brien-Smith" → brien, smith and
obriensmith; "O'Brien" → brien and obrien), so a search for "obrien" or "brien" both find O'Brien. A word of three
letters or more is indexed by each prefix of 3 to MAX_PREFIX letters (`pre:`), so "smi" finds Smith; a two-letter
word (Li, Ng) whole (`name:`). A date of birth is one term (`dob:YYYY-MM-DD`).

A patient's terms are written in the transaction of its create or update, next to the deletes of its old terms, and
DynamoDB allows 100 items per transaction: MAX_WORDS and MAX_PREFIX bound a patient to MAX_TERMS terms, so an
update that changes every term (MAX_TERMS deletes + MAX_TERMS puts + the patient) fits. A search asks the index for
at most MAX_QUERY_WORDS words, each cut to MAX_PREFIX letters; `matches` then checks the unsealed candidates against
the whole query, so a longer word or a name's later words only narrow, never widen, what is found."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

MIN_PREFIX = 3
MAX_PREFIX = 8
"""Prefixes of 3..8 letters are indexed: "christoph" finds Christopherson by its first eight letters (then
`matches`)."""
MAX_WORDS = 3
"""Words of each name (first, last) indexed, besides the joined form."""
MAX_QUERY_WORDS = 4
"""Words of a query looked up in the index (one Query each); the rest are checked by `matches` only."""
MAX_TERMS = 2 * (MAX_WORDS + 1) * (MAX_PREFIX - MIN_PREFIX + 1) + 1
"""The most terms a patient can have (two names of MAX_WORDS words and their joined forms, and a birth date): 49."""


def _letters(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    return re.findall(r"[a-z]+", folded)


def words(text: str) -> list[str]:
    """The searchable words of a name or query: folded, cut at non-letters, one-letter words dropped."""
    return [w for w in _letters(text) if len(w) > 1]


def _name_words(name: str) -> list[str]:
    parts = _letters(name)
    joined = ["".join(parts)] if len(parts) > 1 else []
    return list(dict.fromkeys([w for w in parts if len(w) > 1][:MAX_WORDS] + joined))


def _word_terms(word: str) -> set[str]:
    if len(word) < MIN_PREFIX:
        return {f"name:{word}"}
    return {f"pre:{word[:n]}" for n in range(MIN_PREFIX, min(len(word), MAX_PREFIX) + 1)}


def dob_term(day: date) -> str:
    return f"dob:{day.isoformat()}"


def patient_terms(first_name: str, last_name: str, date_of_birth: date | None) -> set[str]:
    """What a patient with these names and birth date is found by (at most MAX_TERMS terms)."""
    terms = {t for name in (first_name, last_name) for w in _name_words(name) for t in _word_terms(w)}
    if date_of_birth is not None:
        terms.add(dob_term(date_of_birth))
    return terms


def query_terms(query: str | None, date_of_birth: date | None) -> list[str]:
    """What a search asks the index for, all of which a patient must have: each word of three letters or more as a
    prefix (the last one typed may be unfinished), a shorter one whole; and the birth date when given."""
    asked = [
        f"pre:{w[:MAX_PREFIX]}" if len(w) >= MIN_PREFIX else f"name:{w}" for w in words(query or "")[:MAX_QUERY_WORDS]
    ]
    if date_of_birth is not None:
        asked.append(dob_term(date_of_birth))
    return list(dict.fromkeys(asked))


def matches(
    first_name: str, last_name: str, patient_dob: date | None, query: str | None, date_of_birth: date | None
) -> bool:
    """Whether an unsealed patient answers the whole query: every word a prefix of one of its words (a short word
    equal to one), and the same birth date when one is asked."""
    if date_of_birth is not None and patient_dob != date_of_birth:
        return False
    own = [w for name in (first_name, last_name) for w in (*words(name), "".join(_letters(name)))]
    return all(any(o == w or (len(w) >= MIN_PREFIX and o.startswith(w)) for o in own) for w in words(query or ""))
