"""The evidence packet for a chargeback: a PDF the practice reviews and we upload to Payrix (`chargebackDocuments`).

The packet is built from our own records only: the invoice, the payment, the stored-credential consent, the
messages we sent and the pay page's identity check. `Evidence` is that input as plain data, so this module does no
I/O and can be tested on its own; whoever gathers the records masks addresses and turns visit lines into generic
descriptors (`generic_description`) before they get here. HIPAA's minimum-necessary rule applies to a card network
too: the packet says what was bought and when, never which condition was treated, and never carries a CPT code.

One section per page, its heading the page's first line, so a reviewer at the bank finds what they look for."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC

from fpdf import FPDF
from fpdf.fonts import FontFace

from practicepay.clock import from_iso

PAGE_TITLES = (
    "Chargeback response",
    "Invoice",
    "Payment and authorization",
    "Communications",
    "Identity verification",
)
MAX_PACKET_BYTES = 2_000_000
"""Payrix's limit per chargeback document (2 MB; 10 MB per chargeback in all)."""


@dataclass(frozen=True)
class EvidenceLine:
    """One invoice line as the packet shows it: `description` is a generic descriptor, amounts in cents."""

    description: str
    service_date: str | None
    quantity: int
    unit_amount: int
    amount: int


@dataclass(frozen=True)
class EvidenceMessage:
    """A message we sent the payer; `to` is already masked (`m•••@example.com`, `•••0142`)."""

    kind: str
    channel: str
    to: str
    status: str
    sent_at: str | None
    delivered_at: str | None


@dataclass(frozen=True)
class EvidenceConsent:
    """The payer's authorization to charge the stored method (`max_amount`: a cap per charge in cents)."""

    text_version: str
    accepted_at: str
    channel: str
    captured_by: str
    max_amount: int | None
    text: str | None


@dataclass(frozen=True)
class IdentityCheck:
    """The pay page's identity check, e.g. question "date of birth", outcome "passed"."""

    at: str
    question: str
    outcome: str


@dataclass(frozen=True)
class Evidence:
    practice_name: str
    practice_contact: str | None
    merchant_id: str
    chargeback_id: str
    reason_code: str | None
    reason: str | None
    cycle: str | None
    dispute_amount: int
    reply_by: str | None
    issued_on: str | None
    payment_id: str
    payment_amount: int
    payment_created_at: str
    payment_channel: str
    method_kind: str
    method_brand: str | None
    method_last4: str | None
    splash_txn_id: str | None
    amount_refunded: int
    invoice_id: str
    invoice_issued_at: str | None
    invoice_due_date: str
    invoice_total: int
    lines: tuple[EvidenceLine, ...]
    consent: EvidenceConsent | None
    messages: tuple[EvidenceMessage, ...]
    identity: IdentityCheck | None
    note: str | None
    generated_at: str


_CPT = re.compile(r"(\d{5})(?:[-\s]+[A-Za-z0-9]{2})*")
"""A CPT Category I code, optionally with modifiers (`99213-25`)."""
_DESCRIPTORS = (
    (99201, 99499, "Office visit"),
    (80000, 89999, "Laboratory test"),
    (70000, 79999, "Imaging"),
    (90281, 90399, "Vaccine / injection"),
    (90460, 90749, "Vaccine / injection"),
    (96360, 96549, "Infusion / injection"),
    (10004, 69990, "Procedure"),
)


def generic_description(cpt_code: str | None) -> str:
    """What was bought, in words a bank reviewer understands, without saying which condition was treated: the CPT
    section the code belongs to (evaluation and management, lab, imaging, ...). Anything else, including HCPCS and
    Category II/III codes, is a "Medical service"."""
    match = _CPT.fullmatch((cpt_code or "").strip())
    if match:
        number = int(match.group(1))
        for low, high, descriptor in _DESCRIPTORS:
            if low <= number <= high:
                return descriptor
    return "Medical service"


# -- text ------------------------------------------------------------------------------------------------------

_PLAIN = str.maketrans(
    {
        "•": "*",
        "‣": "*",
        "—": "-",
        "–": "-",
        "‐": "-",
        "‑": "-",
        "−": "-",
        "‘": "'",
        "’": "'",
        "‚": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "…": "...",
        "€": "EUR",
        "\t": " ",
        "\r": "",
    }
)
_PAGES_ALIAS = "\x1fpages\x1f"
"""fpdf2 replaces this with the page count wherever it is drawn; `_latin1` strips control characters from every
text we draw, so no note or id can contain it (fpdf2's default, `{nb}`, a note could)."""


