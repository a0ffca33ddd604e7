"""Durable sliver and metadata files: write to a temp file, fsync, rename, fsync the directory;
or, for small uploads, write and rename without fsync and make the upload durable through the
journal (`storage_node.journal`: one fsync shared by the uploads arriving together).

A blob's directory holds `metadata`, at most one pack (`storage_node.pack`: the slivers of the
first small upload, one file), batch packs `batch-*.pack` (the slivers of one large batch, one
file and one fsync per batch) and per-sliver files `<index>.sliver` (recovery, shard sync,
small uploads that find a pack already there, and large uploads before batch packs). Readers
look in all of them; data directories written before packs existed hold only per-sliver files
and read as before.

Nothing is confirmed before it is on disk, so a crash loses nothing a node has confirmed.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path

from haulout.protocol.blob_id import BlobId

from . import journal as wal
from . import pack
from .direct_writes import Appender
from .pack import SliverRef

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


BATCH_PREFIX = "batch-"
"""Names of batch packs: `batch-<pid>-<counter>-<random>.pack`."""


def pack_paths(blob_dir: Path) -> list[str]:
    """The packs in a blob's directory: its small-upload pack first, then its batch packs
    ([] when the directory is gone)."""
    try:
        names = os.listdir(blob_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []
    batches = sorted(n for n in names if n.startswith(BATCH_PREFIX) and n.endswith(".pack"))
    first = [pack.PACK_NAME] if pack.PACK_NAME in names else []
    return [os.path.join(blob_dir, n) for n in first + batches]


def packed_slivers(blob_dir: Path) -> dict[int, SliverRef]:
    """The slivers in every pack of a blob's directory; a damaged pack is skipped (logged):
    its slivers count as missing, so recovery fetches them again."""
    out: dict[int, SliverRef] = {}
    for path in pack_paths(blob_dir):
        try:
            for i, ref in pack.read_index(path).items():
                out.setdefault(i, ref)
        except pack.CorruptPack as exc:
            log.warning("ignoring a damaged sliver pack %s: %s", os.path.basename(path), exc)
    return out


def stored_slivers(blob_dir: Path) -> dict[int, SliverRef]:
    """Every sliver kept in a blob's directory, in its packs or in per-sliver files (read
    only, no side effects: for tools and tests that look into a node's data directory)."""
    out = packed_slivers(blob_dir)
    for f in blob_dir.glob("*.sliver"):
        try:
            index = int(f.name.split(".")[0])
            out.setdefault(index, SliverRef(str(f), 0, f.stat().st_size))
        except (ValueError, FileNotFoundError):
            continue
    return out


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


