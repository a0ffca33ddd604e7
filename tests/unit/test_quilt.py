"""Quilts (haulout.protocol.quilt): Walrus's QuiltV1 bytes, patches in whole columns that are
exactly the systematic slivers, patch ids in Walrus's text form, and the identifier and tag
rules with typed errors."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haulout.protocol import codec, quilt
from haulout.protocol.hashing import blake2b256
from haulout.protocol.params import EncodingParams
from tests.vectors.gen import sample
from tests.vectors.quilt_gen import build_case

VECTORS = Path(__file__).parents[1] / "vectors"


def test_pinned_quilt_vectors() -> None:
    cases = json.loads((VECTORS / "quilts.json").read_text())
    assert len(cases) >= 5
    for case in cases:
        assert build_case({"n_shards": case["n_shards"], "files": case["files"]}) == case


def test_bytes_are_walrus_quilt_v1() -> None:
    """One patch 'a' = b'hi' over 4 shards (k = 2): the index in column 0, the patch in
    column 1, byte for byte as Walrus's QuiltV1 writes them."""
    data, entries = quilt.build([("a", b"hi", {"k": "v"})], 4)
    index = bytes([1]) + struct.pack("<H", 2) + b"\x01a" + b"\x01\x01k\x01v"  # vec len 1
    patch_body = struct.pack("<H", 2) + b"\x01a" + struct.pack("<H", 5) + b"\x01\x01k\x01v" + b"hi"
    patch = struct.pack("<BIB", 1, len(patch_body), 1) + patch_body
    head = struct.pack("<BI", 1, len(index)) + index
    column = max(len(head), len(patch))
    column += column & 1
    assert data == head.ljust(column, b"\0") + patch.ljust(column, b"\0")
    assert entries == (quilt.PatchEntry("a", {"k": "v"}, 1, 2),)


def test_walrus_docs_patch_ids_parse_and_print_back() -> None:
    """The patch ids in Walrus's HTTP docs: quilt id, version 1, start and end columns."""
    text = "6XUOE-Q5-nAXHRifN6n9nomVDtHZQbGuAkW3PjlBuKoBAQDQAA"
    pid = quilt.QuiltPatchId.parse(text)
    assert str(pid.quilt_id) == "6XUOE-Q5-nAXHRifN6n9nomVDtHZQbGuAkW3PjlBuKo"
    assert (pid.start, pid.end) == (1, 208)
    assert str(pid) == text
    other = quilt.QuiltPatchId.parse("6XUOE-Q5-nAXHRifN6n9nomVDtHZQbGuAkW3PjlBuKoB0AB7Ag")
    assert (other.quilt_id, other.start, other.end) == (pid.quilt_id, 208, 635)  # neighbours
    listed = quilt.QuiltPatchId.parse("uIiEbhP2qgZYygEGxJX1GeB-rQATo2yufC2DCp7B4iABAQANAA")
    assert (listed.start, listed.end) == (1, 13)  # routes.rs's list-patches example


@pytest.mark.parametrize(
    "text",
    [
        "",
        "6XUOE-Q5-nAXHRifN6n9nomVDtHZQbGuAkW3PjlBuKo",  # a blob id, no patch part
        "6XUOE-Q5-nAXHRifN6n9nomVDtHZQbGuAkW3PjlBuKoBAQDQA=",  # padding
        "6XUOE-Q5-nAXHRifN6n9nomVDtHZQbGuAkW3PjlBuKoAgQDQAA",  # version 2
        "6XUOE-Q5-nAXHRifN6n9nomVDtHZQbGuAkW3PjlBuKoBAQABAA",  # start == end
        "6XUOE-Q5-nAXHRifN6n9nomVDtHZQbGuAkW3PjlBuKoBAQDQAB",  # stray bits
        "é" * 50,
    ],
)
def test_malformed_patch_ids_are_typed_errors(text: str) -> None:
    with pytest.raises(quilt.InvalidPatchId):
        quilt.QuiltPatchId.parse(text)


@pytest.mark.parametrize(
    "identifier",
    ["", "a ", "a\t", "a\n", "te\x08st", "\x1btest", "test\x7f", "test\u0080", "x" * 65534],
)
def test_invalid_identifiers_are_refused(identifier: str) -> None:
    with pytest.raises(quilt.InvalidIdentifier):
        quilt.layout([quilt.Patch.of(identifier, b"x")], 10)


@pytest.mark.parametrize("identifier", ["a", "_test", "-x", ".x", "test blob", "dir/f.txt", "é"])
def test_valid_identifiers_are_accepted(identifier: str) -> None:
    assert quilt.check_identifier(identifier) == identifier


def test_uploads_cannot_use_the_reserved_prefix() -> None:
    with pytest.raises(quilt.InvalidIdentifier, match="reserved"):
        quilt.check_identifier("_metadata", upload=True)


def test_duplicate_identifiers_are_refused() -> None:
    with pytest.raises(quilt.DuplicateIdentifier):
        quilt.layout([quilt.Patch.of("a", b"1"), quilt.Patch.of("a", b"2")], 10)


def test_oversize_and_malformed_tags_are_refused() -> None:
    with pytest.raises(quilt.InvalidTags, match="65535"):
        quilt.layout([quilt.Patch.of("a", b"1", {"k": "v" * 65_535})], 10)
    with pytest.raises(quilt.InvalidTags):
        quilt.check_tags({"k": 1}, "a")


