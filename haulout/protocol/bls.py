"""BLS12-381 min_pk signatures (48-byte keys, 96-byte signatures) with Sui's `_NUL_` DST.

These are exactly what `sui::bls12381::bls12381_min_pk_verify` accepts. The arithmetic is
supranational's blst (through `pyblst`), the library under Sui's own fastcrypto: a node signs
a confirmation for every store and the relayer verifies a quorum of them, and blst does both
two to four times faster than the arkworks binding this module used before (bench/bls_ops.py).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

try:
    from pyblst import BlstP1Element, BlstP2Element, final_verify, miller_loop
except ImportError as exc:  # pragma: no cover - a dependency; wheels cover the usual platforms
    raise ImportError(
        "Haulout's BLS signatures need pyblst (blst's binding): `pip install pyblst`; where no "
        "wheel fits (musl, say) it builds from source with a Rust toolchain"
    ) from exc

from .errors import InvalidKey, InvalidSignature
from .hashing import blake2b256

DST = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_"
PUBLIC_KEY_LEN = 48
SIGNATURE_LEN = 96
SECRET_KEY_LEN = 32
GROUP_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
"""r, the order of G1 and G2: secret keys are scalars below it."""

PublicKeyPoint = BlstP1Element
"""A parsed (checked) public key: a point of G1."""

SignaturePoint = BlstP2Element
"""A parsed (checked) signature: a point of G2."""

_G1_GENERATOR = BlstP1Element.uncompress(
    bytes.fromhex(
        "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac58"
        "6c55e83ff97a1aeffb3af00adb22c6bb"
    )
)
_IDENTITY_G1_POINT = BlstP1Element()
_IDENTITY_G2_POINT = BlstP2Element()
_INFINITY_FLAG = 0x40
"""Bit 6 of the first byte: set in every encoding of the identity (and only there)."""


@lru_cache(maxsize=4096)
def parse_public_key(data: bytes) -> PublicKeyPoint:
    """A checked G1 public key; rejects wrong lengths, the identity and non-subgroup points."""
    if len(data) != PUBLIC_KEY_LEN:
        raise InvalidKey(f"a BLS public key is {PUBLIC_KEY_LEN} bytes; got {len(data)}")
    # Sui's fastcrypto never accepts the identity, in any encoding (blst reads the canonical
    # `0xc0 ‖ zeros` as the identity and refuses the others)
    if data[0] & _INFINITY_FLAG:
        raise InvalidKey("the identity is not a valid BLS public key")
    try:  # blst: field elements below p, on the curve, in the prime-order subgroup
        point = BlstP1Element.uncompress(bytes(data))
    except ValueError as exc:
        raise InvalidKey(f"not a compressed BLS12-381 G1 point in G1: {exc}") from exc
    if point == _IDENTITY_G1_POINT:  # pragma: no cover - the flag check above
        raise InvalidKey("the identity is not a valid BLS public key")
    if bytes(point.compress()) != data:  # pragma: no cover - blst refuses them
        raise InvalidKey("not the canonical compressed encoding of a BLS12-381 G1 point")
    return point


def encode_public_key(point: PublicKeyPoint) -> bytes:
    """The 48-byte compressed encoding of a G1 point (an aggregate key, say), as Sui reads it."""
    return bytes(point.compress())


def parse_signature(data: bytes) -> SignaturePoint:
    """A checked G2 signature; rejects wrong lengths, the identity and non-subgroup points.

    Cached (points are immutable): a store parses each signature when checking the quorum,
    again when aggregating its certificate, and the aggregate once more when it is verified."""
    return _parse_signature(bytes(data))


@lru_cache(maxsize=4096)
def _parse_signature(data: bytes) -> SignaturePoint:
    if len(data) != SIGNATURE_LEN:
        raise InvalidSignature(f"a BLS signature is {SIGNATURE_LEN} bytes; got {len(data)}")
    if data[0] & _INFINITY_FLAG:
        raise InvalidSignature("the identity is not a valid BLS signature")
    try:
        point = BlstP2Element.uncompress(data)
    except ValueError as exc:
        raise InvalidSignature(f"not a compressed BLS12-381 G2 point in G2: {exc}") from exc
    if point == _IDENTITY_G2_POINT:  # pragma: no cover - the flag check above
        raise InvalidSignature("the identity is not a valid BLS signature")
    if bytes(point.compress()) != data:  # pragma: no cover - blst refuses them
        raise InvalidSignature("not the canonical compressed encoding of a BLS12-381 G2 point")
    return point


@lru_cache(maxsize=1024)
def _hash_to_g2(message: bytes) -> SignaturePoint:
    # pyblst's argument order is (message, dst), whatever its parameter names say
    return BlstP2Element.hash_to_group(message, DST)


def _secret_scalar(secret: bytes) -> int:
    if len(secret) != SECRET_KEY_LEN:
        raise InvalidKey(f"a BLS secret key is {SECRET_KEY_LEN} bytes; got {len(secret)}")
    scalar = int.from_bytes(secret, "little")
    if not 0 < scalar < GROUP_ORDER:
        raise InvalidKey("a BLS secret key is a non-zero little-endian scalar below r")
    return scalar


@dataclass(frozen=True)
class BlsKeyPair:
    """A node's BLS signing key and its public key."""

    secret: bytes
    public_key: bytes

    @classmethod
    def generate(cls, seed: bytes | None = None) -> BlsKeyPair:
        """A new key pair, from 32 random bytes or a fixed seed (for tests and vectors)."""
        ikm = seed if seed is not None else os.urandom(32)
        wide = blake2b256(b"haulout-bls-keygen" + ikm) * 2
        scalar = int.from_bytes(wide, "little") % GROUP_ORDER
        if scalar == 0:  # pragma: no cover - probability 2^-255
            raise InvalidKey("derived a zero secret key; use another seed")
        return cls.from_secret(scalar.to_bytes(SECRET_KEY_LEN, "little"))

    @classmethod
    def from_secret(cls, secret: bytes) -> BlsKeyPair:
        """Rebuild a key pair from its 32-byte little-endian secret scalar."""
        public = _G1_GENERATOR.scalar_mul(_secret_scalar(secret))
        return cls(bytes(secret), bytes(public.compress()))

    def sign(self, message: bytes) -> bytes:
        """A 96-byte min_pk signature of `message` (deterministic: H(message) · secret)."""
        point = _hash_to_g2(bytes(message)).scalar_mul(_secret_scalar(self.secret))
        return bytes(point.compress())


