"""SuiChain's transactions, described once (`haulout.chain.calls`), encoded offline and
decoded: targets, arguments, object kinds, BCS values and the signature a Sui validator
checks."""

from __future__ import annotations

import struct

import base58
import pytest

from haulout.chain import calls
from haulout.chain.accounts import Account, verify_transaction
from haulout.chain.calls import Transaction, single
from haulout.chain.sui_tx import (
    CLOCK_ID,
    ObjectInput,
    OwnedRef,
    SharedRef,
    decode,
    encode_transaction,
    leading_pure_inputs,
    publish_transaction,
)
from haulout.protocol.blob_id import BlobId

PACKAGE = "0x" + "ab" * 32
SYSTEM = SharedRef("0x" + "11" * 32, 5)
DIGEST = base58.b58encode(bytes(range(32))).decode()
GAS = OwnedRef("0x" + "33" * 32, 7, DIGEST)
SENDER = Account(bytes(32))


def encode(tx: Transaction, *refs: ObjectInput, budget: int = 10**7) -> bytes:
    """`tx` as BCS TransactionData, its objects resolved from `refs` (and the System)."""
    known = {r.object_id: r for r in (SYSTEM, *refs)}
    return encode_transaction(tx, PACKAGE, known.__getitem__, SENDER.address, [GAS], 1000, budget)


def commands(tx_bytes: bytes) -> tuple[list, list]:  # type: ignore[type-arg]
    kind = decode(tx_bytes).value.TransactionKind.value
    return list(kind.Inputs), list(kind.Command)


def pure_bytes(inputs: list, arg) -> bytes:  # type: ignore[no-untyped-def,type-arg]
    assert arg.enum_name == "Input"
    call_arg = inputs[arg.value]
    assert call_arg.enum_name == "Pure"
    return bytes(call_arg.value)


def object_kind(inputs: list, arg) -> tuple[str, str, bool | None]:  # type: ignore[no-untyped-def,type-arg]
    call_arg = inputs[arg.value]
    assert call_arg.enum_name == "Object"
    o = call_arg.value
    ref = o.value
    mutable = ref.Mutable if o.enum_name == "SharedObject" else None
    return o.enum_name, "0x" + ref.ObjectID.to_str(), mutable


def test_reserve_and_register_in_one_transaction() -> None:
    tx = Transaction()
    storage = tx.add(calls.system.RESERVE_SPACE(SYSTEM.object_id, 1_000_000, 3))
    blob_id = BlobId.derive(0, 5, bytes(range(32)))
    tx.add(calls.blob.REGISTER_BLOB(SYSTEM.object_id, storage, int(blob_id), 12345, 5, 0, True))
    data = encode(tx, budget=50_000_000)
    inputs, cmds = commands(data)
    assert [(c.value.Module, c.value.Function) for c in cmds] == [
        ("system", "reserve_space"),
        ("blob", "register_blob"),
    ]
    assert all("0x" + c.value.Package.to_str() == PACKAGE for c in cmds)
    reserve, register = cmds[0].value.Arguments, cmds[1].value.Arguments
    assert object_kind(inputs, reserve[0]) == ("SharedObject", SYSTEM.object_id, True)
    assert register[0].value == reserve[0].value  # the System is one input, used twice
    assert struct.unpack("<Q", pure_bytes(inputs, reserve[1]))[0] == 1_000_000
    assert struct.unpack("<I", pure_bytes(inputs, reserve[2]))[0] == 3
    assert reserve[3].enum_name == "GasCoin" and register[7].enum_name == "GasCoin"
    assert register[1].enum_name == "Result" and register[1].value == 0
    assert int.from_bytes(pure_bytes(inputs, register[2]), "little") == int(blob_id)
    assert int.from_bytes(pure_bytes(inputs, register[3]), "little") == 12345
    assert pure_bytes(inputs, register[4]) == struct.pack("<Q", 5)
    assert pure_bytes(inputs, register[5]) == b"\x00" and pure_bytes(inputs, register[6]) == b"\x01"
    v1 = decode(data).value
    assert "0x" + v1.Sender.to_str() == SENDER.address
    assert v1.GasData.Budget == 50_000_000 and v1.GasData.Price == 1000
    assert "0x" + v1.GasData.Payment[0].ObjectID.to_str() == GAS.object_id


