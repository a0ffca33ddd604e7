"""HTTP `Range` requests on a blob (RFC 9110 §14), for one `bytes=` range.

A Range the relayer cannot parse, or one it does not serve (several ranges, another unit, a
last position before the first), is ignored: the whole blob is served with 200, as RFC 9110
allows. A well-formed range wholly past the end is a 416 that carries
`Content-Range: bytes */<size>`. Numbers of any length are fine: a position with more digits
than any size stands for "past the end" and is never converted from text in full.
"""

from __future__ import annotations

import re

from haulout.http_errors import ApiError

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.IGNORECASE)
_PAST_ANY_SIZE = 1 << 64


def _position(digits: str) -> int:
    """A byte position; anything longer than 19 digits is beyond every blob."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 19 else _PAST_ANY_SIZE


def unsatisfiable(size: int) -> ApiError:
    """The 416 for a range that starts past the end of a `size`-byte blob."""
    return ApiError(
        416,
        "INVALID_BYTE_RANGE",  # Walrus's reason for a 416 (`GetBlobError::InvalidByteRange`)
        f"the requested range starts past the end of the blob's {size} bytes",
        {"content-range": f"bytes */{size}"},
    )


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The `[start, end)` a `Range` header asks of a `size`-byte blob, None to ignore it
    (serve the whole blob), or raise the 416 of `unsatisfiable`."""
    m = _RANGE.fullmatch(header.strip())
    if m is None or not (m.group(1) or m.group(2)):
        return None
    if m.group(1):
        start = _position(m.group(1))
        if m.group(2):
            last = _position(m.group(2))
            if last < start:  # an invalid range-spec (RFC 9110 §14.1.1): ignored
                return None
            end = min(last + 1, size)
        else:
            end = size
    else:  # a suffix: the last N bytes
        suffix = _position(m.group(2))
        if suffix == 0:
            raise unsatisfiable(size)
        start, end = max(size - suffix, 0), size
    if start >= size:
        raise unsatisfiable(size)
    return start, end
