"""The whole system on SuiChain through the Sui full-node stand-in (`haulout up --chain
sui-standin`): 4 storage-node processes, the relayer and the indexer all talk Sui's gRPC
protocol to the stand-in process. One store and read, the blob certified on chain and listed
by the indexer from Sui checkpoints' events; and a store through the upload relay, which reads
the user's registering transaction back from the stand-in by its Base58 digest."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import httpx
import pytest

from haulout.chain.accounts import Account
from haulout.chain.sui import SuiChain, localnet_faucet
from haulout.client import HauloutClient
from haulout.deployment import Deployment
from haulout.launcher import LocalSystem, free_port, free_port_block

pytestmark = pytest.mark.slow

TIP = 1000


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    system = LocalSystem(
        tmp_path_factory.mktemp("standin-up"),
        n_nodes=4,
        n_shards=10,
        node_base_port=free_port_block(4),
        relayer_port=free_port(),
        indexer_port=free_port(),
        chain="sui-standin",
        relayer_env={"HAULOUT_RELAYER_UPLOAD_RELAY_TIP": f"const:{TIP}"},
    )
    try:
        system.start(fresh=True, wait=240)  # six Python services starting at once; slow when loaded
        yield system
    finally:
        system.stop()


@pytest.fixture(scope="module")
def chain(system: LocalSystem) -> Iterator[SuiChain]:
    dep = Deployment.load(system.deployment_path)
    assert dep.chain == "sui" and dep.rpc_url.startswith("http://127.0.0.1:")
    chain = SuiChain.from_deployment(dep)
    yield chain
    chain.close()


def test_store_and_read_with_every_service_on_suichain(
    system: LocalSystem, chain: SuiChain
) -> None:
    data = os.urandom(100_000)
    with HauloutClient(system.relayer_url) as client:
        stored = client.store(data, epochs=2)
        assert client.read(stored.blob_id) == data
    blob = chain.get_blob(stored.object_id or "")
    assert blob.certified_epoch == 0 and str(blob.blob_id) == stored.blob_id
    deadline = time.monotonic() + 30
    while True:
        r = httpx.get(f"{system.indexer_url}/v1/blobs/{stored.blob_id}", timeout=5)
        if r.status_code == 200 and r.json().get("status") == "certified":
            break
        assert time.monotonic() < deadline, r.text
        time.sleep(0.3)


def test_the_upload_relay_works_on_suichain(system: LocalSystem, chain: SuiChain) -> None:
    """The SDK's relay mode with the user's own Sui account: it registers and tips, the relay
    checks that transaction through the stand-in's GetTransaction, the user certifies."""
    user = Account.generate()
    localnet_faucet(user.address, system.faucet_url)
    relayer = Deployment.load(system.deployment_path).relayer.address
    relayer_before = chain.balance(relayer)
    data = os.urandom(30_000)
    with HauloutClient(system.relayer_url, account=user, chain=chain) as client:
        stored = client.store(data, epochs=2, via_upload_relay=True)
        assert client.read(stored.blob_id) == data
    blob = chain.get_blob(stored.object_id or "")
    assert blob.owner == user.address and blob.certified_epoch is not None and blob.deletable
    assert chain.balance(relayer) == relayer_before + TIP  # its tip; it paid for nothing
