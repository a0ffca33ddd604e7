"""BLS min_pk as Sui verifies it, and certificates checked as the contract checks them."""

from __future__ import annotations

import hashlib

import pytest

from haulout.protocol import bls
from haulout.protocol.blob_id import BlobId
from haulout.protocol.certificate import (
    Certificate,
    aggregate,
    bitmap_from_signers,
    signers_from_bitmap,
    verify_certificate,
)
from haulout.protocol.committee import Committee, Member, even_shards
from haulout.protocol.errors import InvalidCertificate, InvalidKey, InvalidMessage
from haulout.protocol.messages import BlobCertification, Intent, SignedMessage, invalid_blob_message

# Sui's published bls12381_min_pk_verify vector (a drand round, chain 8990e7a9…).
DRAND_PK = "868f005eb8e6e4ca0a47c8a77ceaa5309a47978a7c71bc5cce96366b5d7a569937c529eeda66c7293784a9402801af31"
DRAND_SIG = "a2cd8577944b84484ef557a7f92f0d5092779497cc470b1b97680b8f7c807d97250d310b801c7c2185c7c8a21032d45403b97530ca87bd8f05d0cf4ffceb4bcb9bf7184fb604967db7e9e6ea555bc51b25a9e41fbd51181f712aa73aaec749fe"
DRAND_PREV = "a96aace596906562dc525dba4dff734642d71b334d51324f9c9bcb5a3d6caf14b05cde91d6507bf4615cb4285e5b4efd1358ebc46b80b51e338f9dc46cca17cf2e046765ba857c04101a560887fa81aef101a5bb3b2350884558bd3adc72be37"


def test_sui_published_min_pk_vector_verifies() -> None:
    msg = hashlib.sha256(bytes.fromhex(DRAND_PREV) + (2373935).to_bytes(8, "big")).digest()
    assert bls.verify(bytes.fromhex(DRAND_PK), msg, bytes.fromhex(DRAND_SIG))
    forged = "1111" + DRAND_SIG[4:]
    assert not bls.verify(bytes.fromhex(DRAND_PK), msg, bytes.fromhex(forged))
    assert not bls.verify(bytes.fromhex(DRAND_PK), msg + b"x", bytes.fromhex(DRAND_SIG))


def test_identity_key_and_signature_rejected() -> None:
    ident_pk = bytes([0xC0]) + bytes(47)
    with pytest.raises(InvalidKey, match="identity"):
        bls.parse_public_key(ident_pk)
    key = bls.BlsKeyPair.generate(b"x" * 32)
    ident_sig = bytes([0xC0]) + bytes(95)
    assert not bls.verify(key.public_key, b"m", ident_sig)


def _committee(n_shards: int = 10, members: int = 4) -> tuple[Committee, list[bls.BlsKeyPair]]:
    keys = [bls.BlsKeyPair.generate(bytes([i + 7]) * 32) for i in range(members)]
    shards = even_shards(n_shards, members)
    return (
        Committee(
            3,
            n_shards,
            tuple(
                Member(f"n{i}", f"n{i}", "", k.public_key, s)
                for i, (k, s) in enumerate(zip(keys, shards, strict=True))
            ),
        ),
        keys,
    )


def test_bitmap_lsb_first() -> None:
    assert bitmap_from_signers([0, 3, 8], 9) == bytes([0b1001, 0b1])
    assert signers_from_bitmap(bytes([0b1001, 0b1]), 9) == [0, 3, 8]
    with pytest.raises(InvalidCertificate, match="bytes"):
        signers_from_bitmap(b"\x01\x00\x00", 9)
    with pytest.raises(InvalidCertificate, match="past the committee"):
        signers_from_bitmap(bytes([0, 0b10]), 9)


def test_quorum_exact_and_one_shard_short() -> None:
    committee, keys = _committee()  # shards 3,3,2,2 — quorum needs 3w >= 21, i.e. w >= 7
    msg = BlobCertification(BlobId(bytes(32))).message(3)
    ok = aggregate(committee, msg, {p: keys[p].sign(msg) for p in (0, 1, 2)})  # 8
    assert verify_certificate(committee, ok, 3) == [0, 1, 2]
    short = aggregate(committee, msg, {p: keys[p].sign(msg) for p in (1, 2, 3)})  # 7
    assert verify_certificate(committee, short, 3) == [1, 2, 3]
    two = aggregate(committee, msg, {p: keys[p].sign(msg) for p in (2, 3)})  # 4
    with pytest.raises(InvalidCertificate, match="short of the threshold"):
        verify_certificate(committee, two, 3)


def test_forged_stale_and_claimed_signers() -> None:
    committee, keys = _committee()
    msg = BlobCertification(BlobId(bytes(32))).message(3)
    sigs = {p: keys[p].sign(msg) for p in (0, 1)}
    sigs[2] = keys[3].sign(msg)  # member 3 signs, claims to be member 2
    forged = aggregate(committee, msg, sigs)
    with pytest.raises(InvalidCertificate, match="does not verify"):
        verify_certificate(committee, forged, 3)
    good = aggregate(committee, msg, {p: keys[p].sign(msg) for p in (0, 1, 2)})
    with pytest.raises(InvalidCertificate, match="current epoch is 4"):
        verify_certificate(committee, good, 4)
    other = Certificate(
        good.signature, good.signers, BlobCertification(BlobId(b"\1" * 32)).message(3)
    )
    with pytest.raises(InvalidCertificate, match="does not verify"):
        verify_certificate(committee, other, 3)


def test_invalidation_threshold() -> None:
    committee, keys = _committee()
    msg = invalid_blob_message(3, BlobId(bytes(32)))
    cert = aggregate(committee, msg, {p: keys[p].sign(msg) for p in (0, 1)})  # 6: 18 >= 11
    assert verify_certificate(committee, cert, 3, Intent.INVALID_BLOB_ID) == [0, 1]
    with pytest.raises(InvalidCertificate, match="short of the threshold"):
        verify_certificate(committee, cert, 3)  # 6 shards do not certify a blob
    three = aggregate(committee, msg, {p: keys[p].sign(msg) for p in (0, 1, 2)})
    with pytest.raises(InvalidCertificate, match="intent"):
        verify_certificate(committee, three, 3)


def test_message_parsing_errors() -> None:
    with pytest.raises(InvalidMessage, match="app id"):
        SignedMessage.from_bytes(bytes([1, 0, 0x49, 0, 0, 0, 0]))
    with pytest.raises(InvalidMessage, match="shorter"):
        SignedMessage.from_bytes(b"\x01")
    epoch, body = BlobCertification.parse(
        BlobCertification(BlobId(bytes(32)), b"\2" * 32).message(9)
    )
    assert epoch == 9 and body.object_id == b"\2" * 32