def test_certify_uses_owned_blob_and_byte_vectors() -> None:
    blob = OwnedRef("0x" + "44" * 32, 9, DIGEST)
    message = b"\x01\x00\x48" + bytes(4) + bytes(33)
    tx = single(
        calls.blob.CERTIFY_BLOB(SYSTEM.object_id, blob.object_id, b"\x01" * 96, b"\x07", message)
    )
    inputs, cmds = commands(encode(tx, blob))
    args = cmds[0].value.Arguments
    assert (cmds[0].value.Module, cmds[0].value.Function) == ("blob", "certify_blob")
    assert object_kind(inputs, args[1]) == ("ImmOrOwnedObject", blob.object_id, None)
    owned = inputs[args[1].value].value.value
    assert owned.SequenceNumber == 9
    assert pure_bytes(inputs, args[2]) == bytes([96]) + b"\x01" * 96  # ULEB length prefix
    assert pure_bytes(inputs, args[3]) == b"\x01\x07"


def test_epoch_calls_take_the_clock_immutably() -> None:
    cap = OwnedRef("0x" + "55" * 32, 2, DIGEST)
    tx = single(calls.system.FORCE_ADVANCE_EPOCH(SYSTEM.object_id, cap.object_id))
    inputs, cmds = commands(encode(tx, cap))
    args = cmds[0].value.Arguments
    assert object_kind(inputs, args[2]) == (
        "SharedObject",
        "0x" + CLOCK_ID[2:].rjust(64, "0"),
        False,
    )
    assert object_kind(inputs, args[1])[0] == "ImmOrOwnedObject"


def test_committee_and_node_registration_values() -> None:
    cap = OwnedRef("0x" + "55" * 32, 2, DIGEST)
    tx = Transaction()
    tx.add(
        calls.system.REGISTER_NODE(
            SYSTEM.object_id,
            cap.object_id,
            "node-0",
            "http://127.0.0.1:9300",
            b"\xaa" * 48,
            b"\xbb" * 96,
            "0x" + "66" * 32,
        )
    )
    tx.add(
        calls.system.SET_COMMITTEE(
            SYSTEM.object_id, cap.object_id, ["0x" + "01" * 32, "0x" + "02" * 32], [[0, 1], [2]]
        )
    )
    inputs, cmds = commands(encode(tx, cap))
    reg, com = cmds[0].value.Arguments, cmds[1].value.Arguments
    assert pure_bytes(inputs, reg[2]) == b"\x06node-0"
    assert pure_bytes(inputs, reg[6]) == b"\x66" * 32
    assert pure_bytes(inputs, com[2]) == b"\x02" + b"\x01" * 32 + b"\x02" * 32
    assert pure_bytes(inputs, com[3]) == b"\x02\x02\x00\x00\x01\x00\x01\x02\x00"


def test_storage_split_returns_a_new_object_and_fuse_consumes_one() -> None:
    storage = OwnedRef("0x" + "77" * 32, 3, DIGEST)
    other = OwnedRef("0x" + "88" * 32, 4, DIGEST)
    tx = Transaction()
    late = tx.add(calls.storage_resource.SPLIT_BY_EPOCH(storage.object_id, 4))
    part = tx.add(calls.storage_resource.SPLIT_BY_SIZE(storage.object_id, 3000))
    tx.transfer([late, part], SENDER.address)
    tx.add(calls.storage_resource.FUSE(storage.object_id, other.object_id))
    inputs, cmds = commands(encode(tx, storage, other))
    move_calls = [(c.value.Module, c.value.Function) for c in cmds if c.enum_name == "MoveCall"]
    assert move_calls == [
        ("storage_resource", "split_by_epoch"),
        ("storage_resource", "split_by_size"),
        ("storage_resource", "fuse"),
    ]
    by_epoch, by_size, transfer, fuse = (c.value for c in cmds)
    assert object_kind(inputs, by_epoch.Arguments[0]) == (
        "ImmOrOwnedObject",
        storage.object_id,
        None,
    )
    assert by_size.Arguments[0].value == by_epoch.Arguments[0].value  # one input, used thrice
    assert struct.unpack("<I", pure_bytes(inputs, by_epoch.Arguments[1]))[0] == 4
    assert struct.unpack("<Q", pure_bytes(inputs, by_size.Arguments[1]))[0] == 3000
    assert [a.enum_name for a in transfer.Objects] == ["Result", "Result"]
    assert object_kind(inputs, fuse.Arguments[1]) == ("ImmOrOwnedObject", other.object_id, None)


