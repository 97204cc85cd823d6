"""The AWS adapters that send and fingerprint: SES v2 for email (a raw MIME message: plain text and HTML, with RFC
8058 one-click unsubscribe headers), SNS for texts (through the End User Messaging SMS origination number; ADR
0016), and a KMS HMAC key for the opt-out ledger's fingerprints of addresses."""

from __future__ import annotations

import base64
import hashlib
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from functools import lru_cache
from typing import Any

import boto3

from practicepay.messages.models import Channel


class SendFailed(Exception):
    """The channel refused the message for good (a bad address, an opted-out number): not retried."""


class Email:
    def __init__(self, sender: str | None, configuration_set: str | None, client: Any | None = None) -> None:
        self.sender = sender or None
        self._configuration_set = configuration_set or None
        self._client = client or boto3.client("sesv2")

    @property
    def available(self) -> bool:
        return self.sender is not None

    def send(
        self,
        *,
        to: str,
        sender_name: str,
        reply_to: str | None,
        subject: str,
        text: str,
        html: str,
        unsubscribe_url: str | None,
        kind: str,
    ) -> str:
        message = EmailMessage()
        message["From"] = formataddr((sender_name, self.sender or ""))
        message["To"] = to
        if reply_to:
            message["Reply-To"] = reply_to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=Address(addr_spec=self.sender or "x@localhost").domain)
        if unsubscribe_url:
            message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [to]},
            "Content": {"Raw": {"Data": message.as_bytes()}},
            "EmailTags": [{"Name": "kind", "Value": kind}],
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        try:
            return self._client.send_email(**request)["MessageId"]
        except self._client.exceptions.MessageRejected as exc:
            raise SendFailed("SES rejected the message") from exc
        except self._client.exceptions.AccountSuspendedException as exc:
            raise SendFailed("SES sending is suspended for this account") from exc


class Sms:
    def __init__(self, origination: str | None, client: Any | None = None) -> None:
        self.origination = origination or None
        self._client = client or boto3.client("sns")

    @property
    def available(self) -> bool:
        return self.origination is not None

    def send(self, *, to: str, body: str) -> str:
        attributes = {
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
            "AWS.MM.SMS.OriginationNumber": {"DataType": "String", "StringValue": self.origination or ""},
        }
        try:
            return self._client.publish(PhoneNumber=to, Message=body, MessageAttributes=attributes)["MessageId"]
        except self._client.exceptions.InvalidParameterException as exc:
            raise SendFailed("SNS refused the phone number") from exc


class Fingerprints:
    """HMAC-SHA-256 of a normalized address under a KMS HMAC key: the opt-out ledger's key for an address, which
    nobody without the key can turn back into the address (a phone number has only ten digits of entropy)."""

    def __init__(self, key_id: str, client: Any | None = None) -> None:
        self._key = key_id
        self._client = client or boto3.client("kms")
        self.of = lru_cache(maxsize=1024)(self._of)

    def _of(self, channel: Channel, address: str) -> str:
        normalized = normalize(channel, address)
        out = self._client.generate_mac(
            KeyId=self._key, Message=f"{channel.value}:{normalized}".encode(), MacAlgorithm="HMAC_SHA_256"
        )
        return base64.urlsafe_b64encode(hashlib.sha256(out["Mac"]).digest()[:18]).decode()


def normalize(channel: Channel, address: str) -> str:
    """+1 and ten digits for a US number (what inbound texts name), the lower-cased address for an email."""
    if channel is Channel.SMS:
        digits = "".join(ch for ch in address if ch.isdigit())
        return "+" + (digits if len(digits) > 10 else "1" + digits)
    return address.strip().lower()
