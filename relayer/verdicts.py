"""Which blob ids this relayer knows to be consistently encoded, kept across restarts.

Whether a blob was encoded consistently is a property of its metadata alone, and the blob id
commits to the metadata, so a verdict never goes stale. A blob is known consistent when this
relayer encoded it itself, or when one full check (re-encoding every sliver the read did not
fetch and comparing it with the metadata) has passed. Later reads of such a blob skip the
re-encoding, which costs about twice a raw decode at n = 100; every sliver they use is still
checked against the metadata, so they return exactly the bytes the full check vouched for.
A read with `strict_consistency_check=true` always does the full check.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from haulout.protocol.blob_id import BlobId


class ConsistencyVerdicts:
    """A small SQLite table of blob ids known to be consistently encoded."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # No fsync per verdict (one per store): a verdict lost to a power cut only means
        # that blob is fully checked once more on its next read.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS consistent ("
            " blob_id BLOB PRIMARY KEY, source TEXT NOT NULL, at REAL NOT NULL)"
        )
        self._lock = threading.Lock()
        self._known: set[bytes] = {
            row[0] for row in self._db.execute("SELECT blob_id FROM consistent")
        }

    def known(self, blob_id: BlobId) -> bool:
        """True when `blob_id` is known to be consistently encoded."""
        return blob_id.raw in self._known

    def record(self, blob_id: BlobId, source: str) -> None:
        """Remember a consistent blob; `source` says how we know ("encoded" or "checked")."""
        key = blob_id.raw
        if key in self._known:
            return
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO consistent VALUES (?, ?, ?)", (key, source, time.time())
            )
            self._known.add(key)

    def __len__(self) -> int:
        return len(self._known)

    def close(self) -> None:
        """Close the database."""
        self._db.close()
