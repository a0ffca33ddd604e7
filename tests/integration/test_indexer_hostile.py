"""The indexer under hostile or unexpected chain data (issue #11, items 3, 9 and 10), on SQLite
and PostgreSQL: strings of any length and bytes, events the database refuses, huge cursors,
owners that change by transfer, and /healthz after a restart."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError

from haulout.chain.accounts import Account
from haulout.chain.events import BlobAttributeSet, Event, StorageReserved
from indexer import pipeline
from indexer.app import create_app
from indexer.db import alembic_config, make_engine, migrate
from indexer.models import BlobAttribute, Node
from indexer.queries import Queries
from indexer.runner import Runner
from tests.conftest import World, make_world, register, sign_certificate

LONG_KEY = "k" * 5000
# NUL (PostgreSQL text refuses it), a literal backslash-u sequence (must not be taken for an
# escape), a lone surrogate (not UTF-8-encodable), and non-ASCII.
ODD_VALUE = "a\x00b \\u0000 c \ud800 d 日本"


def raw_event(w: World, ev: Event) -> None:
    """Append an event to the DevChain ledger as a chain without today's Move limits (or any
    other writer) could have emitted it: the limits are enforced at `set_attribute`, so this
    goes to the ledger directly."""
    with sqlite3.connect(w.chain.path, isolation_level=None) as conn:
        conn.execute(
            "INSERT INTO events (tx_digest, sender, timestamp_ms, type, fields) "
            "VALUES (?, ?, ?, ?, ?)",
            ("raw" + ev.NAME, w.user.address, 0, ev.NAME, json.dumps(ev.to_fields())),
        )


def fresh_engine(url: str) -> Engine:
    migrate(url)
    return make_engine(url)


def api(engine: Engine, runner: Runner | None = None) -> TestClient:
    return TestClient(create_app(Queries(engine), runner.stats if runner else None))


def test_long_keys_and_odd_bytes_are_stored_whole_and_indexing_goes_on(
    database_url: str, tmp_path: Path
) -> None:
    w = make_world(tmp_path)
    a = register(w, b"alpha" * 10)
    raw_event(w, BlobAttributeSet(a.blob_id, a.id, LONG_KEY, "long key"))
    raw_event(w, BlobAttributeSet(a.blob_id, a.id, "note", ODD_VALUE))
    raw_event(w, BlobAttributeSet(a.blob_id, a.id, "content-type", "text/" + "x\x00" * 300))
    raw_event(w, BlobAttributeSet(a.blob_id, a.id, "x\x00\\" * 10, "odd key"))
    later = register(w, b"later")
    engine = fresh_engine(database_url)
    runner = Runner(w.chain, engine, batch_size=3)
    runner.catch_up()
    client = api(engine, runner)
    attributes = client.get(f"/v1/blobs/by-object-id/{a.id}").json()["attributes"]
    assert attributes == {
        LONG_KEY: "long key",
        "note": ODD_VALUE,
        "content-type": "text/" + "x\x00" * 300,
        "x\x00\\" * 10: "odd key",
    }
    assert client.get(f"/v1/blobs/by-object-id/{later.id}").status_code == 200
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["deadLetters"] == 0
    assert health["cursor"] == w.chain.events()[-1].cursor
    # the listing shows a bounded prefix of the content type, and filters on it
    listed = client.get("/v1/blobs", params={"content_type": "text/" + "x\x00" * 120}).json()
    assert [b["objectId"] for b in listed["blobs"]] == [a.id]
    assert listed["blobs"][0]["contentType"].startswith("text/x\x00x")
    # setting the long key again replaces it
    raw_event(w, BlobAttributeSet(a.blob_id, a.id, LONG_KEY, "again"))
    runner.catch_up()
    with engine.connect() as c:
        stored = dict(c.execute(select(BlobAttribute.key, BlobAttribute.value)).all())
    assert stored[LONG_KEY] == "again" and len(stored) == 4


def test_an_event_the_database_refuses_is_dead_lettered_and_indexing_goes_on(
    database_url: str, tmp_path: Path
) -> None:
    w = make_world(tmp_path)
    before = register(w, b"before")
    # u64 past the signed 64-bit columns: a real chain can emit it, no database column holds it
    raw_event(w, StorageReserved(1, "0x" + "ab" * 32, 0, 3, 1000, 2**64 - 1))
    poison_cursor = w.chain.events()[-1].cursor
    after = register(w, b"after")
    w.chain.set_attribute(w.user, after.id, "content-type", "text/plain")
    engine = fresh_engine(database_url)
    runner = Runner(w.chain, engine, batch_size=1000)
    runner.catch_up()
    client = api(engine, runner)
    for blob in (before, after):
        assert client.get(f"/v1/blobs/by-object-id/{blob.id}").status_code == 200
    assert client.get(f"/v1/blobs/by-object-id/{after.id}").json()["contentType"] == "text/plain"
    health = client.get("/healthz").json()
    assert health == {
        "status": "degraded",
        "cursor": w.chain.events()[-1].cursor,
        "events": len(w.chain.events()) - 1,
        "deadLetters": 1,
        "failingBatches": 0,
    }
    [letter] = client.get("/v1/dead-letters").json()["deadLetters"]
    assert letter["cursor"] == poison_cursor and letter["type"] == "StorageReserved"
    assert letter["fields"]["paid"] == 2**64 - 1 and letter["error"]
    assert "INSERT" not in letter["error"]  # the reason, not SQLAlchemy's statement dump
    events = client.get("/v1/events", params={"limit": 1000}).json()["events"]
    assert poison_cursor not in {e["cursor"] for e in events}
    assert len(events) == len(w.chain.events()) - 1
    # a restart neither repeats nor forgets it
    again = Runner(w.chain, engine)
    assert again.catch_up() == 0 and again.stats.dead_letters == 1
    assert api(engine, again).get("/healthz").json()["status"] == "degraded"


def test_a_failure_that_is_not_the_data_is_retried_never_dead_lettered(
    database_url: str, tmp_path: Path
) -> None:
    w = make_world(tmp_path)
    register(w, b"x")
    engine = fresh_engine(database_url)

    def flaky(step: str) -> None:
        if step == "blobs":
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    for _ in range(3):
        with pytest.raises(OperationalError):
            Runner(w.chain, engine, fault=flaky).run_once()
    with engine.connect() as c:
        assert pipeline.stored_cursor(c) == 0 and pipeline.dead_letter_count(c) == 0
    runner = Runner(w.chain, engine)
    runner.catch_up()
    assert api(engine, runner).get("/healthz").json()["status"] == "ok"


def test_healthz_shows_the_persisted_cursor_after_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    w = make_world(tmp_path)
    register(w, b"x")
    engine = fresh_engine(database_url)
    Runner(w.chain, engine).catch_up()
    restarted = Runner(w.chain, engine)  # a new process: nothing indexed yet in this one
    health = api(engine, restarted).get("/healthz").json()
    assert health["cursor"] == w.chain.events()[-1].cursor > 0
    assert "haulout_indexer_cursor 0.0" not in api(engine, restarted).get("/metrics").text


def owned_by(client: TestClient, address: str) -> set[str]:
    return {
        b["objectId"] for b in client.get("/v1/blobs", params={"owner": address}).json()["blobs"]
    }


def test_owner_follows_transfers(database_url: str, tmp_path: Path) -> None:
    """As the relayer's send_object_to: register and certify as one account, then transfer."""
    w = make_world(tmp_path)
    recipient, third = Account.generate(), Account.generate()
    w.fund(recipient.address)
    blob = register(w, b"gift" * 100)
    w.chain.certify_blob(w.user, blob.id, sign_certificate(w, blob, [0, 1, 2]))
    engine = fresh_engine(database_url)
    runner = Runner(w.chain, engine)
    runner.catch_up()
    client = api(engine, runner)
    assert owned_by(client, w.user.address) == {blob.id}
    w.chain.transfer(w.user, blob.id, recipient.address)  # no event
    runner.owners.sweep()
    assert owned_by(client, recipient.address) == {blob.id}
    assert owned_by(client, w.user.address) == set()
    # a transfer followed by an event on the object: that batch reads the owner again
    w.chain.transfer(recipient, blob.id, third.address)
    w.fund(third.address)
    w.chain.set_attribute(third, blob.id, "content-type", "text/plain")
    runner.catch_up()
    assert owned_by(client, third.address) == {blob.id}
    one = client.get(f"/v1/blobs/by-object-id/{blob.id}").json()
    assert one["owner"] == third.address == w.chain.get_blob(blob.id).owner


