"""A write-ahead journal: durability for small uploads at one fsync per group of uploads.

A small blob's part on one node is a metadata file and a few dozen tiny sliver files. Making
each of them durable on its own (fsync the file, rename, fsync the directory) cost ~100
fsyncs per stored blob over 4 nodes, each a journal commit of the file system (~7 ms here).
Instead, a small upload's files are written and renamed into place without fsync, and then
the whole upload (metadata and slivers) is appended to this journal as one record and the
journal is fsynced; uploads arriving meanwhile share that fsync (group commit). Only then is
the upload acknowledged and its confirmation signed: nothing acknowledged can be lost.

Checkpoints keep the journal short: the current file is closed for appends, the file system
is synced once (`syncfs`: every sliver file written before its record was appended is then
durable) and the old file is deleted. At start, `replay` rewrites every complete record of
the journal files left by a crash (a torn last record, never acknowledged, is dropped) and
syncs, before the node serves anything.

Record: `magic ‖ crc32 u32 ‖ blob id (32 bytes) ‖ length u32 ‖ payload`; the payload is
`metadata length u32 ‖ metadata ‖ frames` (frames as in a batch upload).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from haulout.protocol.frames import decode_frames, frame_header

log = logging.getLogger("haulout.node")

MAGIC = b"HJ01"
HEADER = struct.Struct("<4sI32sI")
"""magic, crc32 of the payload, blob id bytes, payload length."""

ROTATE_BYTES = 64 << 20
"""A journal file is checkpointed once it holds this many bytes ..."""

ROTATE_SECONDS = 5.0
"""... or once its first record is this old."""


def _syncfs_function() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        fn = ctypes.CDLL(name, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_SYNCFS = _syncfs_function()


def sync_filesystem(path: Path) -> None:
    """Make everything written to the file system holding `path` durable (`syncfs`, or a
    global `sync` where that is missing)."""
    if _SYNCFS is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if _SYNCFS(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"syncfs failed: {os.strerror(err)}")
    finally:
        os.close(fd)


def encode_payload(metadata: bytes | None, slivers: dict[int, bytes]) -> list[bytes]:
    """An upload's record payload, as pieces (joined once, when the record is written)."""
    meta = metadata or b""
    parts = [struct.pack("<I", len(meta)), meta]
    for i in sorted(slivers):
        parts += [frame_header(i, len(slivers[i])), slivers[i]]
    return parts


def decode_payload(payload: bytes) -> tuple[bytes | None, dict[int, bytes]]:
    """The inverse of `encode_payload` (ValueError when malformed)."""
    if len(payload) < 4:
        raise ValueError("record payload shorter than its metadata length")
    (meta_len,) = struct.unpack_from("<I", payload)
    if 4 + meta_len > len(payload):
        raise ValueError("record payload cut inside its metadata")
    meta = payload[4 : 4 + meta_len] or None
    return meta, decode_frames(payload[4 + meta_len :])


