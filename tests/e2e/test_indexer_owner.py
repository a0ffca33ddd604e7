"""A real `send_object_to` store through the relayer, seen by a real indexer process: the blob
is listed under the recipient (the relayer registered it, then transferred it: no event)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain
from haulout.client import HauloutClient
from haulout.deployment import Deployment
from haulout.launcher import LocalSystem
from tests.e2e.conftest import start_system


@pytest.fixture(scope="module")
def system_with_indexer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    s = start_system(Path(tmp_path_factory.mktemp("haulout-indexer")), with_indexer=True)
    yield s
    s.stop()


def test_send_object_to_lists_the_blob_under_the_recipient(
    system_with_indexer: LocalSystem,
) -> None:
    s = system_with_indexer
    recipient = Account.generate().address
    with HauloutClient(s.relayer_url) as client:
        stored = client.store(os.urandom(5000), epochs=2, send_object_to=recipient)
    assert stored.object_id is not None
    chain = DevChain(Deployment.load(s.deployment_path).ledger)
    assert chain.get_blob(stored.object_id).owner == recipient
    deadline, listed = time.monotonic() + 30, []
    while time.monotonic() < deadline:
        page = httpx.get(f"{s.indexer_url}/v1/blobs", params={"owner": recipient}, timeout=5)
        listed = [b["objectId"] for b in page.json()["blobs"]]
        if listed:
            break
        time.sleep(0.2)
    assert listed == [stored.object_id]
    one = httpx.get(f"{s.indexer_url}/v1/blobs/by-object-id/{stored.object_id}", timeout=5).json()
    assert one["owner"] == recipient and one["status"] == "certified"
    health = httpx.get(f"{s.indexer_url}/healthz", timeout=5).json()
    assert health["status"] == "ok" and health["cursor"] > 0


def test_reads_served_by_the_relayer_reach_the_indexer_and_nodes_are_up(
    system_with_indexer: LocalSystem,
) -> None:
    s = system_with_indexer
    with HauloutClient(s.relayer_url) as client:
        stored = client.store(os.urandom(6000), epochs=2)
        assert client.read(stored.blob_id) == client.read(stored.blob_id)
    url = f"{s.relayer_url}/v1/blobs/{stored.blob_id}"
    assert httpx.get(url, headers={"range": "bytes=0-999"}, timeout=30).status_code == 206
    assert httpx.head(url, timeout=30).status_code == 200  # a HEAD serves no bytes
    served = httpx.get(f"{s.relayer_url}/v1/read-stats", timeout=5).json()
    mine = [b for b in served["blobs"] if b["blobId"] == stored.blob_id]
    assert mine == [{"blobId": stored.blob_id, "hits": 3, "bytes": 13000}]
    assert "haulout_relayer_bytes_served 13000.0" in httpx.get(f"{s.relayer_url}/metrics").text
    deadline, top = time.monotonic() + 30, []
    while time.monotonic() < deadline:
        stats = httpx.get(f"{s.indexer_url}/v1/stats", timeout=5).json()
        top = [b for b in stats["readsWrites"]["topBlobs"] if b["blobId"] == stored.blob_id]
        if top:
            break
        time.sleep(0.5)
    assert top == [{"blobId": stored.blob_id, "hits": 3, "bytes": 13000}]
    assert stats["readsWrites"]["totals"]["readBytes"] >= 13000
    nodes = httpx.get(f"{s.indexer_url}/v1/nodes", timeout=5).json()["nodes"]
    assert [n["state"] for n in nodes] == ["up"] * 4
