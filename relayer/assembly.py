"""A large type-1 blob read without decoding: its primary slivers written straight to their
places in the blob's file.

Type 1 is systematic: sliver `i < k` is block `i` of every stripe, so with all `k` primaries
the blob is those blocks laid side by side, stripe after stripe. Each primary arriving from a
node is hashed as it is written to its blocks' offsets in `workdir/blob` (no sliver files, no
decode pass, no second copy of the blob); the file is served only once every primary matched
its hash in the metadata. When one is missing or forged the reader falls back to the general
path (slivers to files, decode), which asks other nodes for other slivers.
"""

from __future__ import annotations

import os
from pathlib import Path

from haulout.protocol.hashing import Hasher
from haulout.protocol.metadata import BlobMetadata


class PrimaryAssembly:
    """The blob's file being filled from its primary slivers; `good` holds the indices whose
    bytes are in place and matched their hash. One `sink()` per node answer: answers arrive
    on several threads at once, each writing its own slivers' blocks with `pwrite`."""

    def __init__(self, meta: BlobMetadata, workdir: Path) -> None:
        self.meta = meta
        self.path = workdir / "blob"
        self.fd = os.open(self.path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        os.ftruncate(self.fd, meta.size)
        self.good: set[int] = set()
        self.forged: dict[int, str] = {}
        """Slivers that did not match their hash, and why (the caller counts and logs them
        once the answers are in: the sinks run on worker threads)."""

    def sink(self, indices: list[int]) -> PrimarySink:
        """A `FrameSink` for one node's answer, which may hold only the primaries `indices`
        (each asked of one node only, so no two answers write the same blocks)."""
        return PrimarySink(self, indices)

    def close(self) -> None:
        """Close the file (it stays, for serving or removal with its work directory)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @property
    def complete(self) -> bool:
        """Every primary is in place and verified."""
        return len(self.good) == self.meta.params.k


class PrimarySink:
    """Writes the frames of one answer (primary slivers only) to their blocks' offsets."""

    def __init__(self, assembly: PrimaryAssembly, indices: list[int]) -> None:
        self.assembly, self.wanted = assembly, set(indices)
        params = assembly.meta.params
        self.k, self.block, self.size = params.k, params.block_size, assembly.meta.size
        self.index, self.offset = -1, 0
        self.hash: Hasher | None = None

    def start(self, index: int, size: int) -> None:
        """A frame begins: refuse one that is not a primary sliver of this blob."""
        meta = self.assembly.meta
        if index not in self.wanted or not 0 <= index < self.k or size != meta.params.sliver_len:
            raise ValueError(f"frame for sliver {index} of {size} bytes was not asked for")
        self.wanted.discard(index)  # once: a second frame would overwrite verified bytes
        self.index, self.offset, self.hash = index, 0, meta.sliver_hasher()

    def data(self, piece: memoryview) -> None:
        """More bytes of the current sliver: hashed, and written where its blocks go."""
        assert self.hash is not None
        self.hash.update(piece)
        k, block, size, fd = self.k, self.block, self.size, self.assembly.fd
        offset = self.offset
        self.offset += len(piece)
        while piece:
            stripe, within = divmod(offset, block)
            take = min(block - within, len(piece))
            at = (stripe * k + self.index) * block + within
            if at < size:  # the last stripe's padding is hashed, not written
                os.pwrite(fd, piece[: min(take, size - at)], at)
            offset += take
            piece = piece[take:]

    def end(self) -> None:
        """The frame is complete: the sliver counts only if its hash matches the metadata."""
        assert self.hash is not None
        meta, index = self.assembly.meta, self.index
        if self.hash.digest() == meta.sliver_hashes[index]:
            self.assembly.good.add(index)
        else:
            why = f"sliver {index} does not match its hash in the metadata; it is corrupt or forged"
            self.assembly.forged[index] = why
        self.hash = None
