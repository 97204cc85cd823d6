"""`make run` installs `.[local]` only: everything the local stack, the functions and the shared package
import must come from the runtime dependencies and the `local` extra, never from `dev` (CDK, test tools)."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"practicepay", "local", "infra", "functions", "tests", "app"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_by(dist: str, extras: frozenset[str] = frozenset()) -> set[str]:
    """The distributions `pip install dist[extras]` brings in (names normalized)."""
    seen: set[str] = set()
    todo = [(dist, extras)]
    while todo:
        name, wanted = todo.pop()
        key = _norm(name)
        if key in seen and not wanted:
            continue
        seen.add(key)
        for spec in md.requires(name) or []:
            req = Requirement(spec)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in wanted or {""}):
                continue
            todo.append((req.name, frozenset(req.extras)))
    return seen


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def run_stack_files() -> list[Path]:
    """The shared package, every function, the local stack, and the infra modules the local stack imports."""
    files = [*(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").rglob("*.py"), *(ROOT / "local").rglob("*.py")]
    infra = {m.split(".")[1] for f in files for m in _imports(f) if m.startswith("infra.")}
    return files + [ROOT / "infra" / f"{name}.py" for name in sorted(infra)]


def test_the_local_stack_imports_nothing_that_only_make_test_installs():
    allowed = installed_by("practicepay", frozenset({"local"}))
    providers = md.packages_distributions()
    missing = {}
    for path in run_stack_files():
        for module in _imports(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in FIRST_PARTY:
                continue
            dists = {_norm(d) for d in providers.get(top, [top])}
            if not dists & allowed:
                missing.setdefault(f"{top} ({', '.join(sorted(dists))})", []).append(str(path.relative_to(ROOT)))
    assert not missing, f"imported by the local stack but not in .[local]: {missing}"


def test_the_check_sees_a_dev_only_package():
    assert "aws-cdk-lib" in installed_by("practicepay", frozenset({"dev"}))
    assert "aws-cdk-lib" not in installed_by("practicepay", frozenset({"local"}))
    assert "playwright" not in installed_by("practicepay", frozenset({"local"}))
