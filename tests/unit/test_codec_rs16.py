"""Encoding type 1 (Reed–Solomon over GF(2^16)): any k of n slivers rebuild the blob at
committee sizes up to Walrus's 1,000 shards; flipped bytes and inconsistent writers are
caught; bad parameters are typed errors."""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haulout.protocol import codec, codec_leopard, leopard_lane
from haulout.protocol.errors import (
    EncodingUnavailable,
    InconsistentEncoding,
    InvalidMetadata,
    InvalidParameters,
    InvalidSliver,
    NotEnoughSlivers,
)
from haulout.protocol.hashing import blake2b256, blake3_256
from haulout.protocol.metadata import BlobMetadata
from haulout.protocol.params import (
    ENCODING_RS,
    ENCODING_RS16,
    EncodingParams,
    check_encoding_type,
    encoded_length,
)

RS16 = ENCODING_RS16
N_VALUES = [4, 100, 256, 1000]


@settings(max_examples=40, deadline=None)
@given(
    n=st.sampled_from(N_VALUES),
    size=st.integers(0, 300_000),
    seed=st.integers(0, 2**32),
)
def test_any_k_slivers_rebuild(n: int, size: int, seed: int) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(size)
    enc = codec.encode(data, n, RS16)
    assert enc.metadata.encoding_type == RS16
    k = EncodingParams(n, size, RS16).k
    chosen = rng.sample(range(n), k)
    assert codec.decode(enc.metadata, {i: enc.slivers[i] for i in chosen}) == data


@pytest.mark.parametrize("n", [1, 2, 3])
def test_committees_without_parity_round_trip(n: int) -> None:
    """n <= 3 tolerates no fault (f = 0): every sliver is a primary and all are needed."""
    data = os.urandom(10_001)
    enc = codec.encode(data, n, RS16)
    assert codec.decode(enc.metadata, dict(enumerate(enc.slivers))) == data


def test_systematic_slivers_are_the_blob() -> None:
    """Sliver i < k is block i of every stripe: the primaries, joined per stripe, are the blob."""
    data = os.urandom(3 * 65536 * 2 + 999)
    enc = codec.encode(data, 4, RS16)
    p = enc.metadata.params
    rebuilt = b"".join(
        enc.slivers[i][s * p.block_size : (s + 1) * p.block_size]
        for s in range(p.stripes)
        for i in range(p.k)
    )
    assert rebuilt[: len(data)] == data


@pytest.mark.parametrize("n", N_VALUES)
def test_multi_stripe_round_trip_from_files(n: int) -> None:
    k = EncodingParams(n, 1, RS16).k
    size = 2 * k * 65536 + 12345  # two full stripes and a partial one
    data = os.urandom(size)
    sink = codec.MemorySink(n)
    meta = codec.encode_stream(io.BytesIO(data), size, n, sink, encoding_type=RS16)
    assert meta.params.stripes == 3
    slivers = sink.slivers()
    chosen = random.sample(range(n), k)
    files = {i: io.BytesIO(slivers[i]) for i in chosen}
    assert b"".join(codec.decode_stream(meta, files)) == data


def test_chunked_source_gives_the_same_id() -> None:
    data = os.urandom(700_001)
    chunks = (data[i : i + 7777] for i in range(0, len(data), 7777))
    meta = codec.encode_stream(chunks, len(data), 10, codec.NullSink(), encoding_type=RS16)
    assert meta.blob_id == codec.encode(data, 10, RS16).blob_id
    assert meta.blob_id == codec.blob_id_of(io.BytesIO(data), len(data), 10, RS16)


def test_types_give_different_ids_and_lengths_round_up_to_even() -> None:
    data = os.urandom(33)
    assert codec.encode(data, 4, RS16).blob_id != codec.encode(data, 4).blob_id
    p0, p1 = EncodingParams(4, 33), EncodingParams(4, 33, RS16)
    assert (p0.block_size, p1.block_size) == (17, 18)
    assert encoded_length(4, 33, RS16) == 4 * p1.sliver_len + 32 * 4 + 32


def test_sliver_hashes_are_blake3_and_blob_id_stays_blake2b() -> None:
    data = os.urandom(5000)
    enc = codec.encode(data, 10, RS16)
    assert enc.metadata.sliver_hashes[3] == blake3_256(enc.slivers[3])
    assert codec.sliver_hash(enc.slivers[3], RS16) == blake3_256(enc.slivers[3])
    raw = bytes([RS16]) + len(data).to_bytes(8, "little") + enc.metadata.root
    assert enc.blob_id.raw == blake2b256(raw)


