"""Epoch-change and staking scenarios (tests/vectors/epoch_scenarios.json) as Move unit tests:
`python -m tests.vectors.epoch_gen` writes move/tests/epoch_scenario_tests.move.

The same scenarios run against DevChain in tests/unit/test_epoch_parity.py. Setup on both
sides: a System of 10 shards at epoch 0, four nodes registered by the admin with the pinned
keys and accounts below, the committee set to (3, 3, 2, 2) shards, then one forced epoch
(epoch 1; no stake yet, so the committee stays). Node `i` signs with account `i`; the
staker is the user.

Steps: `stake` (node, amount, as: receipt label), `advance`, `report` (node, shards,
optional epoch, optional signer), `leave` (node, optional signer), `join` (a fifth node
registers itself: register_candidate), `unstake` / `withdraw` (receipt; withdraw checks
`amount`), `reserve` (size, epochs: fees for the epoch), and checks `committee` (shards per
node, [] for none), `changing`, `pool` (node, stake). A step with `abort` [module, name]
must abort so, and ends the scenario.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from haulout.chain.accounts import Account
from haulout.protocol.bls import BlsKeyPair
from haulout.protocol.messages import proof_of_possession
from tests.vectors.scenario_gen import move_test

HERE = Path(__file__).parent
TARGET = HERE.parents[1] / "move" / "tests" / "epoch_scenario_tests.move"
N_SHARDS = 10
START_SHARDS = [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
N_NODES = 5  # four registered at setup, a fifth that joins


def scenarios() -> list[dict[str, Any]]:
    """The scenario list."""
    return json.loads((HERE / "epoch_scenarios.json").read_text())  # type: ignore[no-any-return]


def account(i: int) -> Account:
    """Node `i`'s pinned account."""
    return Account.from_hex(bytes([0x40 + i]).hex() * 32)


def bls_key(i: int) -> BlsKeyPair:
    """Node `i`'s pinned BLS key."""
    return BlsKeyPair.generate(bytes([0x70 + i]) * 32)


def pop(i: int, epoch: int = 0) -> bytes:
    """Node `i`'s proof of possession, bound to its account, at `epoch`."""
    key = bls_key(i)
    return key.sign(
        proof_of_possession(epoch, key.public_key, bytes.fromhex(account(i).address[2:]))
    )


def _shards(lst: list[int]) -> str:
    return "vector[" + ", ".join(f"{s}u16" for s in lst) + "]"


def render_step(step: dict[str, Any], live: set[str]) -> list[str]:
    op, ctx = step["op"], "scenario.ctx()"
    if op == "stake":
        live.add(step["as"])
        return [
            f"let mut {step['as']} = system.stake(ids[{step['node']}], coin::mint_for_testing<SUI>({step['amount']}, {ctx}), {ctx});"
        ]
    if op == "advance":
        return ["system.force_advance_epoch(&cap, &clock);"]
    if op == "report":
        signer = step.get("signer", step["node"])
        epoch = step.get("epoch", "system.epoch()")
        return [
            f"scenario.next_tx(addr({signer}));",
            f"let epoch = {epoch};",
            f"system.shards_received(ids[{step['node']}], epoch, {_shards(step['shards'])}, {ctx});",
        ]
    if op == "leave":
        signer = step.get("signer", step["node"])
        return [
            f"scenario.next_tx(addr({signer}));",
            f"system.leave_committee(ids[{step['node']}], {ctx});",
        ]
    if op == "join":
        return [
            "scenario.next_tx(addr(4));",
            f'ids.push_back(system.register_candidate(string::utf8(b"node-4"), string::utf8(b"http://127.0.0.1"), x"{bls_key(4).public_key.hex()}", x"{pop(4, step.get("pop_epoch", 1)).hex()}", {ctx}));',
        ]
    if op == "unstake":
        return [f"system.request_withdraw_stake(&mut {step['staked']});"]
    if op == "withdraw":
        live.discard(step["staked"])
        return [
            f"let paid = system.withdraw_stake({step['staked']}, {ctx});",
            f"assert!(paid.value() == {step.get('amount', 0)});",
            "destroy(paid);",
        ]
    if op == "reserve":
        live.add(f"st{step['label']}")
        return [
            f"let st{step['label']} = system.reserve_space({step['size']}, {step['epochs']}, &mut coin, {ctx});"
        ]
    if op == "committee":
        out = []
        for i, lst in enumerate(step["shards"]):
            if lst:
                out.append(
                    f"assert!(system.committee().member_shards(system.committee().position_of(ids[{i}])) == {_shards(lst)});"
                )
            else:
                out.append(
                    f"assert!(system.committee().position_of(ids[{i}]) == system.committee().size());"
                )
        return out
    if op == "changing":
        return [f"assert!(system.is_changing() == {str(step['value']).lower()});"]
    if op == "pool":
        return [
            f"assert!(staking::pool_stake(&system.pool(ids[{step['node']}])) == {step['stake']});"
        ]
    raise ValueError(f"unknown epoch scenario op {op!r}")


