"""Epoch changes and staking in the index: rows from the events (`StakingRows`, part of the
pipeline's pure `process` and its one-transaction `commit`) and the REST routes over them:

- `GET /v1/staking`: per node its pool's stake now, shards in the current committee, and
  rewards earned in total; each member's reward in the last few ended epochs; the epoch changes with shards moved, start, completion and who
  reported `shards_received`.
- `GET /v1/epochs/{epoch}/nodes`: shards held, reward and stake of each member of that
  epoch's committee (recorded when the epoch ended).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Connection, Engine, Table, func, select, update

from haulout.chain.events import (
    ChainEvent,
    EpochChangeDone,
    EpochChangeStart,
    RewardsDistributed,
    ShardsReceived,
    StakeDeposited,
    StakeWithdrawRequested,
)

from .models import CommitteeMember, EpochChange, EpochNode, Node, ShardReport, StakeChange
from .offload import lookup_runner

if TYPE_CHECKING:  # the cache reads the pipeline's cursor, and the pipeline imports this module
    from .committed import CommittedCache

REWARD_EPOCHS = 4
"""Ended epochs whose per-node rewards `/v1/staking` lists (older ones: `/v1/epochs/{e}/nodes`)."""
MAX_CHANGES = 100
"""Epoch changes `/v1/staking` lists, newest first (only their reports are read)."""
Upsert = Callable[[Connection, Table, list[dict[str, Any]], list[str]], None]


def _t(model: Any) -> Table:
    table: Table = model.__table__
    return table


@dataclass
class StakingRows:
    """The staking and epoch-change rows of one batch of events."""

    epoch_nodes: list[dict[str, Any]] = field(default_factory=list)
    stake_changes: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    done: list[tuple[int, int]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)

    def add(self, ce: ChainEvent) -> None:
        """Pure: one event → rows (events of other kinds are ignored)."""
        ev = ce.event
        if isinstance(ev, RewardsDistributed):
            self.epoch_nodes.append(
                {
                    "epoch": ev.epoch,
                    "node_id": ev.node_id,
                    "shards": ev.shards,
                    "reward": ev.reward,
                    "stake": ev.stake,
                }
            )
        elif isinstance(ev, (StakeDeposited, StakeWithdrawRequested)):
            deposit = isinstance(ev, StakeDeposited)
            self.stake_changes.append(
                {
                    "cursor": ce.cursor,
                    "epoch": ev.epoch,
                    "node_id": ev.node_id,
                    "staked_id": ev.staked_id,
                    "kind": "deposit" if deposit else "withdraw",
                    "amount": ev.amount if deposit else -ev.amount,
                }
            )
        elif isinstance(ev, EpochChangeStart):
            self.changes.append(
                {
                    "epoch": ev.epoch,
                    "shards_moved": ev.shards_moved,
                    "started_ms": ce.timestamp_ms,
                    "done_ms": None,
                }
            )
        elif isinstance(ev, EpochChangeDone):
            self.done.append((ev.epoch, ce.timestamp_ms))
        elif isinstance(ev, ShardsReceived):
            self.reports.append(
                {
                    "epoch": ev.epoch,
                    "node_id": ev.node_id,
                    "shards": len(ev.shards),
                    "timestamp_ms": ce.timestamp_ms,
                }
            )

    def write(self, conn: Connection, upsert: Upsert) -> None:
        """Write on the caller's transaction; replaying a batch changes nothing."""
        upsert(conn, _t(EpochNode), self.epoch_nodes, ["epoch", "node_id"])
        upsert(conn, _t(StakeChange), self.stake_changes, ["cursor"])
        starts = [{k: v for k, v in c.items() if k != "done_ms"} for c in self.changes]
        upsert(conn, _t(EpochChange), starts, ["epoch"])
        table = _t(EpochChange)
        for epoch, ts in self.done:
            conn.execute(update(table).where(table.c.epoch == epoch).values(done_ms=ts))
        upsert(conn, _t(ShardReport), self.reports, ["epoch", "node_id"])


