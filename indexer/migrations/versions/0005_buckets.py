"""buckets: Bucket objects, their versions (manifest per commit) and tags, from events

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "buckets",
        sa.Column("bucket_id", sa.String(length=66), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=66), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("manifest_blob_id", sa.String(length=43), nullable=True),
        sa.Column("end_epoch", sa.Integer(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_cursor", sa.BigInteger(), nullable=False),
        sa.Column("updated_cursor", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("bucket_id", name=op.f("pk_buckets")),
        sa.UniqueConstraint("created_cursor", name=op.f("uq_buckets_created_cursor")),
    )
    op.create_index(op.f("ix_buckets_name"), "buckets", ["name"])
    op.create_index(op.f("ix_buckets_owner"), "buckets", ["owner"])
    op.create_table(
        "bucket_versions",
        sa.Column("bucket_id", sa.String(length=66), nullable=False),
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("base_version", sa.BigInteger(), nullable=False),
        sa.Column("manifest_blob_id", sa.String(length=43), nullable=False),
        sa.Column("manifest_object_id", sa.String(length=66), nullable=False),
        sa.Column("tx_digest", sa.String(length=100), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("bucket_id", "version", name=op.f("pk_bucket_versions")),
        sa.UniqueConstraint("cursor", name=op.f("uq_bucket_versions_cursor")),
    )
    op.create_index(
        op.f("ix_bucket_versions_manifest_blob_id"), "bucket_versions", ["manifest_blob_id"]
    )
    op.create_table(
        "bucket_tags",
        sa.Column("bucket_id", sa.String(length=66), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_cursor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("bucket_id", "tag", name=op.f("pk_bucket_tags")),
    )


def downgrade() -> None:
    op.drop_table("bucket_tags")
    op.drop_index(op.f("ix_bucket_versions_manifest_blob_id"), table_name="bucket_versions")
    op.drop_table("bucket_versions")
    op.drop_index(op.f("ix_buckets_owner"), table_name="buckets")
    op.drop_index(op.f("ix_buckets_name"), table_name="buckets")
    op.drop_table("buckets")
