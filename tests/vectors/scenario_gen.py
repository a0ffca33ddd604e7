"""Turn tests/vectors/scenarios.json into Move unit tests: `python -m tests.vectors.scenario_gen`.

The same scenarios run against DevChain in tests/unit/test_parity.py, so a change to either
state machine that the other does not follow fails a test. The setup on both sides: the
pinned committee of tests/vectors/certificate.json (10 shards over 4 nodes), epoch 1; or, for
a scenario with its own `n_shards`, a System of that many shards and no committee, epoch 1.

Blob steps take optional `encoding_type` (default 0) and `size` (default 5, the vector blob's);
the blob id is then derived from (type, size, the vector root) on both sides.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from haulout.chain.encoding_rules import reservation_length
from haulout.protocol.blob_id import BlobId

HERE = Path(__file__).parent
TARGET = HERE.parents[1] / "move" / "tests" / "scenario_tests.move"
OTHER_SIZE, OTHER_ROOT = 9, 77
VECTOR_SIZE, VECTOR_ROOT = 5, bytes(range(32))
VECTOR_SHARDS = 10


def scenarios() -> list[dict]:  # type: ignore[type-arg]
    """The scenario list."""
    return json.loads((HERE / "scenarios.json").read_text())  # type: ignore[no-any-return]


def blob_values(kind: str, encoding_type: int = 0, size: int = VECTOR_SIZE) -> tuple[str, str, int]:
    """(blob id expr, root expr, size) for the vector blob or the other one."""
    if kind == "other":
        bid = BlobId.derive(encoding_type, OTHER_SIZE, OTHER_ROOT.to_bytes(32, "little"))
        return str(int(bid)), str(OTHER_ROOT), OTHER_SIZE
    if (encoding_type, size) == (0, VECTOR_SIZE):
        return "v::blob_id()", "v::root()", VECTOR_SIZE
    return str(int(BlobId.derive(encoding_type, size, VECTOR_ROOT))), "v::root()", size


def attribute_text(spec: str | dict) -> str:  # type: ignore[type-arg]
    """An attribute key or value of a scenario: a string, or `{"repeat": s, "times": n}`."""
    if isinstance(spec, str):
        return spec
    return str(spec["repeat"]) * int(spec["times"])


def move_string(text: str) -> str:
    """A Move `String` expression for `text` (hex bytes when it is not plain ASCII)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'string::utf8(b"{text}")'
    return f'string::utf8(x"{text.encode().hex()}")'


def shards_of(scenario: dict) -> int:  # type: ignore[type-arg]
    """The scenario's System size: the pinned committee's 10 unless it names its own."""
    return int(scenario.get("n_shards", VECTOR_SHARDS))


def render_step(step: dict, live: set[str], n_shards: int = VECTOR_SHARDS) -> list[str]:  # type: ignore[type-arg]
    op = step["op"]
    ctx = "scenario.ctx()"
    t = step.get("encoding_type", 0)
    if op == "reserve_register":
        bid, root, size = blob_values(step.get("blob", "vector"), t, step.get("size", VECTOR_SIZE))
        live.add("b")
        return [
            f"let s_rr = system.reserve_space({reservation_length(n_shards, size, t)}, {step['epochs']}, &mut coin, {ctx});",
            f"let mut b = blob::register_blob(&mut system, s_rr, {bid}, {root}, {size}, {t}, {str(step['deletable']).lower()}, &mut coin, {ctx});",
        ]
    if op == "reserve":
        live.add("st")
        return [
            f"let mut st = system.reserve_space({step['size']}, {step['epochs']}, &mut coin, {ctx});"
        ]
    if op == "register":
        live.discard("st")
        live.add("b")
        bid, root, size = blob_values("vector", t, step.get("size", VECTOR_SIZE))
        root += f" + {step['root_delta']}" if step.get("root_delta") else ""
        return [
            f"let mut b = blob::register_blob(&mut system, st, {bid}, {root}, {size}, {t}, false, &mut coin, {ctx});"
        ]
    if op == "certify":
        signers = f'x"{step["signers"]}"' if "signers" in step else "c.signers()"
        return [
            f"let c = v::{step['cert']}();",
            f"blob::certify_blob(&system, &mut b, c.signature(), {signers}, c.message());",
        ]
    if op == "extend":
        return [f"blob::extend_blob(&mut system, &mut b, {step['epochs']}, &mut coin, {ctx});"]
    if op == "delete":
        live.discard("b")
        live.add("st")
        return ["let mut st = blob::delete_blob(&system, b);"]
    if op == "set_attribute":
        key, value = attribute_text(step["key"]), attribute_text(step["value"])
        return [f"b.set_attribute({move_string(key)}, {move_string(value)});"]
    if op == "remove_attribute":
        return [f'b.remove_attribute(string::utf8(b"{step["key"]}"));']
    if op == "invalidate":
        return [
            "let c = v::invalidate();",
            "system.invalidate_blob_id(c.signature(), c.signers(), c.message());",
        ]
    if op == "create_system":
        return [
            f"system::create_system(&cap, {step['n_shards']}, 1000, 1000, 2000, 1 << 40, 53, &clock, {ctx});"
        ]
    if op == "advance":
        return ["system.force_advance_epoch(&cap, &clock);"]
    if op == "split_epoch":
        live.add("late")
        return [f"let late = st.split_by_epoch({step['epoch']}, {ctx});"]
    if op == "split_size":
        live.add("part")
        return [f"let part = st.split_by_size({step['size']}, {ctx});"]
    if op == "fuse_size":
        live.discard("part")
        return ["st.fuse(part);"]
    if op == "fuse_epoch":
        live.discard("late")
        return ["st.fuse(late);"]
    if op == "check":
        ce = (
            "option::none()"
            if step["certified_epoch"] is None
            else f"option::some({step['certified_epoch']})"
        )
        return [
            f"assert!(b.certified_epoch() == {ce});",
            f"assert!(b.end_epoch() == {step['end_epoch']});",
        ]
    if op == "check_storage":
        out = [
            f"assert!(st.start_epoch() == {step['start_epoch']} && st.end_epoch() == {step['end_epoch']});"
        ]
        if "size" in step:
            out.append(f"assert!(st.size() == {step['size']});")
        return out
    raise ValueError(f"unknown scenario op {op!r}")


