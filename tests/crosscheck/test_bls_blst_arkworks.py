"""Haulout's BLS runs on blst (`pyblst`) since it replaced arkworks for speed; BLS signatures
are deterministic, so every key, signature and aggregate must be the very bytes arkworks (the
previous implementation, which the pinned vectors and running deployments were made with)
gives, and points outside the prime-order subgroup must be refused as arkworks and Sui's
fastcrypto refuse them."""

from __future__ import annotations

import pysui_fastcrypto as fc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

from haulout.protocol import bls
from haulout.protocol.errors import InvalidKey, InvalidSignature

from .fastcrypto_view import accepts

P = 0x1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB
"""The base field's modulus."""


def _arkworks_sign(secret: bytes, message: bytes) -> bytes:
    point = G2Point.hash_to_curve(message, bls.DST) * Scalar.from_le_bytes(secret)
    return bytes(point.to_compressed_bytes())


def _arkworks_verifies(public_key: bytes, message: bytes, signature: bytes) -> bool:
    pk, sig = G1Point.from_compressed_bytes(public_key), G2Point.from_compressed_bytes(signature)
    return bool(GT.pairing_check([pk, -G1Point()], [G2Point.hash_to_curve(message, bls.DST), sig]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=4, unique=True),
    st.binary(max_size=300),
)
def test_keys_signatures_and_aggregates_are_arkworks_bytes(
    seeds: list[bytes], message: bytes
) -> None:
    pairs = [bls.BlsKeyPair.generate(seed) for seed in seeds]
    for pair in pairs:
        ark_scalar = Scalar.from_le_bytes(pair.secret)
        assert pair.public_key == bytes((G1Point() * ark_scalar).to_compressed_bytes())
        signature = pair.sign(message)
        assert signature == _arkworks_sign(pair.secret, message)
        assert bls.verify(pair.public_key, message, signature)
        assert _arkworks_verifies(pair.public_key, message, signature)
    signatures = [pair.sign(message) for pair in pairs]
    ark_total = G2Point.from_compressed_bytes(signatures[0])
    for s in signatures[1:]:
        ark_total = ark_total + G2Point.from_compressed_bytes(s)
    assert bls.aggregate_signatures(signatures) == bytes(ark_total.to_compressed_bytes())
    points = [bls.parse_public_key(pair.public_key) for pair in pairs]
    ark_key = G1Point.from_compressed_bytes(pairs[0].public_key)
    for pair in pairs[1:]:
        ark_key = ark_key + G1Point.from_compressed_bytes(pair.public_key)
    assert bls.encode_public_key(bls.aggregate_public_keys(points)) == bytes(
        ark_key.to_compressed_bytes()
    )
    assert bls.verify_sum(points, message, signatures)
    assert not bls.verify_sum(points, message + b"x", signatures)


def _sqrt_fp(a: int) -> int | None:
    root = pow(a, (P + 1) // 4, P)  # p = 3 (mod 4)
    return root if root * root % P == a % P else None


def _off_subgroup_g1_key() -> bytes:
    """A point of y² = x³ + 4 (the curve) that is not in G1: its cofactor part is not 1."""
    x = 5
    while (y := _sqrt_fp(x**3 + 4)) is None:
        x += 1
    flags = 0x80 | (0x20 if y > P - y else 0)
    data = bytearray(x.to_bytes(48, "big"))
    data[0] |= flags
    return bytes(data)


Fp2 = tuple[int, int]


def _mul2(a: Fp2, b: Fp2) -> Fp2:
    return ((a[0] * b[0] - a[1] * b[1]) % P, (a[0] * b[1] + a[1] * b[0]) % P)


def _pow2(a: Fp2, e: int) -> Fp2:
    out: Fp2 = (1, 0)
    while e:
        if e & 1:
            out = _mul2(out, a)
        a, e = _mul2(a, a), e >> 1
    return out


def _sqrt_fp2(a: Fp2) -> Fp2 | None:
    """A square root in Fp2 = Fp[i]/(i²+1), p = 3 (mod 4) (Adj and Rodríguez-Henríquez, alg. 9)."""
    a1 = _pow2(a, (P - 3) // 4)
    alpha = _mul2(_mul2(a1, a1), a)
    x0 = _mul2(a1, a)
    if alpha == (P - 1, 0):
        root = _mul2((0, 1), x0)
    else:
        root = _mul2(_pow2(((1 + alpha[0]) % P, alpha[1]), (P - 1) // 2), x0)
    return root if _mul2(root, root) == (a[0] % P, a[1] % P) else None


def _off_subgroup_g2_signature() -> bytes:
    """A point of the twist y² = x³ + 4(1 + i) that is not in G2."""
    x = (3, 1)
    while True:
        rhs = _mul2(_mul2(x, x), x)
        y = _sqrt_fp2(((rhs[0] + 4) % P, (rhs[1] + 4) % P))
        if y is not None:
            break
        x = (x[0] + 1, 1)
    larger = y[1] > P - y[1] if y[1] else y[0] > P - y[0]
    data = bytearray(x[1].to_bytes(48, "big") + x[0].to_bytes(48, "big"))
    data[0] |= 0x80 | (0x20 if larger else 0)
    return bytes(data)


def test_points_outside_the_prime_order_subgroup_are_refused() -> None:
    """On the curve, off the subgroup (a small-subgroup component): blst's parser, arkworks'
    and fastcrypto's all refuse them, and so does every verification here."""
    key, sig = _off_subgroup_g1_key(), _off_subgroup_g2_signature()
    honest = bls.BlsKeyPair.generate(b"subgroup")
    with pytest.raises(InvalidKey, match="G1"):
        bls.parse_public_key(key)
    with pytest.raises(InvalidSignature, match="G2"):
        bls.parse_signature(sig)
    with pytest.raises(Exception, match="invalid|subgroup"):
        G1Point.from_compressed_bytes(key)
    with pytest.raises(Exception, match="invalid|subgroup"):
        G2Point.from_compressed_bytes(sig)
    with pytest.raises(ValueError):
        fc.bls_g1_compress(key)
    assert not accepts(honest.public_key, sig, b"m")
    assert not bls.verify(key, b"m", honest.sign(b"m"))
    assert not bls.verify(honest.public_key, b"m", sig)
    point = bls.parse_public_key(honest.public_key)
    assert not bls.verify_sum([point, point], b"m", [honest.sign(b"m"), sig])


@pytest.mark.parametrize(
    "secret",
    [bytes(32), bls.GROUP_ORDER.to_bytes(32, "little"), b"\xff" * 32, b"\x01" * 31],
    ids=["zero", "r", "above r", "short"],
)
def test_a_secret_key_outside_one_to_r_is_refused(secret: bytes) -> None:
    """A zero secret key made the identity its public key (and every signature the identity);
    a secret of r or more is no canonical scalar: both are refused with a typed error."""
    with pytest.raises(InvalidKey, match="secret key"):
        bls.BlsKeyPair.from_secret(secret)
