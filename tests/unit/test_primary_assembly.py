"""A large type-1 read lays its primary slivers side by side in the blob's file: the bytes come
out as the blob whatever the answers' piece sizes, and a forged or unasked-for sliver never
counts as in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from haulout.protocol import codec
from haulout.protocol.frames import FrameParser, encode_frames
from haulout.protocol.params import ENCODING_RS16
from relayer.assembly import PrimaryAssembly

N = 10


def feed(assembly: PrimaryAssembly, slivers: dict[int, bytes], piece: int) -> None:
    parser = FrameParser(assembly.sink(sorted(slivers)))
    body = encode_frames(slivers)
    for at in range(0, len(body), piece):
        parser.feed(body[at : at + piece])


@pytest.mark.parametrize(
    ("size", "piece"),  # one stripe with padding; several stripes, the last one partial
    [(1, 7), (70_001, 7), (70_001, 65_536), ((2 << 20) + 12_345, 65_535), ((2 << 20) + 1, 1 << 20)],
)
def test_primaries_laid_out_are_the_blob(tmp_path: Path, size: int, piece: int) -> None:
    data = os.urandom(size)
    enc = codec.encode(data, N, ENCODING_RS16)
    k = enc.metadata.params.k
    assembly = PrimaryAssembly(enc.metadata, tmp_path)
    primaries = {i: enc.slivers[i] for i in range(k)}
    feed(assembly, {i: s for i, s in primaries.items() if i % 2}, piece)  # one node
    feed(assembly, {i: s for i, s in primaries.items() if not i % 2}, piece)  # another
    assembly.close()
    assert assembly.complete and not assembly.forged
    assert (tmp_path / "blob").read_bytes() == data


def test_a_forged_primary_is_not_in_place(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    enc = codec.encode(data, N, ENCODING_RS16)
    k = enc.metadata.params.k
    forged = bytearray(enc.slivers[1])
    forged[-1] ^= 1
    assembly = PrimaryAssembly(enc.metadata, tmp_path)
    feed(assembly, {i: bytes(forged) if i == 1 else enc.slivers[i] for i in range(k)}, 4096)
    assert not assembly.complete and list(assembly.forged) == [1]
    assert "does not match its hash" in assembly.forged[1]
    assert assembly.good == set(range(k)) - {1}


def test_frames_not_asked_for_are_refused(tmp_path: Path) -> None:
    enc = codec.encode(os.urandom(300_000), N, ENCODING_RS16)
    k = enc.metadata.params.k
    assembly = PrimaryAssembly(enc.metadata, tmp_path)
    for index in (k, 2):  # a parity sliver; a primary asked of another node
        with pytest.raises(ValueError, match="not asked for"):
            FrameParser(assembly.sink([0, 1])).feed(encode_frames({index: enc.slivers[index]}))
    twice = encode_frames({0: enc.slivers[0]}) * 2  # a second copy would overwrite the first
    with pytest.raises(ValueError, match="not asked for"):
        FrameParser(assembly.sink([0])).feed(twice)
    assert assembly.good == {0}
