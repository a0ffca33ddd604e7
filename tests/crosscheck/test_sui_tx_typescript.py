"""Every transaction Haulout's Sui builder makes, decoded by Mysten's official TypeScript SDK
(`@mysten/sui`, tools/sui-tx-check): its commands, inputs (object refs, shared objects' initial
versions and mutability) and pure values (read with the Move parameter types from
move/sources) are what was meant, the SDK re-encodes the same bytes, and it accepts our Ed25519
intent signature. One Node process reads all transactions of a test."""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

import pytest

from haulout.chain import sui_tx
from haulout.chain.accounts import Account

from .move_signatures import public_functions
from .sui_sdk import Submitted, decode_all
from .tx_cases import TxCase, transaction_kinds
from .tx_expect import Call, differences


@cache
def _cases() -> dict[str, TxCase]:
    return {c.name: c for c in transaction_kinds()}


def _flip(data: bytes, position: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[position] ^= mask
    return bytes(out)


FLIPPED_CASE = "reserve_and_register_paid"
OTHER = Account(bytes(range(32)))


@cache
def _batch() -> list[Submitted]:
    """Everything the tests below ask the SDK, so one Node process reads it all."""
    cases = _cases()
    batch = [Submitted(c.name, c.tx_bytes, c.signature) for c in cases.values()]
    flipped = cases[FLIPPED_CASE].tx_bytes
    batch += [Submitted(f"flip {i}", _flip(flipped, i)) for i in range(len(flipped))]
    reserve = cases["reserve_space"].tx_bytes
    at = reserve.index((2**64 - 1).to_bytes(8, "little"))
    batch.append(Submitted("reserve_space, size byte changed", _flip(reserve, at, 0xFF)))
    cert = cases["certify_blob"]
    sig = cert.signature
    batch += [
        Submitted("sig: signature byte", cert.tx_bytes, _flip(sig, 10)),
        Submitted("sig: public key byte", cert.tx_bytes, _flip(sig, 80)),
        Submitted("sig: scheme flag", cert.tx_bytes, _flip(sig, 0, 0x01)),
        Submitted("sig: transaction byte", _flip(cert.tx_bytes, len(cert.tx_bytes) - 9), sig),
        Submitted("sig: another signer", cert.tx_bytes, OTHER.sign_transaction(cert.tx_bytes)),
    ]
    return batch


@cache
def _decoded() -> dict[str, dict[str, Any]]:
    return decode_all(_batch())


@pytest.mark.parametrize("name", [c.name for c in transaction_kinds()])
def test_sdk_reads_what_the_builder_meant(name: str) -> None:
    case = _cases()[name]
    assert differences(case.meant, _decoded()[name], case.signer.address) == []


def test_every_changed_byte_of_a_transaction_is_noticed() -> None:
    """Flip each byte of the reserve-and-register transaction (commands, pure values, object
    refs, gas) in turn: the SDK refuses the bytes, or reads something other than what was
    meant, every time."""
    case = _cases()[FLIPPED_CASE]
    seen = _decoded()
    flips = [f"flip {i}" for i in range(len(case.tx_bytes))]
    assert len(flips) > 400
    assert [f for f in flips if not differences(case.meant, seen[f])] == []


def test_a_changed_pure_value_byte_is_reported_as_that_value() -> None:
    """The u64 storage size of reserve_space with its lowest byte changed reads as another
    number; the report names the command and argument."""
    meant = _cases()["reserve_space"].meant
    assert differences(meant, _decoded()["reserve_space, size byte changed"]) == [
        "command 0 (system::reserve_space) argument 1: meant '18446744073709551615', "
        "SDK reads '18446744073709551360'"
    ]


def test_sdk_rejects_a_changed_signature_or_transaction_byte() -> None:
    """The SDK's `verifyTransactionSignature` accepts our intent signature and names our
    address, and rejects it when a byte of the signature, its public key, its scheme flag or
    the signed transaction changes; another account's signature names that account."""
    seen = _decoded()
    assert seen["certify_blob"]["signer"] == _cases()["certify_blob"].signer.address
    for name in ("signature byte", "public key byte", "scheme flag", "transaction byte"):
        got = seen[f"sig: {name}"]
        assert "signer" not in got and got["signature_error"], name
    assert (
        seen["sig: another signer"]["signer"]
        == OTHER.address
        != _cases()["certify_blob"].signer.address
    )


# -- coverage: a call the builder learns without a cross-check fails here -------------------


_HELPERS = {"pure", "obj", "call", "gas", "transfer", "transaction_data", "owned"}


def test_every_builder_call_is_cross_checked() -> None:
    """Each public method of `HauloutTransaction`, each Move function it calls, and the
    publish transaction appear in `transaction_kinds()`."""
    methods = {
        name
        for name, _ in inspect.getmembers(sui_tx.HauloutTransaction, inspect.isfunction)
        if not name.startswith("_") and name not in _HELPERS
    }
    called: set[str] = set()
    for name in methods:
        called |= {
            f"{m}::{f}"
            for m, f in _move_calls(inspect.getsource(getattr(sui_tx.HauloutTransaction, name)))
        }
    covered = {
        cmd.target
        for case in _cases().values()
        for cmd in case.meant.commands
        if isinstance(cmd, Call)
    }
    assert called - covered == set(), "calls the builder makes with no cross-check case"
    assert called <= set(public_functions()), "the builder calls functions Move does not export"
    assert "deploy:publish" in _cases()


def _move_calls(source: str) -> list[tuple[str, str]]:
    import re

    return re.findall(r'self\.call\(\s*"(\w+)",\s*"(\w+)"', source)
