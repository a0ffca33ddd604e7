"""Engines and migrations: SQLite file by default, PostgreSQL by URL; Alembic runs at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

HERE = Path(__file__).parent
POOL_SIZE = 12
"""Connections a PostgreSQL engine keeps open: the API's lookups in flight (`offload.LOOKUPS`)
plus the pipeline, the node monitor and the manifest reader, so none is opened and closed per
burst of requests."""


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets WAL and a busy timeout so the API and the pipeline share it."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        kwargs["pool_size"] = POOL_SIZE
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    return engine


def read_engine(engine: Engine) -> Engine:
    """`engine` for the REST API's lookups. On a database server each lookup statement runs on
    its own (autocommit): a read-only request has nothing to commit or roll back, and under
    READ COMMITTED every statement sees the latest commit either way, so the BEGIN and ROLLBACK
    round trips around each request bought nothing. SQLite reads already run without a
    transaction of their own (the driver begins one only before a write)."""
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at this package's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """`alembic upgrade head`."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")