def test_more_patches_than_columns_is_too_many() -> None:
    k = EncodingParams(10, 1).k
    patches = [quilt.Patch.of(f"f{i}", b"x") for i in range(k)]
    with pytest.raises(quilt.TooManyPatches, match=f"at most {k - 1} patches"):
        quilt.layout(patches, 10)
    assert len(quilt.layout(patches[:-1], 10).entries) == k - 1


def test_limit_is_enforced() -> None:
    with pytest.raises(quilt.QuiltTooLarge):
        quilt.layout([quilt.Patch.of("a", bytes(100_000))], 10, limit=50_000)


def test_a_plain_blob_is_not_a_quilt() -> None:
    with pytest.raises(quilt.NotAQuilt):
        quilt.read_index(b"\x01" + bytes(999), 10)
    blob = bytes(quilt.QuiltShape(4, 8, 1).size)  # right size, no index
    with pytest.raises(quilt.NotAQuilt):
        quilt.read_index(blob, 10)


def test_a_corrupt_index_is_not_a_quilt() -> None:
    data, _ = quilt.build([("a", b"x" * 50), ("b", b"y" * 50)], 10)
    bad = bytearray(data)
    bad[6] = 9  # the patch count
    with pytest.raises(quilt.NotAQuilt):
        quilt.read_index(bytes(bad), 10)


def test_large_patches_use_full_blocks_and_many_stripes() -> None:
    """A column past 64 KiB: B = 64 KiB and S stripes, and still column c == sliver c."""
    files = [("big", sample(300_000), {}), ("small", b"s", {})]
    data, entries = quilt.build(files, 7)  # k = 3: the index and one column per patch
    shape = quilt.QuiltShape.of_blob(len(data), 7)
    assert shape.block == 65536 and shape.stripes > 1
    enc = codec.encode(data, 7, 0)
    for e in entries:
        got = quilt.decode_patch(b"".join(enc.slivers[c] for c in e.slivers))
        assert got.data == dict((f[0], f[1]) for f in files)[e.identifier]


identifiers = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=12,
)
tag_maps = st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.dictionaries(
        identifiers, st.tuples(st.binary(max_size=3000), tag_maps), min_size=1, max_size=12
    ),
    n_shards=st.sampled_from([7, 10, 40, 100]),
    encoding_type=st.sampled_from([0, 1]),
)
def test_any_valid_patches_round_trip_from_their_own_slivers(
    files: dict[str, tuple[bytes, dict[str, str]]], n_shards: int, encoding_type: int
) -> None:
    """Every set of valid patches that fits lays out so that the encoder's slivers `start..end`
    are exactly the patch's columns: each patch decodes from them alone, with its tags."""
    k = EncodingParams(n_shards, 1).k
    items = sorted(files.items())[: k - 1]
    data, entries = quilt.build([(i, d, t) for i, (d, t) in items], n_shards)
    enc = codec.encode(data, n_shards, encoding_type)
    params = enc.metadata.params
    shape = quilt.QuiltShape.of_blob(len(data), n_shards)
    assert (params.block_size, params.stripes) == (shape.block, shape.stripes)
    assert quilt.read_index(data, n_shards) == (shape, entries)
    assert [e.identifier for e in entries] == sorted(i for i, _ in items)
    for e in entries:
        got = quilt.decode_patch(b"".join(enc.slivers[c] for c in e.slivers))
        assert (got.identifier, got.data, got.tags) == (e.identifier, *files[e.identifier])
        pid = quilt.QuiltPatchId.of(enc.blob_id, e)
        assert quilt.QuiltPatchId.parse(str(pid)) == pid and len(str(pid)) == 50


def test_blocks_stream_reads_files_in_pieces() -> None:
    """The relayer builds quilts from spooled files: reads stay within one block each."""
    reads: list[int] = []
    payload = sample(200_000)

    def read(offset: int, length: int) -> bytes:
        reads.append(length)
        return payload[offset : offset + length]

    plan = quilt.layout([quilt.Patch("f", len(payload), {}, read)], 10)
    data = plan.to_bytes()
    assert max(reads) <= plan.shape.block
    assert blake2b256(data) == blake2b256(quilt.build([("f", payload)], 10)[0])


def test_directory_grouping_keeps_quilts_full_and_padding_bounded() -> None:
    """`haulout store DIR` groups small files: at most k - 1 per quilt, each quilt within
    16 MiB and at most about twice its files' bytes, every file in exactly one quilt."""
    from haulout import manifest

    sizes = [10, 1000, 50_000, 900_000, 10_240, 0, 3]
    files = [(f"f{i:03}", sizes[i % len(sizes)] + i, {}) for i in range(200)]
    groups = manifest.group_for_quilts(files, 100)
    assert sorted(i for g in groups for i in g) == list(range(200))
    for g in groups:
        assert 1 <= len(g) <= 33
        plan = quilt.layout([quilt.Patch(files[i][0], files[i][1], {}) for i in g], 100)
        raw = sum(files[i][1] for i in g)
        assert plan.shape.size <= manifest.PACK_LIMIT or len(g) == 1
        assert plan.shape.size <= 2 * raw + manifest.QUILT_SLACK or len(g) == 1
    same = manifest.group_for_quilts([(f"x{i}", 10_240, {}) for i in range(100)], 100)
    assert [len(g) for g in same] == [33, 33, 33, 1]


def test_directory_identifiers() -> None:
    from haulout import manifest

    assert manifest.quilt_identifier("train/a.csv") == "train/a.csv"
    assert manifest.quilt_identifier("_config.yml") == "./_config.yml"
    assert manifest.quilt_identifier("bad\x01name") is None
    assert manifest.quilt_identifier("trailing ") is None
