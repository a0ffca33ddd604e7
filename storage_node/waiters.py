"""Requests that wait for a blob's registration, woken by the event follower.

A confirmation or a metadata upload may arrive just before the node has seen the blob's
`BlobRegistered` event. Such a request waits here, asynchronously (no worker thread is held),
until the one event follower commits an event about that blob id and wakes it, or until its
wait runs out. Nothing here polls the ledger. The number of waiters is bounded: anyone can
ask about random blob ids, so past `limit` a request is refused at once with 503 and
`Retry-After` instead of being parked.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterable

from starlette.concurrency import run_in_threadpool

from haulout.http_errors import ApiError

RETRY_AFTER = 1
"""Seconds a refused waiter is told to wait before asking again."""


class NodeBusy(ApiError):
    """503 with `Retry-After`: the node is already holding as many waiting requests as it
    allows; the caller should retry shortly."""

    def __init__(self, message: str, retry_after: int = RETRY_AFTER) -> None:
        super().__init__(503, "TOO_MANY_WAITERS", message)
        self.retry_after = retry_after


_Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Event]


class RegistrationWaiters:
    """Waiting requests keyed by blob id; `notify` (from the follower's thread) wakes them."""

    def __init__(self, limit: int, on_wait: Callable[[], None] | None = None) -> None:
        """`limit` bounds concurrent waiters; `on_wait` is called when one starts (it nudges
        the follower to look at the chain now rather than at its next poll)."""
        self.limit = limit
        self.on_wait = on_wait
        self.rejected = 0
        self._lock = threading.Lock()
        self._waiting: dict[str, set[_Waiter]] = {}
        self._count = 0

    @property
    def count(self) -> int:
        """Requests waiting right now."""
        return self._count

    async def wait_until(self, key: str, ready: Callable[[], bool], timeout: float) -> bool:
        """True as soon as `ready()` holds (checked now, then each time `key` is notified),
        False when `timeout` seconds pass first (not checked again then: callers read the
        state after waiting in any case). `ready` runs in a worker thread for a moment
        (it reads the registry); the wait itself holds none. Raises `NodeBusy` when `limit`
        requests already wait."""
        if await run_in_threadpool(ready):
            return True
        if timeout <= 0:
            return False
        loop = asyncio.get_running_loop()
        me: _Waiter = (loop, asyncio.Event())
        with self._lock:
            if self._count >= self.limit:
                self.rejected += 1
                raise NodeBusy(
                    f"this node already holds {self.limit} requests waiting for registrations; "
                    f"retry in {RETRY_AFTER} s"
                )
            self._count += 1
            self._waiting.setdefault(key, set()).add(me)
        try:
            if self.on_wait is not None:
                self.on_wait()
            deadline = loop.time() + timeout
            while True:
                if await run_in_threadpool(ready):  # checked after joining: no lost wake-up
                    return True
                left = deadline - loop.time()
                if left <= 0:
                    return False
                try:
                    await asyncio.wait_for(me[1].wait(), left)
                except TimeoutError:
                    return False  # the caller reads the state once more anyway
                me[1].clear()
        finally:
            with self._lock:
                self._count -= 1
                group = self._waiting.get(key)
                if group is not None:
                    group.discard(me)
                    if not group:
                        del self._waiting[key]

    def notify(self, keys: Iterable[str]) -> int:
        """Wake the requests waiting on any of `keys` (safe from any thread); returns how many
        were woken."""
        with self._lock:
            targets = [w for k in set(keys) for w in self._waiting.get(k, ())]
        for loop, ev in targets:
            with contextlib.suppress(RuntimeError):  # a closed loop: the server is stopping
                loop.call_soon_threadsafe(ev.set)
        return len(targets)
