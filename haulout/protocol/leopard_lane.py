"""A second core for encoding type 1: `reed-solomon-leopard` holds the GIL while it encodes,
so in one process its parity work and everything else (receiving the upload, writing slivers,
HTTP) take turns. A lane is a child process that computes each stripe's parity and hashes
every block into the slivers' running BLAKE3 hashes; stripes and parity travel through
shared memory, only small messages through a pipe.

Lanes are started once (`python -m haulout.protocol.leopard_lane`, a fresh interpreter, so a
threaded parent is safe and no user script is re-imported) and reused; an encode that finds
none free, or a platform where they cannot run, encodes in its own process instead.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any

log = logging.getLogger("haulout.codec")

MAX_LANES = 2
"""Child processes at most (one per concurrent large encode; the machine has 2 cores)."""

SLIVER_HASH = "blake3"
"""Type 1's sliver hash; `bench/encode.py` sets "blake2b" to measure the alternative."""

KEEP_SEGMENT = 160 << 20
"""A lane keeps its shared-memory segment between sessions up to this size (two 64 MiB
stripes in flight at n = 1,000), so at most `MAX_LANES` times this stays mapped while idle."""

MIN_STRIPES = 2
"""Blobs of fewer stripes encode in-process: a lane's round trips would cost more."""


def slots_for(slot_size: int) -> int:
    """Stripes in flight on a lane: 3 keep both cores busy; 2 when a slot (all `n` blocks of
    a stripe) passes 32 MiB, as at n = 1,000 with 64 KiB blocks, to bound memory."""
    return 2 if slot_size > 32 << 20 else 3


def _serve(conn: Connection) -> None:  # pragma: no cover - runs in the child process
    """The child: attach a session's shared memory, then encode and hash stripes in order."""
    import hashlib
    from multiprocessing import resource_tracker

    import blake3
    import reed_solomon_leopard

    # the parent created (and will unlink) every segment: do not track them here too
    resource_tracker.register = lambda *_a, **_k: None  # type: ignore[assignment]

    shm: SharedMemory | None = None
    attached = ""  # the segment `shm` is (kept between sessions: the parent reuses it)
    hashers: list[Any] = []
    k = m = block = slot_size = 0
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent went away
            break
        if msg is None:
            break
        op = msg[0]
        try:
            if op == "begin":
                _, name, k, m, block, slot_size, hash_name = msg
                if shm is None or name != attached:
                    if shm is not None:
                        shm.close()
                    shm, attached = None, ""
                    shm = SharedMemory(name=name)
                    attached = name
                if hash_name == "blake2b":  # benchmarks only
                    hashers = [hashlib.blake2b(digest_size=32) for _ in range(k + m)]
                else:
                    hashers = [blake3.blake3() for _ in range(k + m)]
                conn.send(("ok",))
            elif op == "stripe":
                assert shm is not None
                base = msg[1] * slot_size
                buf = _view(shm)
                blocks = [bytes(buf[base + j * block : base + (j + 1) * block]) for j in range(k)]
                parity = reed_solomon_leopard.encode(blocks, m) if m else []
                out = base + k * block
                for i, p in enumerate(parity):
                    buf[out + i * block : out + (i + 1) * block] = p
                for h, b in zip(hashers, blocks + list(parity), strict=True):
                    h.update(b)
                conn.send(("done", msg[1]))
            elif op == "end":
                digests = [h.digest() for h in hashers]
                hashers = []
                conn.send(("digests", digests))
        except Exception as exc:  # reported to the parent, which raises it
            if shm is not None and op != "stripe":
                shm.close()
                shm, attached = None, ""
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class LaneError(RuntimeError):
    """A lane failed (its process died or raised); the encode cannot go on."""


