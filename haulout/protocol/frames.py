"""Sliver frames: how several slivers travel in one HTTP body (batch upload and batch read).

A body is a sequence of `index u16 LE ‖ length u32 LE ‖ sliver bytes`.
"""

from __future__ import annotations

import struct

FRAME_HEADER = 6
"""Bytes before each sliver: its index (u16) and length (u32)."""


def frame_header(index: int, length: int) -> bytes:
    """The header that precedes sliver `index` of `length` bytes."""
    return struct.pack("<HI", index, length)


def encode_frames(slivers: dict[int, bytes]) -> bytes:
    """Slivers as one body of frames, in index order (for batch reads)."""
    parts = []
    for i in sorted(slivers):
        parts += [frame_header(i, len(slivers[i])), slivers[i]]
    return b"".join(parts)


def decode_frames(body: bytes) -> dict[int, bytes]:
    """The inverse of `encode_frames`; raises ValueError on a malformed body."""
    view, out, pos = memoryview(body), {}, 0
    while pos < len(view):
        if pos + FRAME_HEADER > len(view):
            raise ValueError("the body ends inside a frame header")
        index, size = struct.unpack_from("<HI", view, pos)
        pos += FRAME_HEADER
        if pos + size > len(view):
            raise ValueError(f"frame for sliver {index} is cut short")
        out[index] = bytes(view[pos : pos + size])
        pos += size
    return out
