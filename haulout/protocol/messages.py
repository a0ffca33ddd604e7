"""Signed messages (DESIGN §5): `intent u8 ‖ version u8 ‖ app_id u8 ‖ epoch u32 LE ‖ body`."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from .blob_id import BlobId
from .errors import InvalidMessage

APP_ID = 0x48
INTENT_VERSION = 0
HEADER_LEN = 7


class Intent(IntEnum):
    """What a BLS signature vouches for."""

    PROOF_OF_POSSESSION = 0
    BLOB_CERTIFICATION = 1
    INVALID_BLOB_ID = 2


@dataclass(frozen=True)
class SignedMessage:
    """A parsed message header with its body."""

    intent: Intent
    epoch: int
    body: bytes

    def to_bytes(self) -> bytes:
        """The bytes that are signed."""
        return struct.pack("<BBBI", self.intent, INTENT_VERSION, APP_ID, self.epoch) + self.body

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedMessage:
        """Parse and check the header; raises `InvalidMessage` with what was wrong."""
        if len(data) < HEADER_LEN:
            raise InvalidMessage(f"message of {len(data)} bytes is shorter than its 7-byte header")
        intent, version, app_id, epoch = struct.unpack_from("<BBBI", data, 0)
        if version != INTENT_VERSION:
            raise InvalidMessage(f"intent version {version}; expected {INTENT_VERSION}")
        if app_id != APP_ID:
            raise InvalidMessage(f"app id {app_id:#x}; expected {APP_ID:#x} (Haulout)")
        try:
            kind = Intent(intent)
        except ValueError as exc:
            raise InvalidMessage(f"unknown intent type {intent}") from exc
        return cls(kind, epoch, data[HEADER_LEN:])


def proof_of_possession(epoch: int, public_key: bytes, sui_address: bytes) -> bytes:
    """Message a node signs to prove it holds the key it registers (body: key ‖ address)."""
    if len(public_key) != 48 or len(sui_address) != 32:
        raise InvalidMessage("a proof of possession binds a 48-byte key to a 32-byte address")
    return SignedMessage(Intent.PROOF_OF_POSSESSION, epoch, public_key + sui_address).to_bytes()


@dataclass(frozen=True)
class BlobCertification:
    """Body of a certification: blob id and persistence (permanent, or deletable object id)."""

    blob_id: BlobId
    object_id: bytes | None = None

    def body(self) -> bytes:
        """`blob id ‖ 0x00` for permanent, `blob id ‖ 0x01 ‖ object id` for deletable."""
        if self.object_id is None:
            return self.blob_id.raw + b"\x00"
        if len(self.object_id) != 32:
            raise InvalidMessage("a deletable blob's object id is 32 bytes")
        return self.blob_id.raw + b"\x01" + self.object_id

    def message(self, epoch: int) -> bytes:
        """The full message a node signs in `epoch`."""
        return SignedMessage(Intent.BLOB_CERTIFICATION, epoch, self.body()).to_bytes()

    @classmethod
    def parse(cls, message: bytes) -> tuple[int, BlobCertification]:
        """Parse a certification message into (epoch, body)."""
        msg = SignedMessage.from_bytes(message)
        if msg.intent != Intent.BLOB_CERTIFICATION:
            raise InvalidMessage(f"intent {msg.intent.name}; expected BLOB_CERTIFICATION")
        body = msg.body
        if len(body) == 33 and body[32] == 0:
            return msg.epoch, cls(BlobId(body[:32]))
        if len(body) == 65 and body[32] == 1:
            return msg.epoch, cls(BlobId(body[:32]), body[33:])
        raise InvalidMessage("certification body is neither permanent (33 B) nor deletable (65 B)")


def invalid_blob_message(epoch: int, blob_id: BlobId) -> bytes:
    """Message nodes sign to vote a blob id invalid."""
    return SignedMessage(Intent.INVALID_BLOB_ID, epoch, blob_id.raw).to_bytes()
