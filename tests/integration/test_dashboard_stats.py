"""The dashboard's stats and the network monitor on SQLite and PostgreSQL: the same numbers
from both, and hostile relayer or node answers never reach the tables."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from indexer.db import make_engine, migrate
from indexer.models import BlobReads, ReadCount
from indexer.monitor import Monitor
from indexer.queries import Queries
from indexer.runner import Runner
from relayer.read_stats import ServedReads, install_read_stats
from tests.conftest import make_world
from tests.integration.test_dashboard import HOUR, Server, history


def test_stats_are_the_same_on_sqlite_and_postgresql(database_url: str, tmp_path: Path) -> None:
    w = make_world(tmp_path)
    ids, written = history(w)
    reads = ServedReads(clock=w.chain.now_ms)
    app = FastAPI()
    install_read_stats(app, reads)
    relayer = Server(app)
    try:
        blob = str(w.chain.get_blob(ids["a"]).blob_id)
        reads.record(blob, 5000)
        w.clock.ms += HOUR  # type: ignore[union-attr]
        reads.record(blob, 100)
        migrate(database_url)
        engine = make_engine(database_url)
        Runner(w.chain, engine).catch_up()
        queries = Queries(engine)
        monitor = Monitor(w.chain, engine, queries, [relayer.url], timeout=1.0)
        assert monitor.poll_relayer(relayer.url)
        assert monitor.poll_relayer(relayer.url)  # a second poll replaces, never adds
        s = queries.stats()
    finally:
        relayer.stop()
    assert s["stored"] == {"blobs": 2, "bytes": 8000}
    assert [p["blobs"] for p in s["overTime"]] == [3, 2, 3, 2, 2]
    assert s["overTime"][-1]["bytes"] == 8000
    rw = s["readsWrites"]
    assert rw["totals"]["readBytes"] == 5100 and rw["totals"]["writtenBytes"] == written
    assert [p["readBytes"] for p in rw["points"] if p["readBytes"]] == [5000, 100]
    assert rw["topBlobs"] == [{"blobId": blob, "hits": 2, "bytes": 5100}]
    assert s["growth"]["bytesPerDay"] > 0 and s["growth"]["nextMilestone"]["etaMs"] > s["asOfMs"]


HOSTILE_ANSWERS: list[Any] = [
    [1, 2, 3],
    {"instance": "../../etc", "hours": [], "blobs": []},
    {"instance": "ab", "hours": [{"hourMs": -1, "bytes": 1, "blobs": 1}], "blobs": []},
    {"instance": "ab", "hours": [{"hourMs": 0, "bytes": 2**70, "blobs": 1}], "blobs": []},
    {"instance": "ab", "hours": [], "blobs": [{"blobId": "x' OR 1=1 --", "hits": 1, "bytes": 1}]},
    {"instance": "ab", "hours": [{"hourMs": True, "bytes": 1, "blobs": 1}], "blobs": []},
    {"instance": "ab", "hours": "many", "blobs": []},
]


@pytest.mark.parametrize("answer", HOSTILE_ANSWERS)
def test_a_hostile_relayer_answer_is_refused_whole(answer: Any, tmp_path: Path) -> None:
    w = make_world(tmp_path)
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    app = FastAPI()

    @app.get("/v1/read-stats")
    async def read_stats() -> JSONResponse:
        return JSONResponse(answer)

    relayer = Server(app)
    try:
        monitor = Monitor(w.chain, engine, Queries(engine), [relayer.url], timeout=1.0)
        assert monitor.poll_relayer(relayer.url) is False
    finally:
        relayer.stop()
    assert monitor.stats.relayer_poll_errors == 1
    with engine.connect() as c:
        for table in (ReadCount, BlobReads):
            assert c.execute(select(func.count()).select_from(table)).scalar() == 0


def test_nodes_that_answer_badly_or_not_at_all_are_down_and_old_epochs_lag(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    w.chain.force_advance_epoch(w.deployment.admin)
    url = f"sqlite:///{tmp_path / 'n.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    Runner(w.chain, engine).catch_up()
    answers: list[Any] = [
        {"status": "ok", "epoch": 1, "eventCursor": 10**6},  # up
        {"status": "ok", "epoch": 0, "eventCursor": 10**6},  # an epoch behind: lagging
        {"status": "ok", "epoch": "1; DROP TABLE nodes"},  # garbage: down
    ]
    servers = []
    for answer in answers:
        app = FastAPI()

        def health(doc: Any = answer) -> JSONResponse:
            return JSONResponse(doc)

        app.get("/v1/health")(health)
        servers.append(Server(app))
    system = w.chain.system()
    committee = system.require_committee()
    members = [
        replace(m, url=s.url) for m, s in zip(committee.members, servers, strict=False)
    ] + list(committee.members[len(servers) :])  # the last one's port has nothing listening
    moved = replace(system, committee=replace(committee, members=tuple(members)))

    class Chain:
        def system(self) -> Any:
            return moved

    try:
        monitor = Monitor(Chain(), engine, Queries(engine), timeout=1.0)  # type: ignore[arg-type]
        monitor.poll_nodes()
    finally:
        for s in servers:
            s.stop()
    states = [n["state"] for n in monitor.nodes()]
    assert states == ["up", "lagging", "down", "down"]
    assert monitor.nodes()[0]["lastSeenMs"] and monitor.nodes()[3]["lastSeenMs"] is None
    assert (monitor.stats.nodes_up, monitor.stats.nodes_lagging, monitor.stats.nodes_down) == (
        1,
        1,
        2,
    )
