"""Shared fixtures. The embedded AWS is the moto server, reached over HTTP exactly as boto3 reaches AWS
(AWS_ENDPOINT_URL); resources come from local.bootstrap, i.e. from infra.definitions."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def aws_env() -> Iterator[dict[str, str]]:
    """A moto server for the session, with the local stack's resources created in it."""
    from moto.server import ThreadedMotoServer

    from local.run import local_environment

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access lines
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = dict(os.environ)
    os.environ.update(local_environment(port))
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    from local.bootstrap import create_resources
    from tests.helpers import TEST_SECRET

    env = create_resources(TEST_SECRET)
    os.environ.update(env)
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
