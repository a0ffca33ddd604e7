"""The relayer's own resource bounds against hostile or broken clients.

- `UploadSlots`: at most N uploads at once, counted from the request's arrival to its answer,
  so slow bodies hold slots (not worker threads) and the N+1st gets a 503 with `Retry-After`.
- `paced`: a body that sends nothing for `timeout` seconds ends with a 408 `BODY_TIMEOUT`.
- `sweep_spool`: work directories a crash left behind are removed when the relayer starts.
- `EncodeMemory`: the sliver bytes all uploads may hold in memory at once; past it an upload is
  encoded through files, so many concurrent uploads cannot add up past the memory bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from haulout.http_errors import ApiError

log = logging.getLogger("haulout.relayer")

SPOOL_PREFIXES = ("upload-", "read-")
"""Names of the per-request work directories in the spool (see the controller and reader)."""


@dataclass
class SlotStats:
    """Counters for /metrics."""

    uploads_in_flight: int = 0
    uploads_refused_busy: int = 0
    uploads_timed_out: int = 0


class BodyTimeout(ApiError):
    """The client stopped sending its body: nothing is stored, the work directory goes."""

    def __init__(self, timeout: float) -> None:
        super().__init__(
            408,
            "BODY_TIMEOUT",
            f"no part of the request body arrived for {timeout:g} s; nothing was stored. "
            "Send the body without pausing (the limit is HAULOUT_RELAYER_BODY_TIMEOUT)",
        )


class UploadSlots:
    """A counter of uploads in progress with a hard limit (no queue: a queue would let
    waiting clients hold sockets and memory; they are told when to come back instead)."""

    def __init__(self, limit: int, retry_after: int = 2) -> None:
        self.limit, self.retry_after = limit, retry_after
        self.stats = SlotStats()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """One slot for the duration of the block, or a 503 `UPLOADS_BUSY` at once."""
        if self.stats.uploads_in_flight >= self.limit:
            self.stats.uploads_refused_busy += 1
            raise ApiError(
                503,
                "UPLOADS_BUSY",
                f"this relayer is already receiving {self.limit} uploads; retry after "
                f"{self.retry_after} s (the limit is HAULOUT_RELAYER_MAX_CONCURRENT_UPLOADS)",
                {"retry-after": str(self.retry_after)},
            )
        self.stats.uploads_in_flight += 1
        try:
            yield
        finally:
            self.stats.uploads_in_flight -= 1


async def paced(
    body: AsyncIterator[bytes], timeout: float, stats: SlotStats | None = None
) -> AsyncIterator[bytes]:
    """`body`, raising `BodyTimeout` when no piece arrives for `timeout` seconds.

    A timeout scope around each wait (not `wait_for`, which on Python 3.11 starts a task per
    piece of the body: ~1,000 tasks per 64 MiB upload)."""
    it = body.__aiter__()
    while True:
        try:
            async with asyncio.timeout(timeout):
                chunk = await it.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            if stats is not None:
                stats.uploads_timed_out += 1
            raise BodyTimeout(timeout) from None
        yield chunk


def sweep_spool(spool_dir: Path) -> int:
    """Remove the work directories a killed relayer left in its spool; returns how many.

    Only this relayer's own `upload-*`/`read-*` directories go: nothing else in the directory
    is touched. Called once at start, before any request can create new ones."""
    if not spool_dir.is_dir():
        return 0
    removed = 0
    for entry in spool_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink() and entry.name.startswith(SPOOL_PREFIXES):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    if removed:
        log.info("swept spool", extra={"fields": {"directories": removed, "dir": str(spool_dir)}})
    return removed


class EncodeMemory:
    """A budget of sliver bytes held in memory by uploads being encoded or pushed (thread-safe:
    encoders take from it on worker threads). Each upload below `memory_limit` asks for its
    encoded size; when the budget cannot cover it, the upload goes through files instead (slower,
    but bounded), so the relayer's memory does not grow with the number of uploads."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.held = 0
        self.through_files = 0
        self._lock = threading.Lock()

    def take(self, nbytes: int) -> bool:
        """Reserve `nbytes`; False (nothing reserved) when the budget cannot cover them."""
        with self._lock:
            if self.held + nbytes > self.budget:
                self.through_files += 1
                return False
            self.held += nbytes
            return True

    def give_back(self, nbytes: int) -> None:
        """Return a reservation made by `take`."""
        with self._lock:
            self.held = max(0, self.held - nbytes)