def test_a_transfer_right_after_the_last_event_is_seen_on_the_second_look(
    database_url: str, tmp_path: Path
) -> None:
    w = make_world(tmp_path)
    recipient = Account.generate()
    blob = register(w, b"gift")
    engine = fresh_engine(database_url)
    runner = Runner(w.chain, engine)
    runner.owners.recheck_after = 0.0
    runner.catch_up()  # reads the owner at once: still the registering account
    w.chain.transfer(w.user, blob.id, recipient.address)
    runner.owners.recheck_due()
    assert owned_by(api(engine, runner), recipient.address) == {blob.id}


def cursor_of(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "path,params",
    [
        ("/v1/blobs", {"cursor": cursor_of({"v": 1, "before": 2**63})}),
        ("/v1/blobs", {"cursor": cursor_of({"v": 1, "before": 10**30})}),
        ("/v1/blobs", {"cursor": cursor_of({"v": 1, "before": -1})}),
        ("/v1/blobs", {"cursor": cursor_of({"v": 1, "before": True})}),
        ("/v1/blobs", {"cursor": cursor_of({"v": 1, "before": 1.5})}),
        ("/v1/blobs", {"cursor": cursor_of([1, 2])}),
        ("/v1/blobs", {"cursor": "9" * 200}),
        ("/v1/blobs", {"limit": "9" * 5000}),
        ("/v1/blobs", {"min_size": str(2**63)}),
        ("/v1/blobs", {"expiring_before": "9" * 40}),
        ("/v1/events", {"after": str(2**63)}),
        ("/v1/events", {"limit": str(2**64)}),
    ],
)
def test_huge_or_malformed_numbers_get_400(
    database_url: str, tmp_path: Path, path: str, params: dict[str, str]
) -> None:
    w = make_world(tmp_path)
    register(w, b"x")
    engine = fresh_engine(database_url)
    Runner(w.chain, engine).catch_up()
    r = api(engine).get(path, params=params)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"]


