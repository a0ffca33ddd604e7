"""Node files: concurrent writers of one file never collide, new directories are synced."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from haulout.protocol.blob_id import BlobId
from storage_node import store as store_module
from storage_node.store import SliverStore, write_durably


def test_sixteen_concurrent_writes_of_one_file_all_succeed_whole(tmp_path: Path) -> None:
    target = tmp_path / "blob" / "metadata"
    data = os.urandom(200_000)
    with ThreadPoolExecutor(16) as pool:
        for f in [pool.submit(write_durably, target, data) for _ in range(16)]:
            f.result()
    assert target.read_bytes() == data
    assert [p.name for p in target.parent.iterdir()] == ["metadata"]  # no temporary left


def test_a_new_blob_directory_is_synced_in_its_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    real = store_module._fsync_dir
    monkeypatch.setattr(store_module, "_fsync_dir", lambda p: (synced.append(p), real(p)))
    store = SliverStore(tmp_path / "slivers")
    blob = BlobId(os.urandom(32))
    store.put_metadata(blob, b"m")
    assert synced == [store.root, store.root / str(blob)]  # the new entry, then the file
    synced.clear()
    store.put_sliver(blob, 3, b"s")
    assert synced == [store.root / str(blob)]  # the directory exists: only the file's rename
    pending = store.pending_sliver(BlobId(os.urandom(32)), 0)
    assert synced[-1] == store.root
    pending.discard()


def test_reads_of_a_file_removed_meanwhile_are_absent(tmp_path: Path) -> None:
    store = SliverStore(tmp_path / "slivers")
    blob = BlobId(os.urandom(32))
    store.put_sliver(blob, 0, b"s")
    store.delete(blob)
    assert store.get_sliver(blob, 0) is None and store.get_metadata(blob) is None
