"""The local stack's JWT signing secret: created once per checkout in .local/ (git-ignored), loaded into the
moto Secrets Manager at every start, so tokens from `make token` stay valid across restarts."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET_FILE = Path(os.environ.get("PRACTICEPAY_LOCAL_DIR", ROOT / ".local")) / "jwt-secret"


def local_jwt_secret() -> str:
    if not SECRET_FILE.exists():
        SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return SECRET_FILE.read_text().strip()
