"""SuiChain against a real Sui localnet; runs only when HAULOUT_SUI_RPC points at a node."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from haulout.protocol import codec
from haulout.protocol.certificate import aggregate
from haulout.protocol.messages import BlobCertification

RPC = os.environ.get("HAULOUT_SUI_RPC", "")
pytestmark = pytest.mark.skipif(
    not RPC,
    reason="HAULOUT_SUI_RPC is not set: no Sui localnet here (the sui binary is in no registry); "
    "start one with `haulout localnet` and export HAULOUT_SUI_RPC=http://127.0.0.1:9000",
)


@pytest.fixture(scope="module")
def sui(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from haulout.chain.sui import SuiChain, deploy_sui, localnet_faucet

    dep = deploy_sui(RPC, Path(tmp_path_factory.mktemp("sui")), n_nodes=4, n_shards=10)
    chain = SuiChain.from_deployment(dep)
    localnet_faucet(dep.relayer.address)
    return chain, dep


def test_register_certify_extend_on_localnet(sui) -> None:  # type: ignore[no-untyped-def]
    chain, dep = sui
    data = b"haulout on sui" * 100
    enc = codec.encode(data, 10)
    blob = chain.reserve_and_register(
        dep.relayer, enc.blob_id, enc.metadata.root, len(data), 0, 2, False
    )
    assert blob.blob_id == enc.blob_id and blob.certified_epoch is None
    committee = chain.system().require_committee()
    msg = BlobCertification(blob.blob_id).message(chain.system().epoch)
    keys = [n.bls for n in dep.nodes]
    cert = aggregate(committee, msg, {p: keys[p].sign(msg) for p in (0, 1, 2)})
    assert chain.certify_blob(dep.relayer, blob.id, cert).certified_epoch is not None
    assert chain.extend_blob(dep.relayer, blob.id, 1).end_epoch == blob.end_epoch + 1
    names = [type(e.event).__name__ for e in chain.events()]
    assert "BlobRegistered" in names and "BlobCertified" in names


def test_aborts_become_typed_errors_on_localnet(sui) -> None:  # type: ignore[no-untyped-def]
    from haulout.chain.errors import MoveAbort

    chain, dep = sui
    with pytest.raises(MoveAbort, match="EInvalidEpochsAhead"):
        chain.reserve_space(dep.relayer, 1000, 54)


@pytest.mark.parametrize("contract", ["reserve", "events"])
def test_contract_suite_subset_on_localnet(sui, contract: str) -> None:  # type: ignore[no-untyped-def]
    chain, dep = sui
    if contract == "reserve":
        s = chain.reserve_space(dep.relayer, 5000, 2)
        assert s.storage_size == 5000 and s.end_epoch - s.start_epoch == 2
    else:
        first = chain.events(limit=1)
        assert first and chain.events(after=first[0].cursor, limit=1)[0].cursor > first[0].cursor
