"""Poison events: one event the database refuses must not stop the indexer forever.

The runner commits a batch; when it fails with a deterministic error (the data, not the
connection) and fails the same way again, it finds the events that cause it here, records them
in the dead-letter table with the reason, and commits the rest of the batch, the dead letters
and the cursor in one transaction. A lost connection or a locked database is never a poison:
those propagate and the same batch is retried later.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    ProgrammingError,
    StatementError,
)

from haulout.chain.events import ChainEvent

from . import pipeline

MAX_ERROR_CHARS = 300
# SQLSTATE classes that depend on the data written, not on the server's condition:
# 22 data exception, 23 integrity violation, 42 syntax or access rule, 54 program limit.
_DATA_SQLSTATES = {"22", "23", "42", "54"}


def is_poison(exc: BaseException) -> bool:
    """True when `exc` comes from the rows written (retrying cannot help), not the server."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return False
        state = getattr(exc.orig, "sqlstate", None)
        if isinstance(state, str) and state:
            return state[:2] in _DATA_SQLSTATES
        return isinstance(exc, (DataError, IntegrityError, ProgrammingError))
    return isinstance(exc, (StatementError, ValueError, ArithmeticError, TypeError, LookupError))


def describe(exc: BaseException) -> str:
    """Class and first message line of the database's error, bounded; never the SQL or the
    parameters SQLAlchemy adds to its own message."""
    inner = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    lines = str(inner).strip().splitlines()
    text = f"{type(inner).__name__}: {lines[0] if lines else ''}"
    return text[:MAX_ERROR_CHARS]


def dead_letter(ev: ChainEvent, exc: BaseException) -> dict[str, Any]:
    """The dead-letter row of an event: where it is, what it is, and why it was not stored."""
    return {
        "cursor": ev.cursor,
        "tx_digest": ev.tx_digest,
        "type": ev.event.NAME,
        "error": describe(exc),
        "fields": json.dumps(ev.event.to_fields(), sort_keys=True),
        "recorded_ms": int(time.time() * 1000),
    }


def find_poisons(
    engine: Engine, events: Sequence[ChainEvent], cursor: int
) -> dict[int, BaseException]:
    """The events of a batch the database refuses, by cursor, with the error of each.

    Writes the events one at a time in a transaction that is always rolled back, in order and on
    top of the earlier good ones (an event's rows can depend on those before it). After a
    refusal (which may abort a PostgreSQL transaction) it starts a new transaction with the good
    prefix written in one go and goes on after the refused event: one pass per poison event.
    """
    poisons: dict[int, BaseException] = {}
    start = 0
    while start < len(events):
        found: tuple[int, BaseException] | None = None
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                good = [e for e in events[:start] if e.cursor not in poisons]
                if good:
                    pipeline.write_rows(conn, pipeline.process(good, cursor))
                for i in range(start, len(events)):
                    try:
                        pipeline.write_rows(conn, pipeline.process([events[i]], cursor))
                    except Exception as exc:
                        if not is_poison(exc):
                            raise
                        found = (i, exc)
                        break
            finally:
                trans.rollback()
        if found is None:
            break
        poisons[events[found[0]].cursor] = found[1]
        start = found[0] + 1
    return poisons
