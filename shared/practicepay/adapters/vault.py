"""PHI at rest: KMS envelope encryption with cached data keys (AWS Encryption SDK).

Every PHI blob is sealed with a data key that KMS generated under the customer-managed key, bound to an
encryption context naming the practice and the purpose; opening a blob under another practice's
context fails. Data keys are cached (for `max_age_seconds` and `max_messages` uses), so KMS is called
once per cache window per practice, not once per record or line item, for sealing and opening alike.

Why not Powertools' data-masking provider: its `decrypt` bypasses the caching materials manager (one
KMS Decrypt per record) and its default suite signs every message, which defeats the decrypt cache.
Here the suite is AES-256-GCM with HKDF and key commitment, without signatures (see docs/adr/0002).
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import botocore.session

# AES_256_GCM_HKDF_SHA512_COMMIT_KEY (aws_encryption_sdk.identifiers.Algorithm); the SDK itself is imported when a
# vault is built, so a function that never builds one (or not at import) does not load it (ADR 0013).
ALGORITHM_NAME = "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"


class VaultError(Exception):
    """A blob could not be opened: wrong practice or purpose, tampered, or not ours."""


class PhiVault:
    def __init__(
        self,
        key_arn: str,
        *,
        cache_capacity: int = 256,
        max_age_seconds: float = 300.0,
        max_messages: int = 10_000,
        botocore_session: botocore.session.Session | None = None,
    ):
        import aws_encryption_sdk
        import botocore.session
        from aws_encryption_sdk.caches.local import LocalCryptoMaterialsCache
        from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError
        from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy
        from aws_encryption_sdk.materials_managers.caching import CachingCryptoMaterialsManager

        self._algorithm = Algorithm[ALGORITHM_NAME]
        self._errors: tuple[type[Exception], ...] = (AWSEncryptionSDKClientError, ValueError)
        session = botocore_session or botocore.session.Session()
        provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn], botocore_session=session)
        self._client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        )
        self._cmm = CachingCryptoMaterialsManager(
            master_key_provider=provider,
            cache=LocalCryptoMaterialsCache(cache_capacity),
            max_age=max_age_seconds,
            max_messages_encrypted=max_messages,
        )

    @staticmethod
    def _context(practice_id: str, purpose: str) -> dict[str, str]:
        return {"practice_id": practice_id, "purpose": purpose}

    def seal(self, data: Any, *, practice_id: str, purpose: str) -> str:
        """JSON-serialize `data` and encrypt it; returns base64 text fit for a DynamoDB string attribute."""
        plaintext = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        ciphertext, _ = self._client.encrypt(
            source=plaintext,
            materials_manager=self._cmm,
            encryption_context=self._context(practice_id, purpose),
            algorithm=self._algorithm,
        )
        return base64.b64encode(ciphertext).decode()

    def open(self, blob: str, *, practice_id: str, purpose: str) -> Any:
        expected = self._context(practice_id, purpose)
        try:
            plaintext, header = self._client.decrypt(source=base64.b64decode(blob), materials_manager=self._cmm)
        except self._errors as exc:
            raise VaultError("PHI blob could not be decrypted") from exc
        if any(header.encryption_context.get(k) != v for k, v in expected.items()):
            raise VaultError("PHI blob belongs to another practice or purpose")
        return json.loads(plaintext)
