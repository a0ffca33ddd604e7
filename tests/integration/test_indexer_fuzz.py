"""Fuzz the indexer's OpenAPI document with schemathesis: no request may get a 5xx, and
every answer matches the documented shape of errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from indexer.app import create_app
from indexer.db import make_engine, migrate
from indexer.queries import Queries
from indexer.runner import Runner
from tests.conftest import make_world
from tests.integration.test_indexer import scripted_history


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("fuzz")
    w = make_world(Path(tmp))
    scripted_history(w)
    url = f"sqlite:///{tmp / 'fuzz.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    Runner(w.chain, engine).catch_up()
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(Queries(engine)))


def test_no_server_errors(api_schema) -> None:  # type: ignore[no-untyped-def]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call()
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query} → {response.status_code}: {response.text[:300]}"
            )
            if response.status_code >= 400:
                body = response.json()
                assert set(body["error"]) >= {"code", "status", "message", "details"}
                assert body["error"]["code"] == response.status_code

        check()
