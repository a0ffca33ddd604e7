"""epoch changes and staking: shards, stake and rewards per node and epoch

`epoch_nodes` (RewardsDistributed: shards held, reward, pool stake per member at the end of
each epoch), `stake_changes` (StakeDeposited, StakeWithdrawRequested), `epoch_changes`
(EpochChangeStart/Done) and `shard_reports` (ShardsReceived).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "epoch_nodes",
        sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("node_id", sa.String(length=66), nullable=False),
        sa.Column("shards", sa.Integer(), nullable=False),
        sa.Column("reward", sa.BigInteger(), nullable=False),
        sa.Column("stake", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("epoch", "node_id", name=op.f("pk_epoch_nodes")),
    )
    op.create_table(
        "stake_changes",
        sa.Column("cursor", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=66), nullable=False),
        sa.Column("staked_id", sa.String(length=66), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cursor", name=op.f("pk_stake_changes")),
    )
    op.create_index(op.f("ix_stake_changes_node_id"), "stake_changes", ["node_id"])
    op.create_table(
        "epoch_changes",
        sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("shards_moved", sa.Integer(), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("done_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("epoch", name=op.f("pk_epoch_changes")),
    )
    op.create_table(
        "shard_reports",
        sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("node_id", sa.String(length=66), nullable=False),
        sa.Column("shards", sa.Integer(), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("epoch", "node_id", name=op.f("pk_shard_reports")),
    )


def downgrade() -> None:
    op.drop_table("shard_reports")
    op.drop_table("epoch_changes")
    op.drop_index(op.f("ix_stake_changes_node_id"), table_name="stake_changes")
    op.drop_table("stake_changes")
    op.drop_table("epoch_nodes")
