#!/usr/bin/env python3
"""CDK app: `python app.py` synthesizes PracticePay to cdk.out/ with no AWS credentials and no Docker.

The account and region come from CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION (set by the CDK CLI on deploy) or the
`account`/`region` context; without them the template is environment-agnostic.
"""

from __future__ import annotations

import os

from aws_cdk import App, Environment

from infra.nag import attach_packs
from infra.stack import PracticePayStack, StackSettings


def build_app(attach_nag: bool = True, **app_kwargs) -> tuple[App, PracticePayStack]:
    app = App(**app_kwargs)
    account = app.node.try_get_context("account") or os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = app.node.try_get_context("region") or os.environ.get("CDK_DEFAULT_REGION")
    env = Environment(account=account, region=region) if account and region else None
    stack = PracticePayStack(app, "PracticePay", env=env, settings=StackSettings.from_context(app))
    if attach_nag:
        attach_packs(app)
    return app, stack


if __name__ == "__main__":
    app, _ = build_app(outdir=os.environ.get("CDK_OUTDIR", "cdk.out"))
    app.synth()
