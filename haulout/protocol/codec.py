"""Encoding type 0: stream a blob stripe by stripe through zfec into `n` slivers, and back.

Memory stays bounded by a few stripes (at most `n * 64 KiB` each). zfec releases the GIL, so
parity work for the next stripe runs on a second thread while this one hashes and writes.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import zfec

from .blob_id import BlobId
from .errors import InconsistentEncoding, InvalidSliver, NotEnoughSlivers
from .hashing import blake2b256, hasher
from .metadata import BlobMetadata
from .params import ENCODING_RS, EncodingParams, check_size

Source = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]
Progress = Callable[[int], None]


class SliverSink(Protocol):
    """Receives each sliver's blocks in stripe order (e.g. appends to one file per sliver)."""

    def write(self, index: int, block: bytes) -> None:
        """Append `block` to sliver `index`."""


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

    def write(self, index: int, block: bytes) -> None:
        """Append a block to sliver `index`."""
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


@dataclass(frozen=True)
class EncodedBlob:
    """An encoded blob: its metadata (hence id) and, when kept in memory, the slivers."""

    metadata: BlobMetadata
    slivers: list[bytes]

    @property
    def blob_id(self) -> BlobId:
        """The blob's id."""
        return self.metadata.blob_id


def _chunks(source: Source) -> Iterator[bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield bytes(source)
    elif hasattr(source, "read"):
        reader: BinaryIO = source  # type: ignore[assignment]
        while chunk := reader.read(1 << 20):
            yield chunk
    else:
        yield from source  # type: ignore[misc]


def _stripes(source: Source, params: EncodingParams) -> Iterator[bytes]:
    """Cut the source into `stripes` stripes of `k*B` bytes, zero-padding the last."""
    want = params.stripe_size
    buf = bytearray()
    seen = 0
    emitted = 0
    for chunk in _chunks(source):
        seen += len(chunk)
        if seen > params.size:
            raise InvalidSliver(
                f"the source holds more than the declared {params.size} bytes; "
                "declare the exact size of the blob"
            )
        buf += chunk
        while len(buf) >= want and emitted < params.stripes:
            yield bytes(buf[:want])
            del buf[:want]
            emitted += 1
    if seen != params.size:
        raise InvalidSliver(
            f"the source ended after {seen} bytes but {params.size} were declared; "
            "the upload was truncated"
        )
    while emitted < params.stripes:
        yield bytes(buf[:want]).ljust(want, b"\0")
        buf = bytearray()
        emitted += 1


def encode_stream(
    source: Source,
    size: int,
    n_shards: int,
    sink: SliverSink,
    progress: Progress | None = None,
    limit: int | None = None,
) -> BlobMetadata:
    """Encode `size` bytes from `source` into `n_shards` slivers written to `sink`.

    Returns the metadata (sliver hashes) from which the blob id follows. Two lanes, each a
    thread of its own, split every stripe's blocks between them (see `_lane_split`): a lane
    computes its parity blocks with zfec and hashes its blocks, so both cores do zfec work
    at once, as the raw two-thread baseline does. Up to `_DEPTH` stripes are in flight while
    this thread reads the source and hands finished stripes to the sink in order.
    """
    if limit is not None:
        check_size(size, limit)
    params = EncodingParams(n_shards, size)
    n, k, block = params.n_shards, params.k, params.block_size
    encoder = zfec.Encoder(k, n)
    hashers = [hasher() for _ in range(n)]
    split = _lane_split(n, k)

    def lane(primaries: list[bytes], lo: int, hi: int) -> list[bytes]:
        """Blocks `lo..hi` of one stripe, hashed into their slivers' running hashes."""
        blocks = primaries[lo : min(hi, k)]
        wanted = list(range(max(lo, k), hi))
        if wanted:
            blocks += [bytes(b) for b in encoder.encode(primaries, wanted)]
        for i, b in zip(range(lo, hi), blocks, strict=True):
            hashers[i].update(b)
        return blocks

    done = 0
    lanes = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"encode-{j}") for j in range(2)]
    try:
        pending: deque[list[Future[list[bytes]]]] = deque()

        def emit_oldest() -> None:
            nonlocal done
            index = 0
            for fut in pending.popleft():
                for b in fut.result():
                    sink.write(index, b)
                    index += 1
            done += params.stripe_size
            if progress:
                progress(min(done, size))

        for stripe in _stripes(source, params):
            primaries = [stripe[j * block : (j + 1) * block] for j in range(k)]
            pending.append(
                [
                    lanes[0].submit(lane, primaries, 0, split),
                    lanes[1].submit(lane, primaries, split, n),
                ]
            )
            if len(pending) >= _DEPTH:
                emit_oldest()
        while pending:
            emit_oldest()
    finally:
        for ex in lanes:
            ex.shutdown(wait=True, cancel_futures=True)
    if progress:
        progress(size)
    return BlobMetadata(ENCODING_RS, size, tuple(h.digest() for h in hashers))


_DEPTH = 3
"""Stripes in flight during encoding: enough to keep both lanes busy, few enough to bound
memory at about `3 * n * 64 KiB`."""


def _lane_split(n: int, k: int) -> int:
    """Where lane 0 (all primaries, hashed only, plus the first parity blocks) ends and
    lane 1 (the remaining parity blocks) starts, balancing their CPU time.

    A parity block costs zfec about `0.6 * k` times what hashing a block costs (measured on
    x86-64 with zfec 1.6 and hashlib's blake2b), so lane 0 takes `a` parity blocks with
    `k * h + a * (p + h) = (m - a) * (p + h)`.
    """
    m = n - k
    per_parity = 1.0 + 0.6 * k  # in units of one block hash
    a = round((m - k / per_parity) / 2)
    return k + min(max(a, 0), m)


