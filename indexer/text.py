"""Column types for on-chain strings: any length, any characters, on SQLite and PostgreSQL.

Attribute keys and values, node names and URLs are written by whoever sends the transaction,
and a real chain may hold values from before the Move limits (or from another writer), so the
indexer must store whatever arrives. Two things break a naive `VARCHAR`/`TEXT` column:

- PostgreSQL refuses NUL in text ("text fields cannot contain NUL"), and both databases refuse
  lone surrogates (not encodable as UTF-8). `SafeText` stores such characters, and the
  backslash, as `\\uXXXX` escapes, and turns them back on read: every backslash stored is the
  start of an escape, so the encoding is reversible and every other character is stored as is.
- A bounded column (`VARCHAR(n)`, or anything in a B-tree index) overflows on long values.
  `SafeString(n)` stores a prefix of at most `n` characters, cut between escapes; it is only
  used for columns that are a searchable copy of a value kept whole elsewhere. Keys of any
  length are identified by `text_hash` (SHA-256), which has a fixed size.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

_SPECIAL = re.compile("[\\\\\x00\ud800-\udfff]")
_ESCAPE = re.compile(r"\\u([0-9a-f]{4})")
_ESCAPE_LEN = 6


def escape(text: str) -> str:
    """`text` with backslash, NUL and lone surrogates as `\\uXXXX` (storable anywhere)."""
    return _SPECIAL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def unescape(text: str) -> str:
    """The inverse of `escape`."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def bounded(escaped: str, length: int) -> str:
    """At most `length` characters of an escaped string, never cutting an escape in two."""
    if len(escaped) <= length:
        return escaped
    cut = escaped[:length]
    start = cut.rfind("\\", max(0, length - _ESCAPE_LEN + 1))
    return cut[:start] if start >= 0 else cut


def text_hash(text: str) -> str:
    """Fixed-size identity of a string of any length (hex SHA-256 of its UTF-8)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class SafeText(TypeDecorator[str]):
    """Unbounded text that accepts any Python string (see the module docstring)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Escape on the way in."""
        return escape(value) if isinstance(value, str) else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        """Unescape on the way out."""
        return unescape(value) if isinstance(value, str) else value


class SafeString(TypeDecorator[str]):
    """A bounded, indexable prefix of any Python string (see the module docstring)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Escape, then keep at most the column's length."""
        if not isinstance(value, str):
            return value
        length = getattr(self.impl, "length", None)
        return bounded(escape(value), length) if length else escape(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        """Unescape on the way out."""
        return unescape(value) if isinstance(value, str) else value
