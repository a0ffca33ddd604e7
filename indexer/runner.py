"""Runs the pipeline against a chain port: read after the stored cursor, process, commit.

A batch the database refuses the same way twice is committed without its poison events, which
go to the dead-letter table (`poison`); after each commit the owners of the Blob objects the
batch touched are read from the chain (`owners`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from haulout.chain.events import ChainEvent
from haulout.chain.port import ChainPort
from haulout.logs import event

from . import pipeline, poison
from .owners import OwnerTracker
from .planner_stats import PlannerStatistics

log = logging.getLogger("haulout.indexer")


@dataclass
class RunnerStats:
    """Counters for /metrics and /healthz."""

    batches: int = 0
    events: int = 0
    cursor: int = 0
    last_batch_seconds: float = 0.0
    errors: int = 0
    consecutive_errors: int = 0
    dead_letters: int = 0
    owners_updated: int = 0
    planner_analyses: int = 0
    """PostgreSQL `ANALYZE` runs the indexer started (`indexer.planner_stats`)."""


class Runner:
    """Sequential pipeline runner; one transaction per batch."""

    def __init__(
        self,
        chain: ChainPort,
        engine: Engine,
        batch_size: int = 1000,
        fault: pipeline.Fault | None = None,
    ) -> None:
        self.chain, self.engine, self.batch_size, self.fault = chain, engine, batch_size, fault
        self.stats = RunnerStats()
        self.owners = OwnerTracker(chain, engine)
        self.planner = PlannerStatistics(engine)
        self.stats.planner_analyses = self.planner.analyses
        self._stop = threading.Event()
        with engine.connect() as conn:  # what a restart resumes from, shown before any batch
            self.stats.cursor = pipeline.stored_cursor(conn)
            self.stats.dead_letters = pipeline.dead_letter_count(conn)

    def run_once(self) -> int:
        """Index one batch; returns how many events it held."""
        with self.engine.connect() as conn:
            cursor = pipeline.stored_cursor(conn)
        events = self.chain.events(after=cursor, limit=self.batch_size)
        if not events:
            return 0
        started = time.perf_counter()
        try:
            batch = self._commit(events, cursor)
        except Exception as first:
            if not poison.is_poison(first):
                raise
            try:
                batch = self._commit(events, cursor)  # the same batch once more
            except Exception as second:
                if not poison.is_poison(second) or poison.describe(second) != poison.describe(
                    first
                ):
                    raise
                batch = self._commit_around_poison(events, cursor)
        self.stats.batches += 1
        self.stats.events += len(events) - len(batch.dead_letters)
        self.stats.cursor = batch.cursor
        self.stats.last_batch_seconds = time.perf_counter() - started
        self.planner.written(len(events))
        self.stats.planner_analyses = self.planner.analyses
        at_tip = len(events) < self.batch_size
        self.stats.owners_updated += self.owners.refresh(pipeline.touched_objects(batch), at_tip)
        return len(events)

    def _commit(
        self,
        events: Sequence[ChainEvent],
        cursor: int,
        dead_letters: Sequence[dict[str, Any]] = (),
    ) -> pipeline.Batch:
        skip = {d["cursor"] for d in dead_letters}
        batch = pipeline.process([e for e in events if e.cursor not in skip], cursor)
        batch.cursor = events[-1].cursor
        batch.dead_letters = list(dead_letters)
        with self.engine.begin() as conn:
            pipeline.commit(conn, batch, self.fault)
        return batch

    def _commit_around_poison(self, events: Sequence[ChainEvent], cursor: int) -> pipeline.Batch:
        """Find the events the database refuses, then commit the others, their dead letters and
        the cursor in one transaction."""
        found = poison.find_poisons(self.engine, events, cursor)
        letters = [poison.dead_letter(e, found[e.cursor]) for e in events if e.cursor in found]
        batch = self._commit(events, cursor, letters)
        for d in letters:
            log.warning(
                "event dead-lettered: the database refused it twice; indexing goes on without it",
                extra={"fields": {k: d[k] for k in ("cursor", "type", "error")}},
            )
        self.stats.dead_letters += len(letters)
        return batch

    def catch_up(self) -> int:
        """Index until no event is left."""
        total = 0
        while n := self.run_once():
            total += n
        return total

    def follow(self, interval: float) -> None:
        """Index continuously until `stop()`; between batches, keep owners up to date."""
        while not self._stop.is_set():
            try:
                n = self.run_once()
                self.stats.consecutive_errors = 0
                if n:
                    event(log, "indexed batch", events=n, cursor=self.stats.cursor)
                else:
                    self.stats.owners_updated += self.owners.recheck_due() + self.owners.sweep()
                    self._stop.wait(interval)
            except Exception:
                self.stats.errors += 1
                self.stats.consecutive_errors += 1
                log.exception("indexing failed; retrying the same batch")
                self._stop.wait(1.0)

    def stop(self) -> None:
        """Stop following."""
        self._stop.set()