def render() -> str:
    """The Move test module."""
    keys = ", ".join(f'x"{bls_key(i).public_key.hex()}"' for i in range(4))
    pops = ", ".join(f'x"{pop(i).hex()}"' for i in range(4))
    addrs = "\n".join(f"    if (i == {i}) return @{account(i).address};" for i in range(N_NODES))
    out = [
        "// Generated by `python -m tests.vectors.epoch_gen` from tests/vectors/epoch_scenarios.json. Do not edit.",
        "#[test_only]",
        "#[allow(unused_variable, unused_mut_ref, unused_let_mut, unused_assignment)]",
        "module haulout::epoch_scenario_tests;",
        "",
        "use haulout::staking;",
        "use haulout::system::{Self, AdminCap, System};",
        "use std::string;",
        "use std::unit_test::destroy;",
        "use sui::clock::{Self, Clock};",
        "use sui::coin::{Self, Coin};",
        "use sui::sui::SUI;",
        "use sui::test_scenario::{Self as ts, Scenario};",
        "",
        "fun addr(i: u64): address {",
        addrs,
        "    abort 0",
        "}",
        "",
        "fun setup(): (Scenario, Clock, AdminCap, System, Coin<SUI>, vector<ID>) {",
        "    let mut scenario = ts::begin(@0xAD);",
        "    system::init_for_testing(scenario.ctx());",
        "    scenario.next_tx(@0xAD);",
        "    let cap = scenario.take_from_sender<AdminCap>();",
        "    let clock = clock::create_for_testing(scenario.ctx());",
        f"    system::create_system(&cap, {N_SHARDS}, 1000, 1000, 2000, 1 << 40, 53, &clock, scenario.ctx());",
        "    scenario.next_tx(@0xAD);",
        "    let mut system = scenario.take_shared<System>();",
        f"    let keys = vector[{keys}];",
        f"    let pops = vector[{pops}];",
        "    let mut ids = vector[];",
        "    let mut i = 0;",
        "    while (i < 4) {",
        '        ids.push_back(system.register_node(&cap, string::utf8(b"node"), string::utf8(b"http://127.0.0.1"), keys[i], pops[i], addr(i), scenario.ctx()));',
        "        i = i + 1;",
        "    };",
        "    system.set_committee(&cap, ids, vector["
        + ", ".join(_shards(s) for s in START_SHARDS)
        + "]);",
        "    system.force_advance_epoch(&cap, &clock);",
        "    let coin = coin::mint_for_testing<SUI>(1_000_000_000_000, scenario.ctx());",
        "    (scenario, clock, cap, system, coin, ids)",
        "}",
        "",
    ]
    for sc in scenarios():
        out += move_test(
            sc,
            "    let (mut scenario, clock, cap, mut system, mut coin, mut ids) = setup();",
            render_step,
        )
    return "\n".join(out)


def main() -> None:
    """Write the Move file."""
    TARGET.write_text(render())


if __name__ == "__main__":
    main()
