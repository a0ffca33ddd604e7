"""Fuzz the storage node's OpenAPI document with schemathesis: no request may get a 5xx, and
every error answer has the documented shape. Half of the cases aim at a registered blob
whose metadata and slivers this node holds, so they reach the data paths, not only 404s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from haulout.protocol import codec
from storage_node.app import create_app
from storage_node.registry import Registry
from storage_node.service import NodeService
from storage_node.store import SliverStore
from tests.conftest import make_world


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str]:
    tmp = tmp_path_factory.mktemp("node-fuzz")
    w = make_world(Path(tmp))
    data = b"fuzz" * 5000
    enc = codec.encode(data, w.chain.system().n_shards)
    w.chain.reserve_and_register(w.user, enc.blob_id, enc.metadata.root, len(data), 0, 3, False)
    node = w.deployment.nodes[0]
    service = NodeService(
        w.chain,
        SliverStore(tmp / "slivers"),
        Registry(tmp / "registry.sqlite"),
        node.bls,
        node.node_id,
        confirmation_wait=0.05,  # random blob ids are never registered: keep their waits short
        metadata_wait=0.05,
        max_waiters=8,
    )
    while service.follow_once():
        pass
    service.store.put_metadata(enc.blob_id, enc.metadata.to_bytes())
    for i in service.owned_slivers(enc.blob_id):
        service.store.put_sliver(enc.blob_id, i, enc.slivers[i])
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(service))
    return schema, str(enc.blob_id)


def test_no_server_errors(fuzzed: tuple[Any, str]) -> None:
    api_schema, known = fuzzed
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        def aim(pair: tuple[Any, bool]) -> Any:
            case, at_known = pair
            if at_known and "blob_id" in (case.path_parameters or {}):
                case.path_parameters["blob_id"] = known
            return case

        cases = st.tuples(operation.as_strategy(), st.booleans()).map(aim)

        @given(case=cases)
        @settings(
            max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: Any) -> None:
            response = case.call()
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query} → {response.status_code}: "
                f"{response.text[:300]}"
            )
            if response.status_code >= 400:
                body = response.json()
                assert set(body["error"]) >= {"code", "status", "message", "details"}
                assert body["error"]["code"] == response.status_code

        check()


def test_hostile_indices_are_refused_without_echo(fuzzed: tuple[Any, str]) -> None:
    """Sliver indices no committee can have never name a file (a 300-digit one made the
    file name too long: 500), and a long bad list is not echoed back whole."""
    api_schema, known = fuzzed
    client = TestClient(api_schema.app, raise_server_exceptions=False)
    huge = "9" * 300
    for method, path in (
        ("GET", f"/v1/blobs/{known}/slivers/{huge}"),
        ("PUT", f"/v1/blobs/{known}/slivers/{huge}"),
        ("GET", f"/v1/blobs/{known}/slivers/-1"),
    ):
        r = client.request(method, path, content=b"x" if method == "PUT" else None)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["details"][0]["reason"] == "INVALID_SLIVER_INDEX"
    r = client.get(f"/v1/blobs/{known}/slivers", params={"indices": "x" * 5000})
    assert r.status_code == 400 and len(r.text) < 1000
