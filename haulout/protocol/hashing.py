"""The protocol's hashes. blake2b-256 is the one the chain sees (`sui::hash::blake2b256`):
blob ids, addresses, messages. Sliver hashes and the Merkle tree over them are checked only
off chain, so each encoding type picks its own: type 0 blake2b-256, type 1 BLAKE3-256 (about
5x faster here; measured in `bench/encode.py`, see DESIGN §4).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Protocol

import blake3 as _blake3

from .params import ENCODING_RS16, check_encoding_type


class Hasher(Protocol):
    """A streaming 32-byte hash (hashlib's and blake3's hashers both are)."""

    def update(self, data: bytes | bytearray | memoryview, /) -> object:
        """Feed more bytes."""

    def digest(self) -> bytes:
        """The 32-byte digest of everything fed so far."""


def blake2b256(data: bytes | bytearray | memoryview) -> bytes:
    """32-byte blake2b digest, as `sui::hash::blake2b256` computes it."""
    return hashlib.blake2b(data, digest_size=32).digest()


def hasher() -> hashlib.blake2b:
    """A streaming blake2b-256 hasher."""
    return hashlib.blake2b(digest_size=32)


def blake3_256(data: bytes | bytearray | memoryview) -> bytes:
    """32-byte BLAKE3 digest (type 1's sliver and Merkle hash)."""
    return _blake3.blake3(data).digest()


def sliver_hasher(encoding_type: int) -> Hasher:
    """A streaming hasher for slivers of this encoding type."""
    check_encoding_type(encoding_type)
    if encoding_type == ENCODING_RS16:
        return _blake3.blake3()
    return hasher()


def sliver_hash_function(encoding_type: int) -> Callable[[bytes | bytearray | memoryview], bytes]:
    """The one-shot hash of slivers and Merkle nodes for this encoding type."""
    check_encoding_type(encoding_type)
    return blake3_256 if encoding_type == ENCODING_RS16 else blake2b256
