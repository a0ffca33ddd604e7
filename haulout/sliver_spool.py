"""A large upload's encoded slivers in one file, stripe by stripe, as the encoder emits them.

The relayer used to write each sliver to a file of its own: at n = 1,000 that is 1,000 files
created, written 64 KiB at a time, opened again to be sent and unlinked per upload, and
creating and unlinking them cost the relayer more CPU than writing their bytes. Here the
encoder's blocks are appended in the order they come — stripe 0's blocks 0..n−1, then stripe
1's — to one file: sliver `i` is the blocks at `i·B + s·n·B` for every stripe `s`, which
`SpooledSliver` names and `haulout.node_client` sends with one `sendfile` per block.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

_IOV_MAX = os.sysconf("SC_IOV_MAX")
"""Pieces one `writev` takes (1,024 on Linux)."""

WRITE_PIECE = 64 << 10
"""Bytes per write call (small blocks are gathered up to it). One `writev` of a whole stripe
(64 MiB at n = 1,000) cost twice the CPU per byte of 64 KiB writes here: the kernel gives a
large write large page-cache folios, and fresh large blocks of memory are the slowest to
touch on a virtual machine that hands free memory back to its host."""


class SpoolOrderError(RuntimeError):
    """The encoder handed blocks out of order or of uneven sizes (a bug, not bad input)."""


class SpooledSliver(NamedTuple):
    """Sliver bytes kept in a spool file: `blocks` blocks of `block` bytes, the first at
    `offset`, each next one `stride` bytes further."""

    path: Path
    offset: int
    stride: int
    block: int
    blocks: int

    @property
    def size(self) -> int:
        """The sliver's length in bytes."""
        return self.block * self.blocks

    def segments(self) -> Iterator[tuple[int, int]]:
        """(file offset, length) of each of the sliver's blocks, in order."""
        for s in range(self.blocks):
            yield self.offset + s * self.stride, self.block

    def read(self) -> bytes:
        """The sliver's bytes (for small fallbacks and tests; senders use `segments`)."""
        out = bytearray()
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for at, length in self.segments():
                piece = os.pread(fd, length, at)
                if len(piece) != length:
                    raise EOFError(f"spool file {self.path.name} is shorter than its slivers")
                out += piece
        finally:
            os.close(fd)
        return bytes(out)


class StripeSpool:
    """A `SliverSink` appending every block to one file (see the module docstring); the
    encoder must hand each stripe's blocks in index order, all of one size."""

    def __init__(self, path: Path, n: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.n = path, n
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.block = -1
        self.next_index = 0
        self.stripes = 0

    def write(self, index: int, block: bytes | memoryview) -> None:
        """Append block `index` of the current stripe."""
        self._check(index, len(block))
        self._write_all([block])
        self._advance(1)

    def write_stripe(self, blocks: Sequence[bytes | memoryview]) -> None:
        """Append a whole stripe's `n` blocks (gathered into writes of `WRITE_PIECE`)."""
        if len(blocks) != self.n or self.next_index:
            raise SpoolOrderError("a whole stripe must have n blocks and start a stripe")
        for b in blocks:
            self._check(self.next_index, len(b))
        self._write_all(list(blocks))
        self._advance(self.n)

    def _check(self, index: int, length: int) -> None:
        if index != self.next_index:
            raise SpoolOrderError(f"block {index} came where block {self.next_index} was due")
        if self.block < 0:
            self.block = length
        elif length != self.block:
            raise SpoolOrderError(f"a block of {length} bytes among blocks of {self.block}")

    def _advance(self, count: int) -> None:
        self.next_index += count
        if self.next_index == self.n:
            self.next_index = 0
            self.stripes += 1

    def _write_all(self, pieces: list[bytes | memoryview]) -> None:
        """Write every byte of `pieces`, at most `WRITE_PIECE` bytes per call (a write may be
        short: loop)."""
        views = [memoryview(p).cast("B") for p in pieces if len(p)]
        first = 0
        while first < len(views):
            last, total = first + 1, len(views[first])
            while last < len(views) and last - first < _IOV_MAX:
                if total + len(views[last]) > WRITE_PIECE:
                    break
                total += len(views[last])
                last += 1
            written = os.writev(self.fd, views[first:last])
            while written:
                if written >= len(views[first]):
                    written -= len(views[first])
                    first += 1
                else:
                    views[first] = views[first][written:]
                    written = 0

    def close(self) -> None:
        """Close the file (the slivers stay readable through `slivers`)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def slivers(self) -> list[SpooledSliver]:
        """Where each of the `n` slivers is, once every stripe is written."""
        if self.next_index:
            raise SpoolOrderError("the spool ends inside a stripe")
        block = max(self.block, 0)
        return [
            SpooledSliver(self.path, i * block, self.n * block, block, self.stripes)
            for i in range(self.n)
        ]
