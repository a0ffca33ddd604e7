"""The relayer's view of blob registrations, kept from the chain's event stream.

It answers "is this blob certified and live?" for reads and for `alreadyCertified`, which
registrations of the relayer's own are still uncertified (reused by a retried store, counted
for /metrics, listed by `haulout uncertified`), and a blob's status in Walrus's terms.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from haulout.chain.events import (
    BlobCertified,
    BlobDeleted,
    BlobRegistered,
    ChainEvent,
    EpochAdvanced,
    InvalidBlobID,
)
from haulout.chain.objects import BlobObject
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
    sender: str = ""
    """Who registered it (who owns it while uncertified: only the owner can certify)."""
    registered_epoch: int = 0
    registered_tx: str = ""
    registered_cursor: int = 0
    certified_epoch: int | None = None

    def live_at(self, epoch: int) -> bool:
        """Not deleted and not expired at `epoch`."""
        return not self.deleted and self.end_epoch > epoch


@dataclass
class IndexStats:
    """Counters for /metrics."""

    uncertified_registrations: int = 0
    """Live registrations of the relayer's own that were never certified (paid for, not yet
    stored): a failed store left them; a retry of the same upload reuses them."""


class BlobIndex:
    """blob id → registrations; epoch; invalid ids. Thread-safe. `owner` is the relayer's
    address: its uncertified registrations are counted and offered for reuse."""

    def __init__(self, chain: ChainPort, owner: str = "") -> None:
        self.chain = chain
        self.owner = owner
        self.cursor = 0
        self.epoch = 0
        self.by_blob: dict[BlobId, dict[str, Registration]] = {}
        self.by_object: dict[str, Registration] = {}
        self.invalid: dict[BlobId, tuple[str, int]] = {}
        """Invalid blob ids → the (tx digest, cursor) of their InvalidBlobID event."""
        self.stats = IndexStats()
        self._pending: dict[str, Registration] = {}  # the owner's, maybe uncertified still
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # one chain reader at a time (`catch_up`)
        self._stop = threading.Event()
        self.listeners: list[Callable[[ChainEvent], None]] = []
        """Called with every event, in order, under the index's lock (e.g. the buckets')."""

    def catch_up(self) -> int:
        """Read every new event; returns how many. The chain is read outside the index's
        lock (one reader at a time), so the store flow's in-memory lookups and notes on the
        event loop never wait for a chain read; each batch is applied under the lock."""
        total = 0
        with self._reading:
            while True:
                batch = self.chain.events(after=self.cursor, limit=1000)
                with self._lock:
                    self._apply(batch)
                    total += len(batch)
                    if len(batch) < 1000:
                        if total:
                            self._count_uncertified()
                        return total

    def _apply(self, batch: Sequence[ChainEvent]) -> None:
        """Apply a batch of events, in order (under the lock)."""
        for ce in batch:
            ev = ce.event
            if isinstance(ev, BlobRegistered):
                r = self._registration(ev.object_id, ev.blob_id, ev.size, ev.deletable)
                r.end_epoch, r.sender, r.registered_epoch = (
                    ev.end_epoch,
                    ce.sender,
                    ev.epoch,
                )
                r.registered_tx, r.registered_cursor = ce.tx_digest, ce.cursor
                if r.sender == self.owner and not r.certified:
                    self._pending[r.object_id] = r
            elif isinstance(ev, BlobCertified) and ev.object_id in self.by_object:
                r = self.by_object[ev.object_id]
                r.certified, r.end_epoch = True, ev.end_epoch
                if not ev.is_extension:
                    r.certified_tx, r.certified_cursor = ce.tx_digest, ce.cursor
                    r.certified_epoch = ev.epoch
            elif isinstance(ev, BlobDeleted) and ev.object_id in self.by_object:
                self.by_object[ev.object_id].deleted = True
            elif isinstance(ev, EpochAdvanced):
                self.epoch = ev.epoch
            elif isinstance(ev, InvalidBlobID):
                self.invalid[ev.blob_id] = (ce.tx_digest, ce.cursor)
            for listener in self.listeners:
                listener(ce)
            self.cursor = ce.cursor

    def _registration(
        self, object_id: str, blob_id: BlobId, size: int, deletable: bool
    ) -> Registration:
        """The entry of `object_id`, created on first sight (the store flow may note its own
        registration before the follower reads the event)."""
        r = self.by_object.get(object_id)
        if r is None:
            r = Registration(object_id, blob_id, size, deletable, 0)
            self.by_blob.setdefault(blob_id, {})[object_id] = r
            self.by_object[object_id] = r
        return r

    def note_registered(self, blob: BlobObject, sender: str) -> None:
        """Record a registration this relayer just made, without waiting for its event, so a
        retry of a store that fails right after registering finds it."""
        with self._lock:
            r = self._registration(blob.id, blob.blob_id, blob.size, blob.deletable)
            if not r.sender:
                r.end_epoch, r.sender, r.registered_epoch = (
                    blob.end_epoch,
                    sender,
                    blob.registered_epoch,
                )
            if r.sender == self.owner and not r.certified:
                self._pending[r.object_id] = r
            self._count_uncertified()

    def note_certified(self, blob: BlobObject) -> None:
        """Record a certification this relayer just made, so an identical upload right after
        finds it (`alreadyCertified`) before the follower reads the event."""
        with self._lock:
            r = self._registration(blob.id, blob.blob_id, blob.size, blob.deletable)
            r.certified, r.end_epoch = True, blob.end_epoch
            if r.certified_epoch is None:
                r.certified_epoch = blob.certified_epoch
            self._count_uncertified()

    def _count_uncertified(self) -> None:
        self.stats.uncertified_registrations = len(self._uncertified())

    def _uncertified(self) -> list[Registration]:
        for oid in [oid for oid, r in self._pending.items() if not self._open(r)]:
            del self._pending[oid]  # certified, deleted or expired since
        return list(self._pending.values())

    def _open(self, r: Registration) -> bool:
        return not r.certified and r.live_at(self.epoch)

    def uncertified(self) -> list[Registration]:
        """The owner's live registrations that were never certified, oldest first."""
        with self._lock:
            found = self._uncertified()
        return sorted(found, key=lambda r: (r.registered_epoch, r.registered_cursor))

    def reusable(
        self, blob_id: BlobId, deletable: bool, min_end_epoch: int, taken: set[str]
    ) -> list[Registration]:
        """The owner's uncertified registrations of `blob_id` with this persistence lasting
        at least until `min_end_epoch`, not in `taken` (in use by a store right now); the
        shortest-lived first, so the longer ones stay for stores that need them (as Walrus's
        `reuse_resources`)."""
        with self._lock:
            found = [
                r
                for r in self.by_blob.get(blob_id, {}).values()
                if r.deletable == deletable
                and not r.certified
                and r.live_at(self.epoch)
                and r.end_epoch >= min_end_epoch
                and r.sender == self.owner
                and r.object_id not in taken
            ]
        return sorted(found, key=lambda r: r.end_epoch)

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

    def registrations(self, blob_id: BlobId) -> list[Registration]:
        """Undeleted, unexpired registrations of a blob id, certified or not, anyone's."""
        with self._lock:
            regs = self.by_blob.get(blob_id, {}).values()
            return [r for r in regs if r.live_at(self.epoch)]

    def live(self, blob_id: BlobId) -> list[Registration]:
        """Certified, undeleted, unexpired registrations of a blob id."""
        with self._lock:
            regs = self.by_blob.get(blob_id, {}).values()
            return [r for r in regs if r.certified and not r.deleted and r.end_epoch > self.epoch]

    def status(self, blob_id: BlobId) -> dict[str, Any]:
        """A blob's status: `status` is `invalid`, `certified` (some live registration is
        certified), `registered` (live registrations, none certified) or `nonexistent`
        (never registered, or every registration deleted or expired, as Walrus says);
        `blobStatus` is Walrus's `BlobStatus` shape (nonexistent / invalid / permanent /
        deletable)."""
        with self._lock:
            epoch = self.epoch
            regs = list(self.by_blob.get(blob_id, {}).values())
            invalid = self.invalid.get(blob_id)
        live = [r for r in regs if r.live_at(epoch)]
        if invalid is not None:
            status = "invalid"
        elif any(r.certified for r in live):
            status = "certified"
        else:
            status = "registered" if live else "nonexistent"
        return {
            "blobId": str(blob_id),
            "status": status,
            "blobStatus": walrus_status(live, invalid),
            "epoch": epoch,
            "objects": [
                {
                    "objectId": r.object_id,
                    "deletable": r.deletable,
                    "certified": r.certified,
                    "deleted": r.deleted,
                    "expired": not r.deleted and r.end_epoch <= epoch,
                    "endEpoch": r.end_epoch,
                }
                for r in regs
            ],
        }

    def permanent_certified(self, blob_id: BlobId, min_end_epoch: int) -> Registration | None:
        """A certified permanent registration lasting at least until `min_end_epoch`."""
        for r in self.live(blob_id):
            if not r.deletable and r.end_epoch >= min_end_epoch:
                return r
        return None

    def own_certified_deletable(self, blob_id: BlobId, min_end_epoch: int) -> list[Registration]:
        """Certified deletable registrations this relayer made that last until `min_end_epoch`
        (it may have sent some away since: the caller checks the owner on chain)."""
        return [
            r
            for r in self.live(blob_id)
            if r.deletable and r.sender == self.owner and r.end_epoch >= min_end_epoch
        ]


