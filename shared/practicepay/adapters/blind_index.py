"""Keyed MACs for the patients' blind index (ADR 0018): each practice's key is derived once by KMS (GenerateMac of
the practice id under the stack's HMAC search key: the key material never leaves KMS), and each term's MAC is
HMAC-SHA-256 under that practice key. The same name in two practices has two unrelated MACs."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

import boto3

DERIVATION = b"practicepay/blind-index/v1/"
MAC_BYTES = 20


class BlindIndex:
    def __init__(self, key_id: str, client: Any | None = None) -> None:
        self._key = key_id
        self._client = client or boto3.client("kms")
        self._practice_keys: dict[str, bytes] = {}

    def _practice_key(self, practice_id: str) -> bytes:
        if practice_id not in self._practice_keys:
            out = self._client.generate_mac(
                KeyId=self._key, Message=DERIVATION + practice_id.encode(), MacAlgorithm="HMAC_SHA_256"
            )
            self._practice_keys[practice_id] = out["Mac"]
        return self._practice_keys[practice_id]

    def macs(self, practice_id: str, terms: Iterable[str]) -> list[str]:
        """The MAC of each term (hex), in order."""
        key = self._practice_key(practice_id)
        return [hmac.new(key, t.encode(), hashlib.sha256).digest()[:MAC_BYTES].hex() for t in terms]
