"""Typed errors of the protocol core; each message says what was wrong and what to do."""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every error raised by `haulout.protocol`; `reason` is a stable machine code."""

    reason = "PROTOCOL_ERROR"


class InvalidParameters(ProtocolError):
    """Encoding parameters (shard count, size) are outside what the protocol supports."""

    reason = "INVALID_PARAMETERS"


class BlobTooLarge(InvalidParameters):
    """The blob is larger than the protocol or the configured limit allows."""

    reason = "BLOB_TOO_LARGE"


class InvalidBlobId(ProtocolError):
    """A blob id text or value is not canonical (43 URL-safe base64 characters, no padding)."""

    reason = "INVALID_BLOB_ID"


class InvalidMetadata(ProtocolError):
    """Serialised metadata is truncated, malformed or does not match its blob id."""

    reason = "INVALID_METADATA"


class InvalidSliver(ProtocolError):
    """A sliver's length or hash does not match the blob's metadata."""

    reason = "INVALID_SLIVER"


class NotEnoughSlivers(ProtocolError):
    """Fewer than `k` valid slivers were available to rebuild a blob."""

    reason = "NOT_ENOUGH_SLIVERS"


class InconsistentEncoding(ProtocolError):
    """The decoded blob re-encodes to different slivers: the writer encoded it inconsistently."""

    reason = "INCONSISTENT_ENCODING"


class InvalidKey(ProtocolError):
    """A BLS key is malformed, the identity, or outside the prime-order subgroup."""

    reason = "INVALID_KEY"


class InvalidSignature(ProtocolError):
    """A BLS signature is malformed or does not verify."""

    reason = "INVALID_SIGNATURE"


class InvalidMessage(ProtocolError):
    """A signed message has the wrong intent, version, app id, epoch or body."""

    reason = "INVALID_MESSAGE"


class InvalidCertificate(ProtocolError):
    """A certificate's bitmap, weight, epoch or aggregate signature is not acceptable."""

    reason = "INVALID_CERTIFICATE"


class InvalidCommittee(ProtocolError):
    """A committee does not assign every shard exactly once, or has a malformed member."""

    reason = "INVALID_COMMITTEE"


class EncodingUnavailable(InvalidParameters):
    """The encoding type is valid but its codec is not installed on this Python (encoding
    type 1 needs `reed-solomon-leopard`, which has no wheel for CPython 3.13 yet)."""

    reason = "ENCODING_UNAVAILABLE"
