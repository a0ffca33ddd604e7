"""Committee changes: a node pulls the shards it gained and lets go of those it lost.

When the chain names a new committee (`CommitteeChanged`; the chain's `previous_committee`
says who held each shard before), each shard that moved has a new owner that holds nothing
of it yet, and a previous owner that still holds all of it.

- Shard sync (the new owner): for every gained shard, the previous owner streams its slivers
  of live certified blobs in pages (`GET /v1/migrate/sync_shard?shard=&after=&limit=`, frames
  `index ‖ length ‖ blob id ‖ sliver`); each sliver is checked against the metadata this
  node holds and made durable before it counts. What that leaves missing (no metadata here,
  a page cut short) is fetched blob by blob from the previous owners (metadata checked
  against the blob id), and what the previous owner cannot or will not give (it is gone, or
  it lies) is rebuilt by the existing recovery from the other nodes.
- Holding: once a pass finds every certified blob's sliver of a shard on disk, the shard is
  *held*; `GET /v1/migrate/shards` says which shards are (previous owners ask it).
- Handing over (the old owner): slivers of shards this node no longer owns are kept, and
  served, until the shard's current owner says it holds it; then those of certified blobs
  are deleted (those of blobs still being stored stay until certified, or deleted with the
  blob). Nothing is deleted on the change itself, so reads keep working while shards move.
- A store overtaken by the change (pushed to the old owners, certified by the new): the new
  owner, asked to confirm, first pulls its missing slivers from the previous owners.

Every request is bounded (slivers per answer, bytes read, blobs scanned per page, pages per
pass, pulls at once); nothing new is authenticated: slivers of certified blobs are public.

This module is the old owner's side and the background loop; `shard_sync` is the new
owner's, `shard_route` what the sync route serves.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import httpx

from haulout.logs import event
from haulout.protocol.blob_id import BlobId
from haulout.protocol.committee import Committee
from haulout.protocol.params import shard_for_sliver

from .epoch_change import EpochReporter
from .service import NodeService
from .shard_sync import ShardSync, my_shards

log = logging.getLogger("haulout.node.handover")


class Handover:
    """The old owner's side: delete slivers of shards this node lost once their current
    owner says it holds them."""

    def __init__(self, service: NodeService, timeout: float = 10.0) -> None:
        self.service, self.timeout = service, timeout
        self.done_for: Committee | None = None
        """The committee under which nothing foreign was left: nothing foreign is written
        while it stays (uploads, sync and recovery store owned shards only)."""
        self.waiting = 0
        """Foreign slivers of blobs not yet certified, kept at the last pass."""
        self.foreign_seen = 0
        """`service.foreign_writes` at the last pass."""

    def foreign(self, committee: Committee) -> dict[int, list[tuple[BlobId, int]]]:
        """Stored slivers of shards this node does not own, of certified blobs: shard →
        (blob, index). Those of a blob not yet certified stay: its store may be finishing,
        and its new owners pull them when asked to confirm (deletion or expiry removes
        them with the blob)."""
        mine = my_shards(committee, self.service.node_id)
        n = committee.n_shards
        certified = set(self.service.registry.certified_blobs())
        out: dict[int, list[tuple[BlobId, int]]] = {}
        self.waiting = 0
        for blob_id in self.service.store.blob_ids():
            for index in sorted(self.service.store.sliver_indices(blob_id)):
                shard = shard_for_sliver(index, int(blob_id), n)
                if shard in mine:
                    continue
                if blob_id in certified:
                    out.setdefault(shard, []).append((blob_id, index))
                else:
                    self.waiting += 1
        return out

    def run_once(self) -> int:
        """Delete what was handed over; returns how many slivers were deleted."""
        committee = self.service.committee()
        if committee == self.done_for and self.service.foreign_writes == self.foreign_seen:
            return 0
        self.foreign_seen = self.service.foreign_writes
        foreign = self.foreign(committee)
        if not foreign:
            if not self.waiting:
                self.done_for = committee
            return 0
        owners = {committee.owner_of_shard(s) for s in foreign}
        reported = self.reported_on_chain(committee)
        held = asyncio.run(self._held(committee, owners - reported))
        for position in reported:  # reported on chain: it holds every shard it gained
            held[position] = set(committee.members[position].shards)
        deleted = 0
        letting_go: dict[BlobId, list[int]] = {}
        for shard, slivers in foreign.items():
            if shard not in held.get(committee.owner_of_shard(shard), ()):
                continue
            for blob_id, index in slivers:
                letting_go.setdefault(blob_id, []).append(index)
        for blob_id, indices in letting_go.items():
            self.service.store.drop_slivers(blob_id, indices)
            deleted += len(indices)
        if deleted:
            self.service.stats.slivers_handed_over += deleted
            event(log, "handed over", slivers=deleted, shards=len(foreign))
        return deleted

    def reported_on_chain(self, committee: Committee) -> set[int]:
        """Positions of members that reported `shards_received` for this committee's change
        (the chain resets the list at each change that moves shards)."""
        try:
            system = self.service.chain.system()
        except Exception:  # the chain is unreachable: ask the owners instead
            return set()
        if system.committee is None or system.committee.members != committee.members:
            return set()
        return {p for p, m in enumerate(committee.members) if m.node_id in set(system.received)}

    async def _held(self, committee: Committee, owners: set[int]) -> dict[int, set[int]]:
        """Shards each owner says it holds (an owner that does not answer holds none)."""
        out: dict[int, set[int]] = {}
        async with httpx.AsyncClient(timeout=self.timeout) as http:
            for position in owners:
                url = committee.members[position].url
                try:
                    resp = await http.get(f"{url}/v1/migrate/shards")
                    if resp.status_code == 200 and len(resp.content) < 64 << 10:
                        body = resp.json()
                        out[position] = {int(s) for s in body.get("heldShards", [])}
                except (httpx.HTTPError, ValueError, TypeError):
                    continue
        return out


def run(
    sync: ShardSync,
    handover: Handover,
    interval: float,
    stop: threading.Event,
    reporter: EpochReporter | None = None,
) -> None:
    """Sync, report on chain and hand over in the background until `stop`: at once when the
    committee changes or the epoch change moves on, and every `interval` seconds."""
    service = sync.service
    while not stop.is_set():
        service.handover_due.wait(interval)
        if stop.is_set():
            return
        service.handover_due.clear()
        steps = (sync.run_once, *((reporter.run_once,) if reporter else ()), handover.run_once)
        for step in steps:
            try:
                step()
            except Exception:  # pragma: no cover - logged and retried
                log.exception("handover pass failed; retrying")
