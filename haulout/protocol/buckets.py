"""Bucket names, tags and references (`name`, `name@3`, `name@tag`): the rules Move's
`bucket` module enforces, checked here first so a bad name is a clear error before any
transaction.

A bucket name is 3 to 40 characters of `a-z`, `0-9` and `-`, starting and ending with a
letter or digit. A blob id is 43 characters, so `haulout://<x>/...` is a bucket when `x` is
a valid bucket name and a blob id (or manifest) otherwise: the two never collide. A tag is 1
to 64 characters of `A-Z a-z 0-9 . _ -` and not all digits, so `@3` always means version 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ProtocolError

MIN_NAME_LENGTH, MAX_NAME_LENGTH = 3, 40
MAX_TAG_LENGTH = 64
MAX_TAGS = 64
"""Most tags one bucket holds (Move: `ETooManyTags`)."""

_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_TAG = re.compile(r"[A-Za-z0-9._-]+")


class InvalidBucketName(ProtocolError):
    """A bucket name or tag that breaks the rules (the chain would refuse it too)."""

    reason = "INVALID_BUCKET_NAME"


def is_bucket_name(text: str) -> bool:
    """Whether `text` is a valid bucket name (never true for a 43-character blob id)."""
    return MIN_NAME_LENGTH <= len(text) <= MAX_NAME_LENGTH and _NAME.fullmatch(text) is not None


def check_bucket_name(text: str) -> str:
    """`text` if it is a valid bucket name, else `InvalidBucketName` saying the rule."""
    if not is_bucket_name(text):
        raise InvalidBucketName(
            f"{text[:80]!r} is not a bucket name: use 3 to 40 characters of a-z, 0-9 and '-', "
            "starting and ending with a letter or digit"
        )
    return text


def is_tag(text: str) -> bool:
    """Whether `text` is a valid tag (not all digits: those are version numbers)."""
    return (
        0 < len(text) <= MAX_TAG_LENGTH and _TAG.fullmatch(text) is not None and not text.isdigit()
    )


def check_tag(text: str) -> str:
    """`text` if it is a valid tag, else `InvalidBucketName` saying the rule."""
    if not is_tag(text):
        raise InvalidBucketName(
            f"{text[:80]!r} is not a tag: use 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' "
            "and '-', not all digits (a number is a version)"
        )
    return text


@dataclass(frozen=True)
class BucketRef:
    """A bucket and which version of it: the current one, a number, or a tag."""

    name: str
    version: int | None = None
    tag: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        return f"{self.name}@{self.tag}" if self.tag else self.name

    @property
    def pinned(self) -> bool:
        """Whether this names a past state (a version or tag): such paths are read-only."""
        return self.version is not None or self.tag is not None


def parse_ref(text: str) -> BucketRef:
    """`name`, `name@<version>` or `name@<tag>`; `InvalidBucketName` otherwise."""
    name, at, rest = text.partition("@")
    check_bucket_name(name)
    if not at:
        return BucketRef(name)
    if rest.isdigit() and len(rest) <= 18:
        if int(rest) < 1:
            raise InvalidBucketName(f"{text!r}: versions start at 1")
        return BucketRef(name, version=int(rest))
    return BucketRef(name, tag=check_tag(rest))


def looks_like_bucket(text: str) -> bool:
    """Whether the first part of a `haulout://` path names a bucket (with or without `@…`)."""
    return is_bucket_name(text.partition("@")[0])
