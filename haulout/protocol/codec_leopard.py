"""Encoding type 1: systematic Reed–Solomon over GF(2^16) through `reed-solomon-leopard`
(reed-solomon-simd), stripe by stripe (DESIGN §4).

Sliver `i < k` is block `i` of every stripe (systematic); the `n - k` parity blocks of a
stripe come from one call. Blocks are even (the codec works on 16-bit symbols). Sliver
hashes are BLAKE3. The library holds the GIL while it encodes, so blobs of several stripes
encode on a lane (a child process, the second core) when one is free; the others encode
here one stripe at a time, with a process-wide bound on stripes in flight.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from types import ModuleType

from . import leopard_lane
from .codec_zfec import check_hashes
from .errors import EncodingUnavailable, InvalidParameters
from .hashing import sliver_hasher
from .metadata import BlobMetadata
from .params import ENCODING_RS16, EncodingParams
from .striping import (
    PIPELINE_DEPTH,
    Progress,
    SliverSink,
    SliverSource,
    Source,
    as_reader,
    emit_stripe,
    read_blocks,
    stripe_parts,
    stripes,
)

_MODULE: ModuleType | None = None


def available() -> bool:
    """Whether encoding type 1 can be used on this Python (its codec is installed)."""
    try:
        _library()
    except EncodingUnavailable:
        return False
    return True


def unavailable_reason() -> str:
    """Why type 1 cannot be used here (empty when it can)."""
    try:
        _library()
    except EncodingUnavailable as exc:
        return str(exc)
    return ""


def _library() -> ModuleType:
    global _MODULE
    if _MODULE is None:
        try:
            import reed_solomon_leopard
        except ImportError as exc:
            raise EncodingUnavailable(
                "encoding type 1 (Reed–Solomon over GF(2^16)) needs the 'reed-solomon-leopard' "
                f"package, which is not installed for Python {sys.version_info[0]}."
                f"{sys.version_info[1]} (it has no wheel for CPython 3.13 yet); use Python 3.11 "
                "or 3.12, or encoding type 0"
            ) from exc
        _MODULE = reed_solomon_leopard
    return _MODULE


def parity_blocks(primaries: list[bytes], recovery_count: int) -> list[bytes]:
    """The `recovery_count` parity blocks of one stripe's `k` primary blocks (equal, even
    lengths); an odd or uneven block is an `InvalidParameters`."""
    if not recovery_count:
        return []
    size = len(primaries[0])
    if size == 0 or size % 2 or any(len(b) != size for b in primaries):
        raise InvalidParameters(
            "encoding type 1 encodes blocks of one even, non-zero length; got lengths "
            f"{sorted({len(b) for b in primaries})[:4]}"
        )
    lib = _library()
    if not lib.supports(len(primaries), recovery_count):
        raise InvalidParameters(
            f"encoding type 1 cannot encode {len(primaries)} primary and {recovery_count} "
            "parity blocks"
        )
    return list(lib.encode(primaries, recovery_count))


def restore(params: EncodingParams, blocks: Mapping[int, bytes]) -> list[bytes]:
    """The `k` primary blocks of one stripe from any `k` of its `n` blocks."""
    k, m = params.k, params.n_shards - params.k
    if all(i in blocks for i in range(k)):
        return [blocks[i] for i in range(k)]
    originals = {i: b for i, b in blocks.items() if i < k}
    recovery = {i - k: b for i, b in blocks.items() if i >= k}
    restored = _library().decode(k, m, originals, recovery)
    return [originals[i] if i in originals else restored[i] for i in range(k)]


def encode_stream(
    source: Source, params: EncodingParams, sink: SliverSink, progress: Progress | None = None
) -> BlobMetadata:
    """Encode `params.size` bytes from `source` into `n` slivers written to `sink`; returns
    the metadata. Blobs of several stripes go to a lane (a child process: parity and hashes
    on the second core, see `leopard_lane`) when one is free; others encode here."""
    _library()  # fail before reading a byte when the codec is missing
    if params.stripes >= leopard_lane.MIN_STRIPES and params.n_shards > params.k:
        with leopard_lane.POOL.lane() as lane:
            if lane is not None:
                return _encode_on_lane(lane, source, params, sink, progress)
    return _encode_here(source, params, sink, progress)


def _encode_on_lane(
    lane: leopard_lane.Lane,
    source: Source,
    params: EncodingParams,
    sink: SliverSink,
    progress: Progress | None,
) -> BlobMetadata:
    """This thread cuts stripes and writes blocks to the sink; the lane computes parity and
    hashes, up to `PIPELINE_DEPTH` stripes behind."""
    k, m, block = params.k, params.n_shards - params.k, params.block_size
    depth = leopard_lane.slots_for(params.n_shards * block)
    session = leopard_lane.Session(lane, k, m, block, depth)
    pending: deque[int] = deque()
    done = count = 0

    def emit_oldest() -> None:
        nonlocal done
        emit_stripe(sink, session.collect(pending.popleft()))
        done += params.stripe_size
        if progress:
            progress(min(done, params.size))

    try:
        for stripe in stripe_parts(source, params):  # copied once, into the shared memory
            if len(pending) >= depth:
                emit_oldest()
            slot = count % depth
            session.submit(slot, stripe)
            pending.append(slot)
            count += 1
        while pending:
            emit_oldest()
        digests = session.finish()
    except BaseException:
        session.abort(len(pending))
        raise
    if progress:
        progress(params.size)
    return BlobMetadata(ENCODING_RS16, params.size, tuple(digests))


IN_PROCESS_STRIPES = threading.BoundedSemaphore(2)
"""Stripes encoded in this process at once, whatever the number of uploads: a stripe's
blocks and parity take about 3x its size (up to ~9 MiB at n=100), so 32 uploads encoding
at once must not each hold their own. The library holds the GIL, so more would not run
faster on this machine anyway. Held only while a stripe is encoded and written, never while
its bytes arrive: a slow client holds none."""


def _encode_here(
    source: Source, params: EncodingParams, sink: SliverSink, progress: Progress | None
) -> BlobMetadata:
    """In this process, one stripe at a time: encode, hash, write to the sink, under
    `IN_PROCESS_STRIPES` (bounded memory across concurrent uploads)."""
    size = params.size
    n, k, block = params.n_shards, params.k, params.block_size
    m = n - k
    hashers = [sliver_hasher(ENCODING_RS16) for _ in range(n)]
    done = 0
    for stripe in stripes(source, params):
        with IN_PROCESS_STRIPES:
            blocks = [stripe[j * block : (j + 1) * block] for j in range(k)]
            del stripe
            blocks += parity_blocks(blocks, m)
            for index, (h, b) in enumerate(zip(hashers, blocks, strict=True)):
                h.update(b)
                sink.write(index, b)
            del blocks
        done += params.stripe_size
        if progress:
            progress(min(done, size))
    if progress:
        progress(size)
    return BlobMetadata(ENCODING_RS16, size, tuple(h.digest() for h in hashers))


def decode_stream(
    metadata: BlobMetadata,
    slivers: Mapping[int, SliverSource],
    chosen: list[int],
    verify_consistency: bool = True,
) -> Iterator[bytes]:
    """Rebuild the blob from the `k` `chosen` slivers (already checked against the
    metadata), stripe by stripe, unpadded; with `verify_consistency`, re-encode the missing
    slivers and compare their hashes with the metadata at the end (on a lane when the blob
    has several stripes and one is free: the re-encoding then runs on the second core)."""
    _library()
    params = metadata.params
    if (
        verify_consistency
        and params.stripes >= leopard_lane.MIN_STRIPES
        and params.n_shards > params.k
    ):
        with leopard_lane.POOL.lane() as lane:
            if lane is not None:
                yield from _decode_checked_on_lane(lane, metadata, slivers, chosen)
                return
    yield from _decode_here(metadata, slivers, chosen, verify_consistency)


def _decode_checked_on_lane(
    lane: leopard_lane.Lane,
    metadata: BlobMetadata,
    slivers: Mapping[int, SliverSource],
    chosen: list[int],
) -> Iterator[bytes]:
    """Decode here, stripe by stripe; the lane re-encodes each decoded stripe and hashes all
    `n` blocks, and at the end every sliver hash must match the metadata."""
    params = metadata.params
    n, k, block = params.n_shards, params.k, params.block_size
    readers = {i: as_reader(slivers[i]) for i in chosen}
    depth = leopard_lane.slots_for(n * block)
    session = leopard_lane.Session(lane, k, n - k, block, depth)
    pending: deque[int] = deque()
    remaining = params.size
    try:
        for count in range(params.stripes):
            blocks = read_blocks(readers, chosen, block)
            stripe = b"".join(restore(params, dict(zip(chosen, blocks, strict=True))))
            if len(pending) >= depth:
                session.collect(pending.popleft(), blocks=False)
            slot = count % depth
            session.submit(slot, stripe)
            pending.append(slot)
            take = min(remaining, len(stripe))
            remaining -= take
            if take:
                yield stripe[:take]
        while pending:
            session.collect(pending.popleft(), blocks=False)
        digests = session.finish()
    except BaseException:  # also GeneratorExit: the reader stopped early
        session.abort(len(pending))
        raise
    check_hashes(metadata, dict(enumerate(digests)))


def _decode_here(
    metadata: BlobMetadata,
    slivers: Mapping[int, SliverSource],
    chosen: list[int],
    verify_consistency: bool,
) -> Iterator[bytes]:
    """Decode (and re-encode for the check) in this process."""
    params = metadata.params
    n, k, block = params.n_shards, params.k, params.block_size
    readers = {i: as_reader(slivers[i]) for i in chosen}
    missing = [i for i in range(n) if i not in readers]
    parity_needed = verify_consistency and any(j >= k for j in missing)
    hashers = {i: sliver_hasher(ENCODING_RS16) for i in missing} if verify_consistency else {}

    def work(blocks: list[bytes]) -> tuple[list[bytes], list[bytes]]:
        """Decode one stripe and, for the consistency check, re-encode its parity."""
        primaries = restore(params, dict(zip(chosen, blocks, strict=True)))
        parity = parity_blocks(primaries, n - k) if parity_needed else []
        return primaries, parity

    remaining = params.size

    def finish(result: tuple[list[bytes], list[bytes]]) -> bytes:
        nonlocal remaining
        primaries, parity = result
        for j, h in hashers.items():
            h.update(primaries[j] if j < k else parity[j - k])
        stripe = b"".join(primaries)
        take = min(remaining, len(stripe))
        remaining -= take
        return stripe[:take]

    pending: deque[Future[tuple[list[bytes], list[bytes]]]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode-rs16") as worker:
        try:
            for _ in range(params.stripes):
                pending.append(worker.submit(work, read_blocks(readers, chosen, block)))
                if len(pending) >= PIPELINE_DEPTH:
                    if out := finish(pending.popleft().result()):
                        yield out
            while pending:
                if out := finish(pending.popleft().result()):
                    yield out
        finally:
            for fut in pending:
                fut.cancel()
    if verify_consistency:
        check_hashes(metadata, {j: h.digest() for j, h in hashers.items()})