def _pairing_check(public_key: PublicKeyPoint, message: bytes, signature: SignaturePoint) -> bool:
    """e(public_key, H(message)) == e(g1, signature), refusing identities outright."""
    if public_key == _IDENTITY_G1_POINT or signature == _IDENTITY_G2_POINT:
        return False
    return bool(
        final_verify(
            miller_loop(public_key, _hash_to_g2(bytes(message))),
            miller_loop(_G1_GENERATOR, signature),
        )
    )


_VERIFIED: OrderedDict[tuple[bytes, bytes, bytes], None] = OrderedDict()
"""(public key, message, signature) triples that verified, most recent last (bounded)."""

VERIFIED_MEMORY = 4096
"""How many verified triples `verify` remembers."""

_VERIFIED_LOCK = threading.Lock()


def verify(public_key: bytes | PublicKeyPoint, message: bytes, signature: bytes) -> bool:
    """`bls12381_min_pk_verify`: True when `signature` signs `message` under `public_key`.

    A triple that verified once is remembered (only successes, keyed by the exact bytes of
    all three), so a pairing is not computed twice for the same check: the relayer verifies
    a quorum's aggregate and a chain in the same process (DevChain) verifies the same
    aggregate in the certificate."""
    try:
        pk = public_key if isinstance(public_key, PublicKeyPoint) else parse_public_key(public_key)
        key = (encode_public_key(pk), bytes(message), bytes(signature))
        if key in _VERIFIED:
            return True
        sig = parse_signature(signature)
    except (InvalidKey, InvalidSignature):
        return False
    ok = _pairing_check(pk, message, sig)
    if ok:
        with _VERIFIED_LOCK:
            _VERIFIED[key] = None
            while len(_VERIFIED) > VERIFIED_MEMORY:
                _VERIFIED.popitem(last=False)
    return ok


def remember_verified(public_key: PublicKeyPoint, message: bytes, signature: bytes) -> None:
    """Record that `signature` verifies `message` under `public_key` without a pairing; only
    for what follows from checks already made: the sum of signatures that each verified on
    the same `message` under their keys verifies under the sum of those keys (bilinearity)."""
    with _VERIFIED_LOCK:
        _VERIFIED[(encode_public_key(public_key), bytes(message), bytes(signature))] = None
        while len(_VERIFIED) > VERIFIED_MEMORY:
            _VERIFIED.popitem(last=False)


def verify_sum(
    public_keys: Sequence[PublicKeyPoint], message: bytes, signatures: Sequence[bytes]
) -> bool:
    """Whether the sum of `signatures` verifies `message` under the sum of `public_keys`: one
    pairing check, on the summed point itself (no encoding and parsing it again). False when
    a signature is malformed."""
    try:
        total = aggregate_signature_points(signatures)
        key = aggregate_public_keys(public_keys)
    except (InvalidKey, InvalidSignature):
        return False
    return _pairing_check(key, message, total)


def aggregate_signature_points(signatures: Sequence[bytes]) -> SignaturePoint:
    """Sum of parsed signatures, as a point."""
    if not signatures:
        raise InvalidSignature("cannot aggregate zero signatures")
    total = parse_signature(signatures[0])
    for s in signatures[1:]:
        total = total + parse_signature(s)
    return total


def aggregate_signatures(signatures: Sequence[bytes]) -> bytes:
    """Sum of signatures; the aggregate verifies under the sum of the signers' keys."""
    return bytes(aggregate_signature_points(signatures).compress())


def aggregate_public_keys(keys: Sequence[PublicKeyPoint]) -> PublicKeyPoint:
    """Sum of parsed public keys."""
    if not keys:
        raise InvalidKey("cannot aggregate zero public keys")
    total = keys[0]
    for key in keys[1:]:
        total = total + key
    return total
