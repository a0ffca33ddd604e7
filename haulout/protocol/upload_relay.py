"""The upload relay's wire types, shared by the relayer and the SDK (Walrus's shapes).

A client that registers a blob with its own account puts an auth package as the first input of
that transaction: `sha256(blob) ‖ sha256(nonce) ‖ u64 LE length`, BCS of Walrus's
`HashedAuthPackage`. It then sends the blob and the nonce to the relay, which checks that the
transaction it names carries that package (so only who knows the nonce can use it), paid the
tip, and registered exactly this blob. The relay answers `{blob_id, confirmation_certificate}`
with the certificate as Walrus serialises it: signer positions, the signed message as a list of
bytes, the aggregate signature in base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import base58

from .certificate import Certificate, bitmap_from_signers, signers_from_bitmap
from .errors import InvalidCertificate, InvalidParameters
from .params import encoded_length

DIGEST_LEN = 32
NONCE_LEN = 32
AUTH_PACKAGE_LEN = 2 * DIGEST_LEN + 8
TIP_CONFIG_ROUTE = "/v1/tip-config"
BLOB_UPLOAD_RELAY_ROUTE = "/v1/blob-upload-relay"
_HEX_DIGEST = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_BASE58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")


def sha256(data: bytes | bytearray | memoryview) -> bytes:
    """SHA-256, as Walrus hashes blobs and nonces for the auth package."""
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class AuthPackage:
    """Walrus's `HashedAuthPackage`: what the registering transaction commits to."""

    blob_digest: bytes
    nonce_digest: bytes
    unencoded_length: int

    @classmethod
    def for_blob(cls, blob: bytes | bytearray | memoryview, nonce: bytes) -> AuthPackage:
        """The package a client puts in its transaction for `blob` and a fresh `nonce`."""
        return cls(sha256(blob), sha256(nonce), len(blob))

    def to_bytes(self) -> bytes:
        """BCS: two fixed 32-byte arrays and a little-endian u64."""
        return self.blob_digest + self.nonce_digest + self.unencoded_length.to_bytes(8, "little")

    @classmethod
    def from_bytes(cls, data: bytes) -> AuthPackage:
        """Parse the first input of a transaction; raises ValueError when it is not one."""
        if len(data) != AUTH_PACKAGE_LEN:
            raise ValueError(f"an auth package is {AUTH_PACKAGE_LEN} bytes, not {len(data)}")
        return cls(data[:32], data[32:64], int.from_bytes(data[64:], "little"))


@dataclass(frozen=True)
class TipConfig:
    """Walrus's `TipConfig`: no tip, or a tip to `address` that is `const` MIST or
    `base + per_kib * ceil(encoded_length / 1024)` MIST."""

    address: str = ""
    const: int | None = None
    base: int = 0
    per_kib: int = 0

    @property
    def requires_payment(self) -> bool:
        """Whether a client must pay (and name its transaction)."""
        return bool(self.address)

    def tip(self, n_shards: int, size: int, encoding_type: int) -> int:
        """MIST owed for a `size`-byte blob (0 without a tip)."""
        if not self.requires_payment:
            return 0
        if self.const is not None:
            return self.const
        kib = -(-encoded_length(n_shards, size, encoding_type) // 1024)
        return self.base + kib * self.per_kib

    def to_json(self) -> Any:
        """`"no_tip"` or `{"send_tip": {"address", "kind": {"const": n} | {"linear": …}}}`."""
        if not self.requires_payment:
            return "no_tip"
        kind: dict[str, Any] = (
            {"const": self.const}
            if self.const is not None
            else {"linear": {"base": self.base, "encoded_size_mul_per_kib": self.per_kib}}
        )
        return {"send_tip": {"address": self.address, "kind": kind}}

    @classmethod
    def from_json(cls, data: Any) -> TipConfig:
        """Parse a relay's `/v1/tip-config` answer; raises ValueError on any other shape."""
        if data == "no_tip":
            return cls()
        try:
            send = data["send_tip"]
            address, kind = str(send["address"]), send["kind"]
            if "const" in kind:
                return cls(address, const=_mist(kind["const"]))
            linear = kind["linear"]
            return cls(
                address,
                base=_mist(linear["base"]),
                per_kib=_mist(linear["encoded_size_mul_per_kib"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a tip configuration: {str(data)[:200]}") from exc

    @classmethod
    def parse_setting(cls, text: str, address: str) -> TipConfig:
        """The relayer's setting: `no_tip`, `const:<mist>` or `linear:<base>:<per_kib>`."""
        parts = text.strip().split(":")
        try:
            if parts == ["no_tip"] or parts == [""]:
                return cls()
            if parts[0] == "const" and len(parts) == 2:
                return cls(address, const=_mist(int(parts[1])))
            if parts[0] == "linear" and len(parts) == 3:
                return cls(address, base=_mist(int(parts[1])), per_kib=_mist(int(parts[2])))
        except ValueError:
            pass
        raise InvalidParameters(
            f"upload relay tip {text!r}: use no_tip, const:<mist> or linear:<base>:<per_kib>"
        )


def _mist(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 64:
        raise ValueError("a tip is a u64 number of MIST")
    return value


def nonce_text(nonce: bytes) -> str:
    """The `nonce` query parameter: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(nonce).rstrip(b"=").decode()


def parse_nonce(text: str) -> bytes:
    """Parse the `nonce` parameter (32 bytes, URL-safe base64, padding optional)."""
    if len(text) > 64 or not re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", text):
        raise ValueError("the nonce is 32 bytes in URL-safe base64")
    try:
        raw = base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the nonce is 32 bytes in URL-safe base64") from exc
    if len(raw) != NONCE_LEN:
        raise ValueError(f"the nonce is {NONCE_LEN} bytes, not {len(raw)}")
    return raw


def parse_tx_digest(text: str) -> str:
    """A transaction digest as given in `tx_id`: Base58 as Sui writes it, or 64 hex digits
    as DevChain does; returned as lower-case hex without `0x`."""
    if _HEX_DIGEST.fullmatch(text):
        return text.removeprefix("0x").lower()
    if _BASE58.fullmatch(text):
        raw = base58.b58decode(text)
        if len(raw) == DIGEST_LEN:
            return raw.hex()
    raise ValueError("tx_id is a transaction digest: Base58 (as Sui) or 64 hex digits")


def tx_digest_text(digest: str) -> str:
    """The Base58 form of a digest given as 64 hex digits (DevChain's) or Base58 (Sui's), as
    a Walrus client sends `tx_id` (ValueError for anything else)."""
    return base58.b58encode(bytes.fromhex(parse_tx_digest(digest))).decode()


def certificate_to_json(cert: Certificate, n_members: int) -> dict[str, Any]:
    """Walrus's `ConfirmationCertificate` JSON: signer indices, the message as a byte list,
    the aggregate signature in base64."""
    return {
        "signers": signers_from_bitmap(cert.signers, n_members),
        "serialized_message": list(cert.message),
        "signature": base64.b64encode(cert.signature).decode(),
    }


def certificate_from_json(data: Any, n_members: int) -> Certificate:
    """Parse a relay's `confirmation_certificate` for a committee of `n_members`."""
    try:
        signers = [int(s) for s in data["signers"]]
        message = bytes(data["serialized_message"])
        text = str(data["signature"]).replace("-", "+").replace("_", "/")
        signature = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise InvalidCertificate(f"not a confirmation certificate: {exc}") from exc
    return Certificate(signature, bitmap_from_signers(signers, n_members), message)
