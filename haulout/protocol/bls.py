"""BLS12-381 min_pk signatures (48-byte keys, 96-byte signatures) with Sui's `_NUL_` DST.

These are exactly what `sui::bls12381::bls12381_min_pk_verify` accepts.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

from .errors import InvalidKey, InvalidSignature
from .hashing import blake2b256

DST = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_"
PUBLIC_KEY_LEN = 48
SIGNATURE_LEN = 96
_IDENTITY_G1_POINT = G1Point.identity()
_IDENTITY_G2_POINT = G2Point.identity()


@lru_cache(maxsize=4096)
def parse_public_key(data: bytes) -> G1Point:
    """A checked G1 public key; rejects wrong lengths, the identity and non-subgroup points."""
    if len(data) != PUBLIC_KEY_LEN:
        raise InvalidKey(f"a BLS public key is {PUBLIC_KEY_LEN} bytes; got {len(data)}")
    try:
        point = G1Point.from_compressed_bytes(data)
    except Exception as exc:
        raise InvalidKey(f"not a compressed BLS12-381 G1 point: {exc}") from exc
    # arkworks reads any bytes with the infinity flag (0xc0 ‖ anything) as the identity; Sui's
    # fastcrypto accepts only the canonical encoding and never the identity.
    if point == _IDENTITY_G1_POINT:
        raise InvalidKey("the identity is not a valid BLS public key")
    if point.to_compressed_bytes() != data:
        raise InvalidKey("not the canonical compressed encoding of a BLS12-381 G1 point")
    if not point.is_in_subgroup():  # pragma: no cover - from_compressed_bytes checks it
        raise InvalidKey("public key is not in the prime-order subgroup")
    return point


def parse_signature(data: bytes) -> G2Point:
    """A checked G2 signature; rejects wrong lengths, the identity and non-subgroup points.

    Cached (points are immutable): a store parses each signature when checking the quorum,
    again when aggregating its certificate, and the aggregate once more when it is verified."""
    return _parse_signature(bytes(data))


@lru_cache(maxsize=4096)
def _parse_signature(data: bytes) -> G2Point:
    if len(data) != SIGNATURE_LEN:
        raise InvalidSignature(f"a BLS signature is {SIGNATURE_LEN} bytes; got {len(data)}")
    try:
        point = G2Point.from_compressed_bytes(data)
    except Exception as exc:
        raise InvalidSignature(f"not a compressed BLS12-381 G2 point: {exc}") from exc
    if point == _IDENTITY_G2_POINT:  # also 0xc0 ‖ non-zero bytes, which arkworks reads as it
        raise InvalidSignature("the identity is not a valid BLS signature")
    if point.to_compressed_bytes() != data:
        raise InvalidSignature("not the canonical compressed encoding of a BLS12-381 G2 point")
    if not point.is_in_subgroup():  # pragma: no cover
        raise InvalidSignature("signature is not in the prime-order subgroup")
    return point


@lru_cache(maxsize=1024)
def _hash_to_g2(message: bytes) -> G2Point:
    return G2Point.hash_to_curve(message, DST)


@dataclass(frozen=True)
class BlsKeyPair:
    """A node's BLS signing key and its public key."""

    secret: bytes
    public_key: bytes

    @classmethod
    def generate(cls, seed: bytes | None = None) -> BlsKeyPair:
        """A new key pair, from 32 random bytes or a fixed seed (for tests and vectors)."""
        ikm = seed if seed is not None else os.urandom(32)
        scalar = Scalar.from_le_bytes_mod_order(blake2b256(b"haulout-bls-keygen" + ikm) * 2)
        if scalar.is_zero():  # pragma: no cover - probability 2^-255
            raise InvalidKey("derived a zero secret key; use another seed")
        secret = scalar.to_le_bytes()
        return cls(secret, (G1Point() * scalar).to_compressed_bytes())

    @classmethod
    def from_secret(cls, secret: bytes) -> BlsKeyPair:
        """Rebuild a key pair from its 32-byte little-endian secret scalar."""
        scalar = Scalar.from_le_bytes(secret)
        return cls(secret, (G1Point() * scalar).to_compressed_bytes())

    def sign(self, message: bytes) -> bytes:
        """A 96-byte min_pk signature of `message`."""
        return (_hash_to_g2(message) * Scalar.from_le_bytes(self.secret)).to_compressed_bytes()


_VERIFIED: OrderedDict[tuple[bytes, bytes, bytes], None] = OrderedDict()
"""(public key, message, signature) triples that verified, most recent last (bounded)."""

VERIFIED_MEMORY = 4096
"""How many verified triples `verify` remembers."""

_VERIFIED_LOCK = threading.Lock()


def verify(public_key: bytes | G1Point, message: bytes, signature: bytes) -> bool:
    """`bls12381_min_pk_verify`: True when `signature` signs `message` under `public_key`.

    A triple that verified once is remembered (only successes, keyed by the exact bytes of
    all three), so a pairing is not computed twice for the same check: the relayer verifies
    a quorum's aggregate and a chain in the same process (DevChain) verifies the same
    aggregate in the certificate."""
    try:
        pk = public_key if isinstance(public_key, G1Point) else parse_public_key(public_key)
        key = (pk.to_compressed_bytes(), bytes(message), bytes(signature))
        if key in _VERIFIED:
            return True
        sig = parse_signature(signature)
    except (InvalidKey, InvalidSignature):
        return False
    ok = bool(GT.pairing_check([pk, -G1Point()], [_hash_to_g2(message), sig]))
    if ok:
        with _VERIFIED_LOCK:
            _VERIFIED[key] = None
            while len(_VERIFIED) > VERIFIED_MEMORY:
                _VERIFIED.popitem(last=False)
    return ok


def remember_verified(public_key: G1Point, message: bytes, signature: bytes) -> None:
    """Record that `signature` verifies `message` under `public_key` without a pairing; only
    for what follows from checks already made: the sum of signatures that each verified on
    the same `message` under their keys verifies under the sum of those keys (bilinearity)."""
    with _VERIFIED_LOCK:
        _VERIFIED[(public_key.to_compressed_bytes(), bytes(message), bytes(signature))] = None
        while len(_VERIFIED) > VERIFIED_MEMORY:
            _VERIFIED.popitem(last=False)


def verify_sum(public_keys: Sequence[G1Point], message: bytes, signatures: Sequence[bytes]) -> bool:
    """Whether the sum of `signatures` verifies `message` under the sum of `public_keys`: one
    pairing check, on the summed point itself (no encoding and parsing it again). False when
    a signature is malformed."""
    try:
        total = aggregate_signature_points(signatures)
        key = aggregate_public_keys(public_keys)
    except (InvalidKey, InvalidSignature):
        return False
    return bool(GT.pairing_check([key, -G1Point()], [_hash_to_g2(message), total]))


def aggregate_signature_points(signatures: Sequence[bytes]) -> G2Point:
    """Sum of parsed signatures, as a point."""
    if not signatures:
        raise InvalidSignature("cannot aggregate zero signatures")
    total = parse_signature(signatures[0])
    for s in signatures[1:]:
        total = total + parse_signature(s)
    return total


def aggregate_signatures(signatures: Sequence[bytes]) -> bytes:
    """Sum of signatures; the aggregate verifies under the sum of the signers' keys."""
    return aggregate_signature_points(signatures).to_compressed_bytes()


def aggregate_public_keys(keys: Sequence[G1Point]) -> G1Point:
    """Sum of parsed public keys."""
    if not keys:
        raise InvalidKey("cannot aggregate zero public keys")
    total = keys[0]
    for key in keys[1:]:
        total = total + key
    return total
