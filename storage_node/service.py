"""The storage node's rules: accept data only for registered blobs and owned shards, with
matching hashes; confirm (BLS-sign) only what is durably stored; drop deleted/expired data.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from haulout.chain.port import ChainPort
from haulout.http_errors import ApiError
from haulout.logs import event
from haulout.protocol.blob_id import BlobId, format_object_id, parse_object_id
from haulout.protocol.bls import BlsKeyPair
from haulout.protocol.committee import Committee
from haulout.protocol.errors import InvalidMetadata, InvalidSliver
from haulout.protocol.messages import BlobCertification
from haulout.protocol.metadata import BlobMetadata

from . import registry as reg
from .store import SliverStore

log = logging.getLogger("haulout.node")


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
    ) -> None:
        self.chain, self.store, self.registry, self.key = chain, store, registry, key
        self.node_id = node_id
        self.confirmation_wait = confirmation_wait
        self.stats = NodeStats()
        self._committee: Committee | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # -- chain following ----------------------------------------------------------------------

    def committee(self) -> Committee:
        """The current committee (refreshed when CommitteeChanged is seen)."""
        if self._committee is None:
            self._committee = self.chain.system().require_committee()
        return self._committee

    @property
    def member_index(self) -> int:
        """This node's position in the committee."""
        return self.committee().index_of(self.node_id)

    def follow_once(self, limit: int = 1000) -> int:
        """Process one batch of events; returns how many were processed."""
        with self._lock:
            events = self.chain.events(after=self.registry.cursor, limit=limit)
            if not events:
                return 0
            rows = reg.process(events, self.registry.cursor)
            self.registry.commit(rows)
            if rows.committee_changed:
                self._committee = None
            self.stats.events_processed += len(events)
            if rows.deleted or rows.epoch is not None:
                self.collect_garbage()
            return len(events)

    def follow(self, interval: float) -> None:
        """Follow the chain until `stop()`; errors are logged and retried."""
        while not self._stop.is_set():
            try:
                if self.follow_once() == 0:
                    self._stop.wait(interval)
            except Exception:  # pragma: no cover - logged and retried
                log.exception("event follower failed; retrying")
                self._stop.wait(1.0)

    def stop(self) -> None:
        """Stop following."""
        self._stop.set()

    def collect_garbage(self) -> list[BlobId]:
        """Delete data of blobs with no live registration (deleted or expired)."""
        gone = self.registry.garbage(self.store.blob_ids())
        for b in gone:
            self.store.delete(b)
            self.stats.blobs_collected += 1
            event(log, "blob data removed", blob_id=str(b), why="deleted or expired")
        return gone

    # -- data path ----------------------------------------------------------------------------

    def _registered(
        self,
        blob_id: BlobId,
        wait: float = 0.0,
        until: Callable[[reg.BlobState], bool] | None = None,
    ) -> reg.BlobState:
        """The blob's registration state, following the chain for up to `wait` seconds until
        it is registered (and `until` holds, e.g. a particular object is known)."""
        deadline = time.monotonic() + wait
        while True:
            state = self.registry.blob(blob_id)
            ready = state.registered and (until is None or until(state))
            if ready or time.monotonic() >= deadline:
                break
            if self.follow_once() == 0:  # nothing new on chain yet; check again soon
                time.sleep(0.01)
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

    def require_registered(self, blob_id: BlobId) -> None:
        """404 unless the blob has a live registration (409 if it was voted invalid)."""
        self._registered(blob_id)

    def owned_slivers(self, blob_id: BlobId) -> list[int]:
        """Sliver indices this node stores for `blob_id`."""
        return self.committee().slivers_of(self.member_index, int(blob_id))

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
        state = self._registered(blob_id, wait=min(2.0, self.confirmation_wait))
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
        if self.store.get_metadata(blob_id) == raw:
            return False
        self.store.put_metadata(blob_id, raw)
        self.stats.metadata_stored += 1
        return True

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

    def sliver_files(self, blob_id: BlobId, indices: list[int]) -> dict[int, Path]:
        """Where the stored slivers among `indices` are (absent ones are left out)."""
        self._registered(blob_id)
        paths = {i: self.store.sliver_path(blob_id, i) for i in indices}
        return {i: p for i, p in paths.items() if p.exists()}

    def confirmation(self, blob_id: BlobId, object_id: str | None) -> dict[str, object]:
        """Sign a certification message once every owned sliver is durably stored."""
        oid = format_object_id(parse_object_id(object_id)) if object_id is not None else None
        state = self._registered(
            blob_id,
            wait=self.confirmation_wait,
            until=lambda st: oid in st.deletable_objects if oid else st.permanent,
        )
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
        self.metadata_for_upload(blob_id)
        missing = self.store.has_slivers(blob_id, self.owned_slivers(blob_id))
        if missing:
            raise ApiError(
                409,
                "SLIVERS_MISSING",
                f"this node still lacks slivers {missing[:10]} of blob {blob_id}; upload them first",
            )
        epoch = self.chain.system().epoch
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
