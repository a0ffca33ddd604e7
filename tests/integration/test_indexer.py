"""Indexer on SQLite and PostgreSQL: tables equal the chain's state, crash-safety, idempotence,
migrations in step with the models, and the REST API's filters and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from indexer import pipeline
from indexer.app import create_app
from indexer.db import alembic_config, make_engine, migrate
from indexer.models import Base, Blob, BlobAttribute
from indexer.queries import Queries
from indexer.runner import Runner
from tests.conftest import World, make_world, register, sign_certificate


class Crash(Exception):
    """Injected failure."""


def scripted_history(w: World) -> dict[str, str]:
    """Registrations, certifications, extension, deletion, attributes, epochs, prices."""
    a = register(w, b"alpha" * 100, epochs=3)
    w.chain.certify_blob(w.user, a.id, sign_certificate(w, a, [0, 1, 2]))
    w.chain.set_attribute(w.user, a.id, "content-type", "text/plain")
    b = register(w, b"beta" * 1000, epochs=2, deletable=True)
    w.chain.certify_blob(w.user, b.id, sign_certificate(w, b, [0, 1, 2]))
    w.chain.set_attribute(w.user, b.id, "content-type", "image/png")
    w.chain.set_attribute(w.user, b.id, "note", "temporary")
    w.chain.remove_attribute(w.user, b.id, "note")
    c = register(w, b"gamma", epochs=1)  # registered, never certified
    w.chain.force_advance_epoch(w.deployment.admin)
    w.chain.extend_blob(w.user, a.id, 4)
    d = register(w, b"delta" * 7, epochs=2, deletable=True)
    w.chain.certify_blob(w.user, d.id, sign_certificate(w, d, [1, 2, 3]))
    w.chain.delete_blob(w.user, d.id)
    w.chain.set_prices(w.deployment.admin, 1500, 2500)
    w.chain.force_advance_epoch(w.deployment.admin)
    return {"a": a.id, "b": b.id, "c": c.id, "d": d.id}


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted, for equality checks."""
    out = {}
    with engine.connect() as c:
        for table in Base.metadata.sorted_tables:
            out[table.name] = sorted(tuple(r) for r in c.execute(select(table)).all())
    return out


def fresh_engine(url: str) -> Engine:
    migrate(url)
    return make_engine(url)


@pytest.fixture
def history(tmp_path: Path) -> tuple[World, dict[str, str]]:
    w = make_world(tmp_path)
    return w, scripted_history(w)


def test_tables_equal_chain_state(database_url: str, history: tuple[World, dict[str, str]]) -> None:
    w, ids = history
    engine = fresh_engine(database_url)
    Runner(w.chain, engine, batch_size=7).catch_up()
    with engine.connect() as c:
        rows = {r.object_id: r for r in c.execute(select(Blob)).all()}
        attrs = {(r.object_id, r.key): r.value for r in c.execute(select(BlobAttribute)).all()}
    for name in ("a", "b", "c"):
        chain_blob = w.chain.get_blob(ids[name])
        row = rows[ids[name]]
        assert row.blob_id == str(chain_blob.blob_id) and row.size == chain_blob.size
        assert (
            row.end_epoch == chain_blob.end_epoch
            and row.certified_epoch == chain_blob.certified_epoch
        )
        assert row.owner == chain_blob.owner and row.deletable == chain_blob.deletable
        assert {k: v for (o, k), v in attrs.items() if o == ids[name]} == chain_blob.attributes
    assert rows[ids["a"]].status == "certified" and rows[ids["a"]].end_epoch == 7
    assert rows[ids["b"]].content_type == "image/png"
    assert rows[ids["c"]].status == "registered"
    assert rows[ids["d"]].status == "deleted" and rows[ids["d"]].deleted_epoch == 1
    q = Queries(engine)
    assert q.current_epoch() == 2
    assert [p["storagePrice"] for p in q.stats()["prices"]] == [1000, 1500]
    assert {n["name"] for n in q.nodes()} == {f"node-{i}" for i in range(4)}
    assert q.by_blob_id(str(w.chain.get_blob(ids["b"]).blob_id))["status"] == "expired"


@pytest.mark.parametrize("step", ["events", "blobs", "attributes", "reference", "cursor", "done"])
def test_crash_at_every_step_then_restart_equals_clean_run(
    database_url: str, history: tuple[World, dict[str, str]], tmp_path: Path, step: str
) -> None:
    w, _ = history
    engine = fresh_engine(database_url)

    def fault(at: str) -> None:
        if at == step:
            raise Crash(at)

    with pytest.raises(Crash):
        Runner(w.chain, engine, batch_size=10, fault=fault).catch_up()
    with engine.connect() as c:
        assert pipeline.stored_cursor(c) == 0
        assert c.execute(select(Blob)).all() == []
    Runner(w.chain, engine, batch_size=10).catch_up()
    clean = fresh_engine(f"sqlite:///{tmp_path / 'clean.sqlite'}")
    Runner(w.chain, clean, batch_size=1000).catch_up()
    assert dump(engine) == dump(clean)