def _latin1(text: str) -> str:
    """`text` in characters the core Helvetica font can draw (Latin-1): typographic punctuation turned plain, other
    letters folded to their base letter where there is one (ś -> s), combining marks and control characters dropped,
    and anything else (emoji, CJK) a "?". Never raises, whatever the input."""
    out = []
    for char in text.translate(_PLAIN):
        code = ord(char)
        if char == "\n" or 32 <= code < 127 or 160 <= code < 256:
            out.append(char)
        elif code < 160 or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        else:
            folded = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode("latin-1")
            out.append("".join(c for c in folded if 32 <= ord(c) < 127 or 160 <= ord(c) < 256) or "?")
    return "".join(out)


def _money(cents: int) -> str:
    """Integer cents as dollars, `$1,234.56` (integer arithmetic: no float ever rounds a cent)."""
    dollars, rest = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}${dollars:,}.{rest:02d}"


def _day(timestamp: str) -> str:
    """The date part of an ISO timestamp, for sentences; anything else as given."""
    return timestamp[:10] if re.match(r"\d{4}-\d{2}-\d{2}", timestamp) else timestamp


def _given(value: str | None) -> str:
    return value if value else "Not given"


_PAYMENT_CHANNELS = {
    "api": "charged by the practice (its staff or clinical platform, through the PracticePay API)",
    "pay_page": "paid by the payer on PracticePay's pay page, opened from a pay link sent to them",
    "autopay": "a scheduled autopay charge of the stored method (a payment plan or membership)",
    "desk": "taken by the practice's staff at the front desk (PracticePay's dashboard), the payer present",
}
_CONSENT_CHANNELS = {
    "in_person": "in person",
    "phone": "by phone",
    "online": "online",
    "paper": "on a paper form",
    "pay_page": "on the pay page",
}
_KINDS = {
    "statement": "Statement",
    "reminder": "Reminder",
    "autopay_notice": "Autopay notice",
    "payment_failed": "Failed-payment notice",
    "receipt": "Receipt",
    "payment_returned": "Returned-payment notice",
}
_SENT_BY = {"email": "emailed", "sms": "texted"}
_SUMMARIZED_KINDS = ("statement", "autopay_notice", "receipt")
"""The messages a dispute turns on: the bill, the advance notice of a scheduled charge and the receipt."""


def _channel(channel: str) -> str:
    return _PAYMENT_CHANNELS.get(channel, channel)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _kind(kind: str) -> str:
    return _KINDS.get(kind, kind.replace("_", " ").capitalize())


def _method(evidence: Evidence) -> str:
    name = "Bank account" if evidence.method_kind == "bank_account" else evidence.method_brand or "Card"
    return f"{name} ending {evidence.method_last4}" if evidence.method_last4 else name


def _summary(evidence: Evidence) -> list[str]:
    """The facts of the packet in sentences, each one only when the record behind it is present."""
    count = len(evidence.lines)
    issued = f", issued {_day(evidence.invoice_issued_at)}" if evidence.invoice_issued_at else ""
    facts = [
        f"The disputed payment {evidence.payment_id} of {_money(evidence.payment_amount)} was made on "
        f"{_day(evidence.payment_created_at)} with {_method(evidence)} ({_channel(evidence.payment_channel)}).",
        f"It paid invoice {evidence.invoice_id} ({_money(evidence.invoice_total)}, {count} service "
        f"line{'' if count == 1 else 's'}{issued}).",
    ]
    consent = evidence.consent
    if consent is not None:
        who, what = (
            ("account holder", "debits from a stored bank account")
            if evidence.method_kind == "bank_account"
            else ("cardholder", "a stored card")
        )
        facts.append(
            f"The {who} authorized {what} on {_day(consent.accepted_at)} (consent text {consent.text_version}, "
            f"{_CONSENT_CHANNELS.get(consent.channel, consent.channel)})."
        )
    others = 0
    for message in evidence.messages:
        if message.kind not in _SUMMARIZED_KINDS or message.status not in ("sent", "delivered"):
            others += 1
            continue
        when = f" on {_day(message.sent_at)}" if message.sent_at else ""
        outcome = "and delivered" if message.status == "delivered" else "(delivery not confirmed)"
        verb = _SENT_BY.get(message.channel, f"sent by {message.channel}")
        facts.append(
            f"{'An' if message.kind == 'autopay_notice' else 'A'} {_kind(message.kind).lower()} was {verb} "
            f"to {message.to}{when} {outcome}."
        )
    if others:
        listed = "1 other message to the payer is" if others == 1 else f"{others} other messages to the payer are"
        facts.append(f"{listed} listed under Communications.")
    identity = evidence.identity
    if identity is not None:
        check = f"identity check ({identity.question}) on {_day(identity.at)}"
        passed = identity.outcome == "passed"
        facts.append(f"The payer passed an {check}." if passed else f"The payer's {check}: {identity.outcome}.")
    if evidence.amount_refunded:
        facts.append(f"{_money(evidence.amount_refunded)} of this payment was refunded.")
    else:
        facts.append("No refund was issued for this payment.")
    return facts


