"""Databases for indexer tests: a fresh SQLite file and, where reachable, a fresh PostgreSQL db."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN = os.environ.get("HAULOUT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN}: {exc}"


PG_SKIP = _pg_available()


def new_database(kind: str, tmp: Path) -> Iterator[str]:
    """Yield the URL of a fresh, empty database; drop it afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / f'idx-{uuid.uuid4().hex[:8]}.sqlite'}"
        return
    if PG_SKIP:
        pytest.skip(PG_SKIP)
    import psycopg

    name = f"haulout_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from new_database(request.param, tmp_path)
