"""The indexer follows the epoch change and staking (issue #17): stake per node, shards and
rewards per epoch, and each change with who reported its shards, from real DevChain events
through the pipeline into SQLite and PostgreSQL, served by the REST API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from indexer import pipeline
from indexer.app import create_app
from indexer.db import make_engine, migrate
from indexer.queries import Queries
from tests.conftest import make_world


def test_stake_shards_and_rewards_per_epoch(tmp_path: Path, database_url: str) -> None:
    w = make_world(tmp_path)  # four nodes, 10 shards (3, 3, 2, 2), each stakes 100 SUI
    chain, dep = w.chain, w.deployment
    n0, n3 = dep.nodes[0], dep.nodes[3]
    chain.reserve_space(w.user, 10 << 20, 1)  # 10 units at 1000 MIST: 10_000 MIST of fees
    chain.force_advance_epoch(dep.admin)  # epoch 0 ends: fees go out by shards held
    extra = chain.stake(w.user, n0.node_id, 50 * 10**9)
    chain.leave_committee(n3.account, n3.node_id)
    chain.force_advance_epoch(dep.admin)  # epoch 2: node-3's shards move
    committee = chain.system().require_committee()
    for m in committee.members:
        node = next(n for n in dep.nodes if n.node_id == m.node_id)
        chain.shards_received(node.account, node.node_id, 2, [])
    migrate(database_url)
    engine = make_engine(database_url)
    with engine.begin() as c:
        pipeline.commit(c, pipeline.process(chain.events(), 0))
    api = TestClient(create_app(Queries(engine)))

    first = {n["nodeId"]: n for n in api.get("/v1/epochs/0/nodes").json()["nodes"]}
    assert {first[n.node_id]["shards"] for n in dep.nodes} == {3, 2}
    assert first[n0.node_id] == {
        "nodeId": n0.node_id,
        "shards": 3,
        "reward": 3000,
        "stake": 100 * 10**9 + 3000,
    }
    assert first[n3.node_id]["reward"] == 2000

    overview = api.get("/v1/staking").json()
    nodes = {n["nodeId"]: n for n in overview["nodes"]}
    assert (
        nodes[n0.node_id]["stake"] == 150 * 10**9 + 3000 == chain.system().pool_of(n0.node_id).stake
    )
    assert nodes[n0.node_id]["rewards"] == 3000
    assert nodes[n3.node_id]["inCommittee"] is False
    [change] = overview["changes"]
    assert change["epoch"] == 2 and change["shardsMoved"] == 2 and change["doneMs"] is not None
    assert sorted(change["reported"]) == sorted(m.node_id for m in committee.members)
    assert extra.principal == 50 * 10**9
    assert api.get("/v1/epochs/-1/nodes").status_code == 400


def test_answers_kept_per_commit_change_with_the_next_commit(
    tmp_path: Path, database_url: str
) -> None:
    """`/v1/staking`, `/v1/epochs` and `/v1/nodes` are computed once per commit and kept: a
    commit by another writer (its own engine, as a separate indexing process) shows in the very
    next answer, and a kept answer is byte for byte the one computed afresh."""
    w = make_world(tmp_path)
    chain, dep = w.chain, w.deployment
    n0 = dep.nodes[0]
    migrate(database_url)
    writer, reader = make_engine(database_url), make_engine(database_url)
    with writer.begin() as c:
        pipeline.commit(c, pipeline.process(chain.events(), 0))
    api = TestClient(create_app(Queries(reader)))

    def answers() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        staking = api.get("/v1/staking").json()
        epochs = api.get("/v1/epochs").json()["epochs"]
        nodes = api.get("/v1/nodes").json()
        return staking, epochs, nodes

    before = answers()
    assert answers() == before  # kept, and the same
    stake = {n["nodeId"]: n["stake"] for n in before[0]["nodes"]}[n0.node_id]
    with writer.connect() as c:
        cursor = pipeline.stored_cursor(c)
    chain.stake(w.user, n0.node_id, 7 * 10**9)
    chain.force_advance_epoch(dep.admin)
    with writer.begin() as c:
        pipeline.commit(c, pipeline.process(chain.events(after=cursor), cursor))

    staking, epochs, nodes = answers()
    after = {n["nodeId"]: n["stake"] for n in staking["nodes"]}[n0.node_id]
    assert after > stake + 7 * 10**9 - 1  # the deposit, and the epoch's reward on top
    assert len(epochs) == len(before[1]) + 1
    assert staking["rewardsByEpoch"] != before[0]["rewardsByEpoch"]
    fresh = TestClient(create_app(Queries(make_engine(database_url))))
    assert fresh.get("/v1/staking").json() == staking
    assert fresh.get("/v1/epochs").json()["epochs"] == epochs
    assert fresh.get("/v1/nodes").json() == nodes
