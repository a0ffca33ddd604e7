"""Where a route's database lookup runs: on the event loop for SQLite, in a worker thread for
a database server.

On SQLite a lookup is a few milliseconds of CPU in the same process; sending it to the thread
pool made the loop and the workers fight over the GIL, which put a 50–100 ms tail on p99 at
200 req/s. On PostgreSQL a lookup mostly waits for the server's answer, and on the loop those
waits queue every request behind each other, so there it goes to the thread pool. Every route
over the index (blobs, stats, buckets, staking) uses the same rule."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


def lookup_runner(engine: Engine) -> Callable[..., Awaitable[Any]]:
    """`await run(fn, *args)`: `fn(*args)` where lookups on `engine` belong (see the module)."""
    offload = engine.dialect.name != "sqlite"

    async def run(fn: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(fn, *args) if offload else fn(*args)

    return run