class Lane:
    """One child process and the pipe to it."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": _import_path()},
            )
        finally:
            theirs.close()
        self.conn = Connection(mine.detach())
        self.clean = True  # False while a session is open: its answers may still be queued
        self.shm: SharedMemory | None = None
        """The segment of the last session, kept for the next (see `segment`)."""

    def segment(self, size: int) -> SharedMemory:
        """A shared-memory segment of at least `size` bytes for a session: the last one when
        it is large enough, else a new one. Mapping fresh memory for every upload cost both
        processes a page fault (and the kernel a zeroed page) per 4 KiB of it: at n = 1,000
        the segment is 128 MiB, more than a 64 MiB blob itself."""
        if self.shm is not None and self.shm.size >= size:
            return self.shm
        self.drop_segment()
        self.shm = SharedMemory(create=True, size=size)
        return self.shm

    def drop_segment(self) -> None:
        """Unmap and remove the kept segment (the child's mapping goes when it attaches
        another or stops)."""
        if self.shm is None:
            return
        shm, self.shm = self.shm, None
        with suppress(OSError, BufferError):
            shm.close()
            shm.unlink()

    def after_session(self) -> None:
        """A session ended: keep its segment for the next unless it is over `KEEP_SEGMENT`."""
        if self.shm is not None and self.shm.size > KEEP_SEGMENT:
            self.drop_segment()

    def call(self, msg: tuple[Any, ...]) -> tuple[Any, ...]:
        """Send a message and wait for its answer."""
        self.send(msg)
        return self.receive()

    def send(self, msg: tuple[Any, ...] | None) -> None:
        """Send without waiting."""
        try:
            self.conn.send(msg)
        except (OSError, ValueError) as exc:
            raise LaneError(f"the encoding lane is gone: {exc}") from exc

    def receive(self) -> tuple[Any, ...]:
        """The next answer; an error answer or a dead lane raises `LaneError`."""
        try:
            answer: tuple[Any, ...] = self.conn.recv()
        except (EOFError, OSError) as exc:
            raise LaneError(f"the encoding lane died: {exc}") from exc
        if answer[0] == "error":
            raise LaneError(f"the encoding lane failed: {answer[1]}")
        return answer

    def alive(self) -> bool:
        """Whether the child still runs."""
        return self.proc.poll() is None

    def close(self) -> None:
        """Stop the child."""
        with suppress(OSError, ValueError):
            self.conn.send(None)
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.conn.close()
        self.drop_segment()


class LanePool:
    """Lanes started on demand and reused; at most `MAX_LANES`."""

    def __init__(self, limit: int = MAX_LANES) -> None:
        self.limit = limit
        self.idle: list[Lane] = []
        self.started = 0
        self.lock = threading.Lock()
        self.disabled = False

    @contextmanager
    def lane(self) -> Iterator[Lane | None]:
        """A lane for one encode, or None (all busy, or lanes cannot run here). A lane left
        mid-session (its encode failed and could not be drained) is stopped, not reused."""
        lane = self._take()
        try:
            yield lane
        finally:
            if lane is not None:
                self._give_back(lane, broken=not lane.clean)

    def _take(self) -> Lane | None:
        with self.lock:
            while self.idle:
                lane = self.idle.pop()
                if lane.alive():
                    return lane
                self.started -= 1  # died while idle (killed, out of memory): start another
                lane.conn.close()
                lane.drop_segment()
            if self.disabled or self.started >= self.limit:
                return None
            self.started += 1
        try:
            return Lane()
        except Exception as exc:  # e.g. no way to start processes here
            log.warning("cannot start an encoding lane; encoding in-process: %s", exc)
            with self.lock:
                self.started -= 1
                self.disabled = True
            return None

    def _give_back(self, lane: Lane, broken: bool) -> None:
        if broken or not lane.alive():
            lane.close()
            with self.lock:
                self.started -= 1
            return
        with self.lock:
            self.idle.append(lane)

    def warm(self) -> None:
        """Start one lane in the background, so the first large upload does not wait for it."""

        def start() -> None:
            with self.lane():
                pass

        threading.Thread(target=start, name="leopard-lane-warm", daemon=True).start()

    def close(self) -> None:
        """Stop the idle lanes (at exit; the others stop when their pipe closes)."""
        with self.lock:
            lanes, self.idle = self.idle, []
        for lane in lanes:
            lane.close()


POOL = LanePool()
"""The process-wide lanes."""
atexit.register(POOL.close)


class Session:
    """One blob's encode on a lane: `slots` stripes in flight in one shared-memory segment."""

    def __init__(self, lane: Lane, k: int, m: int, block: int, slots: int) -> None:
        self.lane, self.k, self.m, self.block = lane, k, m, block
        self.slot_size = (k + m) * block
        self.shm = lane.segment(slots * self.slot_size)
        lane.clean = False
        try:
            lane.call(("begin", self.shm.name, k, m, block, self.slot_size, SLIVER_HASH))
        except BaseException:
            self._release()
            raise

    def submit(self, slot: int, stripe: bytes | Sequence[bytes | bytearray | memoryview]) -> None:
        """Copy a stripe (whole, or as the pieces that make it up, see
        `striping.stripe_parts`) into `slot` and queue its parity and hashing."""
        at = slot * self.slot_size
        buf = _view(self.shm)
        for piece in [stripe] if isinstance(stripe, bytes) else stripe:
            buf[at : at + len(piece)] = piece
            at += len(piece)
        self.lane.send(("stripe", slot))

    def collect(self, slot: int, blocks: bool = True) -> list[memoryview]:
        """Wait for the oldest queued stripe (`slot`); its `k + m` blocks (none when only
        the hashes matter, as for a consistency check). The blocks are views of the shared
        memory, not copies: valid until the slot is submitted again (the caller writes
        them out first)."""
        answer = self.lane.receive()
        if answer != ("done", slot):
            raise LaneError(f"the encoding lane answered {answer[0]!r} out of order")
        if not blocks:
            return []
        base, b = slot * self.slot_size, self.block
        buf = _view(self.shm)
        return [buf[base + i * b : base + (i + 1) * b] for i in range(self.k + self.m)]

    def finish(self) -> list[bytes]:
        """The `n` sliver digests; ends the session."""
        try:
            digests: list[bytes] = self.lane.call(("end",))[1]
            self.lane.clean = True
            return digests
        finally:
            self._release()

    def abort(self, outstanding: int) -> None:
        """End the session after a failure on this side (e.g. the upload was cut): take the
        `outstanding` answers still due and close it, so the lane can be reused; if that
        fails too, the pool stops the lane."""
        try:
            for _ in range(outstanding):
                self.lane.receive()
            self.lane.call(("end",))
            self.lane.clean = True
        except LaneError:
            pass
        finally:
            self._release()

    def _release(self) -> None:
        """The lane keeps the segment for its next session (or drops it: `after_session`);
        a broken lane drops it when the pool stops it."""
        self.lane.after_session()


def _view(shm: SharedMemory) -> memoryview:
    """The segment's bytes (typeshed allows None: only after close)."""
    buf = shm.buf
    assert buf is not None, "the shared memory segment is closed"
    return buf


def _import_path() -> str:
    """PYTHONPATH for the child: where this package was imported from, then the parent's."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    rest = os.environ.get("PYTHONPATH", "")
    return root + (os.pathsep + rest if rest else "")


if __name__ == "__main__":  # pragma: no cover - the child's entry point
    _serve(Connection(int(sys.argv[1])))
