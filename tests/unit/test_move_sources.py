"""Python and Move stay in step: abort codes, event fields, generated vectors, Move unit tests."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from haulout import move_tools
from haulout.chain.events import EVENT_TYPES
from haulout.protocol.move_errors import MOVE_ERRORS
from tests.vectors import move_gen

SOURCES = Path(__file__).parents[2] / "move" / "sources"


def test_abort_table_matches_move_constants() -> None:
    for path in SOURCES.glob("*.move"):
        module = path.stem
        consts = {int(c): n for n, c in re.findall(r"const (E\w+): u64 = (\d+);", path.read_text())}
        table = {code: info.name for code, info in MOVE_ERRORS.get(module, {}).items()}
        assert consts == table, (
            f"abort codes of {module}.move and haulout/protocol/move_errors.py differ"
        )
    assert set(MOVE_ERRORS) <= {p.stem for p in SOURCES.glob("*.move")}


def test_event_mirrors_match_move_structs() -> None:
    text = (SOURCES / "events.move").read_text()
    structs = {
        name: [f.split(":")[0].strip() for f in body.split(",") if f.strip()]
        for name, body in re.findall(r"public struct (\w+) has copy, drop \{([^}]*)\}", text)
    }
    assert set(structs) == set(EVENT_TYPES)
    for name, cls in EVENT_TYPES.items():
        assert [f.name for f in dataclasses.fields(cls)] == structs[name], name


def test_generated_move_vectors_are_fresh() -> None:
    assert move_gen.TARGET.read_text() == move_gen.render(), (
        "run `python -m tests.vectors.move_gen`"
    )


def test_move_unit_tests() -> None:
    try:
        toolchain = move_tools.find_toolchain()
    except move_tools.MoveToolchainMissing as exc:
        pytest.skip(f"Move tests not run: {exc}")
    code, out = move_tools.run("test", toolchain)
    print(out)
    assert code == 0, out[-3000:]
    assert re.search(r"Test result: OK\. Total tests: (\d+); passed: \1; failed: 0", out), out[
        -2000:
    ]
    if toolchain.kind == "wasm":
        assert "crypto_tests" not in out  # stubbed natives: those run only under the sui CLI


def test_move_package_builds_publishable_bytecode() -> None:
    try:
        toolchain = move_tools.find_toolchain()
    except move_tools.MoveToolchainMissing as exc:
        pytest.skip(f"Move build not run: {exc}")
    code, out = move_tools.run("build", toolchain)
    assert code == 0, out[-3000:]
    import json

    built = json.loads((move_tools.PACKAGE / "build" / "bytecode.json").read_text())
    assert len(built["modules"]) == 10 and len(built["dependencies"]) == 2
