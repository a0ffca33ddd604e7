"""Each Move call is declared once (`haulout.chain.calls`): the declarations match the Move
sources, every one has a DevChain mirror, and both chains get the same commands from them
(DevChain's command dicts, Sui's BCS)."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import base58
import pytest

from haulout.chain import calls
from haulout.chain.accounts import Account
from haulout.chain.calls import (
    ClockParam,
    CoinParam,
    ObjectParam,
    PaymentParam,
    PureParam,
    Transaction,
    single,
)
from haulout.chain.calls.pure import BcsError, decode, encode
from haulout.chain.devchain import FUNCTIONS, to_commands
from haulout.chain.sui_tx import OwnedRef, SharedRef, encode_transaction
from haulout.chain.sui_tx import decode as decode_tx

SOURCES = Path(__file__).parents[2] / "move" / "sources"
PACKAGE = "0x" + "ab" * 32
SYSTEM = SharedRef("0x" + "11" * 32, 5)
DIGEST = base58.b58encode(bytes(range(32))).decode()
GAS = OwnedRef("0x" + "33" * 32, 7, DIGEST)
BLOB = OwnedRef("0x" + "44" * 32, 9, DIGEST)
SHARED = SharedRef("0x" + "55" * 32, 11)
SENDER = Account(bytes(32))


def _split_params(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return [p for p in (*out, cur.strip()) if p]


def move_signature(module: str, name: str) -> tuple[list[str], str | None]:
    """Parameter types (TxContext left out) and return type of a public Move function."""
    src = (SOURCES / f"{module}.move").read_text()
    m = re.search(rf"public fun {name}\s*\((.*?)\)\s*(?::\s*([^{{]+?))?\s*\{{", src, re.S)
    assert m, f"no public fun {module}::{name} in move/sources"
    params = [p.split(":", 1)[1].strip() for p in _split_params(m.group(1))]
    return [p for p in params if not p.endswith("TxContext")], (m.group(2) or "").strip() or None


def expected_type(param: object) -> str:
    """How the Move source spells a declared parameter."""
    if isinstance(param, ObjectParam):
        struct_name = param.type.split("::")[-1]
        return {"ref": "&", "mut": "&mut ", "value": ""}[param.mode] + struct_name
    if isinstance(param, PureParam):
        return param.type
    if isinstance(param, PaymentParam):
        return "&mut Coin<SUI>"
    if isinstance(param, CoinParam):
        return "Coin<SUI>"
    assert isinstance(param, ClockParam)
    return "&Clock"


@pytest.mark.parametrize("target", sorted(calls.REGISTRY))
def test_each_declaration_matches_the_move_source(target: str) -> None:
    fn = calls.REGISTRY[target]
    params, returns = move_signature(fn.module, fn.name)
    assert [expected_type(p) for p in fn.params] == params
    assert (fn.returns or "").split("::")[-1] == (returns or "")


def test_every_declared_call_has_a_devchain_mirror() -> None:
    assert set(FUNCTIONS) == set(calls.REGISTRY)


def test_a_call_takes_its_explicit_arguments_only() -> None:
    with pytest.raises(TypeError, match="takes 3 arguments"):
        calls.system.RESERVE_SPACE(SYSTEM.object_id, 5)
    with pytest.raises(TypeError, match="amount of MIST"):
        calls.shared_blob.FUND(SHARED.object_id, "10")


@pytest.mark.parametrize(
    ("move_type", "value", "bcs"),
    [
        ("u8", 7, b"\x07"),
        ("u16", 258, b"\x02\x01"),
        ("u32", 3, struct.pack("<I", 3)),
        ("u64", 2**64 - 1, b"\xff" * 8),
        ("u256", 1, b"\x01" + bytes(31)),
        ("bool", True, b"\x01"),
        ("address", "0x" + "0a" * 32, b"\x0a" * 32),
        ("String", "é", b"\x02\xc3\xa9"),
        ("vector<u8>", b"\x01\x02", b"\x02\x01\x02"),
        ("vector<ID>", ["0x" + "01" * 32], b"\x01" + b"\x01" * 32),
        ("vector<vector<u16>>", [[1], []], b"\x02\x01\x01\x00\x00"),
    ],
)
def test_pure_values_encode_and_decode(move_type: str, value: object, bcs: bytes) -> None:
    assert encode(move_type, value) == bcs
    assert decode(move_type, bcs) == value


def test_bad_pure_bytes_are_refused() -> None:
    with pytest.raises(ValueError):
        encode("u8", 256)
    with pytest.raises(BcsError, match="left after"):
        decode("u32", b"\x00" * 5)
    with pytest.raises(BcsError, match="longer than its bytes"):
        decode("vector<u8>", b"\x05\x01")
    with pytest.raises(BcsError, match="longer than its bytes"):
        decode("vector<vector<u16>>", b"\xff\xff\x03")  # no allocation for a claimed 65535
    with pytest.raises(BcsError, match="0 or 1"):
        decode("bool", b"\x02")


def test_devchain_commands_leave_payments_and_the_clock_to_the_ledger() -> None:
    tx = Transaction()
    storage = tx.add(calls.system.RESERVE_SPACE(SYSTEM.object_id, 1000, 2))
    blob = tx.add(calls.blob.REGISTER_BLOB(SYSTEM.object_id, storage, 1, 2, 3, 0, False))
    tx.transfer([blob], SENDER.address)
    tx.add(calls.shared_blob.NEW_FUNDED(blob, 77))
    tx.add(calls.system.ADVANCE_EPOCH(SYSTEM.object_id))
    tx.add(calls.blob.CERTIFY_BLOB(SYSTEM.object_id, BLOB.object_id, b"\x01", b"\x02", b"\x03"))
    reserve, register, transfer, share, advance, certify = to_commands(tx)
    assert reserve == {
        "call": "system::reserve_space",
        "args": [{"object": SYSTEM.object_id}, {"pure": 1000}, {"pure": 2}],
    }
    assert register["args"][1] == {"result": 0} and len(register["args"]) == 7
    assert transfer == {"call": "transfer", "args": [{"result": 1}, {"pure": SENDER.address}]}
    assert share["args"] == [{"result": 1}, {"pure": 77}]
    assert advance["args"] == [{"object": SYSTEM.object_id}]
    assert certify["args"][2:] == [{"bytes": "AQ=="}, {"bytes": "Ag=="}, {"bytes": "Aw=="}]


def _sui(tx: Transaction) -> tuple[list, list]:  # type: ignore[type-arg]
    known = {r.object_id: r for r in (SYSTEM, BLOB, SHARED)}
    data = encode_transaction(tx, PACKAGE, known.__getitem__, SENDER.address, [GAS], 1000, 10**7)
    kind = decode_tx(data).value.TransactionKind.value
    return list(kind.Inputs), list(kind.Command)


def test_a_coin_by_value_is_split_off_the_gas_coin_first() -> None:
    tx = Transaction()
    tx.add(calls.shared_blob.FUND(SHARED.object_id, 1234))
    tx.add(calls.shared_blob.EXTEND(SHARED.object_id, SYSTEM.object_id, 2))
    inputs, cmds = _sui(tx)
    assert [c.enum_name for c in cmds] == ["SplitCoin", "MoveCall", "MoveCall"]
    split, fund = cmds[0].value, cmds[1].value
    assert split.FromCoin.enum_name == "GasCoin"
    assert bytes(inputs[split.Amount[0].value].value) == struct.pack("<Q", 1234)
    assert fund.Arguments[1].enum_name == "Result" and fund.Arguments[1].value == 0
    assert fund.Arguments[0].value == cmds[2].value.Arguments[0].value  # one shared input


def test_results_keep_pointing_at_their_commands_after_a_split() -> None:
    tx = Transaction()
    tx.add(calls.shared_blob.FUND(SHARED.object_id, 5))  # two PTB commands
    storage = tx.add(calls.system.RESERVE_SPACE(SYSTEM.object_id, 1000, 2))
    tx.add(calls.blob.REGISTER_BLOB(SYSTEM.object_id, storage, 1, 2, 3, 0, False))
    _, cmds = _sui(tx)
    register = cmds[3].value
    assert register.Function == "register_blob"
    assert register.Arguments[1].enum_name == "Result" and register.Arguments[1].value == 2


def test_a_shared_object_is_mutable_only_when_some_command_mutates_it() -> None:
    certify = calls.blob.CERTIFY_BLOB(SYSTEM.object_id, BLOB.object_id, b"", b"", b"")
    inputs, cmds = _sui(single(certify))
    system_input = inputs[cmds[0].value.Arguments[0].value].value.value
    assert system_input.Mutable is False  # certify_blob takes &System
    tx = Transaction()
    tx.add(certify)
    tx.add(calls.blob.EXTEND_BLOB(SYSTEM.object_id, BLOB.object_id, 1))
    inputs, cmds = _sui(tx)
    assert inputs[cmds[0].value.Arguments[0].value].value.value.Mutable is True
