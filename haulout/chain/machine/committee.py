"""Mirrors of `committee.move` and `messages.move`: message headers, the committee view, and
the certificate check (bitmap, weight, aggregate BLS signature) in Move's order."""

from __future__ import annotations

from typing import Any

from haulout.protocol import bls
from haulout.protocol.committee import Committee, Member
from haulout.protocol.messages import APP_ID, INTENT_VERSION

from ..txcontext import abort


def parse_message(message: bytes, intent: int) -> tuple[int, bytes]:
    """`messages::parse`: header checks in Move's order; returns (epoch, body)."""
    if len(message) < 7:
        raise abort("messages", "EInvalidMessageLength", "shorter than the 7-byte header")
    if message[2] != APP_ID:
        raise abort("messages", "EIncorrectAppId")
    if message[1] != INTENT_VERSION:
        raise abort("messages", "EIncorrectIntentVersion")
    if message[0] != intent:
        raise abort("messages", "EIncorrectIntentType", f"got {message[0]}, expected {intent}")
    return int.from_bytes(message[3:7], "little"), message[7:]


def committee_of(d: dict[str, Any], key: str = "members") -> Committee:
    members = tuple(
        Member(
            m["node_id"],
            d["nodes"][m["node_id"]]["name"],
            d["nodes"][m["node_id"]]["url"],
            bytes.fromhex(d["nodes"][m["node_id"]]["public_key"]),
            tuple(m["shards"]),
        )
        for m in d[key]
    )
    return Committee(d["epoch"], d["n_shards"], members)


def verify_signers(
    d: dict[str, Any], signature: bytes, signers: bytes, message: bytes, quorum: bool
) -> None:
    """`committee::verify`: bitmap, weight, then the aggregate BLS signature."""
    members = d["members"]
    if not members:
        raise abort("committee", "ENotEnoughWeight", "the System has no committee")
    if len(signers) != (len(members) + 7) // 8:
        raise abort(
            "committee", "EInvalidBitmap", f"{len(signers)} bytes for {len(members)} members"
        )
    positions = [j * 8 + i for j, b in enumerate(signers) for i in range(8) if b >> i & 1]
    if positions and positions[-1] >= len(members):
        raise abort("committee", "EInvalidBitmap", "bit past the last member")
    weight = sum(len(members[p]["shards"]) for p in positions)
    n = d["n_shards"]
    if not (3 * weight >= 2 * n + 1 if quorum else 3 * weight >= n + 1):
        raise abort("committee", "ENotEnoughWeight", f"weight {weight} of {n} shards")
    committee = committee_of(d)
    try:
        agg = bls.aggregate_public_keys([committee.parsed_keys[p] for p in positions])
        ok = bls.verify(agg, message, signature)
    except Exception:
        ok = False
    if not ok:
        raise abort("committee", "EInvalidSignature")