def _event_id(tx: str, cursor: int) -> dict[str, str]:
    return {"txDigest": tx, "eventSeq": str(cursor)}


def walrus_status(live: list[Registration], invalid: tuple[str, int] | None) -> Any:
    """Walrus's `BlobStatus` from the live registrations of one blob id."""
    if invalid is not None:
        return {"invalid": {"event": _event_id(*invalid)}}
    deletable = [r for r in live if r.deletable]
    certified_epochs = [r.certified_epoch for r in live if r.certified_epoch is not None]
    counts = {
        "countDeletableTotal": len(deletable),
        "countDeletableCertified": sum(r.certified for r in deletable),
    }
    initial = min(certified_epochs) if certified_epochs else None
    permanent = [r for r in live if not r.deletable]
    if permanent:  # the longest-lived, certified ones first
        best = max(permanent, key=lambda r: (r.certified, r.end_epoch))
        event = (
            _event_id(best.certified_tx, best.certified_cursor)
            if best.certified
            else _event_id(best.registered_tx, best.registered_cursor)
        )
        return {
            "permanent": {
                "endEpoch": best.end_epoch,
                "isCertified": best.certified,
                "statusEvent": event,
                "deletableCounts": counts,
                "initialCertifiedEpoch": initial,
            }
        }
    if deletable:
        return {"deletable": {"initialCertifiedEpoch": initial, "deletableCounts": counts}}
    return "nonexistent"
