"""Runs the pipeline against a chain port: read after the stored cursor, process, commit."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine

from haulout.chain.port import ChainPort
from haulout.logs import event

from . import pipeline

log = logging.getLogger("haulout.indexer")


@dataclass
class RunnerStats:
    """Counters for /metrics."""

    batches: int = 0
    events: int = 0
    cursor: int = 0
    last_batch_seconds: float = 0.0
    errors: int = 0


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
        self._stop = threading.Event()

    def run_once(self) -> int:
        """Index one batch; returns how many events it held."""
        with self.engine.connect() as conn:
            cursor = pipeline.stored_cursor(conn)
        events = self.chain.events(after=cursor, limit=self.batch_size)
        if not events:
            return 0
        started = time.perf_counter()
        batch = pipeline.process(events, cursor)
        with self.engine.begin() as conn:
            pipeline.commit(conn, batch, self.fault)
        self.stats.batches += 1
        self.stats.events += len(events)
        self.stats.cursor = batch.cursor
        self.stats.last_batch_seconds = time.perf_counter() - started
        return len(events)

    def catch_up(self) -> int:
        """Index until no event is left."""
        total = 0
        while n := self.run_once():
            total += n
        return total

    def follow(self, interval: float) -> None:
        """Index continuously until `stop()`."""
        while not self._stop.is_set():
            try:
                n = self.run_once()
                if n:
                    event(log, "indexed batch", events=n, cursor=self.stats.cursor)
                else:
                    self._stop.wait(interval)
            except Exception:
                self.stats.errors += 1
                log.exception("indexing failed; retrying the same batch")
                self._stop.wait(1.0)

    def stop(self) -> None:
        """Stop following."""
        self._stop.set()
