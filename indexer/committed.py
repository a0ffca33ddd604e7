"""Answers that change only when the pipeline commits (the staking overview, the epoch list,
the node registry), kept per committed cursor.

The pipeline writes its rows and its cursor in one transaction, so while the stored cursor is
the one an answer was computed at, the rows behind it are the same and so is the answer. Each
request reads the cursor first (one primary-key lookup, instead of the several aggregations
the answer takes) and recomputes when it moved: a commit by this process or by any other one
writing the same database (several API processes, a separate indexing process) is seen by the
very next request. An answer computed after a newer commit than the cursor it was read at is
only ever recomputed once more, never served stale: the cursor is read before the answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine

from .pipeline import stored_cursor

T = TypeVar("T")


class CommittedCache:
    """One answer per fixed key (never a request's input: the keys are the routes' own names,
    so the cache holds a bounded handful of entries), valid while the stored cursor is the
    one it was computed at."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._entries: dict[str, tuple[int, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, compute: Callable[[], T]) -> T:
        """`compute()`'s answer as of the latest commit: the kept one while the stored cursor
        has not moved, else a fresh one (kept for the next requests)."""
        with self.engine.connect() as c:
            cursor = stored_cursor(c)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == cursor:
            value: T = entry[1]
            return value
        value = compute()
        with self._lock:
            kept = self._entries.get(key)
            if kept is None or kept[0] <= cursor:
                self._entries[key] = (cursor, value)
        return value
