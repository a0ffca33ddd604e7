"""What this relayer served: bytes and blobs per clock hour and hits per blob, for the indexer
to collect (`GET /v1/read-stats`).

Reads are not on chain, so only the relayers that serve them can count them. The indexer pulls
these counts from the relayers it is configured with rather than relayers pushing them: a
relayer then needs no indexer address, no credentials and no retry queue, an indexer that is
down loses nothing (the counts wait here and are cumulative), and the indexer exposes no write
endpoint that anyone could feed forged read counts to. Memory is bounded: at most `max_hours`
hourly buckets and `max_blobs` per-blob counters (reads of further blobs are counted in the
totals and `untracked`). A restart starts a new `instance`, so the indexer never mistakes a
reset counter for a smaller one."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

HOUR_MS = 3_600_000
TOP_BLOBS = 500
"""The most read blobs a snapshot lists."""


@dataclass
class ServedTotals:
    """Totals since start, for /metrics (`haulout_relayer_bytes_served`, ...)."""

    bytes_served: int = 0
    blobs_served: int = 0


class ServedReads:
    """Thread-safe counters of served reads, bounded in memory."""

    def __init__(
        self,
        clock: Callable[[], int] | None = None,
        max_hours: int = 24 * 31,
        max_blobs: int = 10_000,
    ) -> None:
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.instance = secrets.token_hex(8)
        self.totals = ServedTotals()
        self.max_hours, self.max_blobs = max_hours, max_blobs
        self._hours: OrderedDict[int, list[int]] = OrderedDict()
        self._blobs: dict[str, list[int]] = {}
        self._untracked = [0, 0]
        self._lock = threading.Lock()

    def record(self, blob_id: str, size: int) -> None:
        """Count one served read of `size` bytes of `blob_id` (a whole blob or a range)."""
        hour = self.clock() // HOUR_MS * HOUR_MS
        with self._lock:
            self.totals.bytes_served += size
            self.totals.blobs_served += 1
            bucket = self._hours.get(hour)
            if bucket is None:
                bucket = self._hours[hour] = [0, 0]
                while len(self._hours) > self.max_hours:
                    self._hours.popitem(last=False)
            bucket[0] += size
            bucket[1] += 1
            counter = self._blobs.get(blob_id)
            if counter is None and len(self._blobs) < self.max_blobs:
                counter = self._blobs[blob_id] = [0, 0]
            if counter is None:
                counter = self._untracked
            counter[0] += 1
            counter[1] += size

    def snapshot(self, top: int = TOP_BLOBS) -> dict[str, Any]:
        """Cumulative counts: per hour, the most read blobs, totals."""
        with self._lock:
            hours = [{"hourMs": h, "bytes": b, "blobs": n} for h, (b, n) in self._hours.items()]
            blobs = sorted(self._blobs.items(), key=lambda kv: (-kv[1][0], kv[0]))[:top]
            return {
                "instance": self.instance,
                "hours": hours,
                "blobs": [{"blobId": k, "hits": h, "bytes": b} for k, (h, b) in blobs],
                "untracked": {"hits": self._untracked[0], "bytes": self._untracked[1]},
                "totals": {
                    "bytes": self.totals.bytes_served,
                    "blobs": self.totals.blobs_served,
                },
            }


def install_read_stats(app: FastAPI, stats: ServedReads) -> None:
    """Serve `stats` at `GET /v1/read-stats`."""

    @app.get("/v1/read-stats")
    async def read_stats() -> JSONResponse:
        return JSONResponse(stats.snapshot())