class PendingPack:
    """A batch's slivers written one after another to a temporary file (a batch pack, see
    `storage_node.pack`), invisible until `SliverStore.commit_pack`: one file, one fsync and
    one rename per batch instead of one each per sliver (at n = 1,000 a node gets ~100
    slivers of a blob, and those per-file costs were a third of its work)."""

    def __init__(self, blob_dir: Path, direct: bool = True) -> None:
        ensure_dir(blob_dir)
        self.path = blob_dir / (
            f"{BATCH_PREFIX}{os.getpid()}-{next(_unique)}-{secrets.token_hex(4)}.pack"
        )
        self.tmp = temporary_name(self.path)
        try:
            self.file = Appender(self.tmp, direct)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        self.entries: list[tuple[int, int]] = []
        self.kept = 0  # bytes of the slivers kept so far

    @property
    def indices(self) -> list[int]:
        """The slivers kept, in the order they were written."""
        return [i for i, _ in self.entries]

    @property
    def written(self) -> int:
        """Bytes of the sliver being written (counted by the file: a failed write cannot
        leave them uncounted)."""
        return self.file.size - self.kept

    @property
    def due(self) -> bool:
        """Whether bytes wait for `drain` (to be called off the event loop)."""
        return self.file.due

    @property
    def quick(self) -> bool:
        """Whether `drain` typically takes so little that the event loop may wait for it."""
        return self.file.quick

    def drain(self) -> None:
        """Write out the bytes gathered so far (direct writes wait for the device)."""
        self.file.drain()

    def write(self, data: bytes | memoryview) -> None:
        """Append bytes of the sliver being written."""
        self.file.write(data)

    def keep(self, index: int) -> None:
        """The sliver just written is `index`, verified: keep it."""
        self.entries.append((index, self.written))
        self.kept = self.file.size

    def drop(self) -> None:
        """Forget the sliver being written (bad or cut): the next starts where it started."""
        if self.written:
            self.file.rewind(self.kept)

    def seal(self) -> None:
        """Drop a sliver cut short, end the file with its index and make it durable (an
        earlier failed write raises `AppenderFailed`: nothing of the batch is kept)."""
        self.drop()
        self.file.write(pack.batch_trailer(self.entries))
        self.file.finish()
        os.fsync(self.file.fd)
        self.file.close()

    def discard(self) -> None:
        """Drop the whole file."""
        self.file.close()
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
    """`<root>/<blob id>/metadata`, `<root>/<blob id>/slivers.pack`, `<root>/<blob
    id>/batch-*.pack` and `<root>/<blob id>/<sliver index>.sliver`, and the journal of small
    uploads in `<root>.journal`."""

    def __init__(self, root: str | Path, direct_writes: bool = True) -> None:
        self.root = Path(root)
        self.direct_writes = direct_writes
        """Whether batch packs bypass the page cache where the file system allows it
        (`storage_node.direct_writes`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._locks = [threading.Lock() for _ in range(64)]  # pack creation, per blob (striped)
        self.discarded = self.sweep_temporaries()
        self.replayed = self.replay_journal()
        self.journal = wal.Journal(journal_dir(self.root))
        self.group_sync = wal.GroupSync(self.journal)
        """Durability of journal records for the event loop (`write_upload(sync=False)`)."""

    def replay_journal(self) -> int:
        """Rewrite the uploads a crash left in the journal (their files may not have reached
        the disk), make them durable, and drop the journal; called at start."""
        directory = journal_dir(self.root)

        def write(blob: bytes, metadata: bytes | None, slivers: dict[int, bytes]) -> None:
            d = self._dir(BlobId(blob))
            d.mkdir(parents=True, exist_ok=True)
            if metadata is not None:
                write_quickly(d / "metadata", metadata)
            packed = d / pack.PACK_NAME
            if not pack.intact(str(packed)):  # absent, or cut by the crash: never durable
                packed.unlink(missing_ok=True)
            self._write_slivers(d, slivers)

        count = wal.replay(directory, write)
        if count or any(directory.glob("*.journal")):
            wal.sync_filesystem(self.root)
            wal.discard(directory)
        return count

    def write_upload(
        self,
        blob_id: BlobId,
        metadata: bytes | None,
        slivers: dict[int, bytes],
        sync: bool = True,
    ) -> tuple[int, int] | None:
        """Store a small upload (checked metadata and slivers) durably: files written and
        renamed into place, then one journal record, fsynced (shared with concurrent
        uploads). Durable once this returns; with `sync=False` the record is only written
        and its journal position returned (None: nothing to write): durable once
        `Journal.sync` (or `GroupSync.durable`) of it returns."""
        d = self._dir(blob_id)
        if not d.is_dir():
            d.mkdir(parents=True, exist_ok=True)  # its entry: durable by checkpoint or replay
        if metadata is not None and self.get_metadata(blob_id) != metadata:
            write_quickly(d / "metadata", metadata)
        # the record carries the metadata (and slivers) even when the files were there: they
        # may come from an upload whose own record is not durable yet
        self._write_slivers(d, slivers)
        if not (metadata is not None or slivers):
            return None
        position = self.journal.write(blob_id.raw, wal.encode_payload(metadata, slivers))
        if sync:
            self.journal.sync(*position)
        return position

    def _lock_of(self, d: Path) -> threading.Lock:
        return self._locks[hash(d.name) % len(self._locks)]

    def _write_slivers(self, d: Path, slivers: dict[int, bytes]) -> None:
        """Write checked slivers without fsync (the journal makes them durable): as the
        blob's pack when it has none yet, else those the pack lacks as per-sliver files. A
        pack is never replaced here, so one that is durable stays whole whatever a crash
        does to these writes."""
        if not slivers:
            return
        packed = d / pack.PACK_NAME
        with self._lock_of(d):
            if not packed.exists():
                write_quickly(packed, b"".join(pack.encode(slivers)))
                return
        held = self._pack_index(d)
        for i, data in slivers.items():
            if i not in held:
                write_quickly(d / f"{i}.sliver", data)

    def _pack_index(self, d: Path) -> dict[int, SliverRef]:
        """The slivers in the blob directory's packs (a damaged one is skipped: a crash cut
        the small-upload pack before it was durable, and the journal's replay writes it
        again; a damaged batch pack's slivers count as missing, and recovery fetches them)."""
        return packed_slivers(d)

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

    def pending_pack(self, blob_id: BlobId) -> PendingPack:
        """Start a batch pack for this blob; visible only on `commit_pack`."""
        return PendingPack(self._dir(blob_id), self.direct_writes)

    def commit_pack(self, pending: PendingPack) -> list[int]:
        """Make a batch pack durable and visible: its index written, fsynced, renamed into
        place, the directory fsynced; returns the slivers it holds. A crash before this
        returns leaves only a temporary file. A pack with no sliver is just removed."""
        if not pending.entries:
            pending.discard()
            return []
        try:
            pending.seal()
            os.replace(pending.tmp, pending.path)
        except BaseException:
            pending.discard()
            raise
        _fsync_dir(pending.path.parent)
        return pending.indices

    def get_sliver(self, blob_id: BlobId, index: int) -> bytes | None:
        """One sliver, or None."""
        ref = self.locate(blob_id, [index]).get(index)
        return pack.read_ref(ref) if ref is not None else None

    def sliver_path(self, blob_id: BlobId, index: int) -> Path:
        """Where sliver `index` is (or would be) kept as a per-sliver file."""
        return self._dir(blob_id) / f"{index}.sliver"

    def locate(self, blob_id: BlobId, indices: list[int]) -> dict[int, SliverRef]:
        """Where the stored slivers among `indices` are (absent ones are left out): in the
        blob's pack, else in their own files."""
        d = self._dir(blob_id)
        held = self._pack_index(d)
        out = {i: held[i] for i in indices if i in held}
        for i in indices:
            if i not in out:
                path = os.path.join(d, f"{i}.sliver")
                try:
                    out[i] = SliverRef(path, 0, os.stat(path).st_size)
                except FileNotFoundError:
                    continue
        return out

    def read_slivers(self, refs: dict[int, SliverRef]) -> dict[int, bytes]:
        """The bytes of located slivers (one removed meanwhile is left out), one open per
        file."""
        out: dict[int, bytes] = {}
        by_file: dict[str, list[int]] = {}
        for i, ref in refs.items():
            by_file.setdefault(ref.path, []).append(i)
        for path, wanted in by_file.items():
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                for i in wanted:
                    data = os.pread(fd, refs[i].size, refs[i].offset)
                    if len(data) == refs[i].size:
                        out[i] = data
            finally:
                os.close(fd)
        return out

    def has_slivers(self, blob_id: BlobId, indices: list[int]) -> list[int]:
        """Which of `indices` are missing."""
        d = self._dir(blob_id)
        held = self._pack_index(d)
        return [
            i
            for i in indices
            if i not in held and not os.path.exists(os.path.join(d, f"{i}.sliver"))
        ]

    def sliver_indices(self, blob_id: BlobId) -> set[int]:
        """Every sliver index stored for a blob, in its pack or in files."""
        return set(stored_slivers(self._dir(blob_id)))

    def drop_slivers(self, blob_id: BlobId, indices: list[int]) -> int:
        """Delete some slivers of a blob (a handover); returns how many were stored. A pack
        holding some of them is replaced durably by one without them."""
        d = self._dir(blob_id)
        gone = set(indices)
        dropped = 0
        with self._lock_of(d):
            for path in pack_paths(d):
                packed = Path(path)
                try:
                    held = pack.read_all(path)
                except pack.CorruptPack:
                    continue
                if gone & set(held):
                    dropped += len(gone & set(held))
                    kept = {i: data for i, data in held.items() if i not in gone}
                    if kept:
                        write_durably(packed, b"".join(pack.encode(kept)))
                    else:
                        packed.unlink(missing_ok=True)
                        _fsync_dir(d)
        for i in gone:
            try:
                (d / f"{i}.sliver").unlink()
                dropped += 1
            except FileNotFoundError:
                continue
        return dropped

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
