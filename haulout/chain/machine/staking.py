"""DevChain's mirror of the epoch change and staking (`move/sources/system.move`'s epoch-change
and staking calls, `move/sources/staking.move`): same checks in the same order, same abort
codes, same events.

- At each new epoch the fees paid in the ending one go to its members' pools by shards held
  (`RewardsDistributed`), then the next committee is fixed from stake (D'Hondt, each node
  keeping as many of its shards as it may) and `EpochChangeStart` emitted; when shards
  moved, the change runs until members holding a quorum of shards reported
  `shards_received` (`ShardsReceived`, then `EpochChangeDone`).
- `stake` / `request_withdraw_stake` / `withdraw_stake`: pools of shares; rewards compound
  into the pool, so a stake pays out its principal and what it earned.
- `register_candidate` (anyone, the sender becomes the node's account) and
  `leave_committee` (the node's own account) let nodes join and leave.

The mirrors register with `@mirrors`; `before_next_epoch` and `start_epoch_change` are
called by `machine/system.py`'s `_next_epoch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import calls
from ..errors import MoveAbort
from ..events import (
    CommitteeChanged,
    EpochChangeDone,
    EpochChangeStart,
    NodeLeaving,
    RewardsDistributed,
    ShardsReceived,
    StakeDeposited,
    StakeWithdrawn,
    StakeWithdrawRequested,
)
from ..txcontext import MoveObj, TxContext, abort
from .registry import mirrors

STAKED_TYPE = calls.system.STAKED


def _abort(name: str, detail: str = "") -> MoveAbort:
    return abort("system", name, detail)


def new_pool() -> dict[str, Any]:
    """`staking::new_pool`."""
    return {"stake": 0, "shares": 0, "active": True}


def _pools(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    pools: dict[str, dict[str, Any]] = d.setdefault("pools", {})
    for nid in d["nodes"]:
        pools.setdefault(nid, new_pool())
    return pools


def apportion(stakes: Sequence[int], n: int) -> list[int]:
    """`staking::apportion`: D'Hondt, `n` seats, each to the largest stake / (seats + 1);
    ties to the earlier party; no stake, no seats."""
    seats = [0] * len(stakes)
    if not any(stakes):
        return seats
    for _ in range(n):
        best = -1
        for j, s in enumerate(stakes):
            if s > 0 and (best < 0 or s * (seats[best] + 1) > stakes[best] * (seats[j] + 1)):
                best = j
        seats[best] += 1
    return seats


def assign(owner: Sequence[int], counts: Sequence[int]) -> list[list[int]]:
    """`staking::assign`: candidate c keeps its lowest current shards (`owner[s] == c`) up to
    `counts[c]`, then takes the lowest free shards in candidate order; lists sorted."""
    n = len(owner)
    taken = [False] * n
    lists: list[list[int]] = []
    for c, want in enumerate(counts):
        kept = [s for s in range(n) if owner[s] == c][:want]
        for s in kept:
            taken[s] = True
        lists.append(kept)
    nxt = 0
    for c, want in enumerate(counts):
        while len(lists[c]) < want:
            while taken[nxt]:
                nxt += 1
            taken[nxt] = True
            lists[c].append(nxt)
            nxt += 1
    return [sorted(lst) for lst in lists]


def before_next_epoch(ctx: TxContext, system: MoveObj) -> None:
    """`next_epoch`'s first steps: no change in progress, then the ending epoch's rewards."""
    d = system.data
    if d.get("changing"):
        raise _abort(
            "EChangeInProgress",
            f"epoch {d['epoch']}'s change waits for members holding a quorum of shards to "
            "report shards_received",
        )
    fees, n = d.get("epoch_fees", 0), d["n_shards"]
    d["epoch_fees"] = 0
    pools = _pools(d)
    for m in d["members"]:
        shards = len(m["shards"])
        amount = fees * shards // n
        pool = pools[m["node_id"]]
        paid = amount if amount > 0 and pool["shares"] > 0 else 0
        if paid:
            pool["stake"] += paid
            d["balance"] -= paid
            d["stakes"] = d.get("stakes", 0) + paid
        ctx.emit(RewardsDistributed(d["epoch"], m["node_id"], shards, paid, pool["stake"]))


def start_epoch_change(ctx: TxContext, system: MoveObj) -> None:
    """`start_epoch_change`: fix the new epoch's committee from stake (no stake anywhere: keep
    it); when shards move, the change runs until a quorum of shards is reported received."""
    d = system.data
    ids = list(d["nodes"])
    pools = _pools(d)
    stakes = [pools[i]["stake"] if pools[i]["active"] else 0 for i in ids]
    n = d["n_shards"]
    counts = apportion(stakes, n)
    current_ids = [m["node_id"] for m in d["members"]]
    if sum(counts) == 0:
        ctx.emit(EpochChangeStart(d["epoch"], current_ids, 0))
        ctx.emit(EpochChangeDone(d["epoch"]))
        return
    owner = [len(ids)] * n
    for m in d["members"]:
        p = ids.index(m["node_id"])
        for s in m["shards"]:
            owner[s] = p
    lists = assign(owner, counts)
    members, moved = [], 0
    for q, nid in enumerate(ids):
        if counts[q] > 0:
            moved += sum(1 for s in lists[q] if owner[s] != q)
            members.append({"node_id": nid, "shards": lists[q]})
    member_ids = [m["node_id"] for m in members]
    if moved == 0 and member_ids == current_ids:
        ctx.emit(EpochChangeStart(d["epoch"], member_ids, 0))
        ctx.emit(EpochChangeDone(d["epoch"]))
        return
    if d["members"]:
        d["previous_members"] = d["members"]
    d["members"] = members
    d["received"], d["received_weight"] = [], 0
    ctx.emit(CommitteeChanged(d["epoch"], member_ids, n))
    ctx.emit(EpochChangeStart(d["epoch"], member_ids, moved))
    d["changing"] = moved > 0
    d["change_epoch"] = d["epoch"]
    if moved == 0:
        ctx.emit(EpochChangeDone(d["epoch"]))


def _node_account(ctx: TxContext, d: dict[str, Any], node_id: str) -> None:
    if node_id not in d["nodes"]:
        raise _abort("EUnknownNode", node_id)
    if d["nodes"][node_id]["address"] != ctx.sender:
        raise _abort(
            "ENotNodeAccount", f"node {node_id} acts through its account, not {ctx.sender}"
        )


@mirrors(calls.system.SHARDS_RECEIVED)
def fn_shards_received(
    ctx: TxContext, system: MoveObj, node_id: str, epoch: int, shards: list[int]
) -> None:
    d = system.data
    if epoch != d["epoch"]:
        raise _abort("EWrongChangeEpoch", f"reported for epoch {epoch}, current {d['epoch']}")
    if d.get("change_epoch", 0) != epoch or epoch == 0:
        raise _abort("ENoChangeInProgress", f"no shards moved at the start of epoch {epoch}")
    _node_account(ctx, d, node_id)
    member = next((m for m in d["members"] if m["node_id"] == node_id), None)
    if member is None:
        raise _abort("ENotCommitteeMember", node_id)
    if node_id in d["received"]:
        raise _abort("EAlreadyReported", node_id)
    for s in shards:
        if s not in member["shards"]:
            raise _abort("EShardNotOwned", f"shard {s}")
    d["received"].append(node_id)
    d["received_weight"] += len(member["shards"])
    ctx.emit(ShardsReceived(epoch, node_id, [int(s) for s in shards]))
    if d["changing"] and 3 * d["received_weight"] >= 2 * d["n_shards"] + 1:
        d["changing"] = False
        ctx.emit(EpochChangeDone(epoch))


@mirrors(calls.system.LEAVE_COMMITTEE)
def fn_leave_committee(ctx: TxContext, system: MoveObj, node_id: str) -> None:
    d = system.data
    _node_account(ctx, d, node_id)
    pool = _pools(d)[node_id]
    if not pool["active"]:
        raise _abort("ENodeLeaving", f"node {node_id} is leaving already")
    pool["active"] = False
    ctx.emit(NodeLeaving(d["epoch"], node_id))


@mirrors(calls.system.REGISTER_CANDIDATE)
def fn_register_candidate(
    ctx: TxContext, system: MoveObj, name: str, url: str, public_key: bytes, pop: bytes
) -> str:
    from .system import fn_register_node

    return fn_register_node(ctx, system, None, name, url, public_key, pop, ctx.sender)  # type: ignore[arg-type]


@mirrors(calls.system.STAKE)
def fn_stake(ctx: TxContext, system: MoveObj, node_id: str, amount: int) -> str:
    d = system.data
    if node_id not in d["nodes"]:
        raise _abort("EUnknownNode", node_id)
    if amount <= 0:
        raise _abort("EZeroStake")
    pool = _pools(d)[node_id]
    if not pool["active"]:
        raise _abort("ENodeLeaving", f"node {node_id} is leaving; stake to another")
    from .shared_blob import take_coin  # (blob → system → staking would cycle)

    take_coin(ctx, amount)
    shares = amount if pool["shares"] == 0 else amount * pool["shares"] // pool["stake"]
    pool["stake"] += amount
    pool["shares"] += shares
    d["stakes"] = d.get("stakes", 0) + amount
    staked = ctx.create(
        STAKED_TYPE,
        {
            "node_id": node_id,
            "shares": shares,
            "principal": amount,
            "withdraw_amount": 0,
            "withdraw_epoch": 0,
            "withdrawing": False,
        },
    )
    ctx.emit(StakeDeposited(d["epoch"], node_id, staked.id, amount, shares))
    return staked.id


@mirrors(calls.system.REQUEST_WITHDRAW_STAKE)
def fn_request_withdraw_stake(ctx: TxContext, system: MoveObj, staked: MoveObj) -> None:
    d, s = system.data, staked.data
    if s["withdrawing"]:
        raise _abort("EAlreadyWithdrawing")
    pool = _pools(d)[s["node_id"]]
    amount = s["shares"] * pool["stake"] // pool["shares"]
    pool["stake"] -= amount
    pool["shares"] -= s["shares"]
    s.update(withdraw_amount=amount, withdraw_epoch=d["epoch"] + 1, withdrawing=True)
    ctx.emit(StakeWithdrawRequested(d["epoch"], s["node_id"], staked.id, amount, d["epoch"] + 1))


@mirrors(calls.system.WITHDRAW_STAKE)
def fn_withdraw_stake(ctx: TxContext, system: MoveObj, staked: MoveObj) -> None:
    d, s = system.data, staked.data
    if not s["withdrawing"] or d["epoch"] < s["withdraw_epoch"]:
        raise _abort(
            "ENotWithdrawable",
            "request the withdrawal first; it pays out from the epoch after the request",
        )
    amount = int(s["withdraw_amount"])
    ctx.emit(StakeWithdrawn(d["epoch"], s["node_id"], staked.id, amount))
    ctx.delete(staked)
    d["stakes"] = d.get("stakes", 0) - amount
    ctx.conn.execute(  # the Coin<SUI> it returns: DevChain keeps coins as balances
        "INSERT INTO balances VALUES (?, ?) ON CONFLICT(address) DO UPDATE SET "
        "amount = amount + excluded.amount",
        (ctx.sender, amount),
    )
    ctx.change_balance(ctx.sender, amount)
    return None
