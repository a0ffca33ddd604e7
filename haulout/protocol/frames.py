"""Sliver frames: how several slivers travel in one HTTP body (batch upload and batch read).

A body is a sequence of `index u16 LE ‖ length u32 LE ‖ sliver bytes`.
"""

from __future__ import annotations

import struct
from typing import Protocol

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


class FrameSink(Protocol):
    """What a `FrameParser` reports, in order, for each frame."""

    def start(self, index: int, size: int) -> None:
        """A frame for sliver `index` of `size` bytes begins."""

    def data(self, piece: memoryview) -> None:
        """The next bytes of the current sliver."""

    def end(self) -> None:
        """The current sliver is complete."""


class FrameParser:
    """Parses a frame body fed in arbitrary chunks, without copying sliver bytes, so a
    receiver can stream each sliver to a file and a running hash."""

    def __init__(self, sink: FrameSink) -> None:
        self.sink = sink
        self.header = bytearray()
        self.remaining = -1  # bytes left of the current sliver; -1 between frames

    def feed(self, chunk: bytes | memoryview) -> None:
        """Consume the next piece of the body."""
        view = memoryview(chunk)
        while view:
            if self.remaining < 0:
                need = FRAME_HEADER - len(self.header)
                self.header += view[:need]
                view = view[need:]
                if len(self.header) == FRAME_HEADER:
                    index, size = struct.unpack("<HI", self.header)
                    self.header.clear()
                    self.remaining = size
                    self.sink.start(index, size)
                    if size == 0:
                        self._end()
                continue
            piece = view[: self.remaining]
            view = view[len(piece) :]
            self.remaining -= len(piece)
            self.sink.data(piece)
            if self.remaining == 0:
                self._end()

    def _end(self) -> None:
        self.remaining = -1
        self.sink.end()

    @property
    def inside_frame(self) -> int:
        """Bytes still owed by an unfinished frame (0 when the body ended cleanly)."""
        if self.remaining >= 0:
            return self.remaining
        return FRAME_HEADER - len(self.header) if self.header else 0


class _Collect:
    def __init__(self) -> None:
        self.out: dict[int, bytes] = {}
        self.index, self.parts = -1, bytearray()

    def start(self, index: int, size: int) -> None:
        self.index, self.parts = index, bytearray()

    def data(self, piece: memoryview) -> None:
        self.parts += piece

    def end(self) -> None:
        self.out[self.index] = bytes(self.parts)


def decode_frames(body: bytes) -> dict[int, bytes]:
    """The inverse of `encode_frames`; raises ValueError on a body cut inside a frame."""
    sink = _Collect()
    parser = FrameParser(sink)
    parser.feed(body)
    if missing := parser.inside_frame:
        raise ValueError(f"the body ends inside a frame ({missing} bytes missing)")
    return sink.out