def test_the_largest_accepted_numbers_work(database_url: str, tmp_path: Path) -> None:
    w = make_world(tmp_path)
    blob = register(w, b"x")
    engine = fresh_engine(database_url)
    Runner(w.chain, engine).catch_up()
    client = api(engine)
    top = cursor_of({"v": 1, "before": 2**63 - 1})
    assert [
        b["objectId"] for b in client.get("/v1/blobs", params={"cursor": top}).json()["blobs"]
    ] == [blob.id]
    for params in (
        {"min_size": str(2**63 - 1)},
        {"max_size": str(2**63 - 1)},
        {"expiring_before": str(2**32)},
    ):
        assert client.get("/v1/blobs", params=params).status_code == 200
    assert client.get("/v1/events", params={"after": str(2**63 - 1)}).json()["events"] == []


def test_migration_0003_keeps_existing_rows(database_url: str) -> None:
    """Rows written by 0002 read back the same after 0003 (backslashes included)."""
    from alembic import command

    cfg = alembic_config(database_url)
    command.upgrade(cfg, "0002")
    engine = make_engine(database_url)
    with engine.begin() as c:
        c.execute(
            text("INSERT INTO blob_attributes (object_id, key, value) VALUES (:o, :k, :v)"),
            [
                {"o": "0x1", "k": "path\\to", "v": "C:\\dir \\u0041"},
                {"o": "0x1", "k": "content-type", "v": "text/plain"},
            ],
        )
        c.execute(
            text("INSERT INTO nodes (node_id, name, url, public_key) VALUES ('0x2', :n, :u, 'k')"),
            {"n": "node\\1", "u": "http://h"},
        )
    command.upgrade(cfg, "head")
    with engine.connect() as c:
        assert dict(c.execute(select(BlobAttribute.key, BlobAttribute.value)).all()) == {
            "path\\to": "C:\\dir \\u0041",
            "content-type": "text/plain",
        }
        assert c.execute(select(Node.name)).scalar() == "node\\1"


def test_healthz_is_degraded_while_batches_keep_failing(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    register(w, b"x")
    engine = fresh_engine(f"sqlite:///{tmp_path / 'idx.sqlite'}")

    def down(step: str) -> None:
        raise OperationalError("INSERT", {}, Exception("could not connect to server"))

    runner = Runner(w.chain, engine, fault=down)
    follower = threading.Thread(target=runner.follow, args=(0.01,), daemon=True)
    follower.start()
    client = api(engine, runner)
    deadline = time.monotonic() + 20
    while runner.stats.consecutive_errors < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    health = client.get("/healthz").json()
    runner.stop()
    follower.join(5)
    assert health["status"] == "degraded" and health["failingBatches"] >= 3
    assert health["deadLetters"] == 0 and health["cursor"] == 0
