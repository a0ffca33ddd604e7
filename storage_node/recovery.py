"""Sliver recovery: a node rebuilds what it should hold of a certified blob but lacks.

A relayer answers once a quorum has confirmed and serves the other nodes afterwards; if it
crashes first, or a node was down, that node misses its slivers. Every few seconds the node
looks at the certified blobs it has not yet seen complete here; one that is still missing
metadata or owned slivers after a grace period (time for a late upload to arrive) is
recovered from the other nodes: metadata checked against the blob id, `k` slivers checked
against the metadata, the blob decoded with the full consistency check, and the missing
slivers re-encoded, checked against their hashes and stored durably.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import httpx

from haulout.logs import event
from haulout.node_client import NodeClient, NodeError
from haulout.protocol import codec
from haulout.protocol.blob_id import BlobId
from haulout.protocol.errors import ProtocolError
from haulout.protocol.metadata import BlobMetadata

from .service import NodeService

log = logging.getLogger("haulout.node.recovery")


class Recovery:
    """Finds and fills this node's gaps in certified blobs."""

    def __init__(
        self, service: NodeService, grace: float = 5.0, max_blob_size: int = 512 << 20
    ) -> None:
        self.service, self.grace, self.max_blob_size = service, grace, max_blob_size
        self.complete: set[BlobId] = set()
        self.first_missing: dict[BlobId, float] = {}
        self.gave_up: set[BlobId] = set()

    def due(self) -> list[BlobId]:
        """Certified blobs missing data here for longer than the grace period."""
        now = time.monotonic()
        out = []
        store = self.service.store
        for blob_id in self.service.registry.certified_blobs():
            if blob_id in self.complete or blob_id in self.gave_up:
                continue
            owned = self.service.owned_slivers(blob_id)
            if store.get_metadata(blob_id) is not None and not store.has_slivers(blob_id, owned):
                self.complete.add(blob_id)
                self.first_missing.pop(blob_id, None)
                continue
            if now - self.first_missing.setdefault(blob_id, now) >= self.grace:
                out.append(blob_id)
        return out

    def recover(self, blob_id: BlobId) -> int:
        """Rebuild this node's missing metadata and slivers of `blob_id`; returns how many
        slivers were stored."""
        meta, slivers = asyncio.run(self._fetch(blob_id))
        if meta.size > self.max_blob_size:
            raise RecoveryError(
                f"blob {blob_id} has {meta.size} bytes, more than this node recovers in memory "
                f"({self.max_blob_size}); re-upload it through a relayer"
            )
        data = codec.decode(meta, slivers, verify_consistency=False)
        encoded = codec.encode(data, meta.n_shards, meta.encoding_type)
        if encoded.metadata != meta:  # all n hashes compared: the full consistency check
            raise RecoveryError(
                f"blob {blob_id} was encoded inconsistently: re-encoding it does not reproduce "
                "its metadata, so this node cannot hold a valid sliver of it"
            )
        store = self.service.store
        if store.get_metadata(blob_id) is None:
            store.put_metadata(blob_id, meta.to_bytes())
        owned = self.service.owned_slivers(blob_id)
        missing = store.has_slivers(blob_id, owned)
        for i in missing:
            meta.check_sliver(i, encoded.slivers[i])
            store.put_sliver(blob_id, i, encoded.slivers[i])
        self.service.stats.slivers_recovered += len(missing)
        return len(missing)

    async def _fetch(self, blob_id: BlobId) -> tuple[BlobMetadata, dict[int, bytes]]:
        committee = self.service.committee()
        me = self.service.member_index
        async with httpx.AsyncClient(timeout=30) as http:
            peers = {
                p: NodeClient(m.url, http, retries=1)
                for p, m in enumerate(committee.members)
                if p != me
            }
            meta = None
            for node in peers.values():
                try:
                    candidate = BlobMetadata.from_bytes(await node.get_metadata(blob_id))
                    candidate.verify(blob_id)
                    meta = candidate
                    break
                except (NodeError, ProtocolError):
                    continue
            if meta is None:
                raise RecoveryError(f"no other node served valid metadata for {blob_id}")
            wanted: dict[int, list[int]] = {}
            for i in range(meta.n_shards):
                owner = committee.member_for_sliver(i, int(blob_id))
                if owner != me:
                    wanted.setdefault(owner, []).append(i)
            good: dict[int, bytes] = {}
            for position, indices in wanted.items():  # until k verified slivers are in hand
                if len(good) >= meta.params.k:
                    break
                try:
                    got = await peers[position].get_slivers(blob_id, indices)
                except NodeError:
                    continue
                good.update(codec.verify_slivers(meta, got)[0])
            if len(good) < meta.params.k:
                raise RecoveryError(
                    f"only {len(good)} of the {meta.params.k} slivers needed to rebuild "
                    f"{blob_id} could be fetched and verified from the other nodes"
                )
            return meta, good

    def run_once(self) -> int:
        """Recover every due blob; returns how many slivers were stored."""
        total = 0
        for blob_id in self.due():
            try:
                n = self.recover(blob_id)
            except (RecoveryError, ProtocolError) as exc:
                self.gave_up.add(blob_id)
                event(log, "recovery failed", blob_id=str(blob_id), error=str(exc))
                continue
            except Exception as exc:  # a peer or disk hiccup: try again next time
                event(log, "recovery will be retried", blob_id=str(blob_id), error=str(exc))
                continue
            self.complete.add(blob_id)
            self.first_missing.pop(blob_id, None)
            total += n
            event(log, "slivers recovered", blob_id=str(blob_id), slivers=n)
        return total

    def run(self, interval: float, stop: threading.Event) -> None:
        """Recover in the background until `stop` is set."""
        while not stop.wait(interval):
            try:
                self.run_once()
            except Exception:  # pragma: no cover - logged and retried
                log.exception("recovery pass failed; retrying")


class RecoveryError(Exception):
    """A blob cannot be recovered here (no metadata, too few slivers, too large)."""
