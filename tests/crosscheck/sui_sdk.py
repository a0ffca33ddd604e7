"""Run Mysten's TypeScript SDK (`@mysten/sui`, pinned in tools/sui-tx-check/package-lock.json)
over a batch of transactions in one Node process; installed with `npm ci` on first use, the
way `haulout/move_tools.py` installs the Move builder."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .move_signatures import public_functions

CHECKER = Path(__file__).resolve().parents[2] / "tools" / "sui-tx-check"


@dataclass(frozen=True)
class Submitted:
    """One transaction for the SDK: its name, BCS `TransactionData`, optional signature."""

    name: str
    tx_bytes: bytes
    signature: bytes | None = None


def require_sdk() -> None:
    """Skip (with the reason) when Node or npm is absent; install the SDK when missing."""
    missing = [tool for tool in ("node", "npm") if not shutil.which(tool)]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not on PATH: the @mysten/sui cross-check of "
            "transaction bytes needs Node.js (tools/sui-tx-check)"
        )
    if not (CHECKER / "node_modules" / "@mysten" / "sui").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=CHECKER,
            check=True,
            timeout=600,
        )


def decode_all(transactions: list[Submitted]) -> dict[str, dict[str, Any]]:
    """What the SDK reads in each transaction (see tools/sui-tx-check/check.mjs), by name."""
    require_sdk()
    request = {
        "functions": public_functions(),
        "transactions": [
            {
                "name": t.name,
                "bytes": base64.b64encode(t.tx_bytes).decode(),
                **({"signature": base64.b64encode(t.signature).decode()} if t.signature else {}),
            }
            for t in transactions
        ],
    }
    p = subprocess.run(
        ["node", str(CHECKER / "check.mjs")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, f"the SDK checker failed:\n{p.stderr[-3000:]}"
    results = json.loads(p.stdout)["results"]
    assert [r["name"] for r in results] == [t.name for t in transactions]
    return {r["name"]: r for r in results}
