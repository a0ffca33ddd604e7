"""Blob ids: `blake2b-256(encoding_type u8 ‖ size u64 LE ‖ root)`, shown as URL-safe base64.

The id is the BCS of `(u8, u64, u256)` hashed, so Move recomputes it with `blake2b256`.
On chain the 32 bytes are a little-endian `u256`.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass

from .errors import InvalidBlobId
from .hashing import blake2b256

_TEXT = re.compile(r"^[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True, order=True)
class BlobId:
    """A 32-byte blob id; `str()` is its canonical text, `int()` its on-chain u256."""

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != 32:
            raise InvalidBlobId("a blob id is exactly 32 bytes")

    @classmethod
    def derive(cls, encoding_type: int, size: int, root: bytes) -> BlobId:
        """The id of a blob with this encoding type, unencoded size and Merkle root."""
        if len(root) != 32:
            raise InvalidBlobId("a Merkle root is 32 bytes")
        return cls(blake2b256(struct.pack("<BQ", encoding_type, size) + root))

    @classmethod
    def parse(cls, text: str) -> BlobId:
        """Parse canonical text: 43 URL-safe base64 characters, no padding, no stray bits."""
        if not isinstance(text, str) or not _TEXT.match(text):
            raise InvalidBlobId(
                f"malformed blob id {_shown(text)}: expected 43 URL-safe base64 characters "
                "(A-Z a-z 0-9 - _) without '=' padding"
            )
        try:
            raw = base64.urlsafe_b64decode(text + "=")
        except (binascii.Error, ValueError) as exc:  # pragma: no cover - regex guards this
            raise InvalidBlobId(f"malformed blob id {_shown(text)}: {exc}") from exc
        blob_id = cls(raw)
        if str(blob_id) != text:
            raise InvalidBlobId(
                f"non-canonical blob id {text!r}: its last character carries stray bits; "
                f"the canonical form is {blob_id}"
            )
        return blob_id

    @classmethod
    def from_int(cls, value: int) -> BlobId:
        """From the on-chain little-endian u256."""
        if not 0 <= value < 1 << 256:
            raise InvalidBlobId("a blob id is a u256")
        return cls(value.to_bytes(32, "little"))

    def __int__(self) -> int:
        return int.from_bytes(self.raw, "little")

    def __str__(self) -> str:
        return base64.urlsafe_b64encode(self.raw).rstrip(b"=").decode()

    def __repr__(self) -> str:
        return f"BlobId({self})"


def _shown(text: object, limit: int = 48) -> str:
    """A bounded echo of rejected input for error messages (a request may send megabytes)."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[:limit] + f"… ({len(shown)} chars)"


def parse_object_id(text: str) -> bytes:
    """Parse a Sui object id `0x` + 64 hex digits (shorter forms are zero-extended)."""
    if not isinstance(text, str) or not re.fullmatch(r"0x[0-9a-fA-F]{1,64}", text):
        raise InvalidBlobId(
            f"malformed object id {_shown(text)}: expected 0x followed by up to 64 hex digits"
        )
    return bytes.fromhex(text[2:].rjust(64, "0"))


def format_object_id(raw: bytes) -> str:
    """`0x` + 64 lowercase hex digits."""
    return "0x" + raw.hex()
