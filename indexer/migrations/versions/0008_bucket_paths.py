"""bucket paths: each bucket version's files, read from its manifest through a relayer

`bucket_manifests` (one row per manifest read or tried: state, attempts, next retry) and
`bucket_paths` (the manifest's files in path order: blob or patch id, size, content type).

Revision ID: 0008
Revises: 0007_dash
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007_dash"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bucket_manifests",
        sa.Column("manifest_blob_id", sa.String(length=43), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_ms", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("paths", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("checked_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("manifest_blob_id", name=op.f("pk_bucket_manifests")),
    )
    op.create_table(
        "bucket_paths",
        sa.Column("manifest_blob_id", sa.String(length=43), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("blob_id", sa.String(length=43), nullable=True),
        sa.Column("patch_id", sa.String(length=64), nullable=True),
        sa.Column("offset", sa.BigInteger(), nullable=True),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("manifest_blob_id", "seq", name=op.f("pk_bucket_paths")),
    )


def downgrade() -> None:
    op.drop_table("bucket_paths")
    op.drop_table("bucket_manifests")
