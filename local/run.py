"""`make run`: the local stack. Starts the moto server (embedded AWS), creates the resources from
infra.definitions, serves the API on 127.0.0.1, prints the URLs and a token; Ctrl-C stops it all.

The functions run as Lambda runs them: each invocation in a worker process of its own function (local.workers),
one invocation at a time per worker, more workers for concurrent invocations (up to
PRACTICEPAY_LOCAL_CONCURRENCY per function, default 4), so API calls, alerts, charges and polls overlap.

It starts empty, unless PRACTICEPAY_LOCAL_STATE names a directory: then the embedded AWS and the Splash sandbox are
loaded from it before anything is created, and saved to it on a clean stop (Ctrl-C, SIGTERM)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from local.triggers import LocalTriggers

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Port:
    env_var: str
    default: int
    what: str

    def value(self) -> int:
        raw = os.environ.get(self.env_var, str(self.default))
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise SystemExit(f"error: {self.env_var}={raw!r} is not a port number (1-65535)")
        return int(raw)


API_PORT = Port("PRACTICEPAY_API_PORT", 3000, "API")
AWS_PORT = Port("PRACTICEPAY_AWS_PORT", 5000, "embedded AWS (moto)")
SPLASH_PORT = Port("PRACTICEPAY_SPLASH_PORT", 3001, "Splash sandbox")
DEMO_PRACTICE = os.environ.get("PRACTICEPAY_DEMO_PRACTICE", "prc_demo")


def _bindable(number: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, number))
        except OSError:
            return False
    return True


def _suggestion(number: int, taken: set[int]) -> int:
    """A port near `number` that is free now (number + 10, + 20, ...), for the error message's example."""
    for candidate in range(number + 10, min(number + 200, 65536), 10):
        if candidate not in taken and _bindable(candidate):
            return candidate
    return number + 10


def ensure_free(*ports: Port) -> tuple[int, ...]:
    """The ports' numbers, each checked free on 127.0.0.1; otherwise one error line naming every busy port with its
    variable (and two variables set to the same number)."""
    numbers = [port.value() for port in ports]
    first_of: dict[int, Port] = {}
    for port, number in zip(ports, numbers, strict=True):
        if number in first_of:
            raise SystemExit(
                f"error: {first_of[number].env_var} and {port.env_var} are both {number}; give each its own port"
            )
        first_of[number] = port
    busy = [(port, number) for port, number in zip(ports, numbers, strict=True) if not _bindable(number)]
    if busy:
        taken = set(numbers)
        example = " ".join(f"{port.env_var}={_suggestion(number, taken)}" for port, number in busy)
        if len(busy) == 1:
            ((port, number),) = busy
            raise SystemExit(
                f"error: port {number} ({port.what}) is in use; set {port.env_var} to a free port, "
                f"e.g. {example} make run"
            )
        named = ", ".join(f"{number} ({port.what}, {port.env_var})" for port, number in busy)
        raise SystemExit(f"error: ports in use: {named}; set each variable to a free port, e.g. {example} make run")
    return tuple(numbers)


STATE_ENV = "PRACTICEPAY_LOCAL_STATE"


def local_state_dir() -> Path | None:
    """PRACTICEPAY_LOCAL_STATE: where `make run` keeps its state across restarts; unset (or empty): it starts empty."""
    raw = os.environ.get(STATE_ENV, "").strip()
    return Path(raw).expanduser().resolve() if raw else None


def local_environment(aws_port: int) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": f"http://{HOST}:{aws_port}",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "practicepay-local",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
    }