def test_signature_is_a_sui_ed25519_intent_signature() -> None:
    data = encode(single(calls.system.ADVANCE_EPOCH(SYSTEM.object_id)))
    sig = SENDER.sign_transaction(data)
    assert sig[0] == 0 and len(sig) == 97
    assert verify_transaction(data, sig) == SENDER.address
    with pytest.raises(ValueError):
        verify_transaction(data[:-1] + b"\x01", sig)


def test_publish_transfers_the_upgrade_cap() -> None:
    data = publish_transaction([b"\x01\x02"], ["0x1", "0x2"], SENDER.address, GAS, 1000, 10**8)
    _, cmds = commands(data)
    assert [c.enum_name for c in cmds] == ["Publish", "TransferObjects"]
    assert [bytes(m) for m in cmds[0].value.Modules] == [b"\x01\x02"]


def test_dynamic_field_ids_match_the_typescript_sdk() -> None:
    """Vectors computed with @mysten/sui 1.45.2 `deriveDynamicFieldID`."""
    import json
    import struct
    from pathlib import Path

    from haulout.chain.sui_ids import (
        TYPE_TAG_U64,
        TYPE_TAG_VECTOR_U8,
        attributes_field_id,
        bcs_bytes,
        dynamic_field_id,
    )

    vectors = json.loads(
        (Path(__file__).parents[1] / "vectors" / "dynamic_fields.json").read_text()
    )
    assert len(vectors) == 6
    for v in vectors:
        if v["key_type"] == "u64":
            got = dynamic_field_id(v["parent"], struct.pack("<Q", v["key_u64"]), TYPE_TAG_U64)
        else:
            key = bcs_bytes(v["key_utf8"].encode())
            got = dynamic_field_id(v["parent"], key, TYPE_TAG_VECTOR_U8)
            assert attributes_field_id(v["parent"]) == got
        assert got == v["field_id"], v


def test_sui_json_byte_vectors_give_the_same_events_as_devchain() -> None:
    """Sui's JSON view renders `vector<u8>` as Base64; DevChain's events carry hex."""
    import base64

    from haulout.chain.events import parse_event
    from haulout.chain.sui import _event_fields, _vec_u8

    key = bytes(range(48))
    assert _vec_u8(base64.b64encode(key).decode()) == key
    assert _vec_u8(list(key)) == key and _vec_u8("0x" + key.hex()) == key
    sui = {
        "node_id": "0x" + "01" * 32,
        "name": "n",
        "url": "u",
        "public_key": base64.b64encode(key).decode(),
    }
    dev = {**sui, "public_key": key.hex()}
    assert parse_event("NodeRegistered", _event_fields("NodeRegistered", sui)) == parse_event(
        "NodeRegistered", dev
    )


def test_attribute_set_on_the_new_blob_in_the_registration_ptb() -> None:
    """The content type rides in the registration's PTB: set_attribute takes register's
    result (the new Blob) before it is transferred."""
    tx = Transaction()
    storage = tx.add(calls.system.RESERVE_SPACE(SYSTEM.object_id, 1000, 2))
    blob = tx.add(calls.blob.REGISTER_BLOB(SYSTEM.object_id, storage, 7, 8, 5, 0, False))
    tx.add(calls.blob.SET_ATTRIBUTE(blob, "content-type", "text/csv"))
    tx.transfer([blob], SENDER.address)
    inputs, cmds = commands(encode(tx))
    call = cmds[2].value
    assert (call.Module, call.Function) == ("blob", "set_attribute")
    assert call.Arguments[0].enum_name == "Result" and call.Arguments[0].value == 1
    assert pure_bytes(inputs, call.Arguments[2]) == bytes([8]) + b"text/csv"
    assert cmds[3].enum_name == "TransferObjects"


def test_a_tree_extension_is_one_ptb_with_a_call_per_member() -> None:
    members = [OwnedRef("0x" + f"{i:02x}" * 32, i + 1, DIGEST) for i in range(0x50, 0x53)]
    tx = Transaction()
    for m in members:
        tx.add(calls.blob.EXTEND_BLOB(SYSTEM.object_id, m.object_id, 3))
    inputs, cmds = commands(encode(tx, *members))
    assert [(c.value.Module, c.value.Function) for c in cmds] == [("blob", "extend_blob")] * 3
    assert [object_kind(inputs, c.value.Arguments[1])[1] for c in cmds] == [
        m.object_id for m in members
    ]


