"""attribute values searchable by an index: `blob_attributes.value_hash`

A search by attribute value (or `key=value`) compared the stored text, which no index covers
(values have any length), so PostgreSQL read every `content-type` row of a million blobs. The
new `value_hash` column holds `text_hash` of the value (SHA-256 of its UTF-8, as `key_hash`),
indexed with `key_hash` and `object_id` (a common `key=value` is then a range, read for its
first page only). Existing rows are filled here: in SQL where the stored text is the value
itself (no backslash: `SafeText` escapes start with one), in Python for the rest.

`events.object_id` is indexed with `cursor` instead of alone: a blob page's events (oldest
first, LIMIT) are then one index range; with the single-column index PostgreSQL without fresh
statistics walked all 3 million events in cursor order.

Revision ID: 0007_dash
Revises: 0006
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from indexer.text import text_hash, unescape

revision = "0007_dash"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 5000


def _stored_hash(stored: Any) -> str | None:
    return None if stored is None else text_hash(unescape(str(stored)))


def upgrade() -> None:
    op.add_column("blob_attributes", sa.Column("value_hash", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text(
                "UPDATE blob_attributes SET value_hash = "
                "encode(sha256(convert_to(value, 'UTF8')), 'hex') WHERE strpos(value, '\\') = 0"
            )
        )
    elif conn.dialect.name == "sqlite":
        raw: Any = conn.connection.driver_connection
        raw.create_function("haulout_text_hash", 1, _stored_hash, deterministic=True)
        conn.execute(sa.text("UPDATE blob_attributes SET value_hash = haulout_text_hash(value)"))
    table = sa.table(
        "blob_attributes",
        sa.column("object_id"),
        sa.column("key_hash"),
        sa.column("value"),
        sa.column("value_hash"),
    )
    while rows := conn.execute(
        sa.select(table.c.object_id, table.c.key_hash, table.c.value)
        .where(table.c.value_hash.is_(None))
        .limit(BATCH)
    ).all():
        conn.execute(
            table.update()
            .where(
                table.c.object_id == sa.bindparam("o"),
                table.c.key_hash == sa.bindparam("k"),
            )
            .values(value_hash=sa.bindparam("h")),
            [{"o": o, "k": k, "h": _stored_hash(v)} for o, k, v in rows],
        )
    op.create_index(
        "ix_blob_attributes_value_key_object",
        "blob_attributes",
        ["value_hash", "key_hash", "object_id"],
        unique=False,
    )
    op.create_index("ix_events_object_id_cursor", "events", ["object_id", "cursor"], unique=False)
    op.drop_index("ix_events_object_id", table_name="events")
    if conn.dialect.name == "postgresql":  # plans for the new column and indexes
        conn.execute(sa.text("ANALYZE blob_attributes"))
        conn.execute(sa.text("ANALYZE events"))


def downgrade() -> None:
    op.create_index("ix_events_object_id", "events", ["object_id"], unique=False)
    op.drop_index("ix_events_object_id_cursor", table_name="events")
    op.drop_index("ix_blob_attributes_value_key_object", table_name="blob_attributes")
    with op.batch_alter_table("blob_attributes") as batch:
        batch.drop_column("value_hash")
