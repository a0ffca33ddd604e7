"""Object ids Sui derives rather than stores: a dynamic field's id follows from its parent and
key, so SuiChain reads a Blob's attributes with one object lookup and no listing.

Sui: `blake2b-256(0xf0 ‖ parent ‖ len(key) as u64 LE ‖ bcs(key) ‖ bcs(key type tag))`,
0xf0 being `HashingIntentScope::ChildObjectId`. Checked against ids computed by the
TypeScript SDK (tests/vectors/dynamic_fields.json).
"""

from __future__ import annotations

import hashlib
import struct

CHILD_OBJECT_ID_SCOPE = 0xF0

# BCS of the Move `TypeTag` enum for the key types Haulout uses (variant indices from Sui).
TYPE_TAG_U8 = bytes([1])
TYPE_TAG_U64 = bytes([2])
TYPE_TAG_VECTOR_U8 = bytes([6, 1])

ATTRIBUTES_KEY = b"attributes"
"""The dynamic-field key under which `blob.move` keeps a Blob's attributes (a vector<u8>)."""


def uleb128(n: int) -> bytes:
    """ULEB128, the length prefix of BCS vectors."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def bcs_bytes(value: bytes) -> bytes:
    """BCS of a `vector<u8>`."""
    return uleb128(len(value)) + value


def dynamic_field_id(parent: str, key_bcs: bytes, key_type_tag: bytes) -> str:
    """The object id of the dynamic field `key` under `parent` (both as Sui sees them)."""
    raw = bytes.fromhex(parent.removeprefix("0x").rjust(64, "0"))
    h = hashlib.blake2b(digest_size=32)
    h.update(bytes([CHILD_OBJECT_ID_SCOPE]))
    h.update(raw)
    h.update(struct.pack("<Q", len(key_bcs)))
    h.update(key_bcs)
    h.update(key_type_tag)
    return "0x" + h.hexdigest()


def attributes_field_id(blob_object_id: str) -> str:
    """Where a Blob's attribute map lives."""
    return dynamic_field_id(blob_object_id, bcs_bytes(ATTRIBUTES_KEY), TYPE_TAG_VECTOR_U8)
