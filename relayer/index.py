"""The relayer's view of blob registrations, kept from the chain's event stream.

It answers "is this blob certified and live?" for reads and for `alreadyCertified`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from haulout.chain.events import (
    BlobCertified,
    BlobDeleted,
    BlobRegistered,
    EpochAdvanced,
    InvalidBlobID,
)
from haulout.chain.port import ChainPort
from haulout.protocol.blob_id import BlobId

log = logging.getLogger("haulout.relayer.index")


@dataclass
class Registration:
    """One Blob object as seen in events."""

    object_id: str
    blob_id: BlobId
    size: int
    deletable: bool
    end_epoch: int
    certified: bool = False
    deleted: bool = False
    certified_tx: str = ""
    certified_cursor: int = 0


class BlobIndex:
    """blob id → registrations; epoch; invalid ids. Thread-safe."""

    def __init__(self, chain: ChainPort) -> None:
        self.chain = chain
        self.cursor = 0
        self.epoch = 0
        self.by_blob: dict[BlobId, dict[str, Registration]] = {}
        self.by_object: dict[str, Registration] = {}
        self.invalid: set[BlobId] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def catch_up(self) -> int:
        """Read every new event; returns how many."""
        total = 0
        with self._lock:
            while True:
                batch = self.chain.events(after=self.cursor, limit=1000)
                for ce in batch:
                    ev = ce.event
                    if isinstance(ev, BlobRegistered):
                        r = Registration(
                            ev.object_id, ev.blob_id, ev.size, ev.deletable, ev.end_epoch
                        )
                        self.by_blob.setdefault(ev.blob_id, {})[ev.object_id] = r
                        self.by_object[ev.object_id] = r
                    elif isinstance(ev, BlobCertified) and ev.object_id in self.by_object:
                        r = self.by_object[ev.object_id]
                        r.certified, r.end_epoch = True, ev.end_epoch
                        if not ev.is_extension:
                            r.certified_tx, r.certified_cursor = ce.tx_digest, ce.cursor
                    elif isinstance(ev, BlobDeleted) and ev.object_id in self.by_object:
                        self.by_object[ev.object_id].deleted = True
                    elif isinstance(ev, EpochAdvanced):
                        self.epoch = ev.epoch
                    elif isinstance(ev, InvalidBlobID):
                        self.invalid.add(ev.blob_id)
                    self.cursor = ce.cursor
                total += len(batch)
                if len(batch) < 1000:
                    return total

    def follow(self, interval: float) -> None:
        """Keep up with the chain until `stop()`."""
        while not self._stop.is_set():
            try:
                self.catch_up()
            except Exception:  # pragma: no cover
                log.exception("index follower failed; retrying")
            self._stop.wait(interval)

    def stop(self) -> None:
        """Stop following."""
        self._stop.set()

    def live(self, blob_id: BlobId) -> list[Registration]:
        """Certified, undeleted, unexpired registrations of a blob id."""
        with self._lock:
            regs = self.by_blob.get(blob_id, {}).values()
            return [r for r in regs if r.certified and not r.deleted and r.end_epoch > self.epoch]

    def permanent_certified(self, blob_id: BlobId, min_end_epoch: int) -> Registration | None:
        """A certified permanent registration lasting at least until `min_end_epoch`."""
        for r in self.live(blob_id):
            if not r.deletable and r.end_epoch >= min_end_epoch:
                return r
        return None