# -- the PDF ---------------------------------------------------------------------------------------------------


class _Packet(FPDF):
    """Letter pages in Helvetica; every page carries the packet's footer, and a page a long section runs onto says
    which section it continues, so no page of the packet is without its heading."""

    def __init__(self, chargeback_id: str, generated_at: str) -> None:
        super().__init__(format="Letter", unit="mm")
        self.footer_text = _latin1(
            f"PracticePay evidence packet · chargeback {chargeback_id} · generated {generated_at} · page "
        )
        self.section = ""
        self.continued = False
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(True, margin=20)
        self.alias_nb_pages(_PAGES_ALIAS)

    def header(self) -> None:
        if self.continued:
            self.set_font("Helvetica", "B", 11)
            self.cell(0, 7, f"{self.section} (continued)", new_x="LMARGIN", new_y="NEXT")
            self.ln(2)
        self.continued = True

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", "", 7)
        self.set_text_color(90)
        self.cell(0, 5, f"{self.footer_text}{self.page_no()} of {_PAGES_ALIAS}", align="C")
        self.set_text_color(0)

    def start(self, title: str) -> None:
        """A new page whose first line is the section's heading."""
        self.section = title
        self.continued = False
        self.add_page()
        self.set_font("Helvetica", "B", 16)
        self.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
        self.ln(3)
        self.set_font("Helvetica", "", 10)

    def subheading(self, text: str) -> None:
        self.ln(4)
        self.set_font("Helvetica", "B", 12)
        self.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 10)

    def fields(self, rows: Iterable[tuple[str, str]]) -> None:
        for label, value in rows:
            self.set_font("Helvetica", "B", 10)
            self.cell(52, 6, _latin1(label))
            self.set_font("Helvetica", "", 10)
            self.multi_cell(0, 6, _latin1(value), align="L", new_x="LMARGIN", new_y="NEXT")

    def paragraph(self, text: str) -> None:
        self.multi_cell(0, 5, _latin1(text), align="L", new_x="LMARGIN", new_y="NEXT")

    def bullets(self, items: Iterable[str]) -> None:
        for item in items:
            self.cell(6, 5, "-")
            self.multi_cell(0, 5, _latin1(item), align="L", new_x="LMARGIN", new_y="NEXT")
            self.ln(1)

    def grid(
        self,
        widths: tuple[int, ...],
        align: tuple[str, ...],
        rows: list[tuple[str, ...]],
        total: tuple[str, ...] | None = None,
    ) -> None:
        """A table, its first row the headings (repeated on a page it runs onto); `total` a bold last row."""
        self.set_font("Helvetica", "", 8)
        with self.table(
            col_widths=widths,
            text_align=align,
            headings_style=FontFace(emphasis="BOLD"),
            line_height=4.5,
            padding=1,
        ) as table:
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(_latin1(value))
            if total is not None:
                row = table.row(style=FontFace(emphasis="BOLD"))
                for value in total:
                    row.cell(_latin1(value))
        self.set_font("Helvetica", "", 10)


def render_packet(evidence: Evidence) -> bytes:
    """The packet as PDF bytes. The same evidence gives the same bytes (the creation date is `generated_at`), so a
    packet can be rebuilt to check what was uploaded."""
    pdf = _Packet(evidence.chargeback_id, evidence.generated_at)
    pdf.set_title(_latin1(f"Chargeback {evidence.chargeback_id} evidence"))
    pdf.set_creator("PracticePay")
    pdf.set_lang("en-US")
    created = from_iso(evidence.generated_at)
    pdf.set_creation_date(created if created.tzinfo else created.replace(tzinfo=UTC))

    _first_page(pdf, evidence)
    _invoice_page(pdf, evidence)
    _payment_page(pdf, evidence)
    _communications_page(pdf, evidence)
    _identity_page(pdf, evidence)
    return bytes(pdf.output())


