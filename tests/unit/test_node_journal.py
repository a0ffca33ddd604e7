"""Small uploads are durable through the journal: files written without fsync, one journal
record fsynced before the upload returns; a crash's journal is replayed at start (a torn last
record dropped) and checkpoints remove what a file-system sync made durable."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from haulout.protocol.blob_id import BlobId
from storage_node import journal as wal
from storage_node.store import SliverStore, journal_dir


def test_an_upload_is_fsynced_in_the_journal_before_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SliverStore(tmp_path / "slivers")
    synced: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(wal.os, "fdatasync", lambda fd: (synced.append(fd), real(fd)))
    blob = BlobId(os.urandom(32))
    store.write_upload(blob, b"meta", {3: b"three", 7: b"seven"})
    assert len(synced) == 1  # one fsync for metadata and both slivers
    assert store.get_metadata(blob) == b"meta"
    assert store.get_sliver(blob, 3) == b"three" and store.get_sliver(blob, 7) == b"seven"
    assert store.journal.records == 1


def test_a_crash_is_replayed_at_start_and_a_torn_record_dropped(tmp_path: Path) -> None:
    root = tmp_path / "slivers"
    store = SliverStore(root)
    kept, torn = BlobId(os.urandom(32)), BlobId(os.urandom(32))
    store.write_upload(kept, b"meta", {1: b"one", 2: b"two"})
    store.write_upload(torn, b"other", {5: b"five"})
    store.journal.close()
    # the crash: the files never reached the disk, and the last record was cut short
    journal_file = next(journal_dir(root).glob("*.journal"))
    with open(journal_file, "r+b") as fh:
        fh.truncate(journal_file.stat().st_size - 2)
    shutil.rmtree(root / str(kept))
    shutil.rmtree(root / str(torn))

    again = SliverStore(root)
    assert again.replayed == 1
    assert again.get_metadata(kept) == b"meta"
    assert again.get_sliver(kept, 1) == b"one" and again.get_sliver(kept, 2) == b"two"
    assert again.get_metadata(torn) is None  # never acknowledged: its fsync had not returned
    assert [p.name for p in journal_dir(root).iterdir()] == [f"{again.journal.gen:012d}.journal"]


def test_a_checkpoint_syncs_the_file_system_then_drops_the_old_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SliverStore(tmp_path / "slivers")
    blob = BlobId(os.urandom(32))
    store.write_upload(blob, b"meta", {0: b"zero"})
    old = store.journal.path(store.journal.gen)
    order: list[str] = []
    monkeypatch.setattr(
        wal, "sync_filesystem", lambda path: order.append("sync" if old.exists() else "late")
    )
    assert not store.checkpoint_when_due()  # young and small: not due yet
    assert store.checkpoint()
    assert order == ["sync"] and not old.exists()  # synced while the old file still existed
    assert not store.checkpoint()  # nothing appended since
    store.write_upload(blob, None, {4: b"four"})  # appends go on in the new file
    assert store.journal.path(store.journal.gen).stat().st_size > 0
    assert SliverStore(tmp_path / "slivers").get_sliver(blob, 4) == b"four"


def test_an_upload_after_its_blob_directory_was_removed_recreates_it(tmp_path: Path) -> None:
    store = SliverStore(tmp_path / "slivers")
    blob = BlobId(os.urandom(32))
    store.write_upload(blob, b"meta", {})
    assert store.journal.records == 1
    store.delete(blob)
    store.write_upload(blob, b"meta", {0: b"x"})  # recreates it: a registered blob's retry
    assert store.get_sliver(blob, 0) == b"x"


def test_uploads_waiting_together_share_one_fsync_and_learn_when_they_are_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event loop writes records and awaits the group sync: nothing is reported durable
    before an fsync covers it, uploads waiting together share fsyncs, and a failed fsync
    fails every upload that waited for it."""
    import asyncio
    import threading

    store = SliverStore(tmp_path / "slivers")
    gate = threading.Event()
    synced: list[int] = []
    real = os.fdatasync

    def slow_fsync(fd: int) -> None:
        gate.wait(10)  # held until the uploads are all waiting
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(wal.os, "fdatasync", slow_fsync)
    blobs = [BlobId(os.urandom(32)) for _ in range(8)]

    async def uploads() -> None:
        positions = [
            store.write_upload(b, b"meta", {1: bytes([i]) * 10}, sync=False)
            for i, b in enumerate(blobs)
        ]
        waits = [asyncio.ensure_future(store.group_sync.durable(*p)) for p in positions if p]
        await asyncio.sleep(0.05)
        assert not any(w.done() for w in waits)  # no fsync has returned yet
        gate.set()
        await asyncio.gather(*waits)

    asyncio.run(uploads())
    assert 1 <= len(synced) <= 2 and store.journal.records == 8  # 8 uploads, 1-2 fsyncs

    def broken(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(wal.os, "fdatasync", broken)

    async def failing() -> None:
        p = store.write_upload(BlobId(os.urandom(32)), b"meta", {2: b"x"}, sync=False)
        assert p is not None
        with pytest.raises(OSError):
            await store.group_sync.durable(*p)

    asyncio.run(failing())
    store.group_sync.stop()
