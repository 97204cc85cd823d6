"""The local stack in this process, for the runs that start their own (a bench section alone, `make chaos`): the
embedded AWS (moto over HTTP), the resources from infra.definitions and the Splash sandbox, with the
environment the functions read; stopped on exit."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class Standalone:
    env: dict[str, str]
    """The resources' names (tables, queues, keys) as the functions read them."""
    sandbox: Any
    sandbox_url: str


@contextmanager
def standalone_stack(
    secret: str, *, log_level: str = "ERROR", env: dict[str, str] | None = None
) -> Iterator[Standalone]:
    """Start moto and the sandbox, create the resources and set the environment (`env` on top: read timeouts, the
    grace…, all set before anything reads it)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="No application metrics")
    from local.aws import EmbeddedAws
    from local.run import local_environment

    moto = EmbeddedAws().start()
    os.environ.update(local_environment(moto.port))
    os.environ.update(POWERTOOLS_LOG_LEVEL=log_level, **(env or {}))

    from local.bootstrap import create_resources
    from local.sandbox.server import SandboxSettings, SplashSandbox
    from tests.helpers import free_port

    sandbox = SplashSandbox(SandboxSettings())
    splash = sandbox.serve("127.0.0.1", free_port())
    url = f"http://127.0.0.1:{splash.port}"
    try:
        resources = create_resources(secret, splash_host=url)
        os.environ.update(resources)
        yield Standalone(resources, sandbox, url)
    finally:
        splash.shutdown()
        moto.stop()


def board(stack: Standalone, practice: str, name: str) -> None:
    """Board `practice` as a merchant in the stack's sandbox, so it can take payments."""
    from infra.definitions import PRACTICES_TABLE
    from local.seed import seed_practice
    from practicepay.practices import PracticeStore
    from practicepay.splash.wiring import splash_client

    seed_practice(practice, name, splash_client(), stack.sandbox, PracticeStore(stack.env[PRACTICES_TABLE.env_var]))
