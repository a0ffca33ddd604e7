"""The storage node's rules: accept data only for registered blobs and owned shards, with
matching hashes; confirm (BLS-sign) only what is durably stored; drop deleted/expired data.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from haulout.chain.events import EpochChangeDone, EpochChangeStart, ShardsReceived
from haulout.chain.port import ChainPort
from haulout.http_errors import ApiError
from haulout.logs import event
from haulout.protocol.blob_id import BlobId, format_object_id, parse_object_id
from haulout.protocol.bls import BlsKeyPair
from haulout.protocol.committee import Committee
from haulout.protocol.errors import InvalidCommittee, InvalidMetadata, InvalidSliver
from haulout.protocol.messages import BlobCertification
from haulout.protocol.metadata import BlobMetadata

from . import registry as reg
from .pack import SliverRef
from .store import SliverStore
from .waiters import RegistrationWaiters

log = logging.getLogger("haulout.node")

EPOCH_CHANGE_EVENTS = (EpochChangeStart, ShardsReceived, EpochChangeDone)


def blob_gone_during_upload(blob_id: object) -> ApiError:
    """The answer when a blob's directory vanished mid-upload (deleted or expired meanwhile):
    nothing was stored, and storing it again needs a new registration."""
    return ApiError(
        404,
        "BLOB_NOT_REGISTERED",
        f"blob {blob_id} was deleted or expired during the upload; nothing was stored",
    )


@dataclass
class NodeStats:
    """Counters for /metrics."""

    slivers_stored: int = 0
    slivers_rejected: int = 0
    metadata_stored: int = 0
    confirmations: int = 0
    blobs_collected: int = 0
    events_processed: int = 0
    slivers_recovered: int = 0
    recovery_retries: int = 0
    waiters_rejected: int = 0
    slivers_synced: int = 0
    """Slivers of gained shards fetched from their previous owner after a committee change."""
    bytes_synced: int = 0
    """Bytes of those slivers (what moving shards cost this node, recovery aside)."""
    slivers_handed_over: int = 0
    """Slivers of shards this node no longer owns, deleted once their new owner held them."""
    shard_reports: int = 0
    """`shards_received` reports this node sent on chain (one per epoch change it gained in)."""


@dataclass
class UploadActivity:
    """Uploads of one blob being received here: how many requests are in flight, and when
    the last one started or ended (recovery leaves a blob alone while this moves)."""

    in_flight: int = 0
    last: float = 0.0


class NodeService:
    """One storage node; the chain port, store and key are given to it (ports)."""

    def __init__(
        self,
        chain: ChainPort,
        store: SliverStore,
        registry: reg.Registry,
        key: BlsKeyPair,
        node_id: str,
        confirmation_wait: float = 5.0,
        max_waiters: int = 512,
        metadata_wait: float = 2.0,
    ) -> None:
        self.chain, self.store, self.registry, self.key = chain, store, registry, key
        self.node_id = node_id
        self.confirmation_wait = confirmation_wait
        self.metadata_wait = metadata_wait
        self.stats = NodeStats()
        self._committee: Committee | None = None
        self._previous: Committee | None = None
        self._refreshed = 0.0
        self.handover_due = threading.Event()  # the committee changed: sync and hand over
        self.syncing = False
        """A shard-sync pass is fetching gained shards from their previous owners: recovery
        waits (the pass itself falls back to it for what they do not give)."""
        self.foreign_writes = 0
        """Uploads that could bring slivers of shards this node owned only before the last
        change (see `acceptable_slivers`): the handover looks for foreign slivers again."""
        self.held: tuple[Committee | None, frozenset[int]] = (None, frozenset())
        """Shards this node holds completely (every live certified blob's sliver), as the last
        shard-sync pass found them for that committee; what old owners ask before deleting."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # a request started waiting: look at the chain now
        self._gc_due = threading.Event()  # deletions or a new epoch: collect in the background
        self.waiters = RegistrationWaiters(max_waiters, on_wait=self._wake.set)
        self._uploads: dict[BlobId, UploadActivity] = {}
        self._uploads_lock = threading.Lock()
        self.last_upload = 0.0  # monotonic time an upload request of any blob began or ended
        self.uploads_in_flight = 0  # upload requests of any blob being received now

    # -- chain following ----------------------------------------------------------------------

    def committee(self) -> Committee:
        """The current committee (refreshed when CommitteeChanged is seen)."""
        committee = self._committee
        if committee is None:
            system = self.chain.system()
            committee = system.require_committee()
            self._committee, self._previous = committee, system.previous_committee
            self._refreshed = time.monotonic()
        return committee

    def previous_committee(self) -> Committee | None:
        """The committee before the last change, as the chain names it (None: none yet)."""
        self.committee()
        return self._previous

    def refresh_committee(self, at_most_every: float = 1.0) -> bool:
        """Read the committee from the chain now, unless that was done in the last
        `at_most_every` seconds (a write may name the new committee before this node's
        follower saw `CommitteeChanged`); True when it changed."""
        if time.monotonic() - self._refreshed < at_most_every:
            return False
        before = self._committee
        self._committee = None
        changed = self.committee() != before
        if changed:
            self.handover_due.set()
        return changed

    def adopt_committee(self, committee: Committee | None, previous: Committee | None) -> None:
        """Take the committee a fresh read of the System names when this node's follower has
        not seen its change yet: a confirmation is signed for the chain's epoch, so the
        slivers it vouches for must be those this node owns in that epoch's committee (a
        node that just gained shards must not sign before it holds them)."""
        if committee is None or committee == self._committee:
            return
        self._committee, self._previous = committee, previous
        self._refreshed = time.monotonic()
        self.handover_due.set()

    def held_shards(self) -> list[int]:
        """Shards of the current committee this node holds completely (see `held`)."""
        committee, shards = self.held
        return sorted(shards) if committee == self.committee() else []

    @property
    def member_index(self) -> int:
        """This node's position in the committee."""
        return self.committee().index_of(self.node_id)

    def follow_once(self, limit: int = 1000) -> int:
        """Process one batch of events; returns how many were processed. Requests waiting for
        a blob registered in the batch are woken; deletions and new epochs only mark garbage
        collection due (`collect` runs it on its own thread, never inside a request)."""
        with self._lock:
            events = self.chain.events(after=self.registry.cursor, limit=limit)
            if not events:
                return 0
            rows = reg.process(events, self.registry.cursor)
            self.registry.commit(rows)
            if rows.committee_changed:
                self._committee = None
                self.handover_due.set()
            if any(isinstance(e.event, EPOCH_CHANGE_EVENTS) for e in events):
                self.handover_due.set()  # report, or let go of what new owners hold
            self.stats.events_processed += len(events)
            if rows.deleted or rows.epoch is not None:
                self._gc_due.set()
        self.waiters.notify(r[1] for r in rows.registered)
        return len(events)

    def follow(self, interval: float, waiting_interval: float = 0.05) -> None:
        """Follow the chain until `stop()`: the only reader of chain events. It polls every
        `interval`, and every `waiting_interval` while requests wait for a registration (one
        thread polls for all of them); errors are logged and retried."""
        while not self._stop.is_set():
            try:
                if self.follow_once() == 0:
                    pause = waiting_interval if self.waiters.count else interval
                    self._wake.wait(pause)
                    self._wake.clear()
            except Exception:  # pragma: no cover - logged and retried
                log.exception("event follower failed; retrying")
                self._stop.wait(1.0)

    def collect(self, interval: float = 60.0) -> None:
        """Collect garbage in the background until `stop()`: when the follower saw deletions
        or a new epoch, and every `interval` seconds in any case."""
        while not self._stop.is_set():
            self._gc_due.wait(interval)
            if self._stop.is_set():
                return
            self._gc_due.clear()
            try:
                self.collect_garbage()
            except Exception:  # pragma: no cover - logged and retried
                log.exception("garbage collection failed; retrying")

    def stop(self) -> None:
        """Stop following and collecting."""
        self._stop.set()
        self._wake.set()
        self._gc_due.set()

    def collect_garbage(self) -> list[BlobId]:
        """Delete data of blobs with no live registration (deleted or expired)."""
        gone = self.registry.garbage(self.store.blob_ids())
        for b in gone:
            self.store.delete(b)
            self.stats.blobs_collected += 1
            event(log, "blob data removed", blob_id=str(b), why="deleted or expired")
        return gone

    # -- data path ----------------------------------------------------------------------------

    async def await_registration(
        self,
        blob_id: BlobId,
        wait: float,
        until: Callable[[reg.BlobState], bool] | None = None,
    ) -> None:
        """Wait (asynchronously, woken by the follower) up to `wait` seconds for the blob to
        be registered and `until` to hold (e.g. a particular object is known). Returns in
        any case once the wait is over; the caller then checks the state. 503 when too many
        requests wait already."""

        def ready() -> bool:
            state = self.registry.blob(blob_id)
            return state.registered and (until is None or until(state))

        try:
            await self.waiters.wait_until(str(blob_id), ready, wait)
        finally:
            self.stats.waiters_rejected = self.waiters.rejected

    def _registered(self, blob_id: BlobId) -> reg.BlobState:
        """The blob's registration state as the registry knows it now (404 / 409 unless it
        is registered and valid)."""
        state = self.registry.blob(blob_id)
        if state.invalid:
            raise ApiError(
                409, "BLOB_INVALID", f"blob {blob_id} was voted invalid; it is not stored"
            )
        if not state.registered:
            raise ApiError(
                404,
                "BLOB_NOT_REGISTERED",
                f"blob {blob_id} is not registered on chain (or it was deleted or expired); "
                "register it before uploading data",
            )
        return state

    @contextmanager
    def uploading(self, blob_id: BlobId) -> Iterator[None]:
        """Mark an upload request of `blob_id` in progress here (see `upload_activity`)."""
        now = time.monotonic()
        with self._uploads_lock:
            act = self._uploads.setdefault(blob_id, UploadActivity())
            act.in_flight += 1
            self.uploads_in_flight += 1
            act.last = self.last_upload = now
        try:
            yield
        finally:
            with self._uploads_lock:
                act.in_flight -= 1
                self.uploads_in_flight -= 1
                act.last = self.last_upload = time.monotonic()

    def upload_activity(self, blob_id: BlobId) -> UploadActivity | None:
        """Uploads of `blob_id` this node is receiving or received lately (None: none seen
        since start, or forgotten by `forget_uploads`)."""
        with self._uploads_lock:
            act = self._uploads.get(blob_id)
            return UploadActivity(act.in_flight, act.last) if act else None

    def forget_uploads(self, older_than: float) -> None:
        """Drop upload records idle for `older_than` seconds (bounds the table)."""
        cutoff = time.monotonic() - older_than
        with self._uploads_lock:
            for b in [b for b, a in self._uploads.items() if not a.in_flight and a.last < cutoff]:
                del self._uploads[b]

    def require_registered(self, blob_id: BlobId) -> None:
        """404 unless the blob has a live registration (409 if it was voted invalid)."""
        self._registered(blob_id)

    def owned_slivers(self, blob_id: BlobId) -> list[int]:
        """Sliver indices this node stores for `blob_id` (none while it is not a member: a
        node that joined waits for its first epoch change, one that left owns nothing)."""
        committee = self.committee()
        if not any(m.node_id == self.node_id for m in committee.members):
            return []
        return committee.slivers_of(self.member_index, int(blob_id))

    def acceptable_slivers(self, blob_id: BlobId) -> list[int]:
        """Sliver indices an upload may bring here: those this node owns, and those it owned
        in the previous committee (a store that began before the epoch change pushes to the
        old owners; the new owners pull from them when asked to confirm, and the handover
        deletes them once the new owners hold their shards)."""
        owned = self.owned_slivers(blob_id)
        previous, committee = self.previous_committee(), self.committee()
        if previous is None or previous.n_shards != committee.n_shards:
            return owned
        try:
            before = previous.slivers_of(previous.index_of(self.node_id), int(blob_id))
        except InvalidCommittee:
            return owned
        return sorted(set(owned) | set(before))

    def accept_upload(self, blob_id: BlobId) -> list[int]:
        """Sliver indices one upload request may bring here (`acceptable_slivers`), for every
        upload route alike. When they include shards this node owned only before the last
        change, the handover is told to look for foreign slivers again (it deletes them once
        the blob is certified and the shard's new owner holds it)."""
        accepted = self.acceptable_slivers(blob_id)
        if len(accepted) > len(self.owned_slivers(blob_id)):
            self.foreign_writes += 1
        return accepted

    def metadata(self, blob_id: BlobId) -> BlobMetadata:
        """Stored metadata (404 when absent)."""
        raw = self.store.get_metadata(blob_id)
        if raw is None:
            raise ApiError(
                404, "METADATA_NOT_FOUND", f"this node has no metadata for blob {blob_id}"
            )
        return BlobMetadata.from_bytes(raw)

    def put_metadata(self, blob_id: BlobId, raw: bytes) -> bool:
        """Check and store metadata; returns False when it was already stored."""
        self.check_metadata(blob_id, raw)
        if self.store.get_metadata(blob_id) == raw:
            return False
        self.store.put_metadata(blob_id, raw)
        self.stats.metadata_stored += 1
        return True

    def store_upload(
        self,
        blob_id: BlobId,
        raw: bytes,
        meta: BlobMetadata,
        slivers: dict[int, bytes],
        accepted: set[int],
        sync: bool = True,
    ) -> tuple[int, int] | None:
        """Check a small upload's slivers against its (checked) metadata and store metadata
        and slivers durably together (one journal record, see `SliverStore.write_upload`);
        nothing is stored when one sliver is bad. `accepted` is what `accept_upload` said
        this request may bring (a store begun before an epoch change brings the shards this
        node owned then). `sync=False`: the journal position to make durable is returned
        (`SliverStore.group_sync`), nothing may be confirmed before."""
        for index, data in slivers.items():
            self.check_sliver_index(blob_id, index, meta, accepted)
            try:
                meta.check_sliver(index, data)
            except InvalidSliver:
                self.stats.slivers_rejected += 1
                raise
        had_metadata = self.store.get_metadata(blob_id) == raw
        try:
            position = self.store.write_upload(blob_id, raw, slivers, sync=sync)
        except FileNotFoundError:  # the blob's directory went: deleted or expired meanwhile
            raise blob_gone_during_upload(blob_id) from None
        self.stats.metadata_stored += not had_metadata
        self.stats.slivers_stored += len(slivers)
        return position

    def check_metadata(self, blob_id: BlobId, raw: bytes) -> BlobMetadata:
        """Parse metadata and check it against the blob id and its registration (404/409
        unless registered, 400 when it does not match)."""
        state = self._registered(blob_id)
        meta = BlobMetadata.from_bytes(raw)
        meta.verify(blob_id)
        if meta.n_shards != self.committee().n_shards:
            raise InvalidMetadata(
                f"metadata has {meta.n_shards} slivers; the committee has {self.committee().n_shards} shards"
            )
        if meta.size != state.size:
            raise InvalidMetadata(
                f"metadata says {meta.size} bytes but the blob was registered with {state.size}"
            )
        return meta

    def put_sliver(
        self,
        blob_id: BlobId,
        index: int,
        data: bytes,
        meta: BlobMetadata | None = None,
        owned: set[int] | None = None,
    ) -> None:
        """Check and store one sliver of a shard this node owns. A batch passes the blob's
        metadata and owned slivers once instead of looking them up for every sliver."""
        if meta is None:
            self._registered(blob_id)
            meta = self.metadata_for_upload(blob_id)
        self.check_sliver_index(blob_id, index, meta, owned)
        try:
            meta.check_sliver(index, data)
        except InvalidSliver:
            self.stats.slivers_rejected += 1
            raise
        self.store.put_sliver(blob_id, index, data)
        self.stats.slivers_stored += 1

    def check_sliver_index(
        self, blob_id: BlobId, index: int, meta: BlobMetadata, owned: set[int] | None = None
    ) -> None:
        """400 for an index outside the blob, 403 for a shard this node does not hold."""
        if not 0 <= index < meta.n_shards:
            raise ApiError(
                400,
                "INVALID_SLIVER_INDEX",
                f"sliver index {index} is outside 0..{meta.n_shards - 1}",
            )
        if index not in (owned if owned is not None else self.owned_slivers(blob_id)):
            if self.refresh_committee() and index in self.owned_slivers(blob_id):
                return  # the committee changed and this node's follower had not seen it yet
            raise ApiError(
                403,
                "SHARD_NOT_OWNED",
                f"sliver {index} of blob {blob_id} belongs to a shard this node does not hold; "
                "send it to the shard's owner",
            )

    def metadata_for_upload(self, blob_id: BlobId) -> BlobMetadata:
        """Metadata must come first: slivers are checked against it."""
        raw = self.store.get_metadata(blob_id)
        if raw is None:
            raise ApiError(
                409,
                "METADATA_REQUIRED",
                f"upload the metadata of blob {blob_id} before its slivers",
            )
        return BlobMetadata.from_bytes(raw)

    def sliver(self, blob_id: BlobId, index: int) -> bytes:
        """A stored sliver (404 when absent)."""
        self._registered(blob_id)
        data = self.store.get_sliver(blob_id, index)
        if data is None:
            raise ApiError(
                404, "SLIVER_NOT_FOUND", f"this node has no sliver {index} of blob {blob_id}"
            )
        return data

    def sliver_refs(self, blob_id: BlobId, indices: list[int]) -> dict[int, SliverRef]:
        """Where the stored slivers among `indices` are (absent ones are left out)."""
        self._registered(blob_id)
        return self.store.locate(blob_id, indices)

    @staticmethod
    def confirmable(object_id: str | None) -> Callable[[reg.BlobState], bool]:
        """When a confirmation can be given: the deletable object is registered, or (without
        an object id) a permanent registration is."""
        oid = format_object_id(parse_object_id(object_id)) if object_id is not None else None
        return lambda st: oid in st.deletable_objects if oid else st.permanent

    def confirmation(
        self, blob_id: BlobId, object_id: str | None, stored: frozenset[int] | None = None
    ) -> dict[str, object]:
        """Sign a certification message once every owned sliver is durably stored (the
        caller first waits for the registration with `await_registration`). `stored`: the
        slivers (and metadata) the caller has just stored durably itself; when they cover
        every sliver this node owns in the chain's current committee, the store is not
        read back to check (a small upload's one-request path)."""
        oid = format_object_id(parse_object_id(object_id)) if object_id is not None else None
        state = self._registered(blob_id)
        if oid is not None:
            if oid not in state.deletable_objects:
                raise ApiError(
                    404,
                    "OBJECT_NOT_REGISTERED",
                    f"{oid} is not a live deletable registration of blob {blob_id}",
                )
        elif not state.permanent:
            raise ApiError(
                400,
                "PERSISTENCE_MISMATCH",
                f"blob {blob_id} has no permanent registration; pass ?object_id= for a deletable one",
            )
        if stored is None:
            self.metadata_for_upload(blob_id)
        system = self.chain.system()
        self.adopt_committee(system.committee, system.previous_committee)
        owned = self.owned_slivers(blob_id)
        missing = (
            []
            if stored is not None and stored.issuperset(owned)
            else self.store.has_slivers(blob_id, owned)
        )
        if missing:
            raise ApiError(
                409,
                "SLIVERS_MISSING",
                f"this node still lacks slivers {missing[:10]} of blob {blob_id}; upload them first",
            )
        epoch = system.epoch
        body = BlobCertification(blob_id, parse_object_id(object_id) if object_id else None)
        message = body.message(epoch)
        self.stats.confirmations += 1
        return {
            "epoch": epoch,
            "message": base64.b64encode(message).decode(),
            "signature": base64.b64encode(self.key.sign(message)).decode(),
        }

    def status(self, blob_id: BlobId) -> dict[str, object]:
        """What this node knows and holds of a blob."""
        state = self.registry.blob(blob_id)
        owned = self.owned_slivers(blob_id)
        return {
            "blobId": str(blob_id),
            "registered": state.registered,
            "certified": state.certified,
            "endEpoch": state.end_epoch,
            "invalid": state.invalid,
            "metadataStored": self.store.get_metadata(blob_id) is not None,
            "ownedSlivers": len(owned),
            "storedSlivers": len(owned) - len(self.store.has_slivers(blob_id, owned)),
        }
