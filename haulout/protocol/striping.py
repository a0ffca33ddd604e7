"""What every encoding type shares (DESIGN §4): the blob cut into stripes of `k·B` bytes,
slivers written block by block to a sink, slivers read back block by block.

The codec modules (`codec_zfec`, `codec_leopard`) only turn stripes into blocks and back.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO, Protocol

from .errors import InvalidSliver
from .params import EncodingParams

Source = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]
"""A blob to encode: in memory, a readable file, or an iterable of chunks."""

Progress = Callable[[int], None]
"""Called with the bytes of blob encoded so far."""

SliverSource = bytes | bytearray | memoryview | BinaryIO
"""One sliver to decode from: in memory or a readable file."""

PIPELINE_DEPTH = 3
"""Stripes in flight while encoding or decoding: enough to keep both cores busy, few enough
to bound memory at about `3 * n * 64 KiB`."""


class SliverSink(Protocol):
    """Receives each sliver's blocks in stripe order (e.g. appends them to a spool file).
    A block may be a view of the encoder's buffer, valid only during the call (no copy is
    made for the sink): a sink that keeps it must copy it."""

    def write(self, index: int, block: bytes | memoryview) -> None:
        """Append `block` to sliver `index`."""


def emit_stripe(sink: SliverSink, blocks: Sequence[bytes | memoryview]) -> None:
    """Hand one stripe's `n` blocks to `sink`: all at once when it can take a whole stripe
    (`write_stripe`, e.g. the relayer's one-file spool: one system call, not `n`), else
    block by block."""
    whole = getattr(sink, "write_stripe", None)
    if whole is not None:
        whole(blocks)
        return
    for index, block in enumerate(blocks):
        sink.write(index, block)


class NullSink:
    """Drops every block (for computing a blob id, or measuring the codec alone)."""

    def write(self, index: int, block: bytes | memoryview) -> None:
        """Discard `block`."""


class MemorySink:
    """Collects slivers in memory, each in one buffer of its final size (no joining, so the
    peak is the slivers themselves); for small blobs and tests."""

    def __init__(self, n: int, sliver_len: int = 0) -> None:
        """`sliver_len` preallocates the buffers; without it they grow as blocks arrive.

        Preallocate only when the blob's bytes are already in hand (`encode`): sized from a
        size someone merely declared (a Content-Length), the buffers would let a client that
        sends a few bytes make the process allocate about three times the declared size."""
        self.buffers = [bytearray(sliver_len) for _ in range(n)]
        self.filled = [0] * n

    def write(self, index: int, block: bytes | memoryview) -> None:
        """Append a block to sliver `index` (copied)."""
        at, buf = self.filled[index], self.buffers[index]
        if at + len(block) <= len(buf):
            buf[at : at + len(block)] = block
        else:
            del buf[at:]
            buf += block
        self.filled[index] = at + len(block)

    def slivers(self) -> list[bytes]:
        """The finished slivers, as bytes (a copy; `buffers` avoids it)."""
        return [bytes(b) for b in self.buffers]


def chunks(source: Source) -> Iterator[bytes | bytearray | memoryview]:
    """The source's bytes: as given (in memory, not copied), in pieces of 1 MiB (files), or
    as the iterable yields them."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield source
    elif hasattr(source, "read"):
        reader: BinaryIO = source  # type: ignore[assignment]
        while chunk := reader.read(1 << 20):
            yield chunk
    else:
        yield from source  # type: ignore[misc]


def stripes(source: Source, params: EncodingParams) -> Iterator[bytes]:
    """Cut the source into `stripes` stripes of `k*B` bytes, zero-padding the last; a source
    longer or shorter than the declared size is an `InvalidSliver`. Each byte is copied once
    (into its stripe), whatever the sizes of the source's pieces."""
    for parts in stripe_parts(source, params):
        yield b"".join(parts)


def stripe_parts(
    source: Source, params: EncodingParams
) -> Iterator[list[bytes | bytearray | memoryview]]:
    """As `stripes`, but each stripe as the list of pieces that make it up (views of the
    source's chunks, then zeros for the last), not joined: a caller that copies the stripe
    somewhere anyway (the lane's shared memory) copies each byte once instead of twice, and
    allocates no stripe buffer. The pieces are valid until the next stripe is asked for."""
    want = params.stripe_size
    parts: list[bytes | bytearray | memoryview] = []
    have = 0
    seen = 0
    emitted = 0
    for chunk in chunks(source):
        seen += len(chunk)
        if seen > params.size:
            raise InvalidSliver(
                f"the source holds more than the declared {params.size} bytes; "
                "declare the exact size of the blob"
            )
        view = memoryview(chunk).cast("B")
        while len(view):
            take = min(len(view), want - have)
            parts.append(view[:take])
            have += take
            view = view[take:]
            if have == want:
                yield parts
                parts, have = [], 0
                emitted += 1
    if seen != params.size:
        raise InvalidSliver(
            f"the source ended after {seen} bytes but {params.size} were declared; "
            "the upload was truncated"
        )
    if emitted < params.stripes:
        parts.append(bytes(want - have))
        yield parts
        emitted += 1
    while emitted < params.stripes:  # only an empty blob has no byte in its one stripe
        yield [bytes(want)]
        emitted += 1


def as_reader(sliver: SliverSource) -> BinaryIO:
    """A file-like view of one sliver."""
    if isinstance(sliver, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(sliver))
    return sliver


def read_blocks(readers: dict[int, BinaryIO], chosen: list[int], block: int) -> list[bytes]:
    """The next block of each chosen sliver; a sliver that ends early is an `InvalidSliver`."""
    blocks = [readers[i].read(block) for i in chosen]
    if any(len(b) != block for b in blocks):
        raise InvalidSliver("a sliver ended early; it is shorter than the metadata implies")
    return blocks