def test_an_upload_relay_registration_carries_the_auth_package_first_and_the_tip() -> None:
    """As Walrus's relay reads a PTB: the auth package is input 0; the tip is SplitCoins off
    the gas coin and TransferObjects to the relay; later results still point right."""
    package, relay = bytes(range(72)), "0x" + "2a" * 32
    tx = Transaction(inputs=[package])
    tx.add(calls.Pay(777, relay))
    storage = tx.add(calls.system.RESERVE_SPACE(SYSTEM.object_id, 1_000_000, 3))
    blob_id = BlobId.derive(0, 5, bytes(range(32)))
    tx.add(calls.blob.REGISTER_BLOB(SYSTEM.object_id, storage, int(blob_id), 12345, 5, 0, True))
    inputs, cmds = commands(encode(tx, budget=50_000_000))
    assert inputs[0].enum_name == "Pure" and bytes(inputs[0].value) == package
    assert [c.enum_name for c in cmds] == ["SplitCoin", "TransferObjects", "MoveCall", "MoveCall"]
    split = cmds[0].value
    assert split.FromCoin.enum_name == "GasCoin"
    assert struct.unpack("<Q", pure_bytes(inputs, split.Amount[0]))[0] == 777
    transfer = cmds[1].value
    assert transfer.Objects[0].enum_name == "Result" and transfer.Objects[0].value == 0
    assert pure_bytes(inputs, transfer.Address) == bytes.fromhex(relay[2:])
    register = cmds[3].value.Arguments
    assert register[1].enum_name == "Result" and register[1].value == 2  # reserve's PTB result


def test_the_relay_reads_the_pure_inputs_before_the_first_object() -> None:
    """What `SuiChain.transaction` hands an upload relay as `inputs`: input 0 is the auth
    package; with an object first (or bytes that are no transaction) there is none."""
    package = bytes(range(72))
    tx = Transaction(inputs=[package])
    tx.add(calls.Pay(777, "0x" + "2a" * 32))
    tx.add(calls.system.RESERVE_SPACE(SYSTEM.object_id, 1_000_000, 3))
    inputs = leading_pure_inputs(encode(tx, budget=50_000_000))
    assert inputs[0] == package and len(inputs) == 3  # the package, the tip and its address
    object_first = single(calls.system.RESERVE_SPACE(SYSTEM.object_id, 1_000_000, 3))
    assert leading_pure_inputs(encode(object_first)) == ()
    assert leading_pure_inputs(b"not a transaction") == ()


def test_epoch_change_and_staking_calls() -> None:
    """`stake` pays with a coin split off the gas coin and hands the receipt to the sender;
    `shards_received` carries the node id, the epoch (u32) and the shards (vector<u16>)."""
    node = "0x" + "07" * 32
    staked = OwnedRef("0x" + "08" * 32, 4, DIGEST)
    tx = Transaction()
    tx.transfer([tx.add(calls.system.STAKE(SYSTEM.object_id, node, 5_000))], SENDER.address)
    tx.add(calls.system.SHARDS_RECEIVED(SYSTEM.object_id, node, 3, [2, 9]))
    tx.add(calls.system.LEAVE_COMMITTEE(SYSTEM.object_id, node))
    tx.add(calls.system.REQUEST_WITHDRAW_STAKE(SYSTEM.object_id, staked.object_id))
    inputs, cmds = commands(encode(tx, staked))
    kinds = [c.enum_name for c in cmds]
    assert kinds[0] == "SplitCoin" and "TransferObjects" in kinds
    calls_ = [c.value for c in cmds if c.enum_name == "MoveCall"]
    assert [(c.Module, c.Function) for c in calls_] == [
        ("system", "stake"),
        ("system", "shards_received"),
        ("system", "leave_committee"),
        ("system", "request_withdraw_stake"),
    ]
    assert pure_bytes(inputs, cmds[0].value.Amount[0]) == struct.pack("<Q", 5_000)
    stake, report = calls_[0].Arguments, calls_[1].Arguments
    assert pure_bytes(inputs, stake[1]) == b"\x07" * 32
    assert stake[2].enum_name in ("Result", "NestedResult")
    assert pure_bytes(inputs, report[2]) == struct.pack("<I", 3)
    assert pure_bytes(inputs, report[3]) == b"\x02\x02\x00\x09\x00"
    assert object_kind(inputs, calls_[3].Arguments[1])[0] == "ImmOrOwnedObject"
