"""Stake, join, leave and the epoch change on the chain port: a node registers itself
(`register_candidate`), stake makes it a member at the next epoch (`force_advance_epoch`),
the change completes when members holding a quorum of shards report `shards_received`, a
stake is withdrawn in two steps, and a node that leaves (`leave_committee`) gets no shards
from the next change on. Runs on DevChain, on SuiChain through the Sui stand-in, and on a
localnet when HAULOUT_SUI_RPC is set (see conftest.py), so the staking calls go through
SuiChain's transactions, not only through its encoding checks."""

from __future__ import annotations

import pytest

from haulout.chain.accounts import Account
from haulout.chain.errors import MoveAbort, ObjectNotFound
from haulout.chain.events import (
    EpochChangeDone,
    EpochChangeStart,
    NodeLeaving,
    ShardsReceived,
    StakeWithdrawn,
)
from haulout.protocol.bls import BlsKeyPair
from haulout.protocol.messages import proof_of_possession
from tests.conftest import World

SUI = 10**9


def report_until_done(world: World, epoch: int, reporters: list[tuple[Account, str]]) -> None:
    """Members report in order (each with its own account) what they gained, until the
    chain says the change is done; the last report is the one that completes it."""
    system = world.chain.system()
    committee, previous = system.require_committee(), system.previous_committee
    assert previous is not None and system.changing and system.change_epoch == epoch
    for account, node_id in reporters:
        mine = set(committee.members[committee.index_of(node_id)].shards)
        had = (
            set(previous.members[previous.index_of(node_id)].shards)
            if node_id in {m.node_id for m in previous.members}
            else set()
        )
        world.chain.shards_received(account, node_id, epoch, sorted(mine - had))
        if not world.chain.system().changing:
            break
    events = [e.event for e in world.chain.events()]
    assert events[-1] == EpochChangeDone(epoch)
    assert sum(isinstance(e, ShardsReceived) and e.epoch == epoch for e in events) >= 3


def test_a_node_joins_by_stake_and_leaves_and_its_stake_is_paid_back(world: World) -> None:
    chain, user, dep = world.chain, world.user, world.deployment
    nodes = dep.nodes
    for n in nodes:  # the members report on chain from their own accounts
        world.fund(n.account.address)
    before = chain.system()
    first = before.require_committee()

    # A node registers itself: the user's account becomes its account.
    key = BlsKeyPair.generate()
    pop = key.sign(
        proof_of_possession(before.epoch, key.public_key, bytes.fromhex(user.address[2:]))
    )
    joiner = chain.register_candidate(user, "node-4", "http://127.0.0.1:9399", key.public_key, pop)
    assert joiner not in {m.node_id for m in first.members}

    # Equal stake behind all five (whatever the deployment staked): two shards each.
    target = max(before.pool_of(n.node_id).stake for n in nodes) + SUI  # type: ignore[union-attr]
    for n in nodes:
        chain.stake(user, n.node_id, target - before.pool_of(n.node_id).stake)  # type: ignore[union-attr]
    receipt = chain.stake(user, joiner, target)
    assert (receipt.node_id, receipt.principal, receipt.withdrawing) == (joiner, target, False)
    with pytest.raises(MoveAbort, match="ENotWithdrawable"):  # not requested yet
        chain.withdraw_stake(user, receipt.id)

    epoch = chain.force_advance_epoch(dep.admin)
    system = chain.system()
    now = system.require_committee()
    assert [len(m.shards) for m in now.members] == [2] * 5
    assert system.previous_committee is not None
    assert system.previous_committee.members == first.members
    start = next(e.event for e in chain.events()[::-1] if isinstance(e.event, EpochChangeStart))
    assert start == EpochChangeStart(epoch, [m.node_id for m in now.members], 2)
    with pytest.raises(MoveAbort, match="EChangeInProgress"):  # no next epoch mid-change
        chain.force_advance_epoch(dep.admin)
    with pytest.raises(MoveAbort, match="ENotNodeAccount"):  # a node reports for itself only
        chain.shards_received(user, nodes[0].node_id, epoch, [])
    gained = set(now.members[now.index_of(joiner)].shards)
    not_gained = next(s for s in range(now.n_shards) if s not in gained)
    with pytest.raises(MoveAbort, match="EShardNotOwned"):
        chain.shards_received(user, joiner, epoch, [not_gained])
    report_until_done(world, epoch, [(user, joiner), *((n.account, n.node_id) for n in nodes[:3])])

    # The joiner leaves, and its stake is withdrawn in two steps.
    with pytest.raises(MoveAbort, match="ENotNodeAccount"):
        chain.leave_committee(user, nodes[0].node_id)
    chain.leave_committee(user, joiner)
    assert chain.events()[-1].event == NodeLeaving(epoch, joiner)
    pending = chain.request_withdraw_stake(user, receipt.id)
    assert (pending.withdrawing, pending.withdraw_epoch) == (True, epoch + 1)
    with pytest.raises(MoveAbort, match="ENotWithdrawable"):  # from the next epoch on
        chain.withdraw_stake(user, receipt.id)

    epoch = chain.force_advance_epoch(dep.admin)
    after = chain.system().require_committee()
    assert [m.node_id for m in after.members] == [m.node_id for m in first.members]
    assert sum(len(m.shards) for m in after.members) == after.n_shards
    report_until_done(world, epoch, [(n.account, n.node_id) for n in nodes])
    balance = chain.balance(user.address)
    paid = chain.withdraw_stake(user, receipt.id)  # a Coin<SUI> the transaction sends the user
    assert paid == pending.withdraw_amount >= target  # principal and what it earned
    assert chain.balance(user.address) > balance  # the stake came back (gas aside)
    last = chain.events()[-1]
    assert last.event == StakeWithdrawn(epoch, joiner, receipt.id, paid)
    if world.is_devchain:  # where transactions are read back by digest
        assert chain.transaction(last.tx_digest).balance_changes == {user.address: paid}
    with pytest.raises(ObjectNotFound):
        chain.get_staked(receipt.id)
