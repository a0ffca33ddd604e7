"""What the Sui stand-in checks and answers at the protocol level, as a full node does: the
rejections SuiChain's own checks never let through (tampered bytes, foreign signatures, stale
object versions), an executed failure that still pays gas, Sui's rules on PTB values, coin
commands, the JSON views and read masks of sui-rpc-api, checkpoint listing and the faucet."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import base58
import httpx
import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as rpc
import pytest
from pysui.sui.sui_bcs import bcs

from haulout.chain import calls
from haulout.chain.accounts import Account
from haulout.chain.errors import ChainError, MoveAbort
from haulout.chain.sui import GAS_BUDGET, SuiChain, _failure, _mask
from haulout.chain.sui_tx import OwnedRef, encode_kind, transaction_data
from haulout.deployment import Deployment
from tests.conftest import World, register

from .conftest import standin_world


@pytest.fixture
def sw(
    tmp_path: Path, standin_template: tuple[Path, Deployment], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    yield from standin_world(tmp_path, standin_template, monkeypatch)


def _gas(b: Any, signer: Any) -> OwnedRef:
    """The signer's richest SUI coin, taken outside the gas pool (these tests send raw
    transactions one at a time)."""
    return max(b.list_coins(signer.address), key=lambda c: c.balance).ref


def _data(world: World, tx: calls.Transaction, gas: OwnedRef | None = None) -> bytes:
    """`tx` as signed-ready bytes, paid with `gas` (default: a coin of the user's)."""
    b = world.chain.backend
    enc = encode_kind(tx, b.package_id, lambda oid: b.reference(oid, world.user.address))
    gas = gas or _gas(b, world.user)
    return transaction_data(enc.kind, world.user.address, [gas], b.gas_price(), GAS_BUDGET)


def _reserve(world: World, size: int = 1000, epochs: int = 1, transfer: bool = True) -> bytes:
    tx = calls.Transaction()
    storage = tx.add(calls.system.RESERVE_SPACE(world.chain.system_id, size, epochs))
    if transfer:
        tx.transfer([storage], world.user.address)
    return _data(world, tx)


def _grpc(chain: SuiChain, service: str, method: str, request: object) -> object:
    return chain.backend.node.call(service, method, request)


def _execute(chain: SuiChain, data: bytes, signature: bytes) -> rpc.ExecutedTransaction:
    request = rpc.ExecuteTransactionRequest(
        transaction=rpc.Transaction(bcs=rpc.Bcs(name="TransactionData", value=data)),
        signatures=[rpc.UserSignature(bcs=rpc.Bcs(name="UserSignature", value=signature))],
        read_mask=_mask(["*"]),
    )
    return _grpc(chain, "transaction", "execute_transaction", request).transaction  # type: ignore[attr-defined,no-any-return]


def _simulate(chain: SuiChain, data: bytes) -> rpc.ExecutedTransaction:
    request = rpc.SimulateTransactionRequest(
        transaction=rpc.Transaction(bcs=rpc.Bcs(name="TransactionData", value=data)),
        read_mask=_mask(["*"]),
    )
    return _grpc(chain, "transaction", "simulate_transaction", request).transaction  # type: ignore[attr-defined,no-any-return]


def _object(chain: SuiChain, object_id: str, fields: list[str]) -> rpc.Object:
    request = rpc.GetObjectRequest(object_id=object_id, read_mask=_mask(fields))
    return _grpc(chain, "ledger", "get_object", request).object  # type: ignore[attr-defined,no-any-return]


def test_tampered_bytes_and_foreign_signatures_are_rejected_without_effects(sw: World) -> None:
    chain: SuiChain = sw.chain
    data = _reserve(sw)
    signature = sw.user.sign_transaction(data)
    before = chain.balance(sw.user.address)
    bad = bytearray(data)
    bad[-60] ^= 1  # inside the gas data
    with pytest.raises(ChainError, match="INVALID_ARGUMENT invalid signature"):
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
    chain: SuiChain = sw.chain
    data = _reserve(sw)
    _execute(chain, data, sw.user.sign_transaction(data))
    stale = bcs.TransactionData.deserialize(data).value.GasData.Payment[0]
    ref = OwnedRef(
        stale.ObjectID.to_address_str(), stale.SequenceNumber, stale.ObjectDigest.to_digest_str()
    )
    tx = calls.Transaction()
    tx.transfer([tx.add(calls.system.RESERVE_SPACE(chain.system_id, 2000, 1))], sw.user.address)
    again = _data(sw, tx, ref)
    with pytest.raises(ChainError, match="not available for consumption"):
        _execute(chain, again, sw.user.sign_transaction(again))


def test_an_executed_abort_pays_gas_moves_the_gas_coin_and_keeps_its_location(
    sw: World,
) -> None:
    chain: SuiChain = sw.chain
    data = _reserve(sw, epochs=54)  # max_epochs_ahead is 53
    gas = bcs.TransactionData.deserialize(data).value.GasData.Payment[0]
    before = chain.balance(sw.user.address)
    events = len(chain.events())
    done = _execute(chain, data, sw.user.sign_transaction(data))  # no simulation first
    status = done.effects.status
    assert not status.success and status.error.command == 0
    assert status.error.kind == rpc.ExecutionErrorExecutionErrorKind.MOVE_ABORT
    assert (status.error.abort.location.module, status.error.abort.abort_code) == ("system", 1)
    with pytest.raises(MoveAbort, match="EInvalidEpochsAhead"):
        raise _failure(status.error)
    paid = before - chain.balance(sw.user.address)
    gas_used = done.effects.gas_used
    assert paid == gas_used.computation_cost + gas_used.storage_cost - gas_used.storage_rebate > 0
    assert (
        done.effects.gas_object.output_version == done.effects.lamport_version > gas.SequenceNumber
    )
    assert len(chain.events()) == events  # no event of a failed transaction


def test_a_result_without_drop_must_be_used(sw: World) -> None:
    status = _simulate(sw.chain, _reserve(sw, transfer=False)).effects.status
    assert status.error.kind == rpc.ExecutionErrorExecutionErrorKind.UNUSED_VALUE_WITHOUT_DROP


def test_coins_split_transfer_and_merge(sw: World) -> None:
    chain: SuiChain = sw.chain
    friend = Account.generate()
    amounts = [bcs.CallArg("Pure", list((n).to_bytes(8, "little"))) for n in (7_000, 5_000)]
    recipient = bcs.CallArg("Pure", list(bytes.fromhex(friend.address[2:])))
    nested = [bcs.Argument("NestedResult", (0, j)) for j in (0, 1)]
    commands = [
        bcs.Command(
            "SplitCoin",
            bcs.SplitCoin(
                bcs.Argument("GasCoin", None),
                [bcs.Argument("Input", 0), bcs.Argument("Input", 1)],
            ),
        ),
        bcs.Command("MergeCoins", bcs.MergeCoins(nested[0], [nested[1]])),
        bcs.Command("TransferObjects", bcs.TransferObjects([nested[0]], bcs.Argument("Input", 2))),
    ]
    kind = bcs.TransactionKind(
        "ProgrammableTransaction", bcs.ProgrammableTransaction([*amounts, recipient], commands)
    )
    b = chain.backend
    data = transaction_data(kind, sw.user.address, [_gas(b, sw.user)], b.gas_price(), GAS_BUDGET)
    done = _execute(chain, data, sw.user.sign_transaction(data))
    assert done.effects.status.success, done.effects.status
    assert chain.balance(friend.address) == 12_000
    changes = {c.address: int(c.amount) for c in done.balance_changes}
    assert changes[friend.address] == 12_000 and changes[sw.user.address] < -12_000


def test_object_views_follow_sui_rendering_and_read_masks(sw: World) -> None:
    chain: SuiChain = sw.chain
    blob = register(sw, b"views")
    chain.set_attribute(sw.user, blob.id, "content-type", "text/plain")
    full = _object(chain, blob.id, ["*"])
    j = full.json.to_dict()
    assert j["blob_id"] == str(int(blob.blob_id)) and j["size"] == "5"  # u256, u64: text
    assert j["encoding_type"] == 0 and j["registered_epoch"] == 0  # u8, u32: numbers
    assert j["certified_epoch"] is None and j["storage"]["id"] == blob.storage.id
    assert full.object_type == f"{chain.package_id}::blob::Blob"
    assert full.owner.kind == rpc.OwnerOwnerKind.ADDRESS and full.owner.address == sw.user.address
    digest = hashlib.blake2b(b"Object::" + bytes(full.bcs.value), digest_size=32).digest()
    assert base58.b58encode(digest).decode() == full.digest
    lean = _object(chain, blob.id, ["object_id", "version"])
    assert lean.json is None and lean.digest is None and lean.version == full.version
    system = _object(chain, chain.system_id, ["json", "owner"])
    s = system.json.to_dict()
    key = s["nodes"]["contents"][0]["value"]["public_key"]
    assert base64.b64decode(key) == sw.committee.members[0].public_key  # vector<u8>: Base64
    assert s["balance"].isdigit() and all(isinstance(u, str) for u in s["usage"])
    assert (
        system.owner.kind == rpc.OwnerOwnerKind.SHARED
        and system.owner.version == chain.backend.system_ref.initial_version  # type: ignore[union-attr]
    )
    with pytest.raises(ChainError, match="not found"):
        _object(chain, "0x" + "cd" * 32, ["object_id"])


def test_checkpoints_carry_transactions_and_event_json(sw: World) -> None:
    chain: SuiChain = sw.chain
    register(sw, b"cp")
    genesis = _grpc(chain, "ledger", "get_checkpoint", rpc.GetCheckpointRequest(sequence_number=0))
    assert genesis.checkpoint.sequence_number == 0  # type: ignore[attr-defined]
    node = chain.backend.node

    async def listing() -> list[rpc.ListCheckpointsResponse]:
        stub = node.stub("ledger")
        request = rpc.ListCheckpointsRequest(start_checkpoint=1)
        return [f async for f in stub.list_checkpoints(request)]

    frames = node.run(listing)
    found = [f.checkpoint.sequence_number for f in frames if f.checkpoint]
    assert found == sorted(found) and found[0] == 1 and frames[-1].end is not None
    reg = [e for e in chain.events() if e.event.NAME == "NodeRegistered"]
    assert len(reg) == 4 and reg[0].event.public_key == sw.committee.members[0].public_key.hex()


def test_the_faucet_refuses_what_is_not_a_fixed_amount_request(sw: World) -> None:
    import os

    url = os.environ["HAULOUT_SUI_FAUCET_URL"]
    assert httpx.post(f"{url}/v2/gas", json={"recipient": "0x1"}).status_code == 400
    assert httpx.post(f"{url}/v2/gas", content=b"x" * 5000).status_code == 400
    ok = httpx.post(f"{url}/v2/gas", json={"FixedAmountRequest": {"recipient": "0x" + "ab" * 32}})
    assert ok.json()["status"] == "Success" and len(ok.json()["coins_sent"]) == 5


def test_a_budget_too_small_for_the_storage_fails_and_spends_it(sw: World) -> None:
    chain: SuiChain = sw.chain
    b = chain.backend
    tx = calls.Transaction()
    tx.transfer([tx.add(calls.system.RESERVE_SPACE(chain.system_id, 1000, 1))], sw.user.address)
    enc = encode_kind(tx, b.package_id, lambda oid: b.reference(oid, sw.user.address))
    budget = b.gas_price() * 1000 + 10  # computation only: nothing left for storage
    data = transaction_data(enc.kind, sw.user.address, [_gas(b, sw.user)], 1000, budget)
    before = chain.balance(sw.user.address)
    done = _execute(chain, data, sw.user.sign_transaction(data))
    assert done.effects.status.error.kind == rpc.ExecutionErrorExecutionErrorKind.INSUFFICIENT_GAS
    assert before - chain.balance(sw.user.address) == budget
