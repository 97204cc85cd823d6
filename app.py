#!/usr/bin/env python3
"""CDK app: `python app.py [-c key=value …]` synthesizes PracticePay to cdk.out/ with no AWS credentials and no
Docker, with the context the CDK CLI would give it: cdk.json's `context`, then each `-c key=value` (a CDK App run
directly reads neither; run by the CDK CLI, which passes both in CDK_CONTEXT_JSON, the App reads them itself).

The account and region come from CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION (set by the CDK CLI on deploy) or the
`account`/`region` context; without them the template is environment-agnostic.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment

from infra.nag import attach_packs
from infra.settings import StackSettings
from infra.stack import PracticePayStack

CDK_JSON = Path(__file__).with_name("cdk.json")


def cdk_context(argv: Sequence[str], cdk_json: Path = CDK_JSON) -> dict[str, Any]:
    """The context for a direct run: cdk.json's, then each `-c key=value` / `--context key=value` (values are
    strings, as the CDK CLI passes them)."""
    context: dict[str, Any] = dict(json.loads(cdk_json.read_text()).get("context", {}))
    args = iter(argv)
    for arg in args:
        if arg in ("-c", "--context"):
            pair = next(args, "")
        elif arg.startswith("--context="):
            pair = arg.split("=", 1)[1]
        else:
            raise SystemExit(f"app.py: unknown argument {arg!r}; give context as -c key=value")
        key, sep, value = pair.partition("=")
        if not key or not sep:
            raise SystemExit(f"app.py: -c takes key=value, not {pair!r}")
        context[key] = value
    return context


def build_app(attach_nag: bool = True, **app_kwargs) -> tuple[App, PracticePayStack]:
    app = App(**app_kwargs)
    settings = StackSettings.from_context(app.node.get_all_context())
    account = settings.account or os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = settings.region or os.environ.get("CDK_DEFAULT_REGION")
    env = Environment(account=account, region=region) if account and region else None
    stack = PracticePayStack(app, "PracticePay", env=env, settings=settings)
    if attach_nag:
        attach_packs(app)
    return app, stack


if __name__ == "__main__":
    direct = "CDK_CONTEXT_JSON" not in os.environ  # the CDK CLI passes cdk.json's context and -c values itself
    if not direct and sys.argv[1:]:
        raise SystemExit("app.py: run by the CDK CLI, which passes the context itself; give -c to the CLI")
    context = cdk_context(sys.argv[1:]) if direct else {}
    app, _ = build_app(outdir=os.environ.get("CDK_OUTDIR", "cdk.out"), context=context)
    app.synth()
