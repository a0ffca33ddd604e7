"""Ed25519 accounts with Sui addresses and Sui-style transaction signatures."""

from __future__ import annotations

import os
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from haulout.protocol.hashing import blake2b256

ED25519_FLAG = 0x00
TX_INTENT = b"\x00\x00\x00"  # TransactionData, V0, Sui app


def address_of(public_key: bytes) -> str:
    """Sui address of an Ed25519 key: `blake2b256(0x00 ‖ pubkey)`."""
    return "0x" + blake2b256(bytes([ED25519_FLAG]) + public_key).hex()


@dataclass(frozen=True)
class Account:
    """An Ed25519 key pair; `seed` is its 32-byte private key."""

    seed: bytes

    @classmethod
    def generate(cls) -> Account:
        """A fresh random account."""
        return cls(os.urandom(32))

    @classmethod
    def from_hex(cls, text: str) -> Account:
        """Rebuild from the hex seed stored in a deployment file."""
        return cls(bytes.fromhex(text))

    @property
    def public_key(self) -> bytes:
        """32-byte Ed25519 public key."""
        return bytes(SigningKey(self.seed).verify_key)

    @property
    def address(self) -> str:
        """The account's Sui address."""
        return address_of(self.public_key)

    def sign_transaction(self, tx_bytes: bytes) -> bytes:
        """Sui serialised signature `flag ‖ sig ‖ pubkey` over `blake2b256(intent ‖ tx)`."""
        digest = blake2b256(TX_INTENT + tx_bytes)
        sig = SigningKey(self.seed).sign(digest).signature
        return bytes([ED25519_FLAG]) + sig + self.public_key


def verify_transaction(tx_bytes: bytes, signature: bytes) -> str:
    """Return the signer's address if `signature` signs `tx_bytes`; raise ValueError otherwise."""
    if len(signature) != 97 or signature[0] != ED25519_FLAG:
        raise ValueError("expected an Ed25519 Sui signature of 97 bytes (flag, sig, key)")
    sig, pk = signature[1:65], signature[65:]
    try:
        VerifyKey(pk).verify(blake2b256(TX_INTENT + tx_bytes), sig)
    except BadSignatureError as exc:
        raise ValueError("the Ed25519 signature does not verify") from exc
    return address_of(pk)
