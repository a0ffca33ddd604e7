"""the dashboard: wall-clock times of blobs, read counts from relayers, lookup indexes

Blobs get the chain-clock time of their registration, first certification and deletion
(backfilled from the stored events), so charts use time rather than epochs; `read_counts` and
`blob_reads` hold what relayers report they served; indexes for events by object and
attributes by key serve the blob explorer.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIMES = {
    "registered_ms": "BlobRegistered",
    "certified_ms": "BlobCertified",
    "deleted_ms": "BlobDeleted",
}


def upgrade() -> None:
    with op.batch_alter_table("blobs") as batch_op:
        for column in TIMES:
            batch_op.add_column(sa.Column(column, sa.BigInteger(), nullable=True))
    for column, event_type in TIMES.items():
        op.execute(
            f"UPDATE blobs SET {column} = (SELECT MIN(events.timestamp_ms) FROM events "
            f"WHERE events.object_id = blobs.object_id AND events.type = '{event_type}')"
        )
    op.create_index(op.f("ix_events_object_id"), "events", ["object_id"])
    op.create_index(op.f("ix_blob_attributes_key_hash"), "blob_attributes", ["key_hash"])
    op.create_table(
        "read_counts",
        sa.Column("relayer", sa.String(length=255), nullable=False),
        sa.Column("instance", sa.String(length=32), nullable=False),
        sa.Column("hour_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("blobs", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("relayer", "instance", "hour_ms", name=op.f("pk_read_counts")),
    )
    op.create_table(
        "blob_reads",
        sa.Column("relayer", sa.String(length=255), nullable=False),
        sa.Column("instance", sa.String(length=32), nullable=False),
        sa.Column("blob_id", sa.String(length=43), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("relayer", "instance", "blob_id", name=op.f("pk_blob_reads")),
    )
    op.create_index(op.f("ix_blob_reads_blob_id"), "blob_reads", ["blob_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_blob_reads_blob_id"), table_name="blob_reads")
    op.drop_table("blob_reads")
    op.drop_table("read_counts")
    op.drop_index(op.f("ix_blob_attributes_key_hash"), table_name="blob_attributes")
    op.drop_index(op.f("ix_events_object_id"), table_name="events")
    with op.batch_alter_table("blobs") as batch_op:
        for column in TIMES:
            batch_op.drop_column(column)
