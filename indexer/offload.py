"""Where a route's database lookup runs: on the event loop for SQLite, in a worker thread for
a database server.

On SQLite a lookup is a few milliseconds of CPU in the same process; sending it to the thread
pool made the loop and the workers fight over the GIL, which put a 50–100 ms tail on p99 at
200 req/s. On PostgreSQL a lookup mostly waits for the server's answer, and on the loop those
waits queue every request behind each other, so there it goes to the thread pool. Every route
over the index (blobs, stats, buckets, staking) uses the same rule.

At most `LOOKUPS` lookups run at once (per event loop, whichever route asks): the engine's
pool keeps that many connections open (`db.POOL_SIZE`), so a burst of requests waits on the
loop for a worker instead of opening connections past the pool's size, which the pool closes
again when the burst ends. With 40 threads allowed (the thread pool's default) a burst at 200
req/s opened and closed up to 200 PostgreSQL sessions in 10 s, a backend process each, and the
p99 ran away with them."""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from anyio import CapacityLimiter, to_thread
from sqlalchemy import Engine

T = TypeVar("T")
LOOKUPS = 8
"""Database lookups in flight at once per event loop (two cores wait on a handful at most)."""
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _limiter() -> CapacityLimiter:
    """The running loop's lookup limiter (each test client runs its own loop)."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = CapacityLimiter(LOOKUPS)
    return limiter


def lookup_runner(engine: Engine) -> Callable[..., Awaitable[Any]]:
    """`await run(fn, *args)`: `fn(*args)` where lookups on `engine` belong (see the module)."""
    offload = engine.dialect.name != "sqlite"

    async def run(fn: Callable[..., T], *args: Any) -> T:
        if not offload:
            return fn(*args)
        return await to_thread.run_sync(functools.partial(fn, *args), limiter=_limiter())

    return run
