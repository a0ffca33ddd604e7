"""Durable sliver and metadata files: write to a temp file, fsync, rename, fsync the directory;
or, for small uploads, write and rename without fsync and make the upload durable through the
journal (`storage_node.journal`: one fsync shared by the uploads arriving together).

Nothing is confirmed before it is on disk, so a crash loses nothing a node has confirmed.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

from haulout.protocol.blob_id import BlobId

from . import journal as wal

log = logging.getLogger("haulout.node")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path) -> None:
    """Create directory `path` if needed; when this call creates it, its entry is fsynced in
    the parent directory, so a file renamed into it later cannot vanish with it in a crash."""
    if path.is_dir():
        return
    ensure_dir(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        return  # another writer made it (and syncs the parent)
    _fsync_dir(path.parent)


_unique = itertools.count()


def temporary_name(path: Path) -> Path:
    """A temporary name next to `path` that no other write uses, in this process or another
    (`.<name>.<pid>.<counter>.<random>.tmp`): concurrent writers of the same file each write
    their own temporary file and the last rename wins, whole."""
    fd, name = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.{next(_unique)}.", suffix=".tmp", dir=path.parent
    )
    os.close(fd)
    return Path(name)


def write_durably(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`, durable once this returns."""
    ensure_dir(path.parent)
    tmp = temporary_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _read_or_none(path: Path) -> bytes | None:
    """A file's bytes, or None when it is absent (or removed while we looked)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class PendingFile:
    """A file being written under a temporary name; invisible until `SliverStore.commit`."""

    def __init__(self, path: Path) -> None:
        ensure_dir(path.parent)
        self.path = path
        self.tmp = temporary_name(path)
        self.fh = open(self.tmp, "wb")  # noqa: SIM115 - closed by commit or discard

    def write(self, data: bytes | memoryview) -> None:
        """Append bytes."""
        self.fh.write(data)

    def discard(self) -> None:
        """Drop the file (a bad or interrupted sliver)."""
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


def write_quickly(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically (temporary file, rename) but without fsync: for
    writes the journal makes durable."""
    tmp = path.parent / f".{path.name}.{os.getpid()}.{next(_unique)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def journal_dir(root: Path) -> Path:
    """The journal of a store: beside its root (`slivers` → `slivers.journal`), so the root
    holds only blob directories."""
    return root.with_name(root.name + ".journal")


