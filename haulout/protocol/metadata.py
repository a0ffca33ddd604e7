"""Blob metadata: encoding type, size and the `n` sliver hashes, serialised as BCS.

Nodes check every sliver against it; its Merkle root and size give the blob id.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property

from .blob_id import BlobId
from .errors import InvalidMetadata, InvalidSliver
from .hashing import Hasher, sliver_hash_function, sliver_hasher
from .merkle import merkle_root
from .params import ENCODING_TYPES, MAX_SHARDS_BY_TYPE, EncodingParams, check_shards


def _uleb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_uleb128(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise InvalidMetadata("metadata is truncated inside the sliver count")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise InvalidMetadata("metadata sliver count is not a valid ULEB128 number")


@dataclass(frozen=True)
class BlobMetadata:
    """What a node needs to check slivers of one blob and what the blob id commits to."""

    encoding_type: int
    size: int
    sliver_hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if self.encoding_type not in ENCODING_TYPES:
            raise InvalidMetadata(
                f"unknown encoding type {self.encoding_type}; this version supports types "
                f"{', '.join(map(str, ENCODING_TYPES))}"
            )
        check_shards(len(self.sliver_hashes), self.encoding_type)
        if any(len(h) != 32 for h in self.sliver_hashes):
            raise InvalidMetadata("every sliver hash is 32 bytes")

    @property
    def n_shards(self) -> int:
        """Number of slivers, equal to the committee's shard count."""
        return len(self.sliver_hashes)

    @cached_property
    def params(self) -> EncodingParams:
        """Encoding parameters implied by the size and shard count; computed once (a node
        asks for the sliver length at every frame of a batch: at n = 1,000 that was a sixth
        of its time receiving one)."""
        return EncodingParams(self.n_shards, self.size, self.encoding_type)

    @cached_property
    def root(self) -> bytes:
        """Merkle root over the sliver hashes (with the encoding type's hash); computed once
        (a store asks for it, and for the blob id, several times)."""
        return merkle_root(self.sliver_hashes, sliver_hash_function(self.encoding_type))

    def sliver_hasher(self) -> Hasher:
        """A streaming hasher whose digest is comparable with `sliver_hashes`."""
        return sliver_hasher(self.encoding_type)

    @cached_property
    def blob_id(self) -> BlobId:
        """The blob id this metadata derives."""
        return BlobId.derive(self.encoding_type, self.size, self.root)

    def to_bytes(self) -> bytes:
        """BCS of `(u8, u64, vector<[u8; 32]>)`."""
        return (
            struct.pack("<BQ", self.encoding_type, self.size)
            + _uleb128(len(self.sliver_hashes))
            + b"".join(self.sliver_hashes)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> BlobMetadata:
        """Parse BCS metadata; any truncation or trailing byte is an `InvalidMetadata`."""
        if len(data) < 10:
            raise InvalidMetadata(
                f"metadata is truncated: {len(data)} bytes, need at least 10 before the hashes"
            )
        encoding_type, size = struct.unpack_from("<BQ", data, 0)
        if encoding_type not in ENCODING_TYPES:
            raise InvalidMetadata(
                f"unknown encoding type {encoding_type}; this version supports types "
                f"{', '.join(map(str, ENCODING_TYPES))}"
            )
        count, pos = _read_uleb128(data, 9)
        top = MAX_SHARDS_BY_TYPE[encoding_type]
        if count < 1 or count > top:
            raise InvalidMetadata(
                f"metadata lists {count} slivers; encoding type {encoding_type} allows 1 to {top}"
            )
        end = pos + 32 * count
        if len(data) != end:
            raise InvalidMetadata(
                f"metadata for {count} slivers is {end} bytes; got {len(data)} "
                "(truncated or with trailing bytes)"
            )
        hashes = tuple(data[pos + 32 * i : pos + 32 * (i + 1)] for i in range(count))
        try:
            return cls(encoding_type, size, hashes)
        except InvalidMetadata:
            raise
        except Exception as exc:
            raise InvalidMetadata(f"metadata is not valid: {exc}") from exc

    def verify(self, blob_id: BlobId) -> None:
        """Raise `InvalidMetadata` unless this metadata derives `blob_id`."""
        if self.blob_id != blob_id:
            raise InvalidMetadata(
                f"metadata derives blob id {self.blob_id}, not {blob_id}; "
                "it belongs to another blob or was altered"
            )

    def check_sliver(self, index: int, sliver: bytes | bytearray | memoryview) -> None:
        """Raise `InvalidSliver` unless sliver `index` has the right length and hash."""
        if not 0 <= index < self.n_shards:
            raise InvalidSliver(f"sliver index {index} is outside 0..{self.n_shards - 1}")
        expected = self.params.sliver_len
        if len(sliver) != expected:
            raise InvalidSliver(
                f"sliver {index} is {len(sliver)} bytes; this blob's slivers are {expected} bytes"
            )
        if sliver_hash_function(self.encoding_type)(sliver) != self.sliver_hashes[index]:
            raise InvalidSliver(
                f"sliver {index} does not match its hash in the metadata; it is corrupt or forged"
            )
