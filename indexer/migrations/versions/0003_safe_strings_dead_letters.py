"""on-chain strings of any length and bytes; dead letters

Attribute keys become unbounded text identified by `key_hash` (SHA-256) in the primary key;
attribute values, node names and URLs, and the content-type prefix are stored escaped
(`indexer.text`), so existing rows are escaped here. Adds the `dead_letters` table.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from indexer.text import bounded, escape, text_hash

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("blob_attributes") as batch_op:
        batch_op.add_column(sa.Column("key_hash", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    attrs = sa.table(
        "blob_attributes",
        sa.column("object_id", sa.String),
        sa.column("key", sa.String),
        sa.column("value", sa.Text),
        sa.column("key_hash", sa.String),
    )
    rows = conn.execute(sa.select(attrs.c.object_id, attrs.c.key, attrs.c.value)).all()
    for oid, key, value in rows:
        conn.execute(
            attrs.update()
            .where(attrs.c.object_id == oid, attrs.c.key == key)
            .values(key=escape(key), value=escape(value), key_hash=text_hash(key))
        )
    with op.batch_alter_table("blob_attributes", recreate="always") as batch_op:
        batch_op.drop_constraint("pk_blob_attributes", type_="primary")
        batch_op.alter_column("key_hash", existing_type=sa.String(64), nullable=False)
        batch_op.alter_column("key", existing_type=sa.String(255), type_=sa.Text())
        batch_op.create_primary_key("pk_blob_attributes", ["object_id", "key_hash"])

    nodes = sa.table("nodes", sa.column("node_id", sa.String), sa.column("name"), sa.column("url"))
    for node_id, name, url in conn.execute(sa.select(nodes)).all():
        conn.execute(
            nodes.update()
            .where(nodes.c.node_id == node_id)
            .values(name=escape(name), url=escape(url))
        )
    with op.batch_alter_table("nodes") as batch_op:
        batch_op.alter_column("name", existing_type=sa.String(255), type_=sa.Text())
        batch_op.alter_column("url", existing_type=sa.String(255), type_=sa.Text())

    blobs = sa.table("blobs", sa.column("object_id", sa.String), sa.column("content_type"))
    for oid, ct in conn.execute(sa.select(blobs).where(blobs.c.content_type.is_not(None))).all():
        if escape(ct) != ct:
            conn.execute(
                blobs.update()
                .where(blobs.c.object_id == oid)
                .values(content_type=bounded(escape(ct), 255))
            )

    op.create_table(
        "dead_letters",
        sa.Column("cursor", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tx_digest", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("recorded_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cursor", name=op.f("pk_dead_letters")),
    )


def downgrade() -> None:
    """Schema only: values stay escaped (and keys over 255 characters do not fit back)."""
    op.drop_table("dead_letters")
    with op.batch_alter_table("nodes") as batch_op:
        batch_op.alter_column("url", existing_type=sa.Text(), type_=sa.String(255))
        batch_op.alter_column("name", existing_type=sa.Text(), type_=sa.String(255))
    with op.batch_alter_table("blob_attributes", recreate="always") as batch_op:
        batch_op.drop_constraint("pk_blob_attributes", type_="primary")
        batch_op.alter_column("key", existing_type=sa.Text(), type_=sa.String(255))
        batch_op.create_primary_key("pk_blob_attributes", ["object_id", "key"])
        batch_op.drop_column("key_hash")
