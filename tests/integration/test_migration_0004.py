"""Migration 0004 gives blobs indexed before it their registration, certification and deletion
times from the stored events, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import select, text

from indexer.db import alembic_config, make_engine, migrate
from indexer.models import Blob

OID = "0x" + "ab" * 32


def test_upgrade_backfills_blob_times_from_events(database_url: str) -> None:
    url = database_url
    command.upgrade(alembic_config(url), "0003")
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO blobs (object_id, blob_id, owner, size, encoding_type, "
                "registered_epoch, certified_epoch, end_epoch, deletable, status, deleted_epoch, "
                "registered_cursor, updated_cursor) VALUES (:o, :b, :o, 10, 0, 0, 0, 5, true, "
                "'deleted', 1, 1, 4)"
            ),
            {"o": OID, "b": "B" * 43},
        )
        for cursor, kind, ms in [
            (1, "BlobRegistered", 1000),
            (2, "BlobCertified", 2000),
            (3, "BlobCertified", 2500),  # an extension later: the first certification counts
            (4, "BlobDeleted", 9000),
        ]:
            c.execute(
                text(
                    "INSERT INTO events (cursor, tx_digest, sender, timestamp_ms, type, blob_id, "
                    "object_id, fields) VALUES (:c, 'tx', :o, :ms, :t, :b, :o, '{}')"
                ),
                {"c": cursor, "o": OID, "ms": ms, "t": kind, "b": "B" * 43},
            )
    engine.dispose()
    migrate(url)
    engine = make_engine(url)
    with engine.connect() as c:
        row = c.execute(select(Blob).where(Blob.object_id == OID)).one()
    assert (row.registered_ms, row.certified_ms, row.deleted_ms) == (1000, 2000, 9000)
