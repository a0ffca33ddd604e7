"""The indexer lists a bucket version's paths, read from its manifest through a relayer (here
a real HTTP server standing in for the relayer's `GET /v1/blobs/{id}`), apart from the event
pipeline: paging and prefixes, hostile manifests (a huge path, NUL bytes, 100,000 entries,
not JSON, too large, a stalled answer), and a failed fetch retried later. SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from haulout.chain.events import BucketCommitted, BucketCreated, ChainEvent
from haulout.protocol.blob_id import BlobId
from indexer import pipeline
from indexer.app import create_app
from indexer.bucket_paths import Limits, ManifestReader
from indexer.db import make_engine, migrate
from indexer.queries import Queries

OWNER = "0x" + "0a" * 32
BUCKET = "0x" + "b1" * 32
QUILT, PACK, CHUNK = "Q" * 43, "P" * 43, "C" * 43
PATCH = QUILT + "AQACAAQA"


def _mid(i: int) -> BlobId:
    return BlobId(bytes([i]) * 32)


GOOD, MANY, NOT_JSON, FLAKY, HUGE, STALLED = (_mid(i) for i in range(1, 7))


def _manifest(files: list[Any]) -> bytes:
    doc = {"haulout-manifest": 1, "kind": "directory", "name": "x", "size": 0}
    return json.dumps({**doc, "quilts": [QUILT], "packs": [PACK], "files": files}).encode()


GOOD_FILES = [
    {"path": "train/b.csv", "size": 5, "content_type": "text/csv", "quilt": 0, "patch": PATCH},
    {"path": "train/a.csv", "size": 4, "content_type": "text/csv", "pack": 0, "offset": 7},
    {"path": "ckpt/model.pt", "size": 9 << 20, "chunks": [{"blob_id": CHUNK, "size": 9 << 20}]},
    {"path": "nul\x00name\\x", "size": 1, "quilt": 0, "patch": PATCH},
    {"path": "big/" + "x" * 2_000_000, "size": 1, "quilt": 0, "patch": PATCH},  # skipped
    {"path": "bad-size", "size": -1, "quilt": 0, "patch": PATCH},  # skipped
    {"path": "train/a.csv", "size": 4, "pack": 0, "offset": 0},  # duplicate: skipped
    "not an entry",  # skipped
]
MANY_N = 100_000


class Relayer:
    """Serves manifests by blob id; `down` ids answer 503 until removed; `STALLED` stalls."""

    def __init__(self) -> None:
        self.blobs = {
            str(GOOD): _manifest(GOOD_FILES),
            str(MANY): _manifest(
                [
                    {"path": f"f/{i:06}", "size": i, "quilt": 0, "patch": PATCH}
                    for i in range(MANY_N)
                ]
            ),
            str(NOT_JSON): b'{"a":' + b"[" * 100_000,
            str(FLAKY): _manifest(GOOD_FILES[:1]),
            str(HUGE): b" " * (17 << 20),
            str(STALLED): _manifest(GOOD_FILES[:1]),
        }
        self.down = {str(FLAKY)}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                bid = self.path.rsplit("/", 1)[-1]
                if bid in outer.down or bid not in outer.blobs:
                    self.send_response(503 if bid in outer.down else 404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = outer.blobs[bid]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if bid == str(STALLED):
                        self.wfile.write(body[:10])
                        self.wfile.flush()
                        time.sleep(3)
                    self.wfile.write(body)
                except OSError:
                    pass  # the indexer hung up (too large, too slow)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def relayer() -> Iterator[Relayer]:
    r = Relayer()
    yield r
    r.server.shutdown()


def _events() -> list[ChainEvent]:
    evs: list[Any] = [BucketCreated(BUCKET, "train")]
    for v, m in enumerate([GOOD, MANY, NOT_JSON, FLAKY, HUGE, STALLED], start=1):
        evs.append(BucketCommitted(BUCKET, v, v - 1, m, "0x" + f"{v:02}" * 32))
    return [ChainEvent(i + 1, f"tx{i}", OWNER, 1000 + i, e) for i, e in enumerate(evs)]


def test_paths_are_read_from_manifests_apart_from_the_pipeline(
    database_url: str, relayer: Relayer
) -> None:
    relayer.down = {str(FLAKY)}
    migrate(database_url)
    engine = make_engine(database_url)
    events = _events()
    with engine.begin() as conn:
        pipeline.commit(conn, pipeline.process(events, len(events)))
    now = [1000.0]
    reader = ManifestReader(
        engine,
        ["http://127.0.0.1:9", relayer.url],  # the first relayer is down: the next one serves
        Limits(max_bytes=16 << 20, timeout=1.0, retry=60.0),
        clock=lambda: now[0],
    )
    api = TestClient(create_app(Queries(engine)))
    route = f"/v1/buckets/{BUCKET}/paths"
    assert api.get(route, params={"version": 1}).json()["state"] == "pending"
    assert reader.run_once() == 6
    states = {v: api.get(route, params={"version": v}).json() for v in range(1, 7)}
    assert {v: s["state"] for v, s in states.items()} == {
        1: "indexed",
        2: "indexed",
        3: "refused",
        4: "failed",
        5: "refused",
        6: "failed",
    }
    good = states[1]
    assert [p["path"] for p in good["paths"]] == [
        "ckpt/model.pt",
        "nul\x00name\\x",
        "train/a.csv",
        "train/b.csv",
    ]
    assert good["skipped"] == 4
    by_path = {p["path"]: p for p in good["paths"]}
    assert by_path["train/b.csv"] == {
        "path": "train/b.csv",
        "blobId": QUILT,
        "patchId": PATCH,
        "offset": None,
        "chunks": 0,
        "size": 5,
        "contentType": "text/csv",
        "downloadUrl": None,  # no relayer configured for downloads
    }
    assert (by_path["train/a.csv"]["blobId"], by_path["train/a.csv"]["offset"]) == (PACK, 7)
    assert by_path["ckpt/model.pt"]["blobId"] == CHUNK
    train = api.get(route, params={"version": 1, "prefix": "train/", "limit": 1}).json()
    assert [p["path"] for p in train["paths"]] == ["train/a.csv"]
    nxt = api.get(
        route, params={"version": 1, "prefix": "train/", "cursor": train["nextCursor"]}
    ).json()
    assert [p["path"] for p in nxt["paths"]] == ["train/b.csv"] and nxt["nextCursor"] is None
    nul = api.get(route, params={"version": 1, "prefix": "nul\x00"}).json()
    assert [p["path"] for p in nul["paths"]] == ["nul\x00name\\x"]
    last = api.get(route, params={"version": 2, "prefix": "f/09999", "limit": 1000}).json()
    assert [p["path"] for p in last["paths"]] == [f"f/{i:06}" for i in range(99990, 100000)]
    # the flaky relayer recovers: not retried before the delay, then indexed
    relayer.down.clear()
    assert str(FLAKY) not in reader.due()
    now[0] += 61
    assert str(FLAKY) in reader.due()
    reader.run_once()
    current = api.get(route).json()  # the current version: 6, still failing (stalls)
    assert current["version"] == 6 and current["state"] == "failed"
    assert api.get(route, params={"version": 4}).json()["paths"][0]["path"] == "train/b.csv"
    assert api.get(route, params={"version": 9}).status_code == 404
    assert api.get(route, params={"cursor": "x"}).status_code == 400
    assert api.get(f"/v1/buckets/0x{'ee' * 32}/paths").status_code == 404
