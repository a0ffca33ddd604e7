"""Alembic environment: runs migrations on the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from indexer.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    """Online migrations only: the indexer always has a database."""
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
