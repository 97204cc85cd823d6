"""The Splash web alert PracticePay needs: which events on which resources, delivered to our webhook with the
static header. `make run` registers it with the sandbox; after a deploy, `make splash-alert URL=…` registers it
with Splash (README, "Deploy"), reading the API key and the header from SPLASH_CREDENTIALS."""

from __future__ import annotations

import argparse
import sys

from practicepay.splash.models import Resource
from practicepay.splash.outbound import AlertActionRequest, AlertRequest, AlertTriggerRequest

TRIGGERS: tuple[tuple[str, Resource], ...] = (
    ("txn.approved", Resource.TXNS),
    ("txn.failed", Resource.TXNS),
    ("txn.settled", Resource.TXNS),
    ("txn.returned", Resource.TXNS),
    ("create", Resource.ENTITY_RETURNS),
    ("update", Resource.MERCHANTS),  # boarding, boarded, held, closed …
    ("create", Resource.CHARGEBACKS),  # chargeback.created/opened …: a dispute (issue #19)
    ("update", Resource.CHARGEBACKS),  # closed, won, lost, a new cycle
    ("create", Resource.DISBURSEMENTS),  # a deposit
    ("update", Resource.DISBURSEMENTS),  # processing, processed, failed, returned
    ("create", Resource.PAYMENT_UPDATES),  # an account-updater result
)


def alert_request(url: str, header_name: str, header_value: str, login: str, *, retries: int = 5) -> AlertRequest:
    """The alert, owned by `login` and scoped to its activity (`forlogin`): the merchants PracticePay boards and
    their txns are that login's. Whether system-driven changes (batch capture, settlement, returns) fire for a
    login scope is undocumented; the status poll covers them either way."""
    return AlertRequest(
        login=login,
        forlogin=login,
        name="PracticePay status hints",
        description="Txn, return and merchant changes; PracticePay fetches each record before acting on it.",
        alertTriggers=[AlertTriggerRequest(event=event, resource=resource) for event, resource in TRIGGERS],
        alertActions=[AlertActionRequest(value=url, headerName=header_name, headerValue=header_value, retries=retries)],
    )


def register(webhook_url: str) -> str:
    """Register the alert with the Splash this process is configured for (SPLASH_HOST, SPLASH_CREDENTIALS)."""
    from practicepay.splash.wiring import splash_client, splash_credentials

    creds = splash_credentials()
    if creds.login_id is None:
        raise SystemExit(
            "error: SPLASH_CREDENTIALS has no login_id: add the API key's Payrix login (t1_log_… / p1_log_…, in the "
            'portal under Settings → Logins) as "login_id"; the web alert is owned by and scoped to it.'
        )
    header = creds.webhook_header_value.get_secret_value()
    body = alert_request(webhook_url, creds.webhook_header_name, header, creds.login_id)
    return splash_client().create_alert(body).id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Register PracticePay's web alert with Splash.")
    parser.add_argument(
        "url", help="the deployed webhook, e.g. https://abc123.execute-api.us-east-1.amazonaws.com/v1/webhooks/splash"
    )
    args = parser.parse_args(argv)
    print(register(args.url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
