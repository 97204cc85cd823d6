from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> dict:
    """One synth of the real app with both cdk-nag packs attached; bundling skipped (asset placeholders).
    Any unacknowledged nag error makes this fixture raise, failing every infra test."""
    from app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app, _stack = build_app(outdir=str(outdir), context={"aws:cdk:bundling-stacks": []})
    assembly = app.synth()
    return {
        "outdir": Path(outdir),
        "template": assembly.get_stack_by_name("PracticePay").template,
        "report": json.loads((Path(outdir) / "validation-report.json").read_text())
        if (Path(outdir) / "validation-report.json").exists()
        else None,
    }


@pytest.fixture(scope="session")
def template(synth) -> dict:
    return synth["template"]


def resources(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}
