import io
from dataclasses import replace

import pytest
from pypdf import PdfReader

from practicepay.disputes import evidence as packet
from practicepay.disputes.evidence import (
    PAGE_TITLES,
    Evidence,
    EvidenceConsent,
    EvidenceLine,
    EvidenceMessage,
    IdentityCheck,
    generic_description,
    render_packet,
)

pytestmark = pytest.mark.unit

# The visit lines as the invoice has them: a CPT code and the words the practice typed, which name a condition.
VISIT = [
    ("99213", "Established patient visit, hypertension follow-up", "2026-11-02", 1, 12000),
    ("80053", "Comprehensive metabolic panel (diabetes monitoring)", "2026-11-02", 1, 4500),
    ("90686", "Influenza vaccine, quadrivalent", "2026-11-02", 1, 1500),
]


def lines_of(visit) -> tuple[EvidenceLine, ...]:
    """What the gatherer hands the packet: a generic descriptor in place of the code and the practice's words."""
    return tuple(
        EvidenceLine(generic_description(cpt), service_date, qty, unit, qty * unit)
        for cpt, _words, service_date, qty, unit in visit
    )


def full_evidence(**changes) -> Evidence:
    evidence = Evidence(
        practice_name="Lakeside Family Medicine",
        practice_contact="billing@lakeside.example, (312) 555-0100",
        merchant_id="t1_mer_5f1d2c3b4a5968778695a4b",
        chargeback_id="t1_chb_6a0e1f2d3c4b5a69788796a5",
        reason_code="10.4",
        reason="Other Fraud - Card Absent Environment",
        cycle="first",
        dispute_amount=18000,
        reply_by="2026-12-18",
        issued_on="2026-11-28",
        payment_id="pay_01JF3Z9Q2W8X4Y6T0R5E7M1K3N",
        payment_amount=18000,
        payment_created_at="2026-11-03T16:05:12.000Z",
        payment_channel="pay_page",
        method_kind="card",
        method_brand="Visa",
        method_last4="4242",
        splash_txn_id="t1_txn_64f1a2b3c4d5e6f708192a3b",
        amount_refunded=0,
        invoice_id="inv_01JF3Z7H5D2C9B8A6E4F1G0J2K",
        invoice_issued_at="2026-11-02T18:00:00.000Z",
        invoice_due_date="2026-12-02",
        invoice_total=18000,
        lines=lines_of(VISIT),
        consent=EvidenceConsent(
            text_version="card-on-file-v2",
            accepted_at="2026-11-03T16:04:58.000Z",
            channel="pay_page",
            captured_by="patient",
            max_amount=50000,
            text="I authorize Lakeside Family Medicine to charge this card for balances I owe, up to $500.00 each.",
        ),
        messages=(
            EvidenceMessage(
                kind="statement",
                channel="email",
                to="m•••@example.com",
                status="delivered",
                sent_at="2026-11-02T18:00:05.000Z",
                delivered_at="2026-11-02T18:00:09Z",
            ),
            EvidenceMessage(
                "receipt", "email", "m•••@example.com", "delivered", "2026-11-03T16:05:20.000Z", "2026-11-03T16:05:24Z"
            ),
            EvidenceMessage("reminder", "sms", "•••0142", "sent", "2026-11-01T15:00:00.000Z", None),
        ),
        identity=IdentityCheck(at="2026-11-03T16:03:40.000Z", question="date of birth", outcome="passed"),
        note="The patient paid on our pay page after passing the date-of-birth check; the card was saved with consent.",
        generated_at="2026-12-02T16:40:00.000Z",
    )
    return replace(evidence, **changes)


