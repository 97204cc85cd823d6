"""Constants and helpers shared by the suites."""

from __future__ import annotations

import socket

TEST_SECRET = "integration-test-signing-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
