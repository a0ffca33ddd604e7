"""The codec: stream a blob stripe by stripe into `n` slivers and back, for every encoding
type (DESIGN §4). One small module per code — `codec_zfec` (type 0) and `codec_leopard`
(type 1) — and this one dispatches on the encoding type; the stripes, sinks and checks
they share live in `striping` and `metadata`.

Memory stays bounded by a few stripes (at most `n * 64 KiB` each).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from . import codec_leopard, codec_zfec
from .blob_id import BlobId
from .errors import InvalidSliver, NotEnoughSlivers
from .hashing import sliver_hash_function
from .metadata import BlobMetadata
from .params import (
    DEFAULT_ENCODING,
    ENCODING_RS,
    ENCODING_RS16,
    EncodingParams,
    check_encoding_type,
    check_size,
)
from .striping import (
    MemorySink,
    NullSink,
    Progress,
    SliverSink,
    SliverSource,
    Source,
)

__all__ = [
    "EncodedBlob",
    "MemorySink",
    "NullSink",
    "Progress",
    "SliverSink",
    "SliverSource",
    "Source",
    "available_types",
    "blob_id_of",
    "decode",
    "decode_stream",
    "default_encoding",
    "encode",
    "encode_stream",
    "sliver_hash",
    "verify_slivers",
]

log = logging.getLogger("haulout.codec")

_CODECS = {ENCODING_RS: codec_zfec, ENCODING_RS16: codec_leopard}


@dataclass(frozen=True)
class EncodedBlob:
    """An encoded blob: its metadata (hence id) and, when kept in memory, the slivers."""

    metadata: BlobMetadata
    slivers: list[bytes]

    @property
    def blob_id(self) -> BlobId:
        """The blob's id."""
        return self.metadata.blob_id


def available_types() -> tuple[int, ...]:
    """The encoding types this Python can encode and decode (type 1 needs its codec)."""
    return (ENCODING_RS, ENCODING_RS16) if codec_leopard.available() else (ENCODING_RS,)


def default_encoding(preferred: int = DEFAULT_ENCODING) -> int:
    """`preferred` when this Python can use it; else type 0, logging why (type 1 on a
    Python without `reed-solomon-leopard`, e.g. CPython 3.13)."""
    check_encoding_type(preferred)
    if preferred == ENCODING_RS16 and not codec_leopard.available():
        log.warning(
            "encoding type 1 unavailable, falling back to type 0: %s",
            codec_leopard.unavailable_reason(),
        )
        return ENCODING_RS
    return preferred


def encode_stream(
    source: Source,
    size: int,
    n_shards: int,
    sink: SliverSink,
    progress: Progress | None = None,
    limit: int | None = None,
    encoding_type: int = ENCODING_RS,
) -> BlobMetadata:
    """Encode `size` bytes from `source` into `n_shards` slivers written to `sink`, with
    bounded memory; returns the metadata (sliver hashes) from which the blob id follows."""
    if limit is not None:
        check_size(size, limit)
    params = EncodingParams(n_shards, size, encoding_type)
    return _CODECS[encoding_type].encode_stream(source, params, sink, progress)


def encode(
    data: bytes | bytearray | memoryview, n_shards: int, encoding_type: int = ENCODING_RS
) -> EncodedBlob:
    """Encode an in-memory blob; returns metadata and all `n` slivers."""
    sink = MemorySink(n_shards, EncodingParams(n_shards, len(data), encoding_type).sliver_len)
    metadata = encode_stream(data, len(data), n_shards, sink, encoding_type=encoding_type)
    return EncodedBlob(metadata, sink.slivers())


def blob_id_of(
    data: bytes | bytearray | memoryview | BinaryIO,
    size: int,
    n_shards: int,
    encoding_type: int = ENCODING_RS,
) -> BlobId:
    """The blob id `data` gets over `n_shards` shards (encodes, keeps only hashes)."""
    return encode_stream(data, size, n_shards, NullSink(), encoding_type=encoding_type).blob_id


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
    if len(slivers) < params.k:
        raise NotEnoughSlivers(
            f"need {params.k} valid slivers of {params.n_shards} to rebuild blob "
            f"{metadata.blob_id}; got {len(slivers)}. More storage nodes must be reachable."
        )
    chosen = sorted(slivers)[: params.k]
    codec = _CODECS[metadata.encoding_type]
    return codec.decode_stream(metadata, slivers, chosen, verify_consistency)


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


def sliver_hash(sliver: bytes, encoding_type: int = ENCODING_RS) -> bytes:
    """The hash of a sliver as listed in metadata (blake2b-256 for type 0, BLAKE3 for 1)."""
    return sliver_hash_function(encoding_type)(sliver)
