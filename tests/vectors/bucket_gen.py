"""Turn tests/vectors/bucket_scenarios.json into Move unit tests of the `bucket` module:
`python -m tests.vectors.bucket_gen` writes move/tests/bucket_scenario_tests.move.

Bucket steps are rendered here; the blob steps (reserve_register, certify, check, advance)
by `scenario_gen`, with the same setup. tests/unit/test_bucket_parity.py runs the same
scenarios against DevChain.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.vectors import scenario_gen
from tests.vectors.scenario_gen import move_test

HERE = Path(__file__).parent
TARGET = HERE.parents[1] / "move" / "tests" / "bucket_scenario_tests.move"


def scenarios() -> list[dict[str, Any]]:
    """The bucket scenario list."""
    return json.loads((HERE / "bucket_scenarios.json").read_text())  # type: ignore[no-any-return]


def text(spec: Any) -> str:
    """A name or tag: a string, or `{"repeat": s, "times": n}`."""
    return scenario_gen.attribute_text(spec)


def tag_names(count: int) -> list[str]:
    """The tags a `bucket_tags` step adds: t0, t1, …"""
    return [f"t{i}" for i in range(count)]


def render_step(step: dict[str, Any], live: set[str]) -> list[str]:
    op = step["op"]
    ctx = "scenario.ctx()"
    if op == "bucket_create":
        live.add("k")
        return [
            f"let mut k = bucket::create({scenario_gen.move_string(text(step['name']))}, {ctx});"
        ]
    if op == "bucket_commit":
        return [f"k.commit(&system, &b, {step['base']});"]
    if op == "bucket_tag":
        return [f"k.tag({scenario_gen.move_string(step['tag'])}, {step['version']});"]
    if op == "bucket_tags":
        return [f'k.tag(string::utf8(b"{t}"), 1);' for t in tag_names(step["count"])]
    if op == "bucket_extend":
        return [f"k.extend(&mut system, &mut b, {step['epochs']}, &mut coin, {ctx});"]
    if op == "bucket_destroy":
        live.discard("k")
        return ["k.destroy();"]
    if op == "bucket_check":
        out = [f"assert!(k.version() == {step['version']});"]
        out.append(
            "assert!(k.manifest_blob_id() == " + ("b.blob_id());" if step["version"] else "0);")
        )
        for tag, version in step.get("tags", {}).items():
            out.append(
                f'assert!(k.tag_version(&string::utf8(b"{tag}")) == option::some({version}));'
            )
        return out
    return scenario_gen.render_step(step, live)


def render() -> str:
    """The Move test module (the setup is scenario_gen's)."""
    head = scenario_gen.render().split("\n")
    end = next(i for i, line in enumerate(head) if line.startswith(("#[test]", "#[test,")))
    out = [
        line.replace("scenario_gen", "bucket_gen")
        .replace("scenarios.json", "bucket_scenarios.json")
        .replace("module haulout::scenario_tests;", "module haulout::bucket_scenario_tests;")
        .replace("use haulout::blob;", "use haulout::blob;\nuse haulout::bucket;")
        for line in head[:end]
    ]
    for sc in scenarios():
        out += move_test(
            sc, "    let (mut scenario, clock, cap, mut system, mut coin) = setup();", render_step
        )
    return "\n".join(out)


def main() -> None:
    """Write the Move file."""
    TARGET.write_text(render())


if __name__ == "__main__":
    main()
