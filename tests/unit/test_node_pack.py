"""One file per blob part: a small upload's slivers land in one pack file, which every reader
(sliver reads, batch reads, shard sync, handover) understands beside the per-sliver files of
older data directories and of large uploads; a crash mid-write loses nothing acknowledged."""

from __future__ import annotations

import os
from pathlib import Path

from haulout.protocol.blob_id import BlobId
from haulout.protocol.frames import frame_header
from haulout.protocol.params import sliver_for_shard
from storage_node import pack
from storage_node.shard_route import BLOB_ID_BYTES, shard_page, shard_records
from storage_node.store import SliverStore, journal_dir, stored_slivers, write_durably
from tests.conftest import World
from tests.unit.test_node_handover import node, stored_blob


def blob_files(store: SliverStore, blob: BlobId) -> list[str]:
    return sorted(p.name for p in (store.root / str(blob)).iterdir())


def test_a_small_upload_is_one_pack_file_and_reads_back(tmp_path: Path) -> None:
    store = SliverStore(tmp_path / "slivers")
    blob = BlobId(os.urandom(32))
    slivers = {i: os.urandom(100 + i) for i in range(0, 100, 4)}
    store.write_upload(blob, b"meta", slivers)
    assert blob_files(store, blob) == ["metadata", pack.PACK_NAME]  # not 25 sliver files
    for i, data in slivers.items():
        assert store.get_sliver(blob, i) == data
    assert store.get_sliver(blob, 1) is None
    assert store.has_slivers(blob, [0, 1, 4, 96, 97]) == [1, 97]
    refs = store.locate(blob, [8, 9, 12])
    assert sorted(refs) == [8, 12]
    assert store.read_slivers(refs) == {8: slivers[8], 12: slivers[12]}
    assert store.sliver_indices(blob) == set(slivers)


def test_old_per_sliver_directories_stay_readable_beside_packs(tmp_path: Path) -> None:
    root = tmp_path / "slivers"
    old = BlobId(os.urandom(32))
    (root / str(old)).mkdir(parents=True)
    (root / str(old) / "metadata").write_bytes(b"m")
    (root / str(old) / "3.sliver").write_bytes(b"three")  # a data dir from before packs
    store = SliverStore(root)
    assert store.get_sliver(old, 3) == b"three"
    assert store.has_slivers(old, [3, 4]) == [4]
    assert store.read_slivers(store.locate(old, [3])) == {3: b"three"}
    # a blob with both: the pack of its upload, a recovered sliver in its own file
    mixed = BlobId(os.urandom(32))
    store.write_upload(mixed, b"m", {0: b"zero", 4: b"four"})
    store.put_sliver(mixed, 8, b"eight")
    assert store.sliver_indices(mixed) == {0, 4, 8}
    assert store.read_slivers(store.locate(mixed, [0, 4, 8])) == {
        0: b"zero",
        4: b"four",
        8: b"eight",
    }


def test_a_later_upload_never_replaces_the_pack_or_loses_its_slivers(tmp_path: Path) -> None:
    store = SliverStore(tmp_path / "slivers")
    blob = BlobId(os.urandom(32))
    store.write_upload(blob, b"m", {0: b"a", 4: b"b"})
    store.write_upload(blob, b"m", {4: b"b"})  # a retry carrying fewer slivers
    store.write_upload(blob, b"m", {4: b"b", 8: b"c"})  # one carrying a new one
    assert blob_files(store, blob) == ["8.sliver", "metadata", pack.PACK_NAME]
    assert {i: store.get_sliver(blob, i) for i in (0, 4, 8)} == {0: b"a", 4: b"b", 8: b"c"}


