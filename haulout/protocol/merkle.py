"""Merkle root over sliver hashes (DESIGN §4), so a blob id commits to every sliver."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .hashing import blake2b256

LEAF_PREFIX = b"\x00"
INNER_PREFIX = b"\x01"
EMPTY_NODE = bytes(32)


def merkle_root(leaves: Sequence[bytes], hash_fn: Callable[[bytes], bytes] = blake2b256) -> bytes:
    """Root over `H(0x00 ‖ leaf)`; inner `H(0x01 ‖ l ‖ r)`; odd levels padded with 32 zero bytes.

    `H` is blake2b-256 unless the encoding type says otherwise (type 1: BLAKE3)."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    level = [hash_fn(LEAF_PREFIX + leaf) for leaf in leaves]
    while len(level) > 1:
        if len(level) % 2:
            level.append(EMPTY_NODE)
        level = [hash_fn(INNER_PREFIX + level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]
