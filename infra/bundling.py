"""Docker-free Lambda packaging: the layer holds the third-party wheels for the Lambda platform (pip
--platform, --only-binary) and the `practicepay` package from shared/. Function assets are their own folder
under functions/ (a thin handler.py)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
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
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def _source_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def layer_hash() -> str:
    """Changes when the requirements, the target platform or any file of the shared package changes."""
    digest = hashlib.sha256(f"{PIP_PLATFORM}|{PYTHON_VERSION}|".encode())
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
    shutil.copytree(PACKAGE, target / "practicepay", ignore=_IGNORED, dirs_exist_ok=True)


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
