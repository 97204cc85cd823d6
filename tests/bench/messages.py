"""Patient messages for `make bench` (issue #18): what one statement (email and text), one reminder and one repeat
of an event cost in time and AWS calls, and how long each kind of text is. Alone: `BENCH_ONLY=messages make bench`
(printed; BENCHMARKS.md is left alone).

The messages service runs in this process against the embedded AWS (moto over HTTP): SES and SNS are moto's, so the
send calls' times are moto's, not AWS's; call counts are exact (botocore, every client)."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
PRACTICE = "prc_bench_messages"
RUNS = 30
SMS_CONSENT = {"text_version": "sms-1", "accepted_at": "2026-12-01T15:30:00Z", "captured_by": "b", "channel": "paper"}
LONG_NAME = "Lakeshore Family Medicine Grp."  # 30 characters
LONG_URL = "https://pay.lakeshorefamilymed.com/pay/" + "Ab3_-x" * 5 + "Zq9"  # 72 characters


def _sms_lengths() -> dict[str, dict[str, int]]:
    from practicepay.messages import render
    from practicepay.messages.models import Kind

    lengths: dict[str, dict[str, int]] = {}
    for language in ("en", "es"):
        for kind in Kind:
            values = render.context(
                practice=LONG_NAME, amount=123_456, day="2027-01-05", phone="2175550199", link=LONG_URL,
                language=language, card="Mastercard ending in 4444", card_short="Mastercard *4444", overdue=True,
            )  # fmt: skip
            length = render.gsm7_length(render.render(kind, values).sms)
            lengths.setdefault(kind.value, {})[language] = -1 if length is None else length
    return lengths


def measure_messages() -> dict[str, Any]:
    from tests.bench.money import Counter
    from tests.standalone import board, standalone_stack

    with standalone_stack(SECRET) as stack:
        board(stack, PRACTICE, "Bench Family Practice")
        from practicepay.adapters.vault import PhiVault
        from practicepay.ids import new_id
        from practicepay.invoices.models import InvoiceRecord
        from practicepay.invoices.store import InvoiceStore
        from practicepay.messages.models import MessagingChange
        from practicepay.messages.wiring import message_service
        from practicepay.patients.models import DEMOGRAPHICS
        from practicepay.patients.store import PatientRecord, PatientStore

        env = stack.env
        service = message_service()
        vault = PhiVault(env["DATA_KEY_ARN"])
        patients = PatientStore(env["PATIENTS_TABLE"])
        invoices = InvoiceStore(env["INVOICES_TABLE"])
        now = datetime.now(UTC).replace(hour=15)  # 10:00 in New York: texts go at once
        service.clock = lambda: now

        def patient(n: int) -> str:
            pid = new_id("pat")
            demographics = {
                "first_name": "Bench", "last_name": f"Patient{n}", "date_of_birth": "1980-01-01",
                "email": f"bench{n}@example.com", "phone": f"+1312555{n:04d}",
            }  # fmt: skip
            sealed = vault.seal(demographics, practice_id=PRACTICE, purpose=DEMOGRAPHICS)
            stamp = now.isoformat()
            patients.create(PatientRecord(PRACTICE, pid, f"ehr-bench-{n}", sealed, stamp, stamp))
            service.change_messaging(PRACTICE, pid, MessagingChange.model_validate({"sms_consent": SMS_CONSENT}))
            return pid

        def invoice(pid: str) -> dict[str, Any]:
            iid = new_id("inv")
            due = (now + timedelta(days=20)).date().isoformat()
            stamp = now.isoformat()
            record = InvoiceRecord(
                practice_id=PRACTICE, id=iid, patient_id=pid, status="open", currency="usd", due_date=due,
                line_items_sealed="eA==", line_item_count=1, subtotal=12_500, total=12_500, amount_paid=0,
                created_at=stamp, updated_at=stamp,
            )  # fmt: skip
            invoices.put_new(record, patients_table=env["PATIENTS_TABLE"])
            return {
                "event_id": new_id("evt"), "occurred_at": stamp, "practice_id": PRACTICE, "invoice_id": iid,
                "patient_id": pid, "status": "open", "currency": "usd", "total": 12_500, "amount_due": 12_500,
                "due_date": due,
            }  # fmt: skip

        counter = Counter()
        details = [invoice(patient(n)) for n in range(RUNS + 1)]
        service.on_event("invoice.issued", details.pop())  # warm: data keys, the practice, the HMAC cache
        counter.take()
        statement_ms = []
        for detail in details:
            started = time.perf_counter()
            service.on_event("invoice.issued", detail)
            statement_ms.append((time.perf_counter() - started) * 1000)
        statement_calls = counter.take()
        repeat_ms = []
        for detail in details:
            started = time.perf_counter()
            assert service.on_event("invoice.issued", {**detail, "event_id": new_id("evt")}) == []
            repeat_ms.append((time.perf_counter() - started) * 1000)
        repeat_calls = counter.take()
        # The first reminder of each (3 days before the due date, 10:00 patient time): one sweep sends them all.
        sweep_at = now + timedelta(days=17, hours=1)
        started = time.perf_counter()
        counts = service.sweep(sweep_at)
        sweep_ms = (time.perf_counter() - started) * 1000
        sweep_calls = counter.take()
        assert counts["reminders"] >= RUNS, counts
    per = float(RUNS)
    return {
        "runs": RUNS,
        "statement": (statistics.median(statement_ms), sorted(statement_ms)[int(0.9 * (RUNS - 1))]),
        "statement_calls": {k: v / per for k, v in sorted(statement_calls.items())},
        "repeat": (statistics.median(repeat_ms), sorted(repeat_ms)[int(0.9 * (RUNS - 1))]),
        "repeat_calls": {k: v / per for k, v in sorted(repeat_calls.items())},
        "sweep_ms": sweep_ms,
        "reminders": counts["reminders"],
        "sweep_calls": {k: v / counts["reminders"] for k, v in sorted(sweep_calls.items())},
        "sms": _sms_lengths(),
    }


def _calls(calls: dict[str, float]) -> str:
    return ", ".join(f"{name} {round(value, 2):g}" for name, value in calls.items()) or "—"


def render(figures: dict[str, Any]) -> list[str]:
    sms = figures["sms"]
    lines = [
        "## Patient messages (issue #18)",
        "",
        f"The messages service in process over the embedded AWS (moto over HTTP: SES and SNS are moto's), "
        f"{figures['runs']} patients with an email, a phone and consent to texts, after one warm-up. Per statement "
        "(one `invoice.issued`: an email and a text, each with its own pay link, and the invoice's reminder "
        "schedule); per repeat of the same fact under another event id (claimed already: nothing sent); per "
        "reminder in one sweep. AWS calls by service:operation at the botocore client, per message event.",
        "",
        "| operation | p50 ms | p90 ms | AWS calls |",
        "|---|---|---|---|",
        f"| statement (email + text) | {figures['statement'][0]:.1f} | {figures['statement'][1]:.1f} | "
        f"{_calls(figures['statement_calls'])} |",
        f"| the same statement again | {figures['repeat'][0]:.1f} | {figures['repeat'][1]:.1f} | "
        f"{_calls(figures['repeat_calls'])} |",
        f"| a reminder, in a sweep of {figures['reminders']} ({figures['sweep_ms']:.0f} ms in all) | "
        f"{figures['sweep_ms'] / figures['reminders']:.1f} | — | {_calls(figures['sweep_calls'])} |",
        "",
        f"Each text's length in GSM-7 septets with a {len(LONG_NAME)}-character practice name, a {len(LONG_URL)}-"
        "character pay link and $1,234.56 (one part holds 160):",
        "",
        "| kind | en | es |",
        "|---|---|---|",
        *[f"| {kind} | {by['en']} | {by['es']} |" for kind, by in sms.items()],
        "",
    ]
    return lines


def main() -> int:
    print("\n".join(render(measure_messages())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
