"""Appending a large file past the page cache (`O_DIRECT`), through a reused aligned buffer.

Why: a large batch's slivers are written once and seldom read soon after, yet copying them
into fresh page-cache pages was most of a storage node's CPU during a large store. Profiled
on this 2-core VM (perf, 128 MiB stored through 4 nodes): `copy_folio_from_iter_atomic`,
the kernel's copy into the page cache, took 60 % of the nodes' CPU; writing 96 MiB cost
1.4-2.7 ms of CPU per MiB buffered against 0.05 ms/MiB direct (and ran 4-6 times faster).
A direct write sends the bytes from a staging buffer to the device; the buffer is reused
from write to write and file to file, so its pages are already there.

`O_DIRECT` wants the buffer, the file offset and the length aligned to the device's block:
the staging buffer is page-aligned (mmap), written in whole `BLOCK`s, and the last partial
block is written padded with zeros before the file is cut to its exact size. Where the
file system refuses `O_DIRECT` (tmpfs, some overlay mounts) the file is written through the
page cache, as before; `HAULOUT_NODE_DIRECT_WRITES=0` asks for that everywhere.
A direct write waits for the device: the batch receiver has each one done (`Appender.drain`,
once a MiB is gathered) in a worker thread unless this process's writes are typically quick
(`QUICK_WRITE`), so a slow disk never stalls the node's event loop.
Durability is unchanged: the caller still fsyncs before it confirms anything.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import threading
import time
from pathlib import Path

BLOCK = 4096
"""Alignment of direct writes: the largest logical block size of common devices."""

STAGE = 1 << 20
"""Bytes gathered before a direct write is due (`Appender.due`)."""

BUFFER = 2 * STAGE
"""Size of a staging buffer: room for the next bytes while a due write waits for its thread;
a buffer that fills up anyway is written at once."""

QUICK_WRITE = 0.002
"""Seconds a staging buffer's write may typically take and still be done on the event loop:
on a device this fast (here 0.5 ms per MiB) a trip to a worker thread and back costs more
CPU than the wait; on a slower one (disks, network block storage) the loop must not wait."""

_typical_write = [float("inf")]
"""Seconds a direct write of a staging buffer takes in this process (moving average); not
known yet counts as slow."""

KEEP_FREE = 8
"""Staging buffers kept for reuse once their file is done (the rest are unmapped)."""

_free: list[mmap.mmap] = []
_lock = threading.Lock()


def _take() -> mmap.mmap:
    """A staging buffer, reused when one is free (its pages already backed)."""
    with _lock:
        if _free:
            return _free.pop()
    return mmap.mmap(-1, BUFFER)  # MAP_SHARED: as fast here as MAP_PRIVATE (nodes never fork)


def _give(buf: mmap.mmap) -> None:
    """Return a staging buffer for the next file."""
    with _lock:
        if len(_free) < KEEP_FREE:
            _free.append(buf)
            return
    buf.close()


class AppenderFailed(OSError):
    """An earlier write or read-back of this file failed: what it holds cannot be trusted,
    so it cannot be finished (drop it and receive its bytes again)."""


class Appender:
    """Writes one file from its start, sequentially, possibly cutting back what it wrote last
    (`rewind`), then `finish`es it. `direct` tells whether it bypasses the page cache (asked
    for and allowed by the file system). The file must exist; it is opened here.

    `write` only copies into the staging buffer (a full buffer excepted); once `due`, the
    owner calls `drain` — from a worker thread unless `quick`, so a slow device does not
    stall an event loop — and no other method meanwhile. After any failed write or read-back every
    further call raises `AppenderFailed`: a file with a hole is never finished."""

    def __init__(self, path: Path | str, direct: bool = True) -> None:
        self.direct = False
        self.fd = -1
        self.buf: mmap.mmap | None = None
        self.failed: BaseException | None = None
        self.finished = False
        if direct and hasattr(os, "O_DIRECT"):
            try:
                self.fd = os.open(path, os.O_RDWR | os.O_DIRECT)
                self.direct = True
            except OSError as e:
                if e.errno != errno.EINVAL:  # EINVAL: this file system has no O_DIRECT
                    raise
        if self.fd < 0:
            self.fd = os.open(path, os.O_RDWR)
        if self.direct:
            try:
                self.buf = _take()
            except BaseException:
                self.close()
                raise
        self.flushed = 0  # bytes on file before the buffer's content (a multiple of BLOCK)
        self.fill = 0  # bytes in the buffer (direct) or past `flushed` (buffered: always 0)

    @property
    def size(self) -> int:
        """Bytes written so far (those still in the staging buffer included)."""
        return self.flushed + self.fill

    @property
    def due(self) -> bool:
        """Whether a `drain` should run now."""
        return self.buf is not None and self.fill >= STAGE

    @property
    def quick(self) -> bool:
        """Whether this process's direct writes typically take under `QUICK_WRITE`, so a
        `drain` may run on the event loop."""
        return _typical_write[0] <= QUICK_WRITE

    def _usable(self) -> None:
        if self.failed is not None:
            raise AppenderFailed(errno.EIO, f"an earlier write failed: {self.failed}")
        if self.finished:
            raise ValueError("the file is finished")

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append `data`."""
        self._usable()
        view = memoryview(data).cast("B")
        try:
            if self.buf is None:
                while view:
                    done = os.pwrite(self.fd, view, self.flushed)
                    self.flushed += done
                    view = view[done:]
                return
            while view:
                n = min(len(view), BUFFER - self.fill)
                self.buf[self.fill : self.fill + n] = view[:n]
                self.fill += n
                view = view[n:]
                if self.fill == BUFFER:
                    self._flush_whole_blocks()
        except BaseException as e:
            self.failed = e
            raise

    def drain(self) -> None:
        """Write the buffer's whole blocks now (see the class docstring)."""
        self._usable()
        if self.buf is not None and self.fill >= BLOCK:
            try:
                self._flush_whole_blocks()
            except BaseException as e:
                self.failed = e
                raise

    def _flush_whole_blocks(self) -> None:
        """Write the buffer's whole blocks; the partial one moves to the buffer's start."""
        assert self.buf is not None
        whole = self.fill - self.fill % BLOCK
        started = time.perf_counter()
        self._write_out(whole)
        took = time.perf_counter() - started
        seen = _typical_write[0]
        _typical_write[0] = took if seen == float("inf") else 0.8 * seen + 0.2 * took
        rest = self.fill - whole
        if rest:
            self.buf.move(0, whole, rest)
        self.flushed += whole
        self.fill = rest

    def _write_out(self, length: int) -> None:
        """Write the buffer's first `length` bytes (a multiple of BLOCK) at `flushed`."""
        assert self.buf is not None
        view = memoryview(self.buf)[:length]
        offset = self.flushed
        try:
            while view:
                try:
                    done = os.pwrite(self.fd, view, offset)
                except OSError as e:
                    if e.errno != errno.EINVAL or not self.direct:
                        raise
                    self._through_page_cache()  # the device wants another alignment
                    continue
                offset += done
                view = view[done:]
        finally:
            view.release()

    def _through_page_cache(self) -> None:
        """Stop writing directly: the file system took `O_DIRECT` but refuses our writes."""
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
        self.direct = False

    def rewind(self, size: int) -> None:
        """Forget everything written after the first `size` bytes (a sliver that failed its
        check): the next write continues at `size`."""
        self._usable()
        if not 0 <= size <= self.size:
            raise ValueError(f"cannot rewind to {size}: {self.size} bytes written")
        try:
            if self.buf is None:
                os.ftruncate(self.fd, size)
                self.flushed = size
                return
            if size >= self.flushed:
                self.fill = size - self.flushed
                return
            # the bytes to keep end inside a block already written: read that block back
            base = size - size % BLOCK
            if size > base:
                view = memoryview(self.buf)[:BLOCK]
                try:
                    got = os.preadv(self.fd, [view], base)
                finally:
                    view.release()
                if got < size - base:
                    raise OSError(errno.EIO, f"read back {got} of {size - base} bytes kept")
            os.ftruncate(self.fd, base)
            self.flushed, self.fill = base, size - base
        except BaseException as e:
            self.failed = e
            raise

    def finish(self) -> None:
        """Write what the buffer still holds and cut the file to exactly `size` bytes; no
        more writes after it. The file is not fsynced here."""
        self._usable()
        self.finished = True
        try:
            if self.buf is not None and self.fill:
                padded = -(-self.fill // BLOCK) * BLOCK
                self.buf[self.fill : padded] = bytes(padded - self.fill)
                self._write_out(padded)
            os.ftruncate(self.fd, self.size)
        except BaseException as e:
            self.failed = e
            raise

    def close(self) -> None:
        """Close the file and give the staging buffer back (idempotent)."""
        fd, self.fd = self.fd, -1
        buf, self.buf = self.buf, None
        try:
            if fd >= 0:
                os.close(fd)
        finally:
            if buf is not None:
                _give(buf)