def encode(data: bytes | bytearray | memoryview, n_shards: int) -> EncodedBlob:
    """Encode an in-memory blob; returns metadata and all `n` slivers."""
    sink = MemorySink(n_shards, EncodingParams(n_shards, len(data)).sliver_len)
    metadata = encode_stream(data, len(data), n_shards, sink)
    return EncodedBlob(metadata, sink.slivers())


def blob_id_of(data: bytes | bytearray | memoryview | BinaryIO, size: int, n_shards: int) -> BlobId:
    """The blob id `data` gets over `n_shards` shards (encodes, keeps only hashes)."""

    class _Null:
        def write(self, index: int, block: bytes) -> None:
            pass

    return encode_stream(data, size, n_shards, _Null()).blob_id


SliverSource = bytes | bytearray | memoryview | BinaryIO


def _as_reader(s: SliverSource) -> BinaryIO:
    if isinstance(s, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(s))
    return s


def verify_slivers(
    metadata: BlobMetadata, slivers: Mapping[int, bytes]
) -> tuple[dict[int, bytes], dict[int, str]]:
    """Split `slivers` into those matching the metadata and the rejected ones (with why)."""
    good: dict[int, bytes] = {}
    bad: dict[int, str] = {}
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="verify") as pool:
        futures = {i: pool.submit(metadata.check_sliver, i, s) for i, s in slivers.items()}
        for i, fut in futures.items():
            try:
                fut.result()
                good[i] = slivers[i]
            except InvalidSliver as exc:
                bad[i] = str(exc)
    return good, bad


def decode_stream(
    metadata: BlobMetadata,
    slivers: Mapping[int, SliverSource],
    verify_consistency: bool = True,
) -> Iterator[bytes]:
    """Rebuild the blob from any `k` slivers, yielding it stripe by stripe (unpadded).

    Slivers must already be checked against `metadata` (see `verify_slivers`). With
    `verify_consistency`, the missing slivers are re-encoded and compared with the metadata
    at the end; a writer who encoded inconsistently raises `InconsistentEncoding`.
    """
    params = metadata.params
    n, k, block = params.n_shards, params.k, params.block_size
    if len(slivers) < k:
        raise NotEnoughSlivers(
            f"need {k} valid slivers of {n} to rebuild blob {metadata.blob_id}; got {len(slivers)}. "
            "More storage nodes must be reachable."
        )
    chosen = sorted(slivers)[:k]
    primaries_only = chosen == list(range(k))
    readers = {i: _as_reader(slivers[i]) for i in chosen}
    decoder = zfec.Decoder(k, n)
    encoder = zfec.Encoder(k, n) if verify_consistency else None
    missing = [i for i in range(n) if i not in readers]
    parity_missing = [j for j in missing if j >= k]
    hashers = {i: hasher() for i in missing}

    def work(blocks: list[bytes]) -> tuple[list[bytes], dict[int, bytes]]:
        """Decode one stripe and, for the consistency check, re-encode its missing blocks."""
        primaries = blocks if primaries_only else [bytes(b) for b in decoder.decode(blocks, chosen)]
        produced: dict[int, bytes] = {}
        if encoder is not None and missing:
            produced = {j: primaries[j] for j in missing if j < k}
            if parity_missing:
                for j, p in zip(
                    parity_missing, encoder.encode(primaries, parity_missing), strict=True
                ):
                    produced[j] = bytes(p)
        return primaries, produced

    remaining = params.size
    pending: deque[Future[tuple[list[bytes], dict[int, bytes]]]] = deque()

    def finish(result: tuple[list[bytes], dict[int, bytes]]) -> bytes:
        nonlocal remaining
        primaries, produced = result
        for j in missing:
            if j in produced:
                hashers[j].update(produced[j])
        stripe = b"".join(primaries)
        take = min(remaining, len(stripe))
        remaining -= take
        return stripe[:take]

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode") as pool:
        for _ in range(params.stripes):
            blocks = [readers[i].read(block) for i in chosen]
            if any(len(b) != block for b in blocks):
                raise InvalidSliver("a sliver ended early; it is shorter than the metadata implies")
            pending.append(pool.submit(work, blocks))
            if len(pending) >= 3:
                if out := finish(pending.popleft().result()):
                    yield out
        while pending:
            if out := finish(pending.popleft().result()):
                yield out
    if encoder is not None:
        for j in missing:
            if hashers[j].digest() != metadata.sliver_hashes[j]:
                raise InconsistentEncoding(
                    f"blob {metadata.blob_id} was encoded inconsistently: re-encoding the decoded "
                    f"data gives a different sliver {j} than its metadata. The writer is faulty; "
                    "do not trust this blob (nodes may vote to invalidate it)."
                )


def decode(
    metadata: BlobMetadata,
    slivers: Mapping[int, bytes],
    verify_consistency: bool = True,
) -> bytes:
    """Check the given slivers, then rebuild the blob from `k` good ones."""
    good, bad = verify_slivers(metadata, slivers)
    if len(good) < metadata.params.k:
        raise NotEnoughSlivers(
            f"need {metadata.params.k} valid slivers to rebuild blob {metadata.blob_id}; "
            f"{len(good)} valid, {len(bad)} rejected ({'; '.join(bad.values()) or 'none'})"
        )
    return b"".join(decode_stream(metadata, good, verify_consistency))


def sliver_hash(sliver: bytes) -> bytes:
    """blake2b-256 of a sliver, as listed in metadata."""
    return blake2b256(sliver)
