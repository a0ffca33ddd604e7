"""The whole system on SuiChain through the Sui full-node stand-in (`haulout up --chain
sui-standin`): 4 storage-node processes, the relayer and the indexer all talk Sui's gRPC
protocol to the stand-in process. One store and read, the blob certified on chain and listed
by the indexer from Sui checkpoints' events."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from haulout.client import HauloutClient
from haulout.deployment import Deployment
from haulout.launcher import LocalSystem, free_port, free_port_block

pytestmark = pytest.mark.slow


def test_store_and_read_with_every_service_on_suichain(tmp_path: Path) -> None:
    system = LocalSystem(
        tmp_path,
        n_nodes=4,
        n_shards=10,
        node_base_port=free_port_block(4),
        relayer_port=free_port(),
        indexer_port=free_port(),
        chain="sui-standin",
    )
    try:
        system.start(fresh=True, wait=240)  # six Python services starting at once; slow when loaded
        dep = Deployment.load(system.deployment_path)
        assert dep.chain == "sui" and dep.rpc_url.startswith("http://127.0.0.1:")
        data = os.urandom(100_000)
        with HauloutClient(system.relayer_url) as client:
            stored = client.store(data, epochs=2)
            assert client.read(stored.blob_id) == data
        chain = dep.chain_port()
        blob = chain.get_blob(stored.object_id or "")
        chain.close()  # type: ignore[attr-defined]
        assert blob.certified_epoch == 0 and str(blob.blob_id) == stored.blob_id
        deadline = time.monotonic() + 30
        while True:
            r = httpx.get(f"{system.indexer_url}/v1/blobs/{stored.blob_id}", timeout=5)
            if r.status_code == 200 and r.json().get("status") == "certified":
                break
            assert time.monotonic() < deadline, r.text
            time.sleep(0.3)
    finally:
        system.stop()
