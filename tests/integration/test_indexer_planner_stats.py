"""PostgreSQL plans from statistics only `ANALYZE` gathers; with autovacuum off (as on this
machine) a bulk catch-up left a million-row `blobs` table looking empty to the planner and
the dashboard's p99 at 200 req/s at 35 s. The indexer keeps those statistics current itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bench.indexer import SyntheticChain
from indexer import planner_stats
from indexer.db import make_engine, migrate
from indexer.runner import Runner

from .conftest import new_database


@pytest.fixture
def pg_engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh, migrated PostgreSQL database's engine."""
    for url in new_database("postgresql", tmp_path):
        migrate(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()


def analyzed(engine: Engine, table: str) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text("SELECT count(*) FROM pg_stats WHERE tablename = :t"), {"t": table}
            ).scalar_one()
        )


def test_a_catch_up_keeps_the_statistics_current(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = pg_engine
    monkeypatch.setattr(planner_stats, "MIN_EVENTS", 3000)
    runner = Runner(SyntheticChain(4000), engine, batch_size=1000)  # type: ignore[arg-type]
    assert not analyzed(engine, "blobs")
    runner.catch_up()
    assert runner.stats.planner_analyses >= 2  # it grew by more than a fifth several times
    assert analyzed(engine, "blobs") and analyzed(engine, "events")


def test_a_database_never_analyzed_is_analyzed_at_start(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = pg_engine
    monkeypatch.setattr(planner_stats, "MIN_EVENTS", 10**9)  # a build that never analyzed
    Runner(SyntheticChain(3000), engine, batch_size=1000).catch_up()  # type: ignore[arg-type]
    assert not analyzed(engine, "blobs")
    deadline = time.monotonic() + 40  # PostgreSQL publishes row counts when a session idles
    with engine.connect() as conn:
        while not conn.execute(
            text("SELECT n_live_tup > 1000 FROM pg_stat_user_tables WHERE relname = 'blobs'")
        ).scalar_one():
            assert time.monotonic() < deadline
            time.sleep(0.2)
            conn.rollback()
    restarted = Runner(SyntheticChain(3000), engine)  # type: ignore[arg-type]
    assert restarted.stats.planner_analyses == 1
    assert analyzed(engine, "blobs")


def test_sqlite_is_left_to_its_own_planner(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'idx.sqlite'}"
    migrate(url)
    runner = Runner(SyntheticChain(3000), make_engine(url), batch_size=1000)  # type: ignore[arg-type]
    runner.catch_up()
    assert runner.stats.planner_analyses == 0
