"""`python app.py` produces a real deployable layer without Docker: wheels for the Lambda platform (arm64,
CPython 3.14) plus the practicepay package, with CPython 3.14 bytecode (ADR 0013). Needs PyPI and the npm registry
(pyodide, once per cache), as CI and a developer machine have."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from infra.bundling import (
    PYC_CACHE_TAG,
    PYC_MAGIC,
    PYTHON_VERSION,
    REQUIREMENTS,
    ROOT,
    BytecodeError,
    build_layer,
    compile_tree,
    layer_hash,
)

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
    # Every module ships CPython 3.14 bytecode: the right cache tag and magic number, unchecked-hash (flags 0b01:
    # hash-based, never checked against the source, whatever the mtimes after zipping), and no other version's.
    sources = [p for p in python.rglob("*.py") if "__pycache__" not in p.parts]
    missing = [p for p in sources if not (p.parent / "__pycache__" / f"{p.stem}.{PYC_CACHE_TAG}.pyc").is_file()]
    assert sources and not missing, missing[:5]
    pycs = list(python.rglob("*.pyc"))
    assert all(p.name.endswith(f".{PYC_CACHE_TAG}.pyc") for p in pycs)
    for pyc in (python / "practicepay" / "__pycache__" / f"ids.{PYC_CACHE_TAG}.pyc", *pycs[:50]):
        header = pyc.read_bytes()[:8]
        assert header[:4] == PYC_MAGIC and int.from_bytes(header[4:8], "little") == 0b01, pyc


def test_the_bytecode_compiler_is_cpython_314_and_refuses_what_314_cannot_compile(tmp_path: Path):
    (tmp_path / "ok.py").write_text("match 1:\n    case 1:\n        X = 1\n")
    report = compile_tree(tmp_path)
    assert report["version"].startswith(f"{PYTHON_VERSION}.") and report["cache_tag"] == PYC_CACHE_TAG
    assert (tmp_path / "__pycache__" / f"ok.{PYC_CACHE_TAG}.pyc").read_bytes()[:4] == PYC_MAGIC
    (tmp_path / "broken.py").write_text("def f(:\n")
    with pytest.raises(BytecodeError, match="did not compile"):
        compile_tree(tmp_path)


def test_a_missing_npm_is_a_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PRACTICEPAY_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # neither node nor npm
    with pytest.raises(BytecodeError, match="needs Node and npm"):
        compile_tree(tmp_path)