def pages_of(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_five_pages_each_opening_with_its_heading():
    pages = pages_of(render_packet(full_evidence()))

    assert len(pages) == len(PAGE_TITLES) == 5
    for text, title in zip(pages, PAGE_TITLES, strict=True):
        assert text.lstrip().startswith(title)


def test_footer_on_every_page_counts_the_pages():
    pages = pages_of(render_packet(full_evidence()))

    for number, text in enumerate(pages, start=1):
        assert "PracticePay evidence packet · chargeback t1_chb_6a0e1f2d3c4b5a69788796a5" in text
        assert "generated 2026-12-02T16:40:00.000Z" in text
        assert f"page {number} of 5" in text


def test_the_records_are_in_the_packet():
    first, invoice, payment, communications, identity = pages_of(render_packet(full_evidence()))

    assert "$180.00" in first and "10.4 - Other Fraud" in first and "2026-12-18" in first
    assert "The cardholder authorized a stored card on 2026-11-03 (consent text card-on-file-v2" in first
    assert "A receipt was emailed to m***@example.com on 2026-11-03 and delivered." in first
    assert "The payer passed an identity check (date of birth) on 2026-11-03." in first
    assert "No refund was issued" in first
    assert "Office visit" in invoice and "Laboratory test" in invoice and "Vaccine / injection" in invoice
    assert "$120.00" in invoice and "$180.00" in invoice
    assert "Visa ending 4242" in payment and "card-on-file-v2" in payment and "$500.00" in payment
    assert "t1_txn_64f1a2b3c4d5e6f708192a3b" in payment
    assert "m***@example.com" in communications and "***0142" in communications
    assert "date of birth" in identity and "passed" in identity


def test_no_code_and_no_words_of_the_visit_appear():
    text = "\n".join(pages_of(render_packet(full_evidence())))

    for cpt, words, *_ in VISIT:
        assert cpt not in text
        assert words not in text
    for condition in ("hypertension", "diabetes", "Influenza"):
        assert condition.lower() not in text.lower()


def test_a_note_in_any_unicode_renders():
    note = "Patient said “I never paid” — but see the receipt 👍🏽. Zoë’s card… ✓ 中文 \x00\x07 {nb}"

    first = pages_of(render_packet(full_evidence(note=note)))[0]

    assert 'Patient said "I never paid" - but see the receipt ??. Zoë\'s card... ? ??  {nb}' in first


def test_without_consent_messages_or_identity_the_packet_says_so():
    bare = full_evidence(consent=None, messages=(), identity=None, note=None, practice_contact=None)

    pages = pages_of(render_packet(bare))

    assert len(pages) == 5
    assert "No stored-credential consent on file (a one-time payment)." in pages[2]
    assert "No messages on record." in pages[3]
    assert "No identity check on record (the payment was not made on the pay page)." in pages[4]
    assert "Note from the practice" not in pages[0]


def test_a_bank_account_and_a_refund():
    text = pages_of(render_packet(full_evidence(method_kind="bank_account", method_brand=None, amount_refunded=4500)))

    assert "The account holder authorized debits from a stored bank account" in text[0]
    assert "$45.00 of this payment was refunded." in text[0]
    assert "Bank account ending 4242" in text[2]


def test_a_long_packet_stays_under_payrix_limit_and_keeps_its_headings():
    visit = [("99213", "visit", f"2026-10-{day % 28 + 1:02d}", 1 + day % 3, 12345) for day in range(100)]
    big = full_evidence(lines=lines_of(visit), note="word " * 1000 + "x" * 300)

    pdf = render_packet(big)
    pages = pages_of(pdf)

    assert len(pdf) < packet.MAX_PACKET_BYTES
    assert len(pages) > 5
    headings = [text.lstrip().split("\n", 1)[0] for text in pages]
    assert [heading for heading in headings if not heading.endswith(" (continued)")] == list(PAGE_TITLES)
    assert all(heading.removesuffix(" (continued)") in PAGE_TITLES for heading in headings)
    assert all(f"of {len(pages)}" in text for text in pages)


def test_the_same_evidence_gives_the_same_bytes():
    assert render_packet(full_evidence()) == render_packet(full_evidence())
    assert render_packet(full_evidence()) != render_packet(full_evidence(generated_at="2026-12-03T09:00:00.000Z"))


def test_metadata_names_the_chargeback_and_nobody():
    meta = PdfReader(io.BytesIO(render_packet(full_evidence()))).metadata

    assert meta.title == "Chargeback t1_chb_6a0e1f2d3c4b5a69788796a5 evidence"
    assert meta.author is None
    assert meta.creation_date.isoformat().startswith("2026-12-02T16:40:00")


@pytest.mark.parametrize(
    ("cpt", "descriptor"),
    [
        ("99201", "Office visit"),
        ("99213", "Office visit"),
        ("99499", "Office visit"),
        ("99213-25", "Office visit"),
        (" 99214 ", "Office visit"),
        ("80053", "Laboratory test"),
        ("89999", "Laboratory test"),
        ("71046", "Imaging"),
        ("90281", "Vaccine / injection"),
        ("90686", "Vaccine / injection"),
        ("90749", "Vaccine / injection"),
        ("96365", "Infusion / injection"),
        ("96549", "Infusion / injection"),
        ("10004", "Procedure"),
        ("29881", "Procedure"),
        ("69990", "Procedure"),
        ("90400", "Medical service"),
        ("99500", "Medical service"),
        ("00100", "Medical service"),
        ("3074F", "Medical service"),
        ("J1100", "Medical service"),
        ("992131", "Medical service"),
        ("", "Medical service"),
        (None, "Medical service"),
    ],
)
def test_generic_description(cpt, descriptor):
    assert generic_description(cpt) == descriptor


def test_money_is_integer_cents():
    assert packet._money(123456) == "$1,234.56"
    assert packet._money(5) == "$0.05"
    assert packet._money(-18000) == "-$180.00"
    assert packet._money(10**17 + 1) == "$1,000,000,000,000,000.01"