def _flush_outbox(triggers: LocalTriggers) -> None:
    """Publish what the events table's stream still holds: a saved state keeps no stream records (local.aws)."""
    try:
        triggers.events.publish_outbox()
    except Exception as error:  # noqa: BLE001 - the outbox table keeps every event; only the bus misses them
        print(f"warning: events not yet on the bus stay in the outbox only: {error}", file=sys.stderr, flush=True)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    api_port, aws_port, splash_port = ensure_free(API_PORT, AWS_PORT, SPLASH_PORT)
    state_dir = local_state_dir()
    from local.workers import cap_from_env

    concurrency = cap_from_env()
    os.environ.update(local_environment(aws_port))

    # Imported after the environment is set: boto3 clients and Powertools read it when created.
    from werkzeug.serving import make_server

    from infra.definitions import PRACTICES_TABLE
    from local import docs, outbox
    from local.aws import EmbeddedAws, load_state, save_state
    from local.bootstrap import create_resources
    from local.demo import DEMO_DOB, demo_link
    from local.front import LocalApiGateway
    from local.sandbox.server import SandboxSettings, SplashSandbox
    from local.secrets_file import local_jwt_secret
    from local.seed import seed_practice
    from local.triggers import (
        BILLING_RUN_ROUTE,
        EVENTS_ROUTE,
        MESSAGES_RUN_ROUTE,
        LocalTriggers,
        billing_run_route,
        events_route,
        messages_run_route,
    )
    from local.workers import CONCURRENCY_ENV, WorkerPool, install, uninstall
    from practicepay.auth.tokens import issue_hs256
    from practicepay.practices import PracticeStore
    from practicepay.splash.wiring import splash_client
    from practicepay.sync.registration import register as register_alert

    warnings.filterwarnings("ignore", message="No application metrics")  # metrics are off locally
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the front prints its own access lines
    moto = EmbeddedAws(HOST, aws_port)
    sandbox_settings = SandboxSettings()
    sandbox = SplashSandbox(sandbox_settings)
    restored = False
    if state_dir is not None:  # before either server answers, so bootstrap finds what was kept
        restored = load_state(state_dir)
        restored = sandbox.load_state(state_dir) and restored
    moto.start()
    splash = sandbox.serve(HOST, splash_port)
    splash_url = f"http://{HOST}:{splash_port}"
    server = None
    triggers = None
    pool = None
    up = False
    try:
        secret = local_jwt_secret()
        os.environ.update(
            create_resources(
                secret,
                splash_host=splash_url,
                splash_api_key=sandbox_settings.api_keys[0],
                public_url=f"http://{HOST}:{api_port}",
            )
        )
        # After the environment is complete: a worker starts with the environment as it is then.
        pool = install(WorkerPool(concurrency))
        triggers = LocalTriggers(
            poll_seconds=float(os.environ.get("PRACTICEPAY_POLL_SECONDS", "60")),
            billing_seconds=float(os.environ.get("PRACTICEPAY_BILLING_SECONDS", "3600")),
            messages_seconds=float(os.environ.get("PRACTICEPAY_MESSAGES_SECONDS", "60")),
        )
        extra = {
            **docs.routes(),
            BILLING_RUN_ROUTE: billing_run_route(triggers),
            EVENTS_ROUTE: events_route(triggers),
            MESSAGES_RUN_ROUTE: messages_run_route(triggers),
            **outbox.routes(),
        }
        try:
            server = make_server(HOST, api_port, LocalApiGateway(extra=extra, access_log=True), threaded=True)
        except OSError:
            raise SystemExit(f"error: port {api_port} (API) is in use; set {API_PORT.env_var} to a free port") from None
        practices = PracticeStore(os.environ[PRACTICES_TABLE.env_var])
        demo = practices.get(DEMO_PRACTICE)  # kept in a restored state, with its merchant
        if demo is None or not demo.splash_merchant_id or not sandbox.holds(demo.splash_merchant_id):
            seed_practice(DEMO_PRACTICE, "Demo Family Practice", splash_client(), sandbox, practices)
        token = issue_hs256(secret, DEMO_PRACTICE)
        base = f"http://{HOST}:{api_port}"
        demo_url = demo_link(DEMO_PRACTICE, base)
        register_alert(f"{base}/webhooks/splash")
        triggers.start()
        up = True
        kept = ""
        if state_dir is not None:
            kept = f"  local state    {state_dir}   ({'restored' if restored else 'new'}; saved when stopped)\n"
        print(
            "PracticePay local stack is up\n"
            f"  API            {base}\n"
            f"  health         {base}/health\n"
            f"  API docs       {base}/docs   (OpenAPI: {base}/openapi.json)\n"
            f"  embedded AWS   http://{HOST}:{aws_port}   (moto server; AWS_ENDPOINT_URL for the aws CLI)\n"
            f"  Splash sandbox {splash_url}   (APIKEY: {sandbox_settings.api_keys[0]}; clock: POST /_sandbox/clock)\n"
            f"  billing run    POST {base}/_local/billing-run   (the daily schedule's tick; also hourly)\n"
            f"  messages       {base}/_local/outbox   (every email and text sent; sweep: POST /_local/messages-run)\n"
            f"  functions      worker processes, up to {concurrency} per function ({CONCURRENCY_ENV})\n"
            f"  demo practice  {DEMO_PRACTICE}\n"
            f"  demo pay link  {demo_url}   (the patient's date of birth: {DEMO_DOB:%m/%d/%Y})\n"
            f"  dashboard      {base}/dashboard   (development sign-in: {DEMO_PRACTICE}, any role)\n"
            f"  token          {token}\n"
            f"{kept}"
            "Try (then the README's walkthrough: a patient, a card, an invoice, a payment):\n"
            f'  curl -s {base}/patients -H "Authorization: Bearer $TOKEN"\n'
            "Ctrl-C stops everything.",
            flush=True,
        )
        signal.signal(signal.SIGTERM, _interrupt)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if triggers is not None:
            triggers.stop()
        if server is not None:
            server.server_close()
        keep = state_dir is not None and up
        if keep and triggers is not None:
            _flush_outbox(triggers)
        if pool is not None:
            pool.shutdown()  # invocations still arriving fail (502) instead of running in this process
            uninstall()
        splash.shutdown()
        moto.stop()
        if keep and state_dir is not None:  # nothing runs any more: the state is whole
            save_state(state_dir)
            sandbox.save_state(state_dir)
            print(f"PracticePay local state saved to {state_dir}", flush=True)
        print("PracticePay local stack stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
