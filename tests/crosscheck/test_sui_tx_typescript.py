"""Every transaction Haulout's Sui path makes, decoded by Mysten's official TypeScript SDK
(`@mysten/sui`, tools/sui-tx-check): its commands, inputs (object refs, shared objects' initial
versions and mutability) and pure values (read with the Move parameter types from
move/sources) are what was meant, the SDK re-encodes the same bytes, and it accepts our Ed25519
intent signature. One Node process reads everything this module asks."""

from __future__ import annotations

import ast
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from haulout.chain import calls, sui_tx
from haulout.chain.accounts import Account

from . import port_transactions as pt
from .move_signatures import public_functions
from .sui_sdk import Submitted, decode_all
from .tx_expect import Meant, Owned, Publish, Res, Transfer, differences

OTHER = Account(bytes(range(32)))
MODULES = (
    b"\xa1\x1c\xeb\x0b\x06\x00\x00\x00" + bytes(range(60)),
    b"\xa1\x1c\xeb\x0b" + b"\xff" * 300,
)


@cache
def _recorded() -> dict[str, pt.Recorded]:
    """The port's transactions (a DevChain scenario) and one per declared Move function."""
    with tempfile.TemporaryDirectory() as tmp:
        port = pt.run_scenario(Path(tmp))
    return {r.name: r for r in [*port, *pt.generated_calls()]}


@cache
def _bytes(name: str) -> bytes:
    return pt.encode(_recorded()[name])


def _publish() -> tuple[bytes, Meant]:
    sender = Account(pt.blake2b256(b"admin"))
    kind = sui_tx.publish_kind(
        list(MODULES), ["0x1", "0x2"], sender.address
    )  # as SuiBackend.publish
    data = sui_tx.transaction_data(kind, sender.address, [pt.GAS_REF], pt.GAS_PRICE, pt.GAS_BUDGET)
    gas = Owned(pt.GAS_REF.object_id, pt.GAS_REF.version, pt.GAS_REF.digest)
    commands = (Publish(MODULES, ("0x1", "0x2")), Transfer((Res(0),), sender.address))
    return data, Meant(pt.PACKAGE, sender.address, gas, pt.GAS_PRICE, pt.GAS_BUDGET, commands)


