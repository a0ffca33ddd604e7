"""The indexer mirrors bucket events into buckets, versions and tags (idempotent on replay)
and serves them: an owner's buckets, one bucket, its versions newest first."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from haulout.chain.events import (
    BucketCommitted,
    BucketCreated,
    BucketDeleted,
    BucketExtended,
    BucketTagged,
    ChainEvent,
)
from haulout.protocol.blob_id import BlobId
from indexer import pipeline
from indexer.app import create_app
from indexer.db import make_engine, migrate
from indexer.queries import Queries

OWNER, OTHER = "0x" + "0a" * 32, "0x" + "0b" * 32
B1, B2 = "0x" + "b1" * 32, "0x" + "b2" * 32
M1, M2 = BlobId(bytes(range(32))), BlobId(bytes(range(1, 33)))


def _events() -> list[ChainEvent]:
    evs = [
        (OWNER, BucketCreated(B1, "train")),
        (OTHER, BucketCreated(B2, "other")),
        (OWNER, BucketCommitted(B1, 1, 0, M1, "0x" + "c1" * 32)),
        (OWNER, BucketCommitted(B1, 2, 1, M2, "0x" + "c2" * 32)),
        (OWNER, BucketTagged(B1, "release", 1)),
        (OWNER, BucketExtended(B1, 2, M2, 9)),
        (OTHER, BucketDeleted(B2, 0)),
    ]
    return [ChainEvent(i + 1, f"tx{i}", s, 1000 + i, e) for i, (s, e) in enumerate(evs)]


def test_bucket_events_become_rows_and_routes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'idx.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    events = _events()
    for _ in range(2):  # a replay changes nothing
        with engine.begin() as conn:
            pipeline.commit(conn, pipeline.process(events[:4], 4))
        with engine.begin() as conn:
            pipeline.commit(conn, pipeline.process(events, 7))
    api = TestClient(create_app(Queries(engine)))
    mine = api.get("/v1/buckets", params={"owner": OWNER}).json()["buckets"]
    assert [(b["name"], b["version"], b["endEpoch"]) for b in mine] == [("train", 2, 9)]
    assert mine[0]["manifestBlobId"] == str(M2) and mine[0]["tags"] == {"release": 1}
    assert api.get("/v1/buckets").json()["buckets"][0]["name"] == "train"  # deleted: hidden
    assert len(api.get("/v1/buckets", params={"include_deleted": "true"}).json()["buckets"]) == 2
    versions = api.get(f"/v1/buckets/{B1}/versions").json()["versions"]
    assert [(v["version"], v["manifestBlobId"]) for v in versions] == [(2, str(M2)), (1, str(M1))]
    assert api.get(f"/v1/buckets/{B2}").json()["deleted"] is True
    assert api.get("/v1/buckets/0x" + "ee" * 32).status_code == 404
    assert api.get("/v1/buckets", params={"owner": "nope"}).status_code == 400
