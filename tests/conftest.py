"""Shared fixtures. The embedded AWS is the moto server, reached over HTTP exactly as boto3 reaches AWS
(AWS_ENDPOINT_URL); resources come from local.bootstrap, i.e. from infra.definitions."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from local.sandbox.server import SandboxSettings, SplashSandbox
from tests.helpers import free_port


class StackSandbox(NamedTuple):
    sandbox: SplashSandbox
    url: str


@pytest.fixture(scope="session")
def stack_sandbox() -> Iterator[StackSandbox]:
    """The Splash sandbox the API stack under test talks to (the client suites use their own)."""
    sandbox = SplashSandbox(SandboxSettings())
    handle = sandbox.serve("127.0.0.1", free_port())
    yield StackSandbox(sandbox, f"http://127.0.0.1:{handle.port}")
    handle.shutdown()


@pytest.fixture(scope="session")
def aws_env(stack_sandbox: StackSandbox) -> Iterator[dict[str, str]]:
    """A moto server for the session, with the local stack's resources created in it."""
    from local.aws import EmbeddedAws
    from local.calls import CallLog
    from local.run import local_environment

    CallLog.install()  # every suite's flows feed the least-privilege check (tests/integration)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access lines
    server = EmbeddedAws().start()
    host, port = "127.0.0.1", server.port
    saved = dict(os.environ)
    os.environ.update(local_environment(port))
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    from local.bootstrap import create_resources
    from tests.helpers import TEST_SECRET

    env = create_resources(TEST_SECRET, splash_host=stack_sandbox.url)
    os.environ.update(env)
    os.environ.update(SPLASH_READ_TIMEOUT="1", SPLASH_RATE_LIMIT_BUDGET="1")  # fault tests stall past this
    yield env
    server.stop()
    os.environ.clear()
    os.environ.update(saved)


SUITES = ("unit", "integration", "infra", "e2e")


def pytest_collection_modifyitems(config, items) -> None:
    """Each test carries exactly the marker of the suite folder it lives in, so `make unit` etc. select right."""
    root = Path(__file__).resolve().parent
    for item in items:
        suite = item.path.resolve().relative_to(root).parts[0]
        marks = {m.name for m in item.iter_markers()} & set(SUITES)
        if suite not in SUITES or marks != {suite}:
            raise pytest.UsageError(f"{item.nodeid}: put it under tests/<suite>/ and mark it pytest.mark.{suite}")
