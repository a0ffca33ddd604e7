"""The relayer's own resource bounds against hostile or broken clients.

- `UploadSlots`: at most N uploads in flight, counted from the request's arrival to its answer
  (the N+1st gets a 503 with `Retry-After`), and of those at most M being encoded at once. An
  upload waits for an encoding slot only once its first piece has arrived, so a client that
  trickles its body holds a socket and a few bytes, never an encoder, a worker thread or memory
  that honest uploads need (a slowloris cannot starve stores).
- `paced`: a body that sends nothing for `timeout` seconds, or brings less than `min_rate` bytes
  a second over any `window`, ends with a 408 (`BODY_TIMEOUT`, `BODY_TOO_SLOW`).
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
    uploads_encoding: int = 0
    uploads_waiting_to_encode: int = 0
    uploads_refused_busy: int = 0
    uploads_timed_out: int = 0
    uploads_too_slow: int = 0


class BodyTimeout(ApiError):
    """The client stopped sending its body: nothing is stored, the work directory goes."""

    def __init__(self, timeout: float) -> None:
        super().__init__(
            408,
            "BODY_TIMEOUT",
            f"no part of the request body arrived for {timeout:g} s; nothing was stored. "
            "Send the body without pausing (the limit is HAULOUT_RELAYER_BODY_TIMEOUT)",
        )


class BodyTooSlow(ApiError):
    """The client sends its body slower than any real link: it would hold the upload open for
    hours. Nothing is stored."""

    def __init__(self, min_rate: float, window: float) -> None:
        super().__init__(
            408,
            "BODY_TOO_SLOW",
            f"the request body arrived at less than {min_rate:g} bytes/s over {window:g} s; "
            "nothing was stored. Send it faster (the limit is HAULOUT_RELAYER_MIN_BODY_RATE)",
        )


ADMIT_BYTES = 256 << 10
"""How much of a body an upload receives before it asks for an encoding slot (all of it when
smaller): what a waiting upload holds in memory at most."""


class UploadSlots:
    """Uploads in flight with a hard limit (past it: 503 at once, no queue, so waiting clients
    hold no sockets), and encoding slots, a smaller limit that admitted uploads queue for once
    their first piece is in: waiting for one costs at most `ADMIT_BYTES` and no thread."""

    def __init__(self, limit: int, retry_after: int = 2, encoding: int | None = None) -> None:
        self.limit, self.retry_after = limit, retry_after
        self.encoding_limit = min(limit, encoding) if encoding else limit
        self.stats = SlotStats()
        self._encoders: asyncio.Semaphore | None = None  # made on the serving loop

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

    @contextlib.asynccontextmanager
    async def encoding(self) -> AsyncIterator[None]:
        """One of the encoding slots for the block, waiting (FIFO) until one is free. Call it
        inside `hold`, after `first_piece`, so only uploads whose data is here wait."""
        if self._encoders is None:
            self._encoders = asyncio.Semaphore(self.encoding_limit)
        self.stats.uploads_waiting_to_encode += 1
        try:
            await self._encoders.acquire()
        finally:
            self.stats.uploads_waiting_to_encode -= 1
        self.stats.uploads_encoding += 1
        try:
            yield
        finally:
            self.stats.uploads_encoding -= 1
            self._encoders.release()


async def first_piece(body: AsyncIterator[bytes], nbytes: int) -> AsyncIterator[bytes]:
    """Receive the first `nbytes` of `body` (or all of it when it ends sooner) and return an
    iterator that gives them again, then the rest: an upload is admitted to encoding only once
    its client has shown it sends."""
    head: list[bytes] = []
    got = 0
    it = body.__aiter__()
    ended = False
    while got < nbytes:
        try:
            chunk = await it.__anext__()
        except StopAsyncIteration:
            ended = True
            break
        head.append(chunk)
        got += len(chunk)

    async def replay() -> AsyncIterator[bytes]:
        for chunk in head:
            yield chunk
        head.clear()
        if not ended:
            async for chunk in it:
                yield chunk

    return replay()


RATE_WINDOW = 10.0
"""Seconds over which a body's rate is judged against `min_rate`."""


async def paced(
    body: AsyncIterator[bytes],
    timeout: float,
    stats: SlotStats | None = None,
    min_rate: float = 0.0,
    window: float = RATE_WINDOW,
) -> AsyncIterator[bytes]:
    """`body`, raising `BodyTimeout` when no piece arrives for `timeout` seconds and
    `BodyTooSlow` when a `window` of waiting brings less than `min_rate` bytes a second.

    Only the time spent waiting for the client counts: while the relayer itself is busy with a
    piece (encoding, pushing to slow nodes), the client is not to blame. A timeout scope
    around each wait (not `wait_for`, which on Python 3.11 starts a task per piece of the
    body: ~1,000 tasks per 64 MiB upload)."""
    it = body.__aiter__()
    waited, got = 0.0, 0
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        try:
            async with asyncio.timeout(timeout):
                chunk = await it.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            if stats is not None:
                stats.uploads_timed_out += 1
            raise BodyTimeout(timeout) from None
        if min_rate > 0:
            waited += loop.time() - t
            got += len(chunk)
            if waited >= window:
                if got < min_rate * waited:
                    if stats is not None:
                        stats.uploads_too_slow += 1
                    raise BodyTooSlow(min_rate, window)
                waited, got = 0.0, 0
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