def render() -> str:
    """The Move test module."""
    out = [
        "// Generated by `python -m tests.vectors.scenario_gen` from tests/vectors/scenarios.json. Do not edit.",
        "#[test_only]",
        "#[allow(unused_variable, unused_mut_ref, unused_let_mut, unused_assignment)]",
        "module haulout::scenario_tests;",
        "",
        "use haulout::blob;",
        "use haulout::committee;",
        "use haulout::messages;",
        "use haulout::storage_resource;",
        "use haulout::system::{Self, AdminCap, System};",
        "use haulout::test_vectors as v;",
        "use std::string;",
        "use std::unit_test::destroy;",
        "use sui::clock::{Self, Clock};",
        "use sui::coin::{Self, Coin};",
        "use sui::sui::SUI;",
        "use sui::test_scenario::{Self as ts, Scenario};",
        "",
        "fun setup(): (Scenario, Clock, AdminCap, System, Coin<SUI>) {",
        "    let mut scenario = ts::begin(@0xAD);",
        "    system::init_for_testing(scenario.ctx());",
        "    scenario.next_tx(@0xAD);",
        "    let cap = scenario.take_from_sender<AdminCap>();",
        "    let clock = clock::create_for_testing(scenario.ctx());",
        "    system::create_system(&cap, 10, 1000, 1000, 2000, 1 << 40, 53, &clock, scenario.ctx());",
        "    scenario.next_tx(@0xAD);",
        "    let mut system = scenario.take_shared<System>();",
        "    let mut ids = vector[];",
        "    let mut i = 0;",
        "    while (i < 4) {",
        '        ids.push_back(system.register_node(&cap, string::utf8(b"node"), string::utf8(b"http://127.0.0.1"), v::public_keys()[i], v::pops()[i], v::addresses()[i], scenario.ctx()));',
        "        i = i + 1;",
        "    };",
        "    system.set_committee(&cap, ids, v::shards());",
        "    system.force_advance_epoch(&cap, &clock);",
        "    let coin = coin::mint_for_testing<SUI>(1_000_000_000_000, scenario.ctx());",
        "    (scenario, clock, cap, system, coin)",
        "}",
        "",
        "fun setup_bare(n_shards: u16): (Scenario, Clock, AdminCap, System, Coin<SUI>) {",
        "    let mut scenario = ts::begin(@0xAD);",
        "    system::init_for_testing(scenario.ctx());",
        "    scenario.next_tx(@0xAD);",
        "    let cap = scenario.take_from_sender<AdminCap>();",
        "    let clock = clock::create_for_testing(scenario.ctx());",
        "    system::create_system(&cap, n_shards, 1000, 1000, 2000, 1 << 40, 53, &clock, scenario.ctx());",
        "    scenario.next_tx(@0xAD);",
        "    let mut system = scenario.take_shared<System>();",
        "    system.force_advance_epoch(&cap, &clock);",
        "    let coin = coin::mint_for_testing<SUI>(1_000_000_000_000, scenario.ctx());",
        "    (scenario, clock, cap, system, coin)",
        "}",
        "",
    ]
    for sc in scenarios():
        setup = "setup();" if "n_shards" not in sc else f"setup_bare({shards_of(sc)});"
        out += move_test(
            sc,
            "    let (mut scenario, clock, cap, mut system, mut coin) = " + setup,
            lambda step, live, sc=sc: render_step(step, live, shards_of(sc)),
        )
    return "\n".join(out)


def move_test(
    sc: dict[str, Any], setup: str, render: Callable[[dict[str, Any], set[str]], list[str]]
) -> list[str]:
    """One scenario as a Move `#[test]` (expecting the last step's abort, if any): `setup`,
    each step as `render` writes it, then every object still live destroyed and the
    scenario ended. Shared by every scenario generator (blobs, buckets, epoch changes)."""
    steps = sc["steps"]
    abort = steps[-1].get("abort")
    attr = (
        "#[test]"
        if not abort
        else f"#[test, expected_failure(abort_code = {abort[0]}::{abort[1]})]"
    )
    out = [attr, f"fun {sc['name']}() {{", setup]
    live: set[str] = set()
    for step in steps:
        out += ["    " + line for line in render(step, live)]
    if abort:
        out.append("    abort 0")
    else:
        out += [f"    destroy({name});" for name in sorted(live)]
        out += [
            "    ts::return_shared(system);",
            "    clock.destroy_for_testing();",
            "    destroy(cap);",
            "    destroy(coin);",
            "    scenario.end();",
        ]
    return out + ["}", ""]


def main() -> None:
    """Write the Move file."""
    TARGET.write_text(render())


if __name__ == "__main__":
    main()