def test_replaying_events_is_idempotent(
    database_url: str, history: tuple[World, dict[str, str]]
) -> None:
    w, _ = history
    engine = fresh_engine(database_url)
    Runner(w.chain, engine).catch_up()
    before = dump(engine)
    events = w.chain.events()
    with engine.begin() as c:
        pipeline.commit(c, pipeline.process(events, 0))
    with engine.begin() as c:
        pipeline.commit(c, pipeline.process(events[5:9], 4))
    assert dump(engine) == before


def test_migrations_match_models(database_url: str) -> None:
    engine = fresh_engine(database_url)
    with engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
        assert diff == []
        assert (
            c.execute(text("SELECT version_num FROM alembic_version")).scalar()
            == ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
        )


@pytest.fixture
def api(
    tmp_path: Path, history: tuple[World, dict[str, str]]
) -> tuple[TestClient, World, dict[str, str]]:
    w, ids = history
    engine = fresh_engine(f"sqlite:///{tmp_path / 'api.sqlite'}")
    Runner(w.chain, engine).catch_up()
    return TestClient(create_app(Queries(engine))), w, ids


def test_api_filters_pagination_and_lookups(api: tuple[TestClient, World, dict[str, str]]) -> None:
    client, w, ids = api
    all_ = client.get("/v1/blobs").json()["blobs"]
    assert len(all_) == 4
    assert [
        b["objectId"]
        for b in client.get("/v1/blobs", params={"status": "certified"}).json()["blobs"]
    ] == [ids["a"]]
    assert {
        b["objectId"] for b in client.get("/v1/blobs", params={"deletable": "true"}).json()["blobs"]
    } == {ids["b"], ids["d"]}
    assert [
        b["objectId"]
        for b in client.get("/v1/blobs", params={"content_type": "image/png"}).json()["blobs"]
    ] == [ids["b"]]
    assert [
        b["objectId"] for b in client.get("/v1/blobs", params={"status": "expired"}).json()["blobs"]
    ] == [ids["b"]]
    assert [
        b["objectId"] for b in client.get("/v1/blobs", params={"min_size": 4000}).json()["blobs"]
    ] == [ids["b"]]
    assert {
        b["objectId"]
        for b in client.get("/v1/blobs", params={"expiring_before": 3}).json()["blobs"]
    } == {ids["b"], ids["c"]}
    assert len(client.get("/v1/blobs", params={"owner": w.user.address}).json()["blobs"]) == 4
    assert client.get("/v1/blobs", params={"owner": "0x" + "1" * 64}).json()["blobs"] == []
    seen, cursor = [], None
    while True:
        page = client.get(
            "/v1/blobs", params={"limit": 1, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [b["objectId"] for b in page["blobs"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [b["objectId"] for b in all_]
    one = client.get(f"/v1/blobs/by-object-id/{ids['a']}").json()
    assert one["attributes"] == {"content-type": "text/plain"} and one["endEpoch"] == 7
    by_id = client.get(f"/v1/blobs/{one['blobId']}").json()
    assert by_id["status"] == "certified" and by_id["size"] == 500
    assert (
        client.get("/v1/events", params={"type": "BlobDeleted"}).json()["events"][0]["fields"][
            "object_id"
        ]
        == ids["d"]
    )
    assert [e["epoch"] for e in client.get("/v1/epochs").json()["epochs"]] == [0, 1, 2]
    stats = client.get("/v1/stats").json()
    assert stats["stored"] == {"blobs": 1, "bytes": 500}
    assert stats["byContentType"] == [{"contentType": "text/plain", "blobs": 1, "bytes": 500}]
    assert (
        client.get("/healthz").status_code == 200
        and "haulout_indexer_events" in client.get("/metrics").text
    )


@pytest.mark.parametrize(
    "params",
    [
        {"status": "bogus"},
        {"cursor": "%%%"},
        {"cursor": "eyJ2IjoyfQ"},
        {"min_size": "-1"},
        {"limit": "0"},
        {"min_size": "10", "max_size": "5"},
        {"owner": "nope"},
        {"expiring_before": "soon"},
        {"min_size": str(2**70)},
    ],
)
def test_bad_filters_and_cursors_get_400(
    api: tuple[TestClient, World, dict[str, str]], params: dict[str, str]
) -> None:
    client, _, _ = api
    r = client.get("/v1/blobs", params=params)
    assert r.status_code == 400, r.text
    assert (
        r.json()["error"]["status"] == "INVALID_ARGUMENT"
        or r.json()["error"]["details"][0]["reason"] == "INVALID_CURSOR"
    )


def test_unknown_ids(api: tuple[TestClient, World, dict[str, str]]) -> None:
    client, _, _ = api
    assert client.get("/v1/blobs/" + "A" * 43).status_code == 404
    assert client.get("/v1/blobs/short").status_code == 400
    assert (
        client.get("/v1/blobs/by-object-id/0x" + "9" * 64).json()["error"]["details"][0]["reason"]
        == "OBJECT_NOT_FOUND"
    )
    assert client.get("/nope").json()["error"]["code"] == 404
