"""`haulout move build|test`: the `sui` CLI when on PATH, else the Sui compiler in WASM
(`@zktx.io/sui-move-builder`, pinned in tools/move-builder/package-lock.json) run by Node.

The WASM runner stubs the BLS12-381 natives (`bls12381_min_pk_verify` is always true), so the
tests in `move/tests/crypto/` run only under the `sui` CLI and are reported as skipped here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "move"
BUILDER = ROOT / "tools" / "move-builder"
DEFAULT_FRAMEWORK = (
    Path.home() / ".cache" / "haulout" / "sui-framework" / "crates" / "sui-framework" / "packages"
)
CRYPTO_TESTS = "tests/crypto"
WASM_CRYPTO_NOTE = (
    "skipped tests/crypto/ (forged signatures, proofs of possession): the WASM test runner stubs "
    "bls12381_min_pk_verify to always return true; run them with the sui CLI"
)


class MoveToolchainMissing(Exception):
    """Neither the sui CLI nor Node with a framework source is available."""


@dataclass(frozen=True)
class Toolchain:
    """How Move code is built here."""

    kind: str  # "sui" or "wasm"
    framework: str  # local framework dir, "github", or "" for the sui CLI

    def describe(self) -> str:
        """One line for reports."""
        if self.kind == "sui":
            return "sui CLI"
        return f"WASM (@zktx.io/sui-move-builder), framework from {self.framework}"


def _github_reachable() -> bool:
    try:
        urllib.request.urlopen("https://api.github.com", timeout=3)
        return True
    except Exception:
        return False


def find_toolchain() -> Toolchain:
    """The toolchain to use, or `MoveToolchainMissing` saying what is absent."""
    if shutil.which("sui"):
        return Toolchain("sui", "")
    if not shutil.which("node"):
        raise MoveToolchainMissing("neither the sui CLI nor Node.js is on PATH")
    env_dir = os.environ.get("SUI_FRAMEWORK_DIR", "")
    if env_dir:
        if not (Path(env_dir) / "sui-framework").is_dir():
            raise MoveToolchainMissing(f"SUI_FRAMEWORK_DIR={env_dir} has no sui-framework/ package")
        return Toolchain("wasm", env_dir)
    if (DEFAULT_FRAMEWORK / "sui-framework").is_dir():
        return Toolchain("wasm", str(DEFAULT_FRAMEWORK))
    if _github_reachable():
        return Toolchain("wasm", "github")
    raise MoveToolchainMissing(
        "no Sui framework sources: GitHub is unreachable and SUI_FRAMEWORK_DIR is unset "
        f"(point it at a checkout's crates/sui-framework/packages, or place one at {DEFAULT_FRAMEWORK})"
    )


def _ensure_builder() -> None:
    if not (BUILDER / "node_modules" / "@zktx.io" / "sui-move-builder").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=BUILDER, check=True
        )


def run(action: str, toolchain: Toolchain | None = None) -> tuple[int, str]:
    """Run `build` or `test`; returns (exit code, report text)."""
    tc = toolchain or find_toolchain()
    if tc.kind == "sui":
        args = ["sui", "move", action, "--path", str(PACKAGE)]
        if action == "build":
            args.append("--dump-bytecode-as-base64")
        p = subprocess.run(args, capture_output=True, text=True)
        out = p.stdout + p.stderr
        if action == "build" and p.returncode == 0:
            (PACKAGE / "build").mkdir(exist_ok=True)
            (PACKAGE / "build" / "bytecode.json").write_text(p.stdout.strip().splitlines()[-1])
        return p.returncode, out
    _ensure_builder()
    env = dict(os.environ)
    if tc.framework != "github":
        env["SUI_FRAMEWORK_DIR"] = tc.framework
    args = ["node", str(BUILDER / "run.mjs"), action, str(PACKAGE)]
    if action == "build":
        (PACKAGE / "build").mkdir(exist_ok=True)
        args += ["--out", str(PACKAGE / "build" / "bytecode.json")]
    else:
        env["HAULOUT_MOVE_EXCLUDE"] = CRYPTO_TESTS
    p = subprocess.run(args, capture_output=True, text=True, env=env)
    out = p.stdout + p.stderr
    if action == "test":
        out += "\n" + WASM_CRYPTO_NOTE + "\n"
    return p.returncode, out


def built_package(toolchain: Toolchain | None = None) -> dict[str, Any]:
    """The package's compiled modules and dependencies (`build/bytecode.json`), building only
    when a source or `Move.toml` is newer than the last build (deploys and test sessions
    publish the same package many times). Raises `MoveBuildFailed` with the compiler's
    report when the build fails."""
    out_file = PACKAGE / "build" / "bytecode.json"
    sources = [PACKAGE / "Move.toml", *sorted((PACKAGE / "sources").glob("*.move"))]
    newest = max(p.stat().st_mtime for p in sources)
    if not out_file.exists() or out_file.stat().st_mtime < newest:
        code, out = run("build", toolchain)
        if code != 0:
            raise MoveBuildFailed(f"building the Move package failed:\n{out[-2000:]}")
    built: dict[str, Any] = json.loads(out_file.read_text())
    return built


class MoveBuildFailed(Exception):
    """The Move compiler rejected the package (its report is the message)."""