def _flip(data: bytes, position: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[position] ^= mask
    return bytes(out)


FLIPPED = "reserve_and_register_paid"


@cache
def _batch() -> list[Submitted]:
    """Everything the tests below ask the SDK, so one Node process reads it all."""
    batch = []
    for name, r in _recorded().items():
        batch.append(Submitted(name, _bytes(name), r.signer.sign_transaction(_bytes(name))))
    publish, _ = _publish()
    batch.append(Submitted("publish", publish))
    flipped = _bytes(FLIPPED)
    batch += [Submitted(f"flip {i}", _flip(flipped, i)) for i in range(len(flipped))]
    reserve, size = _reserve_space_size()
    at = reserve.index(size.to_bytes(8, "little"))
    batch.append(Submitted("reserve_space, size byte changed", _flip(reserve, at, 0xFF)))
    data = _bytes("certify_blob")
    sig = _recorded()["certify_blob"].signer.sign_transaction(data)
    batch += [
        Submitted("sig: signature byte", data, _flip(sig, 10)),
        Submitted("sig: public key byte", data, _flip(sig, 80)),
        Submitted("sig: scheme flag", data, _flip(sig, 0, 0x01)),
        Submitted("sig: transaction byte", _flip(data, len(data) - 9), sig),
        Submitted("sig: another signer", data, OTHER.sign_transaction(data)),
    ]
    return batch


def _reserve_space_size() -> tuple[bytes, int]:
    name = "call system::reserve_space"
    size = pt.meant(_recorded()[name]).commands[0].args[1]
    return _bytes(name), size


@cache
def _decoded() -> dict[str, dict[str, Any]]:
    return decode_all(_batch())


def test_port_transactions_read_as_meant() -> None:
    """Each transaction the port sent in the scenario (every method, batches, admin calls)."""
    port = {n: r for n, r in _recorded().items() if r.method != "generated"}
    assert len(port) >= len(pt.port_methods())
    found = {n: differences(pt.meant(r), _decoded()[n], r.signer.address) for n, r in port.items()}
    assert {n: d for n, d in found.items() if d} == {}


@pytest.mark.parametrize("target", sorted(calls.REGISTRY))
def test_every_declared_call_reads_as_meant_at_the_edges_of_its_types(target: str) -> None:
    r = _recorded()[f"call {target}"]
    assert differences(pt.meant(r), _decoded()[r.name], r.signer.address) == []


def test_publish_reads_as_meant() -> None:
    _, meant = _publish()
    assert differences(meant, _decoded()["publish"]) == []


def test_every_changed_byte_of_a_transaction_is_noticed() -> None:
    """Flip each byte of the reserve-and-register transaction (commands, pure values, object
    refs, gas) in turn: the SDK refuses the bytes, or reads something other than what was
    meant, every time."""
    meant = pt.meant(_recorded()[FLIPPED])
    flips = [f"flip {i}" for i in range(len(_bytes(FLIPPED)))]
    assert len(flips) > 400
    assert [f for f in flips if not differences(meant, _decoded()[f])] == []


def test_a_changed_pure_value_byte_is_reported_as_that_value() -> None:
    """reserve_space's u64 storage size with its lowest byte changed reads as another number;
    the report names the command and argument."""
    _, size = _reserve_space_size()
    meant = pt.meant(_recorded()["call system::reserve_space"])
    assert differences(meant, _decoded()["reserve_space, size byte changed"]) == [
        f"command 0 (system::reserve_space) argument 1: meant '{size}', SDK reads '{size ^ 0xFF}'"
    ]


def test_sdk_rejects_a_changed_signature_or_transaction_byte() -> None:
    """The SDK's `verifyTransactionSignature` accepts our intent signature and names our
    address, and rejects it when a byte of the signature, its public key, its scheme flag or
    the signed transaction changes; another account's signature names that account."""
    seen = _decoded()
    signer = _recorded()["certify_blob"].signer.address
    assert seen["certify_blob"]["signer"] == signer
    for name in ("signature byte", "public key byte", "scheme flag", "transaction byte"):
        got = seen[f"sig: {name}"]
        assert "signer" not in got and got["signature_error"], name
    assert seen["sig: another signer"]["signer"] == OTHER.address != signer


# -- coverage: a call or port method without a cross-check fails here ---------------------


def test_every_port_method_is_cross_checked() -> None:
    """Each ChainClient method that sends a transaction ran in the scenario, and every
    declared Move call was sent by some port method."""
    port = [r for r in _recorded().values() if r.method != "generated"]
    assert set(pt.port_methods()) - {r.method for r in port} == set(), (
        "port methods the crosscheck scenario (tests/crosscheck/port_transactions.py) never calls"
    )
    sent = {c.function.target for r in port for c in r.tx.commands if isinstance(c, calls.MoveCall)}
    assert set(calls.REGISTRY) - sent == set(), "declared Move calls no port method sends"


def test_declared_calls_match_the_move_sources() -> None:
    """`calls/` declares each function with the parameters move/sources gives it: reference
    kind of each object, pure types, payments, coins and the clock."""
    move = public_functions()
    for target, fn in calls.REGISTRY.items():
        assert target in move, f"{target} is not a public function of the Move package"
        declared = []
        for p in fn.params:
            if isinstance(p, calls.ObjectParam):
                name = p.type.split("::")[-1]
                declared.append({"ref": f"&{name}", "mut": f"&mut {name}", "value": name}[p.mode])
            elif isinstance(p, calls.PureParam):
                declared.append(p.type)
            elif isinstance(p, calls.PaymentParam):
                declared.append("&mut Coin<SUI>")
            elif isinstance(p, calls.CoinParam):
                declared.append("Coin<SUI>")
            else:
                declared.append("&Clock")
        assert declared == move[target], target


SENDERS = {
    ("haulout/chain/sui.py", "SuiBackend.execute"),
    ("haulout/chain/sui.py", "SuiBackend.publish"),
    ("haulout/chain/sui.py", "SuiBackend.split_coins"),
}
"""Where Haulout turns a transaction into bytes: the described calls and the publish, both
cross-checked above, and the gas pool's one-time coin split (`sui_tx.split_coins_kind`:
SplitCoins of the gas coin, TransferObjects to the sender), checked by the stand-in's protocol
tests only."""


def test_no_transaction_is_built_outside_the_cross_checked_paths() -> None:
    """Every call of `sui_tx.transaction_data` (or pysui's `TransactionData`) outside sui_tx.py
    is one of the paths above; a new kind of transaction (a gas-coin split, say) fails here
    until it has a cross-check."""
    root = Path(__file__).resolve().parents[2]
    found = set()
    for path in sorted((root / "haulout").rglob("*.py")) + sorted(
        p for d in ("relayer", "storage_node", "indexer") for p in (root / d).rglob("*.py")
    ):
        rel = str(path.relative_to(root))
        if rel == "haulout/chain/sui_tx.py":
            continue
        tree = ast.parse(path.read_text())
        for scope in _scopes(tree):
            for node in ast.walk(scope[1]):
                if isinstance(node, ast.Call) and _name(node.func) in (
                    "transaction_data",
                    "TransactionData",
                ):
                    found.add((rel, scope[0]))
    assert found == SENDERS


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _scopes(tree: ast.Module) -> list[tuple[str, ast.AST]]:
    out: list[tuple[str, ast.AST]] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out += [
                (f"{node.name}.{f.name}", f)
                for f in node.body
                if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.append((node.name, node))
    return out