class StakingQueries:
    """Reads for the staking routes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def overview(self) -> dict[str, Any]:
        """Per node: stake now, shards now, rewards in total; each member's reward in the last
        `REWARD_EPOCHS` ended epochs (newest first); the epoch changes with who reported."""
        with self.engine.connect() as c:
            deposits = dict(
                c.execute(
                    select(StakeChange.node_id, func.sum(StakeChange.amount)).group_by(
                        StakeChange.node_id
                    )
                ).all()
            )
            rewards = dict(
                c.execute(
                    select(EpochNode.node_id, func.sum(EpochNode.reward)).group_by(
                        EpochNode.node_id
                    )
                ).all()
            )
            latest = c.execute(select(func.max(CommitteeMember.cursor))).scalar()
            members = set()
            if latest is not None:
                members = set(
                    c.execute(
                        select(CommitteeMember.node_id).where(CommitteeMember.cursor == latest)
                    ).scalars()
                )
            shards: dict[str, int] = {}
            per_epoch: list[dict[str, Any]] = []
            last_epoch = c.execute(select(func.max(EpochNode.epoch))).scalar()
            if last_epoch is not None:
                recent = c.execute(
                    select(EpochNode)
                    .where(EpochNode.epoch > last_epoch - REWARD_EPOCHS)
                    .order_by(EpochNode.epoch.desc(), EpochNode.node_id)
                ).all()
                shards = {r.node_id: r.shards for r in recent if r.epoch == last_epoch}
                for paid in recent:
                    if not per_epoch or per_epoch[-1]["epoch"] != paid.epoch:
                        per_epoch.append({"epoch": paid.epoch, "rewards": {}})
                    per_epoch[-1]["rewards"][paid.node_id] = paid.reward
            nodes = [
                {
                    "nodeId": n.node_id,
                    "name": n.name,
                    "stake": int(deposits.get(n.node_id) or 0) + int(rewards.get(n.node_id) or 0),
                    "rewards": int(rewards.get(n.node_id) or 0),
                    "inCommittee": n.node_id in members,
                    "shardsLastEpoch": shards.get(n.node_id, 0),
                }
                for n in c.execute(select(Node).order_by(Node.name)).all()
            ]
            shown = c.execute(
                select(EpochChange)
                .where(EpochChange.shards_moved > 0)
                .order_by(EpochChange.epoch.desc())
                .limit(MAX_CHANGES)
            ).all()
            reports: dict[int, list[str]] = {}
            if shown:
                for r in c.execute(
                    select(ShardReport.epoch, ShardReport.node_id)
                    .where(ShardReport.epoch >= shown[-1].epoch)
                    .order_by(ShardReport.timestamp_ms)
                ).all():
                    reports.setdefault(r.epoch, []).append(r.node_id)
            changes = [
                {
                    "epoch": e.epoch,
                    "shardsMoved": e.shards_moved,
                    "startedMs": e.started_ms,
                    "doneMs": e.done_ms,
                    "reported": reports.get(e.epoch, []),
                }
                for e in shown
            ]
        return {"nodes": nodes, "rewardsByEpoch": per_epoch, "changes": changes}

    def epoch_nodes(self, epoch: int) -> list[dict[str, Any]]:
        """Shards, reward and stake of each member of `epoch`'s committee."""
        with self.engine.connect() as c:
            return [
                {"nodeId": r.node_id, "shards": r.shards, "reward": r.reward, "stake": r.stake}
                for r in c.execute(
                    select(EpochNode).where(EpochNode.epoch == epoch).order_by(EpochNode.node_id)
                ).all()
            ]


def router(engine: Engine, committed: CommittedCache | None = None) -> APIRouter:
    """The staking routes over `engine`; with `committed`, the overview is computed once per
    commit (it reads only rows the pipeline writes)."""
    queries = StakingQueries(engine)
    run = lookup_runner(engine)
    api = APIRouter()

    def overview_json() -> bytes:
        return bytes(JSONResponse(queries.overview()).body)

    def overview() -> bytes:
        if committed is None:
            return overview_json()
        return committed.get("staking", overview_json)

    @api.get("/v1/staking")
    async def staking() -> Response:
        """Stake, shards and rewards per node; the epoch changes."""
        return Response(await run(overview), media_type="application/json")

    @api.get("/v1/epochs/{epoch}/nodes")
    async def epoch_nodes(epoch: int = Path(ge=0, le=2**32 - 1)) -> JSONResponse:
        """Each member of that epoch's committee: shards held, reward, stake."""
        return JSONResponse({"epoch": epoch, "nodes": await run(queries.epoch_nodes, epoch)})

    return api
