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
