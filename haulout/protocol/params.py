"""Encoding parameters (DESIGN §4): shard counts, block and sliver sizes, for every encoding type.

Every length the chain bills and every node checks is computed here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BlobTooLarge, InvalidParameters

ENCODING_RS = 0
"""Encoding type 0: Reed–Solomon over GF(2^8) with zfec."""

ENCODING_RS16 = 1
"""Encoding type 1: systematic Reed–Solomon over GF(2^16) (reed-solomon-simd); blocks are even."""

ENCODING_TYPES = (ENCODING_RS, ENCODING_RS16)
"""Every encoding type this code reads and writes."""

DEFAULT_ENCODING = ENCODING_RS16
"""The encoding new deployments write unless told otherwise."""

MAX_SHARDS = 256
"""zfec works over GF(2^8), so encoding type 0 has at most 256 shards."""

MAX_SHARDS_RS16 = 4096
"""Encoding type 1's limit (GF(2^16) allows 65,535; Walrus mainnet runs 1,000 shards)."""

MAX_SHARDS_BY_TYPE = {ENCODING_RS: MAX_SHARDS, ENCODING_RS16: MAX_SHARDS_RS16}
"""Largest committee (shard count) each encoding type supports; Move checks the same."""

MAX_BLOCK_SIZE = 65536
"""Largest block of one stripe; bounds the memory a stripe needs."""

MAX_BLOB_SIZE = 1 << 40
"""Protocol limit on a blob's size (1 TiB); services set lower limits."""

STORAGE_UNIT = 1 << 20
"""Storage is bought in units of 1 MiB of encoded size, rounded up."""

HASH_LEN = 32


def max_faulty(n_shards: int) -> int:
    """`f`: how many shards may be faulty, `(n - 1) // 3`."""
    check_shards(n_shards, ENCODING_RS16)
    return (n_shards - 1) // 3


def primary_count(n_shards: int) -> int:
    """`k = n - 2f`: how many slivers rebuild a blob."""
    return n_shards - 2 * max_faulty(n_shards)


def check_encoding_type(encoding_type: int) -> None:
    """Raise `InvalidParameters` unless `encoding_type` is one this code supports."""
    if encoding_type not in ENCODING_TYPES:
        raise InvalidParameters(
            f"unknown encoding type {encoding_type!r}; supported: 0 (Reed–Solomon GF(2^8), zfec) "
            "and 1 (Reed–Solomon GF(2^16), reed-solomon-simd)"
        )


def check_shards(n_shards: int, encoding_type: int = ENCODING_RS) -> None:
    """Raise `InvalidParameters` unless `1 <= n_shards <=` the encoding type's maximum."""
    check_encoding_type(encoding_type)
    top = MAX_SHARDS_BY_TYPE[encoding_type]
    if not isinstance(n_shards, int) or not 1 <= n_shards <= top:
        field = "GF(2^8), zfec" if encoding_type == ENCODING_RS else "GF(2^16)"
        raise InvalidParameters(
            f"n_shards must be between 1 and {top} for encoding type {encoding_type} "
            f"({field}); got {n_shards!r}"
        )


def check_size(size: int, limit: int = MAX_BLOB_SIZE) -> None:
    """Raise `BlobTooLarge` (or `InvalidParameters` for negatives) unless `0 <= size <= limit`."""
    if not isinstance(size, int) or size < 0:
        raise InvalidParameters(f"blob size must be a non-negative integer; got {size!r}")
    if size > limit:
        raise BlobTooLarge(
            f"blob of {size} bytes exceeds the limit of {limit} bytes; "
            "split it into chunks (haulout store chunks large files automatically)"
        )


@dataclass(frozen=True)
class EncodingParams:
    """All sizes of one blob's encoding: `n`, `k`, block size, stripes, sliver length."""

    n_shards: int
    size: int
    encoding_type: int = ENCODING_RS

    def __post_init__(self) -> None:
        check_shards(self.n_shards, self.encoding_type)
        check_size(self.size)

    @property
    def f(self) -> int:
        """Tolerated faulty shards."""
        return max_faulty(self.n_shards)

    @property
    def k(self) -> int:
        """Slivers needed to decode."""
        return primary_count(self.n_shards)

    @property
    def block_size(self) -> int:
        """`B = min(65536, ceil(max(size, 1) / k))`, rounded up to even for encoding type 1."""
        b = min(MAX_BLOCK_SIZE, -(-max(self.size, 1) // self.k))
        if self.encoding_type == ENCODING_RS16:
            b += b & 1
        return b

    @property
    def stripe_size(self) -> int:
        """Bytes of blob per stripe: `k * B`."""
        return self.k * self.block_size

    @property
    def stripes(self) -> int:
        """Number of stripes the zero-padded blob is cut into."""
        return -(-max(self.size, 1) // self.stripe_size)

    @property
    def sliver_len(self) -> int:
        """Length of every sliver: one block per stripe."""
        return self.stripes * self.block_size

    @property
    def encoded_length(self) -> int:
        """Encoded length billed and checked on chain: `n * sliver_len + 32 n + 32`."""
        return encoded_length(self.n_shards, self.size, self.encoding_type)


def encoded_length(n_shards: int, size: int, encoding_type: int = ENCODING_RS) -> int:
    """`n * sliver_len + 32 * n + 32` for a blob of `size` bytes over `n_shards` shards."""
    p = EncodingParams(n_shards, size, encoding_type)
    return n_shards * p.sliver_len + HASH_LEN * n_shards + HASH_LEN


def storage_units(encoded: int) -> int:
    """Storage units (1 MiB, rounded up) that `encoded` bytes occupy."""
    return -(-encoded // STORAGE_UNIT)


def shard_for_sliver(sliver_index: int, blob_id_int: int, n_shards: int) -> int:
    """Shard that stores sliver `i`: `(i + blob_id mod n) mod n` (spreads load per blob)."""
    return (sliver_index + blob_id_int % n_shards) % n_shards


def sliver_for_shard(shard: int, blob_id_int: int, n_shards: int) -> int:
    """Inverse of `shard_for_sliver`: the sliver index that `shard` stores for this blob."""
    return (shard - blob_id_int % n_shards) % n_shards