def test_a_crash_mid_write_is_replayed_from_the_journal(tmp_path: Path) -> None:
    root = tmp_path / "slivers"
    store = SliverStore(root)
    blob = BlobId(os.urandom(32))
    store.write_upload(blob, b"m", {0: b"zero" * 50, 4: b"four" * 50})
    store.write_upload(blob, b"m", {8: b"eight"})
    store.journal.close()
    d = root / str(blob)
    # the crash: the pack was cut short and the later sliver file never reached the disk,
    # and a pack write in progress left its temporary file
    packed = d / pack.PACK_NAME
    with open(packed, "r+b") as fh:
        fh.truncate(packed.stat().st_size - 30)
    (d / "8.sliver").unlink()
    (d / f".{pack.PACK_NAME}.123.0.tmp").write_bytes(b"half")
    assert pack.intact(str(packed)) is False
    again = SliverStore(root)
    assert again.replayed == 2 and again.discarded == 1
    assert again.get_sliver(blob, 0) == b"zero" * 50
    assert again.get_sliver(blob, 4) == b"four" * 50
    assert again.get_sliver(blob, 8) == b"eight"
    assert pack.intact(str(packed))
    assert not list(d.glob(".*.tmp"))
    assert list(journal_dir(root).glob("*.journal")) == [again.journal.path(again.journal.gen)]


def test_a_damaged_pack_reads_as_absent_not_as_wrong_bytes(tmp_path: Path) -> None:
    store = SliverStore(tmp_path / "slivers")
    blob = BlobId(os.urandom(32))
    store.write_upload(blob, b"m", {2: b"two"})
    packed = store.root / str(blob) / pack.PACK_NAME
    raw = bytearray(packed.read_bytes())
    raw[9] ^= 0x01  # inside the index: the header checksum catches it
    packed.write_bytes(bytes(raw))
    assert store.get_sliver(blob, 2) is None
    assert store.has_slivers(blob, [2]) == [2]  # recovery will rebuild it


def test_handover_drops_slivers_from_a_pack_durably(tmp_path: Path) -> None:
    store = SliverStore(tmp_path / "slivers")
    blob = BlobId(os.urandom(32))
    store.write_upload(blob, b"m", {0: b"a", 4: b"b", 8: b"c"})
    store.put_sliver(blob, 12, b"d")
    assert store.drop_slivers(blob, [4, 12, 16]) == 2
    assert store.sliver_indices(blob) == {0, 8}
    assert store.get_sliver(blob, 0) == b"a" and store.get_sliver(blob, 8) == b"c"
    assert store.drop_slivers(blob, [0, 8]) == 2
    assert blob_files(store, blob) == ["metadata"]


def test_shard_sync_serves_slivers_from_packs(world: World, tmp_path: Path) -> None:
    old = node(world, tmp_path, 0)
    blobs = sorted((stored_blob(world) for _ in range(3)), key=lambda e: str(e.blob_id))
    while old.follow_once():
        pass
    shard = 3
    expected = b""
    for k, enc in enumerate(blobs):
        i = sliver_for_shard(shard, int(enc.blob_id), enc.metadata.n_shards)
        others = {j: enc.slivers[j] for j in range(enc.metadata.n_shards) if j % 3 == i % 3}
        if k == 1:  # one blob in the old layout
            old.store.put_sliver(enc.blob_id, i, enc.slivers[i])
        else:
            old.store.write_upload(enc.blob_id, enc.metadata.to_bytes(), others)
        expected += (
            frame_header(i, BLOB_ID_BYTES + len(enc.slivers[i])) + enc.blob_id.raw + enc.slivers[i]
        )
    page, following = shard_page(old, shard, None, 10)
    assert following is None and [b for b, *_ in page] == [e.blob_id for e in blobs]
    assert b"".join(shard_records(page)) == expected


def test_stored_slivers_sees_both_layouts_without_touching_them(tmp_path: Path) -> None:
    d = tmp_path / "blob"
    write_durably(d / pack.PACK_NAME, b"".join(pack.encode({1: b"x", 5: b"yy"})))
    (d / "7.sliver").write_bytes(b"zzz")
    refs = stored_slivers(d)
    assert sorted(refs) == [1, 5, 7]
    assert [pack.read_ref(refs[i]) for i in (1, 5, 7)] == [b"x", b"yy", b"zzz"]
    assert sorted(p.name for p in d.iterdir()) == ["7.sliver", pack.PACK_NAME]