def read_records(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """(blob id bytes, payload) of every complete, intact record of one journal file, in
    order; stops at the first torn or damaged one (the tail a crash cut)."""
    with open(path, "rb") as fh:
        while True:
            head = fh.read(HEADER.size)
            if len(head) < HEADER.size:
                return
            magic, crc, blob, length = HEADER.unpack(head)
            if magic != MAGIC:
                return
            payload = fh.read(length)
            if len(payload) != length or zlib.crc32(payload) != crc:
                return
            yield blob, payload


class Journal:
    """Append-and-fsync with group commit, plus checkpoints; thread-safe."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # appends and rotation
        self._sync_lock = threading.Lock()  # one fsync at a time; the others share it
        self._files: dict[int, object] = {}
        self._durable: dict[int, int] = {}  # generation → bytes known durable
        self._checkpointed = -1  # generations up to this one are durable through syncfs
        existing = self.generations()
        self.gen = (existing[-1] + 1) if existing else 0
        self._open(self.gen)
        self.written = 0
        self.first_at = 0.0
        self.records = 0
        self.fsyncs = 0

    def path(self, gen: int) -> Path:
        """The file of generation `gen`."""
        return self.dir / f"{gen:012d}.journal"

    def generations(self) -> list[int]:
        """Generations of the journal files present, oldest first."""
        out = []
        for p in self.dir.glob("*.journal"):
            with contextlib.suppress(ValueError):
                out.append(int(p.stem))
        return sorted(out)

    def _open(self, gen: int) -> None:
        self._files[gen] = open(self.path(gen), "ab", buffering=0)  # noqa: SIM115 - closed at checkpoint
        fd = os.open(self.dir, os.O_RDONLY)  # the new file's entry survives a crash
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, blob_id: bytes, payload: list[bytes]) -> None:
        """Write one record and return once it is durable (sharing an fsync with the
        records appended meanwhile)."""
        self.sync(*self.write(blob_id, payload))

    def write(self, blob_id: bytes, payload: list[bytes]) -> tuple[int, int]:
        """Write one record, not yet durable: returns (generation, end) to pass to `sync`
        (or to a `GroupSync`) before anything that depends on it is acknowledged."""
        data = b"".join(payload)
        record = HEADER.pack(MAGIC, zlib.crc32(data), blob_id, len(data)) + data
        with self._lock:
            gen = self.gen
            fh = self._files[gen]
            fh.write(record)  # type: ignore[attr-defined]
            if not self.written:
                self.first_at = time.monotonic()
            self.written += len(record)
            end = self.written
            self.records += 1
        return gen, end

    def sync(self, gen: int, end: int) -> None:
        """Return once generation `gen` is durable up to `end` (one fsync covers every
        record written before it; a checkpoint covers whole generations)."""
        self._sync(gen, end)

    def _sync(self, gen: int, end: int) -> None:
        with self._sync_lock:
            if gen <= self._checkpointed or self._durable.get(gen, 0) >= end:
                return  # another thread's fsync (or a checkpoint) already covered it
            with self._lock:
                fh = self._files[gen]
                upto = self.written if gen == self.gen else end
            os.fdatasync(fh.fileno())  # type: ignore[attr-defined]
            self.fsyncs += 1
            self._durable[gen] = max(upto, end)

    def due(self) -> bool:
        """Whether the current file should be checkpointed now."""
        with self._lock:
            return bool(self.written) and (
                self.written >= ROTATE_BYTES or time.monotonic() - self.first_at >= ROTATE_SECONDS
            )

    def checkpoint(self, sync: Callable[[], None]) -> bool:
        """Start a new file, make everything durable with `sync()` (a `syncfs` of the store),
        then delete the older files; False when there was nothing to checkpoint."""
        with self._lock:
            if not self.written:
                return False
            old = self.gen
            self.gen += 1
            self._open(self.gen)
            self.written = 0
        sync()  # the old records' files were written before their records: durable now
        with self._sync_lock:
            self._checkpointed = old
            for gen in [g for g in self._files if g <= old]:
                self._files.pop(gen).close()  # type: ignore[attr-defined]
                self._durable.pop(gen, None)
                self.path(gen).unlink(missing_ok=True)
        return True

    def close(self) -> None:
        """Close the files (their records stay until replayed or checkpointed)."""
        with self._sync_lock, self._lock:
            for fh in self._files.values():
                fh.close()  # type: ignore[attr-defined]
            self._files.clear()


def replay(directory: Path, write: Callable[[bytes, bytes | None, dict[int, bytes]], None]) -> int:
    """Rewrite what the journal files in `directory` hold (a crash left them), through
    `write(blob id bytes, metadata or None, slivers)`; the caller syncs and then removes
    them with `discard`. Returns the number of records replayed."""
    count = 0
    if not directory.is_dir():
        return 0
    for path in sorted(directory.glob("*.journal")):
        for blob, payload in read_records(path):
            try:
                meta, slivers = decode_payload(payload)
            except ValueError:  # pragma: no cover - the checksum matched: written by us
                log.warning("skipping a malformed journal record in %s", path)
                continue
            write(blob, meta, slivers)
            count += 1
    return count


def discard(directory: Path) -> None:
    """Remove the journal files (after a replay made their contents durable)."""
    for path in directory.glob("*.journal"):
        path.unlink(missing_ok=True)


class GroupSync:
    """Makes journal records durable for an event loop without a thread trip per record:
    the loop writes a record (`Journal.write`, page cache) and awaits `durable`; one thread
    takes every position waiting, fsyncs once per generation, and wakes the loop once for
    the whole group. Each small upload used to take a worker thread and back (the hand-off
    was a fifth of a node's time holding the interpreter lock)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._cond = threading.Condition()
        self._pending: list[tuple[int, int, asyncio.Future[None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    async def durable(self, gen: int, end: int) -> None:
        """Return once the record that ended at `end` in generation `gen` is durable
        (raises what the fsync raised)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._stopped:
                raise RuntimeError("the journal is closed")
            self._loop = loop
            self._pending.append((gen, end, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="journal-sync", daemon=True)
                self._thread.start()
            self._cond.notify()
        await future

    def stop(self) -> None:
        """End the thread (waiting positions are still synced first)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
                loop = self._loop
            ends: dict[int, int] = {}
            for gen, end, _ in batch:
                ends[gen] = max(ends.get(gen, 0), end)
            failed: dict[int, BaseException] = {}
            for gen in sorted(ends):
                try:
                    self.journal.sync(gen, ends[gen])
                except BaseException as exc:  # each waiting upload fails with it
                    failed[gen] = exc
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    loop.call_soon_threadsafe(_settle, batch, failed)


def _settle(
    batch: list[tuple[int, int, asyncio.Future[None]]], failed: dict[int, BaseException]
) -> None:
    for gen, _, future in batch:
        if future.done():  # the request went away meanwhile
            continue
        if gen in failed:
            future.set_exception(failed[gen])
        else:
            future.set_result(None)
