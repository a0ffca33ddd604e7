"""The chain's encoding rules, mirrored from `move/sources/encoding.move` for both adapters.

`register_blob` refuses an encoding type the System's shard count does not support (abort
`blob::EUnsupportedEncoding`) before any other check, and a System holds at most
`MAX_SYSTEM_SHARDS` shards (abort `system::EInvalidShardCount`).
"""

from __future__ import annotations

from haulout.protocol.params import MAX_SHARDS_BY_TYPE, encoded_length

MAX_SYSTEM_SHARDS = max(MAX_SHARDS_BY_TYPE.values())
"""Largest `n_shards` a System may have: the largest any encoding type supports (4096)."""


def supports(encoding_type: int, n_shards: int) -> bool:
    """True when blobs of `encoding_type` can be registered on a System of `n_shards` shards."""
    return 1 <= n_shards <= MAX_SHARDS_BY_TYPE.get(encoding_type, 0)


def reservation_length(n_shards: int, size: int, encoding_type: int) -> int:
    """Bytes a reserve-and-register transaction buys: the blob's encoded length.

    For a type the System does not support there is no encoded length; the transaction then
    buys 1 byte so that `register_blob` (not the client) refuses it, with the abort Move
    gives, and the whole transaction (reservation included) is rolled back.
    """
    if not supports(encoding_type, n_shards):
        return 1
    return encoded_length(n_shards, size, encoding_type)