class SliverStore:
    """`<root>/<blob id>/metadata` and `<root>/<blob id>/<sliver index>`, and the journal of
    small uploads in `<root>.journal`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.discarded = self.sweep_temporaries()
        self.replayed = self.replay_journal()
        self.journal = wal.Journal(journal_dir(self.root))

    def replay_journal(self) -> int:
        """Rewrite the uploads a crash left in the journal (their files may not have reached
        the disk), make them durable, and drop the journal; called at start."""
        directory = journal_dir(self.root)

        def write(blob: bytes, metadata: bytes | None, slivers: dict[int, bytes]) -> None:
            d = self._dir(BlobId(blob))
            d.mkdir(parents=True, exist_ok=True)
            if metadata is not None:
                write_quickly(d / "metadata", metadata)
            for i, data in slivers.items():
                write_quickly(d / f"{i}.sliver", data)

        count = wal.replay(directory, write)
        if count or any(directory.glob("*.journal")):
            wal.sync_filesystem(self.root)
            wal.discard(directory)
        return count

    def write_upload(
        self, blob_id: BlobId, metadata: bytes | None, slivers: dict[int, bytes]
    ) -> None:
        """Store a small upload (checked metadata and slivers) durably: files written and
        renamed into place, then one journal record, fsynced (shared with concurrent
        uploads). Durable once this returns."""
        d = self._dir(blob_id)
        if not d.is_dir():
            d.mkdir(parents=True, exist_ok=True)  # its entry: durable by checkpoint or replay
        if metadata is not None and self.get_metadata(blob_id) != metadata:
            write_quickly(d / "metadata", metadata)
        # the record carries the metadata even when the file was there: that file may come
        # from an upload whose own record is not durable yet
        for i, data in slivers.items():
            write_quickly(d / f"{i}.sliver", data)
        if metadata is not None or slivers:
            self.journal.append(blob_id.raw, wal.encode_payload(metadata, slivers))

    def checkpoint(self) -> bool:
        """Sync the file system once and drop the journal's older records (see `journal`)."""
        return self.journal.checkpoint(lambda: wal.sync_filesystem(self.root))

    def checkpoint_when_due(self) -> bool:
        """`checkpoint` if the journal's current file is large or old enough."""
        return self.checkpoint() if self.journal.due() else False

    def run_checkpoints(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Checkpoint the journal when due until `stop` (a background thread's loop)."""
        while not stop.wait(interval):
            try:
                self.checkpoint_when_due()
            except Exception:  # pragma: no cover - logged and retried
                log.exception("journal checkpoint failed; retrying")

    def sweep_temporaries(self) -> int:
        """Remove temporary files a crash left behind (writes that were never committed, so
        never confirmed); called at start, before this process writes anything."""
        count = 0
        for tmp in self.root.glob("*/.*.tmp"):
            tmp.unlink(missing_ok=True)
            count += 1
        return count

    def _dir(self, blob_id: BlobId) -> Path:
        return self.root / str(blob_id)

    def put_metadata(self, blob_id: BlobId, data: bytes) -> None:
        """Store serialised metadata."""
        write_durably(self._dir(blob_id) / "metadata", data)

    def get_metadata(self, blob_id: BlobId) -> bytes | None:
        """Serialised metadata, or None."""
        return _read_or_none(self._dir(blob_id) / "metadata")

    def put_sliver(self, blob_id: BlobId, index: int, data: bytes) -> None:
        """Store one sliver."""
        write_durably(self._dir(blob_id) / f"{index}.sliver", data)

    def pending_sliver(self, blob_id: BlobId, index: int) -> PendingFile:
        """Start writing sliver `index`; it replaces any stored copy only on `commit`."""
        return PendingFile(self._dir(blob_id) / f"{index}.sliver")

    def commit(self, files: list[PendingFile]) -> None:
        """Make pending files durable and visible: fsync each, rename, fsync each directory
        once. A crash before this returns leaves only temporary files, never a torn sliver."""
        for f in files:
            f.fh.flush()
            os.fsync(f.fh.fileno())
            f.fh.close()
        for f in files:
            os.replace(f.tmp, f.path)
        for d in {f.path.parent for f in files}:
            _fsync_dir(d)

    def get_sliver(self, blob_id: BlobId, index: int) -> bytes | None:
        """One sliver, or None."""
        return _read_or_none(self._dir(blob_id) / f"{index}.sliver")

    def sliver_path(self, blob_id: BlobId, index: int) -> Path:
        """Where sliver `index` is (or would be) kept."""
        return self._dir(blob_id) / f"{index}.sliver"

    def has_slivers(self, blob_id: BlobId, indices: list[int]) -> list[int]:
        """Which of `indices` are missing."""
        d = self._dir(blob_id)
        return [i for i in indices if not (d / f"{i}.sliver").exists()]

    def delete(self, blob_id: BlobId) -> bool:
        """Remove everything stored for a blob."""
        d = self._dir(blob_id)
        if d.exists():
            shutil.rmtree(d, ignore_errors=True)
            return True
        return False

    def blob_ids(self) -> list[BlobId]:
        """Blobs with anything stored."""
        out = []
        for p in self.root.iterdir():
            try:
                out.append(BlobId.parse(p.name))
            except Exception:
                continue
        return out

    def stored_bytes(self) -> int:
        """Bytes on disk, for /metrics."""
        return sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file())
