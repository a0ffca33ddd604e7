"""How Sui's Move side sees a Haulout certificate or proof of possession, checked with Mysten's
fastcrypto (`pysui-fastcrypto`, the library behind `sui::bls12381::bls12381_min_pk_verify`).

Written from DESIGN §5 and `move/sources/committee.move`, not from `haulout.protocol`: the
signer bitmap is read LSB first (bit `i` of byte `j` is member `8j + i`), the aggregate key
is the sum of the signers' keys, and the message bytes are passed as they are.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pysui_fastcrypto as fc

from haulout.protocol import bls

MOVE_VECTORS = Path(__file__).resolve().parents[2] / "move" / "tests" / "test_vectors.move"


def signer_positions(bitmap: bytes) -> list[int]:
    """Member positions marked in `bitmap`, as `committee::signers` reads it."""
    return [8 * j + i for j, byte in enumerate(bitmap) for i in range(8) if byte >> i & 1]


def pop_message(epoch: int, public_key: bytes, address: bytes) -> bytes:
    """`messages::proof_of_possession`: intent 0, version 0, app 0x48, epoch u32 LE, key ‖ addr."""
    return bytes([0, 0, 0x48]) + struct.pack("<I", epoch) + public_key + address


def accepts(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """fastcrypto's single-key verify; an unparsable key or signature is a rejection."""
    try:
        return bool(fc.bls_verify(public_key, signature, message))
    except ValueError:
        return False


def accepts_aggregate(public_keys: Sequence[bytes], signature: bytes, message: bytes) -> bool:
    """fastcrypto sums the keys itself and verifies; a parse error is a rejection."""
    if not public_keys:
        return False
    try:
        return bool(fc.bls_aggregate_verify(signature, list(public_keys), message))
    except ValueError:
        return False


def move_aggregate_key(public_keys: Sequence[bytes]) -> bytes | None:
    """`group_ops::bytes(g1_identity + Σ keys)`; None when a key is not a valid G1 point (Move
    aborts in `g1_from_bytes`)."""
    try:
        points = [bls.parse_public_key(k) for k in public_keys]
    except Exception:
        return None
    return bls.encode_public_key(bls.aggregate_public_keys(points))


def move_accepts_certificate(
    member_keys: Sequence[bytes], signature: bytes, bitmap: bytes, message: bytes
) -> bool:
    """`committee::verify`'s cryptographic part under fastcrypto, both ways: the aggregate key
    Move computes passed to `bls12381_min_pk_verify`, and fastcrypto summing the keys."""
    positions = signer_positions(bitmap)
    if not positions or positions[-1] >= len(member_keys):
        return False
    keys = [member_keys[p] for p in positions]
    aggregate = move_aggregate_key(keys)
    single = aggregate is not None and accepts(aggregate, signature, message)
    summed = accepts_aggregate(keys, signature, message)
    assert single == summed, "fastcrypto's own key sum and the Move-side sum disagree"
    return single


@dataclass(frozen=True)
class MoveCert:
    """One `Cert` pinned in move/tests/test_vectors.move."""

    name: str
    signature: bytes
    signers: bytes
    message: bytes


@dataclass(frozen=True)
class MoveVectors:
    """The committee and certificates the Move tests feed to `bls12381_min_pk_verify`."""

    public_keys: list[bytes]
    pops: list[bytes]
    addresses: list[bytes]
    certs: list[MoveCert]


def _hex_list(source: str, name: str) -> list[bytes]:
    body = re.search(rf"public fun {name}\(\)[^{{]*\{{ vector\[(.*?)\] }}", source, re.S)
    assert body, f"test_vectors.move has no {name}()"
    return [bytes.fromhex(h) for h in re.findall(r'(?:x"|@0x)([0-9a-f]+)', body.group(1))]


def move_vectors() -> MoveVectors:
    """Parse the pinned keys, proofs of possession, addresses and certificates."""
    source = MOVE_VECTORS.read_text()
    certs = [
        MoveCert(name, bytes.fromhex(sig), bytes.fromhex(signers), bytes.fromhex(msg))
        for name, sig, signers, msg in re.findall(
            r'public fun (\w+)\(\): Cert \{\s*Cert \{ signature: x"([0-9a-f]+)", '
            r'signers: x"([0-9a-f]*)", message: x"([0-9a-f]+)"',
            source,
        )
    ]
    return MoveVectors(
        _hex_list(source, "public_keys"),
        _hex_list(source, "pops"),
        [a.rjust(32, b"\0") for a in _hex_list(source, "addresses")],
        certs,
    )