def _first_page(pdf: _Packet, evidence: Evidence) -> None:
    pdf.start(PAGE_TITLES[0])
    reason = " - ".join(part for part in (evidence.reason_code, evidence.reason) if part)
    pdf.fields(
        [
            ("Merchant", evidence.practice_name),
            *([("Contact", evidence.practice_contact)] if evidence.practice_contact else []),
            ("Payrix merchant id", evidence.merchant_id),
            ("Chargeback id", evidence.chargeback_id),
            ("Reason", _given(reason)),
            ("Cycle", _given(evidence.cycle)),
            ("Disputed amount", _money(evidence.dispute_amount)),
            ("Issued", _given(evidence.issued_on)),
            ("Reply by", _given(evidence.reply_by)),
        ]
    )
    if evidence.note:
        pdf.subheading("Note from the practice")
        pdf.paragraph(evidence.note)
    pdf.subheading("Summary of evidence")
    pdf.bullets(_summary(evidence))


def _invoice_page(pdf: _Packet, evidence: Evidence) -> None:
    pdf.start(PAGE_TITLES[1])
    pdf.fields(
        [
            ("Invoice id", evidence.invoice_id),
            ("Issued", _given(evidence.invoice_issued_at)),
            ("Due", evidence.invoice_due_date),
        ]
    )
    pdf.ln(4)
    rows = [("Description", "Service date", "Qty", "Unit", "Amount")]
    rows += [
        (line.description, line.service_date or "", str(line.quantity), _money(line.unit_amount), _money(line.amount))
        for line in evidence.lines
    ]
    pdf.grid(
        (44, 18, 8, 15, 15),
        ("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
        rows,
        total=("Total", "", "", "", _money(evidence.invoice_total)),
    )


def _payment_page(pdf: _Packet, evidence: Evidence) -> None:
    pdf.start(PAGE_TITLES[2])
    refunded = _money(evidence.amount_refunded) if evidence.amount_refunded else "None"
    pdf.fields(
        [
            ("Payment id", evidence.payment_id),
            ("Splash transaction id", _given(evidence.splash_txn_id)),
            ("Amount", _money(evidence.payment_amount)),
            ("Date", evidence.payment_created_at),
            ("Channel", _sentence(_channel(evidence.payment_channel))),
            ("Method", _method(evidence)),
            ("Refunded", refunded),
        ]
    )
    pdf.subheading("Stored-credential consent")
    consent = evidence.consent
    if consent is None:
        pdf.paragraph("No stored-credential consent on file (a one-time payment).")
        return
    pdf.fields(
        [
            ("Consent text version", consent.text_version),
            ("Accepted at", consent.accepted_at),
            ("Channel", _CONSENT_CHANNELS.get(consent.channel, consent.channel)),
            ("Captured by", consent.captured_by),
            ("Cap per charge", _money(consent.max_amount) if consent.max_amount is not None else "No cap"),
        ]
    )
    if consent.text:
        pdf.subheading("Authorization text the payer accepted")
        pdf.paragraph(consent.text)


def _communications_page(pdf: _Packet, evidence: Evidence) -> None:
    pdf.start(PAGE_TITLES[3])
    if not evidence.messages:
        pdf.paragraph("No messages on record.")
        return
    rows = [("Kind", "Channel", "To", "Status", "Sent", "Delivered")]
    rows += [
        (_kind(m.kind), m.channel, m.to, m.status, m.sent_at or "", m.delivered_at or "") for m in evidence.messages
    ]
    pdf.grid((16, 9, 21, 12, 21, 21), ("LEFT",) * 6, rows)


def _identity_page(pdf: _Packet, evidence: Evidence) -> None:
    pdf.start(PAGE_TITLES[4])
    identity = evidence.identity
    if identity is None:
        pdf.paragraph("No identity check on record (the payment was not made on the pay page).")
        return
    pdf.fields([("Checked at", identity.at), ("Question", identity.question), ("Outcome", identity.outcome)])
    pdf.ln(3)
    pdf.paragraph(
        "PracticePay's pay page shows nothing but the practice's name until the payer answers this check about the "
        f"patient ({identity.question}); the invoice and the payment form come only after it."
    )
