"""Blob id text, metadata serialisation, Merkle roots: canonical forms and clear errors."""

from __future__ import annotations

import os

import pytest

from haulout.protocol import codec
from haulout.protocol.blob_id import BlobId, parse_object_id
from haulout.protocol.errors import InvalidBlobId, InvalidMetadata
from haulout.protocol.hashing import blake2b256
from haulout.protocol.merkle import merkle_root
from haulout.protocol.metadata import BlobMetadata


def test_blob_id_text_round_trip_and_u256() -> None:
    bid = BlobId(os.urandom(32))
    assert BlobId.parse(str(bid)) == bid
    assert len(str(bid)) == 43 and "=" not in str(bid)
    assert BlobId.from_int(int(bid)) == bid


@pytest.mark.parametrize(
    "text",
    ["", "abc", "A" * 42, "A" * 44, "A" * 42 + "=", "A" * 42 + "+", "A" * 42 + "/", "A" * 42 + "B"],
)
def test_non_canonical_blob_ids_are_rejected(text: str) -> None:
    with pytest.raises(InvalidBlobId):
        BlobId.parse(text)


def test_object_id_parsing() -> None:
    assert parse_object_id("0x2") == bytes(31) + b"\x02"
    with pytest.raises(InvalidBlobId, match="object id"):
        parse_object_id("0xzz")


def test_merkle_root_shapes() -> None:
    a, b, c = (blake2b256(bytes([i])) for i in range(3))
    leaf = [blake2b256(b"\x00" + x) for x in (a, b, c)]
    left = blake2b256(b"\x01" + leaf[0] + leaf[1])
    right = blake2b256(b"\x01" + leaf[2] + bytes(32))
    assert merkle_root([a, b, c]) == blake2b256(b"\x01" + left + right)
    assert merkle_root([a]) == leaf[0]


def test_metadata_round_trip_and_every_flipped_byte() -> None:
    enc = codec.encode(os.urandom(5000), 10)
    raw = enc.metadata.to_bytes()
    assert BlobMetadata.from_bytes(raw) == enc.metadata
    for pos in range(len(raw)):
        bad = bytearray(raw)
        bad[pos] ^= 0x80
        try:
            parsed = BlobMetadata.from_bytes(bytes(bad))
        except InvalidMetadata:
            continue
        with pytest.raises(InvalidMetadata, match="derives blob id"):
            parsed.verify(enc.blob_id)


@pytest.mark.parametrize("cut", [0, 5, 9, 10, 50])
def test_truncated_metadata(cut: int) -> None:
    raw = codec.encode(b"abc", 4).metadata.to_bytes()
    with pytest.raises(InvalidMetadata):
        BlobMetadata.from_bytes(raw[:cut])
    with pytest.raises(InvalidMetadata, match="trailing"):
        BlobMetadata.from_bytes(raw + b"\0")
