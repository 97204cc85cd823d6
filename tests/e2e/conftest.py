"""`make run`'s local stack as a process, shared by the e2e modules: started on free ports with its own local
dir, its banner read, its output drained all along (a full pipe would stall it), stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Running:
    process: subprocess.Popen
    base: str
    token: str
    env: dict[str, str]
    banner: str
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def stop(self, timeout: float = 60) -> str:
        """Ctrl-C, as a user stops `make run`; asserts a clean exit and returns what it printed after the banner."""
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(timeout=timeout) == 0, "".join(self.out + self.err)
        time.sleep(0.2)  # the drain threads read to EOF
        return "".join(self.out)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def environment(local_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a stack on free ports, with nothing of the caller's local stack settings."""
    return {
        **{k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "PRACTICEPAY_LOCAL_STATE")},
        "PRACTICEPAY_API_PORT": str(free_port()),
        "PRACTICEPAY_AWS_PORT": str(free_port()),
        "PRACTICEPAY_SPLASH_PORT": str(free_port()),
        "PRACTICEPAY_LOCAL_DIR": str(local_dir),
        **extra,
    }


def start(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "local.run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def up(env: dict[str, str], timeout: float = 90) -> Running:
    """`make run` with `env`, once its banner says it is up."""
    process = start(env)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"local stack exited early: {process.stderr.read()}")
        lines.append(line)
        if line.startswith("Ctrl-C"):
            break
    token = next(line.split()[1] for line in lines if line.strip().startswith("token"))
    running = Running(process, f"http://127.0.0.1:{env['PRACTICEPAY_API_PORT']}", token, env, "".join(lines))
    for stream, into in ((process.stdout, running.out), (process.stderr, running.err)):
        threading.Thread(target=lambda s=stream, i=into: i.extend(s), daemon=True).start()
    return running


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Running]:
    running = up(environment(tmp_path_factory.mktemp("local")))
    yield running
    running.kill()
