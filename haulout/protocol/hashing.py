"""blake2b-256, the one hash of the protocol (Sui's `sui::hash::blake2b256`)."""

from __future__ import annotations

import hashlib


def blake2b256(data: bytes | bytearray | memoryview) -> bytes:
    """32-byte blake2b digest, as `sui::hash::blake2b256` computes it."""
    return hashlib.blake2b(data, digest_size=32).digest()


def hasher() -> hashlib.blake2b:
    """A streaming blake2b-256 hasher."""
    return hashlib.blake2b(digest_size=32)