@pytest.mark.parametrize("n", N_VALUES)
def test_every_flipped_sliver_byte_is_detected(n: int) -> None:
    data = os.urandom(40_000)
    enc = codec.encode(data, n, RS16)
    index = n - 1  # a parity sliver (n >= 4)
    sliver = enc.slivers[index]
    for pos in range(len(sliver)):
        bad = bytearray(sliver)
        bad[pos] ^= 1 << (pos % 8)
        with pytest.raises(InvalidSliver, match="does not match its hash"):
            enc.metadata.check_sliver(index, bytes(bad))


def test_corrupt_slivers_are_skipped_when_enough_remain() -> None:
    data = os.urandom(50_000)
    enc = codec.encode(data, 100, RS16)
    slivers = dict(enumerate(enc.slivers))
    for i in range(0, 60):  # 60 corrupt, 40 good (k = 34)
        slivers[i] = b"\xff" * len(slivers[i])
    assert codec.decode(enc.metadata, slivers) == data
    slivers.pop(99)
    slivers.pop(98)
    for i in range(60, 66):
        slivers.pop(i)
    with pytest.raises(NotEnoughSlivers, match="need 34 valid slivers"):
        codec.decode(enc.metadata, slivers)


def _lying_writer(data: bytes, n: int, tampered: int) -> tuple[BlobMetadata, list[bytes]]:
    """A writer that publishes honest hashes of a sliver not derived from the data."""
    enc = codec.encode(data, n, RS16)
    slivers = list(enc.slivers)
    slivers[tampered] = bytes(b ^ 0x5A for b in slivers[tampered])
    hashes = list(enc.metadata.sliver_hashes)
    hashes[tampered] = codec.sliver_hash(slivers[tampered], RS16)
    return BlobMetadata(RS16, len(data), tuple(hashes)), slivers


@pytest.mark.parametrize("n", N_VALUES)
def test_inconsistent_writer_is_caught_reading_primaries(n: int) -> None:
    data = os.urandom(30_000)
    lying, slivers = _lying_writer(data, n, n - 1)
    k = lying.params.k
    primaries = {i: slivers[i] for i in range(k)}
    with pytest.raises(InconsistentEncoding, match="encoded inconsistently"):
        codec.decode(lying, primaries)
    assert codec.decode(lying, primaries, verify_consistency=False) == data


@pytest.mark.parametrize("n", N_VALUES)
def test_inconsistent_writer_is_caught_reading_the_tampered_sliver(n: int) -> None:
    """Decoding through the tampered parity gives wrong primaries; re-encoding notices."""
    data = os.urandom(30_000)
    lying, slivers = _lying_writer(data, n, n - 1)
    k = lying.params.k
    chosen = {i: slivers[i] for i in list(range(1, k)) + [n - 1]}
    with pytest.raises(InconsistentEncoding):
        codec.decode(lying, chosen)


def test_bad_parameters_are_typed() -> None:
    with pytest.raises(InvalidParameters, match="between 1 and 4096 for encoding type 1"):
        EncodingParams(4097, 10, RS16)
    with pytest.raises(InvalidParameters, match="between 1 and 256 for encoding type 0"):
        codec.encode(b"x", 1000, ENCODING_RS)
    with pytest.raises(InvalidParameters, match="unknown encoding type 2"):
        check_encoding_type(2)
    with pytest.raises(InvalidParameters, match="unknown encoding type 7"):
        codec.encode(b"x", 4, 7)
    with pytest.raises(InvalidParameters, match="even, non-zero length"):
        codec_leopard.parity_blocks([b"abc", b"def"], 2)
    with pytest.raises(InvalidParameters, match="even, non-zero length"):
        codec_leopard.parity_blocks([b"ab", b"cdef"], 2)


def test_wrong_and_odd_sliver_lengths_are_refused() -> None:
    enc = codec.encode(os.urandom(1000), 4, RS16)
    with pytest.raises(InvalidSliver, match="bytes; this blob's slivers are 500 bytes"):
        enc.metadata.check_sliver(0, enc.slivers[0][:-1])
    with pytest.raises(InvalidSliver, match="shorter than the metadata implies"):
        list(codec.decode_stream(enc.metadata, {0: enc.slivers[0][:-1], 1: enc.slivers[1]}))


def test_metadata_round_trips_and_bounds_the_sliver_count_per_type() -> None:
    enc = codec.encode(b"abc", 1000, RS16)
    raw = enc.metadata.to_bytes()
    assert BlobMetadata.from_bytes(raw) == enc.metadata
    as_type0 = bytes([ENCODING_RS]) + raw[1:]  # 1,000 slivers are too many for zfec
    with pytest.raises(InvalidMetadata, match="encoding type 0 allows 1 to 256"):
        BlobMetadata.from_bytes(as_type0)
    with pytest.raises(InvalidMetadata, match="unknown encoding type 9"):
        BlobMetadata.from_bytes(bytes([9]) + raw[1:])


