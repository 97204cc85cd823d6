"""Docker-free Lambda packaging: the layer holds the third-party wheels for the Lambda platform (pip
--platform, --only-binary) and the `practicepay` package from shared/, with the runtime's bytecode. Function assets
are their own folder under functions/ (a thin handler.py).

Bytecode (ADR 0013): /opt is read-only on Lambda, so a layer without .pyc compiles every module it imports on every
cold start. A .pyc is platform-independent but bound to the interpreter's version (its magic number), and this
machine has no CPython 3.14: the layer is compiled by pyodide's CPython 3.14 (WebAssembly, from the npm registry, run
by Node, which the CDK needs anyway), installed once into the user's cache (PRACTICEPAY_CACHE, else
$XDG_CACHE_HOME/practicepay or ~/.cache/practicepay). The .pyc are unchecked-hash ones: valid whatever the files'
mtimes after zipping, never re-validated against the source (a layer version is immutable)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "infra" / "lambda-requirements.txt"
PACKAGE = ROOT / "shared" / "practicepay"

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
PIP_PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.14"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")
# pyodide's release line 314 is CPython 3.14; its MAGIC_NUMBER must be 3.14's (3627, CPython's
# Include/internal/pycore_magic_number.h, "Python 3.14rc3 3627"; unchanged through the 3.14 releases).
PYODIDE_VERSION = "314.0.8"
PYC_MAGIC = (3627).to_bytes(2, "little") + b"\r\n"
PYC_CACHE_TAG = "cpython-" + PYTHON_VERSION.replace(".", "")
# Lambda mounts the layer at /opt; the .pyc record that path for tracebacks.
LAYER_MOUNT = "/opt/python"


def _source_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def layer_hash() -> str:
    """Changes when the requirements, the target platform or any file of the shared package changes."""
    digest = hashlib.sha256(f"{PIP_PLATFORM}|{PYTHON_VERSION}|pyodide {PYODIDE_VERSION}|{PYC_MAGIC.hex()}|".encode())
    digest.update(REQUIREMENTS.read_bytes())
    for path in _source_files():
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_layer(output_dir: Path) -> None:
    """Write a deployable layer tree to output_dir/python."""
    target = output_dir / "python"
    subprocess.run(  # fixed argv, no shell
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--requirement",
            str(REQUIREMENTS),
            "--target",
            str(target),
            "--platform",
            PIP_PLATFORM,
            "--implementation",
            "cp",
            "--python-version",
            PYTHON_VERSION,
            "--only-binary=:all:",
            "--upgrade",
        ],
        check=True,
    )
    shutil.copytree(PACKAGE, target / "practicepay", ignore=IGNORED, dirs_exist_ok=True)
    compile_tree(target)


def _cache_dir() -> Path:
    if explicit := os.environ.get("PRACTICEPAY_CACHE"):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "practicepay"


class BytecodeError(RuntimeError):
    """The layer's bytecode could not be made (no Node or npm, the npm registry unreachable, a wrong interpreter)."""


def pyodide_dir() -> Path:
    """pyodide's npm package, installed once into the cache (a fresh machine's first synth or infra test)."""
    home = _cache_dir() / f"pyodide-{PYODIDE_VERSION}"
    package = home / "node_modules" / "pyodide"
    if (package / "pyodide.mjs").is_file():
        return package
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise BytecodeError("the Lambda layer's bytecode needs Node and npm (pyodide's CPython 3.14 compiles it)")
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".pyodide-{PYODIDE_VERSION}-", dir=home.parent))
    try:
        result = subprocess.run(  # fixed argv, no shell
            [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund", "--no-save", "--silent"]
            + [f"pyodide@{PYODIDE_VERSION}"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BytecodeError(
                f"npm install pyodide@{PYODIDE_VERSION} failed (is the npm registry reachable?): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
            )
        try:
            staging.rename(home)  # atomic: a concurrent build that won the race keeps its copy
        except OSError:
            if not (package / "pyodide.mjs").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return package


# Node loads pyodide, mounts the layer and lets CPython 3.14 compile it; one JSON line back.
_COMPILE_JS = """
const { loadPyodide } = await import(process.env.PYODIDE_MJS);
const py = await loadPyodide({ stdout: () => {}, stderr: (s) => console.error(s) });
py.FS.mkdirTree("/layer");
py.FS.mount(py.FS.filesystems.NODEFS, { root: process.env.LAYER_DIR }, "/layer");
py.globals.set("ddir", process.env.LAYER_MOUNT);
console.log(py.runPython(`
import compileall, importlib.util, json, py_compile, sys
ok = compileall.compile_dir("/layer", ddir=ddir, quiet=2,
                            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
json.dumps({"ok": bool(ok), "version": sys.version.split()[0], "cache_tag": sys.implementation.cache_tag,
            "magic": importlib.util.MAGIC_NUMBER.hex()})
`));
"""


def compile_tree(target: Path) -> dict[str, object]:
    """Write __pycache__/X.cpython-314.pyc beside every .py under target (unchecked-hash), with CPython 3.14."""
    pyodide = pyodide_dir()
    env = {
        **os.environ,
        "PYODIDE_MJS": (pyodide / "pyodide.mjs").as_uri(),
        "LAYER_DIR": str(target.resolve()),
        "LAYER_MOUNT": LAYER_MOUNT,
    }
    result = subprocess.run(  # fixed argv, no shell
        ["node", "--input-type=module", "-e", _COMPILE_JS], capture_output=True, text=True, env=env
    )
    if result.returncode != 0:
        raise BytecodeError(f"compiling the layer with pyodide failed: {result.stderr.strip()[-2000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["magic"] != PYC_MAGIC.hex() or report["cache_tag"] != PYC_CACHE_TAG:
        raise BytecodeError(f"pyodide {PYODIDE_VERSION} is not CPython {PYTHON_VERSION}: {report}")
    if not report["ok"]:
        raise BytecodeError(f"some layer modules did not compile under CPython {PYTHON_VERSION}: {result.stderr}")
    return report


@jsii.implements(ILocalBundling)
class _LocalLayerBundling:
    def try_bundle(self, output_dir: str, *, image: object = None, **_options: object) -> bool:
        build_layer(Path(output_dir))
        return True


def layer_code() -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(PACKAGE.parent),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=layer_hash(),
        bundling=BundlingOptions(
            image=DockerImage.from_registry("scratch"),  # never pulled: local bundling always succeeds
            local=_LocalLayerBundling(),
        ),
    )


def function_code(name: str) -> lambda_.Code:
    return lambda_.Code.from_asset(str(ROOT / "functions" / name), exclude=["__pycache__", "*.pyc"])
