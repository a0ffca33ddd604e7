"""What a node knows of the chain: registered blob objects, epoch, committee changes.

A pure `process(events) -> Rows` plus a `commit(rows)` that writes the rows and the cursor in
one SQLite transaction, so a restart resumes exactly after the last committed event.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from haulout.chain.events import (
    BlobCertified,
    BlobDeleted,
    BlobRegistered,
    ChainEvent,
    CommitteeChanged,
    EpochAdvanced,
    InvalidBlobID,
)
from haulout.protocol.blob_id import BlobId

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
  object_id TEXT PRIMARY KEY, blob_id TEXT NOT NULL, size INTEGER NOT NULL,
  deletable INTEGER NOT NULL, end_epoch INTEGER NOT NULL, certified INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS objects_blob ON objects(blob_id);
CREATE TABLE IF NOT EXISTS invalid (blob_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass
class Rows:
    """The effect of a batch of events, ready to commit."""

    cursor: int
    registered: list[tuple[str, str, int, bool, int]] = field(default_factory=list)
    certified: list[tuple[str, int]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    epoch: int | None = None
    committee_changed: bool = False


def process(events: Sequence[ChainEvent], cursor: int) -> Rows:
    """Pure: turn events into rows (no I/O)."""
    rows = Rows(cursor)
    for ce in events:
        ev = ce.event
        if isinstance(ev, BlobRegistered):
            rows.registered.append(
                (ev.object_id, str(ev.blob_id), ev.size, ev.deletable, ev.end_epoch)
            )
        elif isinstance(ev, BlobCertified):
            rows.certified.append((ev.object_id, ev.end_epoch))
        elif isinstance(ev, BlobDeleted):
            rows.deleted.append(ev.object_id)
        elif isinstance(ev, InvalidBlobID):
            rows.invalid.append(str(ev.blob_id))
        elif isinstance(ev, EpochAdvanced):
            rows.epoch = ev.epoch
        elif isinstance(ev, CommitteeChanged):
            rows.committee_changed = True
        rows.cursor = ce.cursor
    return rows


@dataclass(frozen=True)
class BlobState:
    """A node's view of one blob id across its registered objects."""

    blob_id: BlobId
    size: int
    registered: bool
    certified: bool
    end_epoch: int
    deletable_objects: tuple[str, ...]
    permanent: bool
    invalid: bool


class Registry:
    """SQLite-backed registry of blob objects, epoch and event cursor.

    Each thread has its own connection (the follower writes while request, recovery and
    garbage-collection threads read): a reader never runs inside the follower's open
    transaction, and WAL lets reads go on while it commits."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._local = threading.local()
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(_SCHEMA)

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            # no fsync per commit: every row comes from chain events and the cursor commits
            # with them, so a commit a power loss rolls back is simply followed again
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def _state(self, key: str, default: int = 0) -> int:
        row = self.conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else default

    @property
    def cursor(self) -> int:
        """Last committed event cursor."""
        return self._state("cursor")

    @property
    def epoch(self) -> int:
        """Current epoch as last seen in events."""
        return self._state("epoch")

    def commit(self, rows: Rows) -> None:
        """Write rows and the cursor in one transaction."""
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.executemany(
                "INSERT OR IGNORE INTO objects (object_id, blob_id, size, deletable, end_epoch) VALUES (?, ?, ?, ?, ?)",
                rows.registered,
            )
            c.executemany(
                "UPDATE objects SET certified = 1, end_epoch = ? WHERE object_id = ?",
                [(e, o) for o, e in rows.certified],
            )
            c.executemany(
                "UPDATE objects SET deleted = 1 WHERE object_id = ?", [(o,) for o in rows.deleted]
            )
            c.executemany("INSERT OR IGNORE INTO invalid VALUES (?)", [(b,) for b in rows.invalid])
            if rows.epoch is not None:
                c.execute("INSERT OR REPLACE INTO state VALUES ('epoch', ?)", (rows.epoch,))
            c.execute("INSERT OR REPLACE INTO state VALUES ('cursor', ?)", (rows.cursor,))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def blob(self, blob_id: BlobId) -> BlobState:
        """State of a blob id: live registrations, certification, expiry."""
        epoch = self.epoch
        rows = self.conn.execute(
            "SELECT object_id, size, deletable, end_epoch, certified FROM objects "
            "WHERE blob_id = ? AND deleted = 0 AND end_epoch > ?",
            (str(blob_id), epoch),
        ).fetchall()
        invalid = (
            self.conn.execute("SELECT 1 FROM invalid WHERE blob_id = ?", (str(blob_id),)).fetchone()
            is not None
        )
        return BlobState(
            blob_id,
            rows[0][1] if rows else 0,
            bool(rows),
            any(r[4] for r in rows),
            max((r[3] for r in rows), default=0),
            tuple(r[0] for r in rows if r[2]),
            any(not r[2] for r in rows),
            invalid,
        )

    def certified_blobs(self) -> list[BlobId]:
        """Blob ids with a live certified registration that were not voted invalid."""
        rows = self.conn.execute(
            "SELECT DISTINCT blob_id FROM objects WHERE certified = 1 AND deleted = 0 "
            "AND end_epoch > ? AND blob_id NOT IN (SELECT blob_id FROM invalid)",
            (self.epoch,),
        ).fetchall()
        return [BlobId.parse(r[0]) for r in rows]

    def certified_after(self, after: str, limit: int) -> list[BlobId]:
        """Up to `limit` ids of `certified_blobs`, in text order, above `after` (text; "" for
        the first): pages through them with one indexed query each."""
        rows = self.conn.execute(
            "SELECT DISTINCT blob_id FROM objects WHERE certified = 1 AND deleted = 0 "
            "AND end_epoch > ? AND blob_id > ? AND blob_id NOT IN (SELECT blob_id FROM invalid) "
            "ORDER BY blob_id LIMIT ?",
            (self.epoch, after, limit),
        ).fetchall()
        return [BlobId.parse(r[0]) for r in rows]

    def garbage(self, stored: Sequence[BlobId]) -> list[BlobId]:
        """Stored blobs with no live registration left (deleted or expired)."""
        return [b for b in stored if not self.blob(b).registered]
