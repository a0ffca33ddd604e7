"""page-order indexes: filters on content type, owner and deletable, ordered by cursor

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_blobs_content_type_cursor", "blobs", ["content_type", "registered_cursor"])
    op.create_index("ix_blobs_owner_cursor", "blobs", ["owner", "registered_cursor"])
    op.create_index("ix_blobs_deletable_cursor", "blobs", ["deletable", "registered_cursor"])


def downgrade() -> None:
    op.drop_index("ix_blobs_deletable_cursor", table_name="blobs")
    op.drop_index("ix_blobs_owner_cursor", table_name="blobs")
    op.drop_index("ix_blobs_content_type_cursor", table_name="blobs")
