"""DevChain runs the same epoch-change and staking scenarios as the generated Move tests
(tests/vectors/epoch_scenarios.json): same committees, same abort module and constant, same
pool balances and payouts; an abort changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain
from haulout.chain.errors import MoveAbort
from tests.vectors import epoch_gen


def vector_chain(tmp: Path) -> tuple[DevChain, Account, Account, list[str]]:
    """The Move tests' setup (see `epoch_gen`)."""
    chain = DevChain(tmp / "epoch.sqlite")
    admin, user = Account.generate(), Account.generate()
    chain.faucet(admin.address)
    chain.faucet(user.address, 10**12)
    for i in range(epoch_gen.N_NODES):
        chain.faucet(epoch_gen.account(i).address)
    chain.publish(admin)
    chain.create_system(admin, epoch_gen.N_SHARDS, 1000, 1000, 2000, 1 << 40, 53)
    ids = [
        chain.register_node(
            admin,
            "node",
            "http://127.0.0.1",
            epoch_gen.bls_key(i).public_key,
            epoch_gen.pop(i),
            epoch_gen.account(i).address,
        )
        for i in range(4)
    ]
    chain.set_committee(admin, ids, epoch_gen.START_SHARDS)
    chain.force_advance_epoch(admin)
    return chain, admin, user, ids


def run_step(
    chain: DevChain,
    admin: Account,
    user: Account,
    ids: list[str],
    st: dict[str, Any],
    step: dict[str, Any],
) -> None:
    op = step["op"]
    if op == "stake":
        st[step["as"]] = chain.stake(user, ids[step["node"]], step["amount"]).id
    elif op == "advance":
        chain.force_advance_epoch(admin)
    elif op == "report":
        signer = epoch_gen.account(step.get("signer", step["node"]))
        epoch = step.get("epoch", chain.system().epoch)
        chain.shards_received(signer, ids[step["node"]], epoch, step["shards"])
    elif op == "leave":
        chain.leave_committee(
            epoch_gen.account(step.get("signer", step["node"])), ids[step["node"]]
        )
    elif op == "join":
        key = epoch_gen.bls_key(4)
        ids.append(
            chain.register_candidate(
                epoch_gen.account(4),
                "node-4",
                "http://127.0.0.1",
                key.public_key,
                epoch_gen.pop(4, 1),
            )
        )
    elif op == "unstake":
        chain.request_withdraw_stake(user, st[step["staked"]])
    elif op == "withdraw":
        before = chain.balance(user.address)
        paid = chain.withdraw_stake(user, st[step["staked"]])
        assert paid == step.get("amount", 0)
        assert chain.balance(user.address) == before + paid
    elif op == "reserve":
        chain.reserve_space(user, step["size"], step["epochs"])
    elif op == "committee":
        committee = chain.system().require_committee()
        for i, want in enumerate(step["shards"]):
            member = next((m for m in committee.members if m.node_id == ids[i]), None)
            assert (list(member.shards) if member else []) == want, (i, committee.members)
    elif op == "changing":
        assert chain.system().changing is step["value"]
    elif op == "pool":
        pool = chain.system().pool_of(ids[step["node"]])
        assert pool is not None and pool.stake == step["stake"]
    else:
        raise ValueError(op)


@pytest.mark.parametrize("scenario", epoch_gen.scenarios(), ids=lambda s: s["name"])
def test_devchain_follows_the_epoch_scenario(tmp_path: Path, scenario: dict[str, Any]) -> None:
    chain, admin, user, ids = vector_chain(tmp_path)
    state: dict[str, Any] = {}
    for step in scenario["steps"]:
        if "abort" in step:
            before = len(chain.events())
            with pytest.raises(MoveAbort) as err:
                run_step(chain, admin, user, ids, state, step)
            assert [err.value.module, err.value.name] == step["abort"]
            assert len(chain.events()) == before
        else:
            run_step(chain, admin, user, ids, state, step)


def test_generated_move_epoch_tests_are_fresh() -> None:
    assert epoch_gen.TARGET.read_text() == epoch_gen.render(), (
        "run `python -m tests.vectors.epoch_gen`"
    )
