"""Buckets in the dashboard's explorer, in headless Chromium and by keyboard alone: the bucket
list, a bucket's page with its versions and tags, and its paths at a chosen version, each
linking to its download through the configured relayer. The indexer's manifest reader reads
the manifests (its relayer fetch is the port boundary, answered from the manifests here)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from haulout.chain.events import BucketCommitted, BucketCreated, BucketTagged, ChainEvent
from haulout.protocol.blob_id import BlobId
from indexer import pipeline
from indexer.app import create_app
from indexer.bucket_paths import ManifestReader
from indexer.db import make_engine, migrate
from indexer.queries import Queries
from tests.integration.cdp import Browser
from tests.integration.test_dashboard import HOSTILE, Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)
OWNER = "0x" + "0a" * 32
BUCKET = "0x" + "b1" * 32
RELAYER = "http://relayer.example:31415"
QUILT = "Q" * 43
V1, V2 = BlobId(bytes([1]) * 32), BlobId(bytes([2]) * 32)


def _manifest(paths: list[str]) -> bytes:
    files = [
        {
            "path": p,
            "size": 10 + i,
            "content_type": "text/csv",
            "quilt": 0,
            "patch": QUILT + f"{i:08}",
        }
        for i, p in enumerate(paths)
    ]
    doc = {"haulout-manifest": 1, "kind": "directory", "name": "b", "size": 0}
    return json.dumps({**doc, "quilts": [QUILT], "packs": [], "files": files}).encode()


MANIFESTS = {
    str(V1): _manifest(["train/a.csv"]),
    str(V2): _manifest(["train/a.csv", "train/b.csv", HOSTILE]),
}


class Manifests(ManifestReader):
    """The reader with its relayer fetch answered from `MANIFESTS`."""

    def fetch(self, blob_id: str) -> bytes:
        return MANIFESTS[blob_id]


@dataclass
class Site:
    url: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("dash-buckets")
    url = f"sqlite:///{tmp / 'idx.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    evs = [
        BucketCreated(BUCKET, "train-set"),
        BucketCommitted(BUCKET, 1, 0, V1, "0x" + "c1" * 32),
        BucketCommitted(BUCKET, 2, 1, V2, "0x" + "c2" * 32),
        BucketTagged(BUCKET, "release", 1),
    ]
    events = [ChainEvent(i + 1, f"tx{i}", OWNER, 1000 + i, e) for i, e in enumerate(evs)]
    with engine.begin() as conn:
        pipeline.commit(conn, pipeline.process(events, len(events)))
    Manifests(engine, []).run_once()
    api = Server(create_app(Queries(engine), download_url=RELAYER))
    yield Site(f"{api.url}/")
    api.stop()


def test_buckets_are_browsable_by_keyboard(site: Site, tmp_path: Path) -> None:
    """Tab to the bucket in the list and press Enter: the bucket page's heading takes focus and
    lists version 2's paths, each a download link through the relayer; Tab to "version 1" and
    press Enter: the paths of version 1; the back link returns."""
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM, tmp_path / "kb")
    try:
        browser.goto(site.url)
        browser.wait_for("document.querySelectorAll('#bucket-table a').length === 1")
        for _ in range(120):
            browser.press("Tab")
            now = browser.focused()
            if now["text"] == "train-set":
                break
        assert now["text"] == "train-set" and now["ring"], now
        browser.press("Enter")
        browser.wait_for("document.activeElement.id === 'h-bucket'")
        browser.wait_for("document.querySelectorAll('#path-table tbody tr').length === 3")
        assert browser.eval("document.getElementById('h-bucket').textContent") == "Bucket train-set"
        links = browser.eval(
            "[...document.querySelectorAll('#path-table a')].map(a => [a.textContent, a.href])"
        )
        assert [t for t, _ in links] == sorted(["train/a.csv", "train/b.csv", HOSTILE])
        assert all(h.startswith(RELAYER + "/v1/blobs/by-quilt-patch-id/" + QUILT) for _, h in links)
        assert browser.eval("document.title") != "1"  # the hostile path stayed text
        assert "release" in browser.eval("document.getElementById('version-table').textContent")
        seen = []
        for _ in range(10):
            browser.press("Tab")
            now = browser.focused()
            seen.append(now)
            if now["text"] == "version 1":
                break
        assert now["text"] == "version 1" and now["ring"], seen
        browser.press("Enter")
        browser.wait_for("document.getElementById('h-paths').textContent === 'Paths at version 1'")
        browser.wait_for("document.querySelectorAll('#path-table tbody tr').length === 1")
        browser.wait_for("document.activeElement.id === 'h-bucket'")
        browser.press("Tab")
        back = browser.focused()
        assert back["id"] == "bucket-back" and back["ring"], back
        browser.press("Enter")
        browser.wait_for("document.getElementById('bucket-page').hidden")
        assert browser.eval("document.getElementById('buckets').offsetHeight") > 0
    finally:
        browser.close()
