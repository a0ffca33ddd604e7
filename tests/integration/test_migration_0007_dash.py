"""Migration 0007_dash gives attributes indexed before it their `value_hash`, so search by
value and by `key=value` finds them on SQLite and PostgreSQL, whatever characters the value
holds (backslash, NUL, a lone surrogate: stored escaped, hashed as the chain sent them)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from indexer.db import alembic_config, make_engine, migrate
from indexer.queries import Queries
from indexer.text import escape, text_hash

VALUES = ["image/png", "back\\slash", "nul\x00inside", "lone \ud800 surrogate", "x" * 5000]


def test_upgrade_fills_value_hashes_that_search_uses(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "0006")
    engine = make_engine(database_url)
    oids = [f"0x{i + 1:064x}" for i in range(len(VALUES))]
    with engine.begin() as c:
        for i, (oid, value) in enumerate(zip(oids, VALUES, strict=True)):
            c.execute(
                text(
                    "INSERT INTO blobs (object_id, blob_id, owner, size, encoding_type, "
                    "registered_epoch, certified_epoch, end_epoch, deletable, status, "
                    "registered_cursor, updated_cursor) VALUES (:o, :b, :o, 10, 0, 0, 0, 5, "
                    "false, 'certified', :c, :c)"
                ),
                {"o": oid, "b": chr(65 + i) * 43, "c": i + 1},
            )
            c.execute(
                text(
                    "INSERT INTO blob_attributes (object_id, key_hash, key, value) "
                    "VALUES (:o, :h, 'kind', :v)"
                ),
                {
                    "o": oid,
                    "h": text_hash("kind"),
                    "v": escape(value),
                },
            )
    engine.dispose()
    migrate(database_url)
    engine = make_engine(database_url)
    queries = Queries(engine)
    for oid, value in zip(oids, VALUES, strict=True):
        found = queries.search(value)
        assert [b["objectId"] for b in found["blobs"]] == [oid], repr(value[:20])
        assert found["kind"] == "attribute value"
    assert [b["objectId"] for b in queries.search("kind=back\\slash")["blobs"]] == [oids[1]]
    assert queries.search("other=image/png")["blobs"] == []
    engine.dispose()
