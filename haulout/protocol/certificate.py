"""Certificates: an aggregate BLS signature, a signer bitmap and the signed message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import bls
from .committee import Committee
from .errors import InvalidCertificate, InvalidMessage, InvalidSignature
from .messages import Intent, SignedMessage


def bitmap_from_signers(positions: Sequence[int], n_members: int) -> bytes:
    """Bit `i` of byte `j` (least significant first) marks committee member `8j + i`."""
    out = bytearray((n_members + 7) // 8)
    for p in positions:
        if not 0 <= p < n_members:
            raise InvalidCertificate(f"signer {p} is not a committee position (0..{n_members - 1})")
        out[p // 8] |= 1 << (p % 8)
    return bytes(out)


def signers_from_bitmap(bitmap: bytes, n_members: int) -> list[int]:
    """Committee positions marked in `bitmap`; rejects wrong lengths and bits past the end."""
    if len(bitmap) != (n_members + 7) // 8:
        raise InvalidCertificate(
            f"signer bitmap is {len(bitmap)} bytes; a committee of {n_members} needs "
            f"{(n_members + 7) // 8}"
        )
    positions = [j * 8 + i for j, byte in enumerate(bitmap) for i in range(8) if byte >> i & 1]
    if positions and positions[-1] >= n_members:
        raise InvalidCertificate(f"bitmap marks member {positions[-1]}, past the committee's end")
    return positions


def quorum_reached(weight: int, n_shards: int) -> bool:
    """Certification quorum: `3w >= 2n + 1`."""
    return 3 * weight >= 2 * n_shards + 1


def validity_reached(weight: int, n_shards: int) -> bool:
    """Invalidation threshold (`f + 1` weight): `3w >= n + 1`."""
    return 3 * weight >= n_shards + 1


@dataclass(frozen=True)
class Certificate:
    """What `certify_blob` and `invalidate_blob_id` take on chain."""

    signature: bytes
    signers: bytes
    message: bytes

    def to_json(self) -> dict[str, str]:
        """Hex fields, for logs and vectors."""
        return {
            "signature": self.signature.hex(),
            "signers": self.signers.hex(),
            "message": self.message.hex(),
        }


def aggregate(committee: Committee, message: bytes, signatures: dict[int, bytes]) -> Certificate:
    """Aggregate members' signatures (by position) over the same message."""
    positions = sorted(signatures)
    return Certificate(
        bls.aggregate_signatures([signatures[p] for p in positions]),
        bitmap_from_signers(positions, len(committee.members)),
        message,
    )


def verify_certificate(
    committee: Committee,
    cert: Certificate,
    current_epoch: int,
    intent: Intent = Intent.BLOB_CERTIFICATION,
) -> list[int]:
    """Check a certificate exactly as the Move contract does; return the signer positions."""
    signers = signers_from_bitmap(cert.signers, len(committee.members))
    if not signers:
        raise InvalidCertificate("the certificate has no signers")
    weight = committee.weight(signers)
    n = committee.n_shards
    enough = quorum_reached if intent == Intent.BLOB_CERTIFICATION else validity_reached
    if not enough(weight, n):
        need = "3w >= 2n+1" if intent == Intent.BLOB_CERTIFICATION else "3w >= n+1"
        raise InvalidCertificate(
            f"signers hold {weight} of {n} shards, short of the threshold ({need}); "
            "collect more confirmations"
        )
    try:
        msg = SignedMessage.from_bytes(cert.message)
    except InvalidMessage as exc:
        raise InvalidCertificate(f"malformed message: {exc}") from exc
    if msg.intent != intent:
        raise InvalidCertificate(f"message intent {msg.intent.name}; expected {intent.name}")
    if msg.epoch != current_epoch:
        raise InvalidCertificate(
            f"message is for epoch {msg.epoch} but the current epoch is {current_epoch}; "
            "collect fresh confirmations"
        )
    agg = bls.aggregate_public_keys([committee.parsed_keys[p] for p in signers])
    try:
        ok = bls.verify(agg, cert.message, cert.signature)
    except InvalidSignature:
        ok = False
    if not ok:
        raise InvalidCertificate("the aggregate signature does not verify under the signers' keys")
    return signers
