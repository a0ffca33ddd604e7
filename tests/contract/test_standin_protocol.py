"""What the Sui stand-in checks and answers at the protocol level, as a full node does: the
rejections SuiChain's own checks never let through (tampered bytes, foreign signatures, stale
object versions), an executed failure that still pays gas, Sui's rules on PTB values, coin
commands, the JSON views and read masks of sui-rpc-api, checkpoint listing and the faucet."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import base58
import httpx
import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as rpc
import pytest
from pysui.sui.sui_bcs import bcs
from pysui.sui.sui_grpc.pgrpc_requests import (
    ExecuteTransaction,
    GetCheckpointBySequence,
    GetObject,
    SimulateTransaction,
)

from haulout.chain.accounts import Account
from haulout.chain.errors import ChainError, MoveAbort
from haulout.chain.sui import GAS_BUDGET, SuiChain
from haulout.chain.sui_tx import HauloutTransaction, Pure
from haulout.deployment import Deployment
from tests.conftest import World, register

from .conftest import standin_world


@pytest.fixture
def sw(
    tmp_path: Path, standin_template: tuple[Path, Deployment], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    yield from standin_world(tmp_path, standin_template, monkeypatch)


def _reserve(world: World, epochs: int = 1, transfer: bool = True) -> tuple[bytes, SuiChain]:
    chain: SuiChain = world.chain
    tx = HauloutTransaction(chain.package_id)
    storage = tx.reserve_space(chain._sys, 1000, epochs)
    if transfer:
        tx.transfer([storage], world.user.address)
    gas, price = chain._gas(world.user)
    return tx.transaction_data(world.user.address, gas, price, GAS_BUDGET), chain


def _execute(chain: SuiChain, data: bytes, signature: bytes) -> rpc.ExecutedTransaction:
    return chain._grpc(ExecuteTransaction(tx_bytestr=data, sig_array=[signature]))


def test_tampered_bytes_and_foreign_signatures_are_rejected_without_effects(sw: World) -> None:
    data, chain = _reserve(sw)
    signature = sw.user.sign_transaction(data)
    before = chain.balance(sw.user.address)
    bad = bytearray(data)
    bad[-60] ^= 1  # inside the gas data
    with pytest.raises(ChainError, match="invalid signature"):
        _execute(chain, bytes(bad), signature)
    with pytest.raises(ChainError, match="sender"):
        _execute(chain, data, Account.generate().sign_transaction(data))
    assert chain.balance(sw.user.address) == before
    done = _execute(chain, data, signature)
    assert done.effects.status.success
    digest = base58.b58encode(
        hashlib.blake2b(b"TransactionData::" + data, digest_size=32).digest()
    ).decode()
    assert done.digest == digest == done.effects.transaction_digest
    again = _execute(chain, data, signature)  # a resubmission answers the same effects
    assert again.digest == digest and chain.balance(sw.user.address) < before


def test_a_stale_gas_reference_is_refused(sw: World) -> None:
    data, chain = _reserve(sw)
    _execute(chain, data, sw.user.sign_transaction(data))
    tx = HauloutTransaction(chain.package_id)
    tx.transfer([tx.reserve_space(chain._sys, 2000, 1)], sw.user.address)  # another tx
    stale = bcs.TransactionData.deserialize(data).value.GasData.Payment[0]
    from haulout.chain.sui_tx import OwnedRef

    ref = OwnedRef(
        stale.ObjectID.to_address_str(), stale.SequenceNumber, stale.ObjectDigest.to_digest_str()
    )
    again = tx.transaction_data(sw.user.address, ref, 1000, GAS_BUDGET)
    with pytest.raises(ChainError, match="not available for consumption"):
        _execute(chain, again, sw.user.sign_transaction(again))


def test_an_executed_abort_pays_gas_moves_the_gas_coin_and_keeps_its_location(
    sw: World,
) -> None:
    data, chain = _reserve(sw, epochs=54)  # max_epochs_ahead is 53
    gas = bcs.TransactionData.deserialize(data).value.GasData.Payment[0]
    before = chain.balance(sw.user.address)
    events = len(chain.events())
    done = _execute(chain, data, sw.user.sign_transaction(data))  # no simulation first
    status = done.effects.status
    assert not status.success and status.error.command == 0
    assert status.error.kind == rpc.ExecutionErrorExecutionErrorKind.MOVE_ABORT
    assert (status.error.abort.location.module, status.error.abort.abort_code) == ("system", 1)
    with pytest.raises(MoveAbort, match="EInvalidEpochsAhead"):
        chain._check_status(status)
    paid = before - chain.balance(sw.user.address)
    gas_used = done.effects.gas_used
    assert paid == gas_used.computation_cost + gas_used.storage_cost - gas_used.storage_rebate > 0
    assert (
        done.effects.gas_object.output_version == done.effects.lamport_version > gas.SequenceNumber
    )
    assert len(chain.events()) == events  # no event of a failed transaction


def test_a_result_without_drop_must_be_used(sw: World) -> None:
    data, chain = _reserve(sw, transfer=False)
    status = chain._grpc(SimulateTransaction(transaction=data)).transaction.effects.status
    assert status.error.kind == rpc.ExecutionErrorExecutionErrorKind.UNUSED_VALUE_WITHOUT_DROP


def test_coins_split_transfer_and_merge(sw: World) -> None:
    chain: SuiChain = sw.chain
    friend = Account.generate()
    tx = HauloutTransaction(chain.package_id)
    amounts = [tx.pure(Pure.u64(7_000)), tx.pure(Pure.u64(5_000))]
    split = tx.ptb.command(bcs.Command("SplitCoin", bcs.SplitCoin(tx.gas, amounts)), 2)
    tx.ptb.command(
        bcs.Command(
            "MergeCoins",
            bcs.MergeCoins(
                bcs.Argument("NestedResult", (0, 0)), [bcs.Argument("NestedResult", (0, 1))]
            ),
        )
    )
    _ = split
    tx.transfer([bcs.Argument("NestedResult", (0, 0))], friend.address)
    gas, price = chain._gas(sw.user)
    data = tx.transaction_data(sw.user.address, gas, price, GAS_BUDGET)
    done = _execute(chain, data, sw.user.sign_transaction(data))
    assert done.effects.status.success, done.effects.status
    assert chain.balance(friend.address) == 12_000
    changes = {c.address: int(c.amount) for c in done.balance_changes}
    assert changes[friend.address] == 12_000 and changes[sw.user.address] < -12_000


def test_object_views_follow_sui_rendering_and_read_masks(sw: World) -> None:
    chain: SuiChain = sw.chain
    blob = register(sw, b"views")
    chain.set_attribute(sw.user, blob.id, "content-type", "text/plain")
    full = chain._grpc(GetObject(object_id=blob.id, field_mask=["*"])).object
    j = full.json.to_dict()
    assert j["blob_id"] == str(int(blob.blob_id)) and j["size"] == "5"  # u256, u64: text
    assert j["encoding_type"] == 0 and j["registered_epoch"] == 0  # u8, u32: numbers
    assert j["certified_epoch"] is None and j["storage"]["id"] == blob.storage.id
    assert full.object_type == f"{chain.package_id}::blob::Blob"
    assert full.owner.kind == rpc.OwnerOwnerKind.ADDRESS and full.owner.address == sw.user.address
    digest = hashlib.blake2b(b"Object::" + bytes(full.bcs.value), digest_size=32).digest()
    assert base58.b58encode(digest).decode() == full.digest
    lean = chain._grpc(GetObject(object_id=blob.id, field_mask=["object_id", "version"])).object
    assert lean.json is None and lean.digest is None and lean.version == full.version
    system = chain._grpc(
        GetObject(object_id=chain._sys.object_id, field_mask=["json", "owner"])
    ).object
    s = system.json.to_dict()
    key = s["nodes"]["contents"][0]["value"]["public_key"]
    assert base64.b64decode(key) == sw.committee.members[0].public_key  # vector<u8>: Base64
    assert s["balance"].isdigit() and all(isinstance(u, str) for u in s["usage"])
    assert (
        system.owner.kind == rpc.OwnerOwnerKind.SHARED
        and system.owner.version == chain._sys.initial_version
    )
    with pytest.raises(ChainError, match="not found"):
        chain._grpc(GetObject(object_id="0x" + "cd" * 32))


def test_checkpoints_carry_transactions_and_event_json(sw: World) -> None:
    chain: SuiChain = sw.chain
    register(sw, b"cp")
    tip = chain._grpc(GetCheckpointBySequence(sequence_number=0)).checkpoint
    assert tip.sequence_number == 0
    found = []
    import asyncio

    async def listing() -> list[rpc.ListCheckpointsResponse]:
        stub = rpc.LedgerServiceStub(chain._chan())
        return [
            f
            async for f in stub.list_checkpoints(
                rpc.ListCheckpointsRequest(start_checkpoint=1, read_mask=None)
            )
        ]

    frames = chain._loop.run_until_complete(listing())
    found = [f.checkpoint.sequence_number for f in frames if f.checkpoint]
    assert found == sorted(found) and found[0] == 1 and frames[-1].end is not None
    reg = [e for e in chain.events() if e.event.NAME == "NodeRegistered"]
    assert len(reg) == 4 and reg[0].event.public_key == sw.committee.members[0].public_key.hex()
    _ = asyncio


def test_the_faucet_refuses_what_is_not_a_fixed_amount_request(sw: World) -> None:
    import os

    url = os.environ["HAULOUT_SUI_FAUCET_URL"]
    assert httpx.post(f"{url}/v2/gas", json={"recipient": "0x1"}).status_code == 400
    assert httpx.post(f"{url}/v2/gas", content=b"x" * 5000).status_code == 400
    ok = httpx.post(f"{url}/v2/gas", json={"FixedAmountRequest": {"recipient": "0x" + "ab" * 32}})
    assert ok.json()["status"] == "Success" and len(ok.json()["coins_sent"]) == 5
