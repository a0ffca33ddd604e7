"""Blob attributes: the limits every part enforces, and which attributes may become HTTP headers.

Attributes are user text stored on chain (a dynamic field of the Blob: string → string). Anyone
who owns a blob can set them, so every consumer treats them as hostile input:

- Move aborts on a key longer than `MAX_KEY_BYTES` or a value longer than `MAX_VALUE_BYTES`
  (`blob::EAttributeKeyTooLong` / `EAttributeValueTooLong`); DevChain enforces the same.
- The relayer refuses, with a 400 saying why, a key that is not an HTTP token or a value that is
  not a valid header value, since attributes are meant to be served as headers.
- When serving a blob, only allow-listed keys (Walrus's default) whose values are valid header
  values become response headers; anything else is simply not sent.
- The indexer stores keys and values of any length and bytes (a real chain may hold older data).
"""

from __future__ import annotations

import re

from haulout.protocol.errors import ProtocolError

MAX_KEY_BYTES = 128
"""Longest attribute key, in UTF-8 bytes (Move: `blob::MAX_ATTRIBUTE_KEY_LENGTH`)."""

MAX_VALUE_BYTES = 1024
"""Longest attribute value, in UTF-8 bytes (Move: `blob::MAX_ATTRIBUTE_VALUE_LENGTH`)."""

HEADER_ALLOW_LIST = frozenset(
    {
        "content-type",
        "content-disposition",
        "content-encoding",
        "content-language",
        "content-location",
        "link",
    }
)
"""Attribute keys served as response headers: Walrus's aggregator default allow-list."""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?")


class InvalidAttribute(ProtocolError):
    """An attribute key or value is too long, or cannot be served as an HTTP header."""

    reason = "INVALID_ATTRIBUTE"


def is_header_name(key: str) -> bool:
    """True when `key` is an RFC 9110 token (what a header field name may be)."""
    return _TOKEN.fullmatch(key) is not None


def is_header_value(value: str) -> bool:
    """True when `value` is a safe header value: visible ASCII and inner spaces/tabs only.

    No control characters (CR, LF, NUL), no non-ASCII (servers encode headers as Latin-1, and
    clients disagree on anything past ASCII), no leading or trailing white space. The empty
    string is a valid (empty) value.
    """
    return value == "" or _HEADER_VALUE.fullmatch(value) is not None


def check_lengths(key: str, value: str | None = None) -> None:
    """Raise `InvalidAttribute` when the key or value is over the on-chain limits."""
    if not key:
        raise InvalidAttribute("attribute key is empty")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidAttribute(f"attribute key is longer than {MAX_KEY_BYTES} bytes")
    if value is not None and len(value.encode()) > MAX_VALUE_BYTES:
        raise InvalidAttribute(f"attribute value is longer than {MAX_VALUE_BYTES} bytes")


def check_servable(key: str, value: str | None = None) -> None:
    """Raise `InvalidAttribute` unless the pair fits the limits and can be served as a header.

    The relayer calls this before setting an attribute, so a client learns at once that its
    value would never be served, instead of finding the header silently missing later.
    """
    check_lengths(key, value)
    if not is_header_name(key):
        raise InvalidAttribute(
            "attribute key must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"
        )
    if value is not None and not is_header_value(value):
        raise InvalidAttribute(
            "attribute value must be printable ASCII without control characters "
            "or leading/trailing white space (it is served as an HTTP header)"
        )


def served_headers(attributes: dict[str, str]) -> dict[str, str]:
    """The response headers a blob's attributes give: allow-listed keys with valid values only."""
    headers: dict[str, str] = {}
    for key, value in attributes.items():
        name = key.lower()
        if name in HEADER_ALLOW_LIST and is_header_value(value):
            headers[name] = value
    return headers
