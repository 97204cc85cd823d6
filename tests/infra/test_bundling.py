"""`python app.py` produces a real deployable layer without Docker: wheels for the Lambda platform (arm64,
CPython 3.14) plus the practicepay package. Needs PyPI (as CI and a developer machine have)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from infra.bundling import PYTHON_VERSION, REQUIREMENTS, ROOT, build_layer, layer_hash

pytestmark = pytest.mark.infra


def _names(lines: list[str]) -> set[str]:
    return {re.split(r"[\[=<>~! ]", line.strip(), maxsplit=1)[0].lower() for line in lines if line.strip()}


def test_layer_requirements_pin_the_package_dependencies():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = _names(pyproject["project"]["dependencies"])
    pinned = [line for line in REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    assert _names(pinned) == wanted
    assert all("==" in line for line in pinned)


def test_layer_hash_follows_the_shared_package(tmp_path, monkeypatch):
    before = layer_hash()
    probe = ROOT / "shared" / "practicepay" / "_hash_probe.py"
    try:
        probe.write_text("X = 1\n")
        assert layer_hash() != before
    finally:
        probe.unlink()
    assert layer_hash() == before


def test_layer_holds_lambda_platform_wheels_and_the_package(tmp_path: Path):
    build_layer(tmp_path)
    python = tmp_path / "python"
    tag = PYTHON_VERSION.replace(".", "")
    native = list((python / "pydantic_core").glob("_pydantic_core.cpython-*.so"))
    assert [p.name for p in native] == [f"_pydantic_core.cpython-{tag}-aarch64-linux-gnu.so"]
    assert (python / "practicepay" / "invoices" / "service.py").exists()
    assert (python / "aws_lambda_powertools").is_dir() and (python / "jwt").is_dir()
    assert (python / "aws_encryption_sdk").is_dir() and (python / "cryptography").is_dir()
    assert not list(python.rglob("__pycache__"))