def test_missing_codec_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a Python without reed-solomon-leopard (CPython 3.13), type 1 says so, and the
    deployment default falls back to type 0."""
    import builtins

    real_import = builtins.__import__

    def no_leopard(name: str, *args: object, **kwargs: object) -> object:
        if name == "reed_solomon_leopard":
            raise ImportError("No module named 'reed_solomon_leopard'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(codec_leopard, "_MODULE", None)
    monkeypatch.setattr(builtins, "__import__", no_leopard)
    with pytest.raises(EncodingUnavailable, match="reed-solomon-leopard"):
        codec.encode(b"abc", 4, RS16)
    assert codec.available_types() == (ENCODING_RS,)
    assert codec.default_encoding() == ENCODING_RS
    assert codec.encode(b"abc", 4).metadata.encoding_type == ENCODING_RS
    monkeypatch.undo()
    monkeypatch.setattr(codec_leopard, "_MODULE", None)
    assert codec.default_encoding() == RS16


def _in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Encode without lanes (a pool that may start none)."""
    monkeypatch.setattr(leopard_lane, "POOL", leopard_lane.LanePool(limit=0))


def test_a_lane_encodes_exactly_what_this_process_does(monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(3 * 34 * 65536 + 777)  # four stripes at n = 100
    on_lane = codec.encode(data, 100, RS16)
    assert leopard_lane.POOL.started >= 1
    _in_process(monkeypatch)
    here = codec.encode(data, 100, RS16)
    assert on_lane.metadata == here.metadata and on_lane.slivers == here.slivers


def test_a_cut_upload_leaves_the_lane_usable() -> None:
    data = os.urandom(4 * 2 * 65536)

    def cut() -> Iterator[bytes]:
        yield data[: 3 * 2 * 65536]  # three stripes of four, then the client goes away
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        codec.encode_stream(cut(), len(data), 4, codec.NullSink(), encoding_type=RS16)
    assert all(lane.clean for lane in leopard_lane.POOL.idle)
    assert codec.blob_id_of(data, len(data), 4, RS16) == codec.encode(data, 4, RS16).blob_id


def test_a_lane_that_died_while_idle_is_replaced() -> None:
    data = os.urandom(4 * 2 * 65536)
    expected = codec.encode(data, 4, RS16).blob_id  # leaves an idle lane
    for lane in list(leopard_lane.POOL.idle):
        lane.proc.kill()
        lane.proc.wait()
    assert codec.blob_id_of(data, len(data), 4, RS16) == expected


def test_a_lane_that_dies_mid_encode_fails_that_encode_only() -> None:
    data = os.urandom(6 * 2 * 65536)

    def chunks() -> Iterator[bytes]:
        yield data[: 2 * 65536]
        for lane in list(leopard_lane.POOL.idle) + _busy_lanes():
            lane.proc.kill()
            lane.proc.wait()
        yield data[2 * 65536 :]

    with pytest.raises(leopard_lane.LaneError, match="lane"):
        codec.encode_stream(chunks(), len(data), 4, codec.NullSink(), encoding_type=RS16)
    assert codec.blob_id_of(data, len(data), 4, RS16) == codec.encode(data, 4, RS16).blob_id


def _busy_lanes() -> list[leopard_lane.Lane]:
    """Lanes in use (found through the garbage collector: the pool does not list them)."""
    import gc

    return [o for o in gc.get_objects() if isinstance(o, leopard_lane.Lane) and not o.clean]


@pytest.mark.parametrize("chosen", ["primaries", "through the tampered sliver"])
def test_inconsistent_writer_of_a_multi_stripe_blob_is_caught(chosen: str) -> None:
    """Several stripes: the check's re-encoding runs on a lane."""
    data = os.urandom(3 * 2 * 65536 + 5)
    lying, slivers = _lying_writer(data, 4, 3)
    picked = [0, 1] if chosen == "primaries" else [1, 3]
    with pytest.raises(InconsistentEncoding, match="encoded inconsistently"):
        b"".join(codec.decode_stream(lying, {i: slivers[i] for i in picked}))
    honest = codec.encode(data, 4, RS16)
    assert (
        b"".join(codec.decode_stream(honest.metadata, {1: honest.slivers[1], 3: honest.slivers[3]}))
        == data
    )


def test_a_read_stopped_early_leaves_the_lane_usable() -> None:
    data = os.urandom(5 * 2 * 65536)
    enc = codec.encode(data, 4, RS16)
    stream = codec.decode_stream(enc.metadata, {0: enc.slivers[0], 2: enc.slivers[2]})
    assert next(stream) == data[: 2 * 65536]
    stream.close()
    assert all(lane.clean for lane in leopard_lane.POOL.idle)
    assert codec.decode(enc.metadata, {2: enc.slivers[2], 3: enc.slivers[3]}) == data
