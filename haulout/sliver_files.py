"""Slivers received from storage nodes, written to one file each and verified on the way.

The relayer's large reads and a node's recovery both fetch framed slivers (see
`haulout.protocol.frames`) into a work directory; each sliver is hashed as it is written, with
the hash of the blob's encoding type, and kept only when it matches the metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from haulout.protocol.metadata import BlobMetadata


class VerifiedSliverFiles:
    """A `FrameSink` writing each sliver to `root/<index>.sliver`; `good` holds those matching
    the metadata. A mismatch deletes the file, is counted in `rejected`, described in
    `failures`, and reported to `on_reject(index, why)` when given."""

    def __init__(
        self,
        meta: BlobMetadata,
        root: Path,
        on_reject: Callable[[int, str], None] | None = None,
    ) -> None:
        self.meta, self.root, self.on_reject = meta, root, on_reject
        self.good: dict[int, Path] = {}
        self.rejected = 0
        self.failures: list[str] = []
        self.index, self.hash = -1, meta.sliver_hasher()
        self.fh: BinaryIO | None = None

    def start(self, index: int, size: int) -> None:
        """A frame begins: refuse one that cannot be a sliver of this blob."""
        if not 0 <= index < self.meta.n_shards or size != self.meta.params.sliver_len:
            raise ValueError(f"frame for sliver {index} of {size} bytes does not fit this blob")
        self.index, self.hash = index, self.meta.sliver_hasher()
        self.fh = open(self.root / f"{index}.sliver", "wb")  # noqa: SIM115 - closed in end()

    def data(self, piece: memoryview) -> None:
        """More bytes of the current sliver."""
        assert self.fh is not None
        self.fh.write(piece)
        self.hash.update(piece)

    def end(self) -> None:
        """The frame is complete: keep the sliver if its hash matches the metadata."""
        assert self.fh is not None
        self.fh.close()
        self.fh = None
        path = self.root / f"{self.index}.sliver"
        if self.hash.digest() == self.meta.sliver_hashes[self.index]:
            self.good[self.index] = path
            return
        path.unlink(missing_ok=True)
        why = (
            f"sliver {self.index} does not match its hash in the metadata; it is corrupt or forged"
        )
        self.rejected += 1
        self.failures.append(why)
        if self.on_reject is not None:
            self.on_reject(self.index, why)

    def abandon(self) -> None:
        """An answer broke off: drop its unfinished sliver."""
        if self.fh is not None:
            self.fh.close()
            self.fh = None
            (self.root / f"{self.index}.sliver").unlink(missing_ok=True)
