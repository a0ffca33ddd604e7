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
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx

from haulout.http_errors import ApiError
from haulout.logs import event
from haulout.node_client import NodeClient, NodeError
from haulout.protocol.blob_id import BlobId
from haulout.protocol.committee import Committee
from haulout.protocol.errors import InvalidCommittee, ProtocolError
from haulout.protocol.frames import FRAME_HEADER, FrameParser, frame_header
from haulout.protocol.hashing import hasher
from haulout.protocol.metadata import BlobMetadata
from haulout.protocol.params import shard_for_sliver, sliver_for_shard

from .recovery import Recovery, RecoveryError, RecoveryUnavailable
from .service import NodeService
from .store import PendingFile

log = logging.getLogger("haulout.node.handover")

SYNC_PAGE = 100
"""Most blobs one `GET /v1/migrate/sync_shard` answer carries (the asker pages with `after`)."""
SYNC_SCAN = 1000
"""Most blobs one `sync_shard` answer looks at (those this node lacks a sliver of are skipped)."""
NEXT_HEADER = "x-haulout-next-after"
"""The `sync_shard` answer's header naming the blob id to page on after; absent at the end."""
BLOB_ID_BYTES = 32


def shard_page(
    service: NodeService, shard: int, after: BlobId | None, limit: int
) -> tuple[list[tuple[BlobId, int, Path, int]], BlobId | None]:
    """What this node holds of `shard`, for up to `limit` live certified blobs with ids above
    `after` (in the text order of blob ids): (blob id, sliver index, file, size), and where
    the next page starts (None: no more). At most `SYNC_SCAN` blobs are looked at per
    call, so a request costs the same whatever the node stores. Only certified blobs are
    served: their slivers are public."""
    committee = service.committee()
    if not 0 <= shard < committee.n_shards:
        raise ApiError(
            400, "INVALID_SHARD", f"a shard is in 0..{committee.n_shards - 1}; got {shard}"
        )
    out = []
    scanned = service.registry.certified_after(str(after) if after else "", SYNC_SCAN)
    for blob_id in scanned:
        index = sliver_for_shard(shard, int(blob_id), committee.n_shards)
        path = service.store.sliver_path(blob_id, index)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue
        out.append((blob_id, index, path, size))
        if len(out) >= limit:
            return out, blob_id
    return out, (scanned[-1] if len(scanned) == SYNC_SCAN else None)


def shard_records(page: list[tuple[BlobId, int, Path, int]]) -> Iterator[bytes]:
    """The `sync_shard` answer: per blob one frame `index u16 ‖ length u32 ‖ blob id (32
    bytes) ‖ sliver`, streamed from the sliver files (a file deleted meanwhile ends the
    answer early; the asker fetches what it still lacks blob by blob)."""
    for blob_id, index, path, size in page:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return
        with fh:
            yield frame_header(index, BLOB_ID_BYTES + size) + blob_id.raw
            while chunk := fh.read(1 << 20):
                yield chunk


def my_shards(committee: Committee | None, node_id: str) -> frozenset[int]:
    """Shards `node_id` owns in `committee` (none when it is not a member)."""
    if committee is None:
        return frozenset()
    try:
        return frozenset(committee.members[committee.index_of(node_id)].shards)
    except InvalidCommittee:
        return frozenset()


def gained_shards(current: Committee, previous: Committee | None, node_id: str) -> frozenset[int]:
    """Shards `node_id` owns now and did not own in the previous committee (none before the
    first change: the first committee received its data from the writers)."""
    if previous is None or previous.n_shards != current.n_shards:
        return frozenset()
    return my_shards(current, node_id) - my_shards(previous, node_id)


class _VerifiedSlivers:
    """A `FrameSink` writing each sliver a previous owner sends to a pending file in the
    store, hashing on the way; only slivers matching the metadata are kept (committed by the
    caller), anything else is discarded and counted."""

    def __init__(self, service: NodeService, blob_id: BlobId, meta: BlobMetadata, wanted: set[int]):
        self.service, self.blob_id, self.meta, self.wanted = service, blob_id, meta, wanted
        self.good: dict[int, PendingFile] = {}
        self.rejected = 0
        self.index, self.hash = -1, hasher()
        self.current: PendingFile | None = None

    def start(self, index: int, size: int) -> None:
        if index not in self.wanted or size != self.meta.params.sliver_len or index in self.good:
            raise ValueError(f"frame for sliver {index} of {size} bytes was not asked for")
        self.index, self.hash = index, hasher()
        self.current = self.service.store.pending_sliver(self.blob_id, index)

    def data(self, piece: memoryview) -> None:
        assert self.current is not None
        self.current.write(piece)
        self.hash.update(piece)

    def end(self) -> None:
        assert self.current is not None
        pending, self.current = self.current, None
        if self.hash.digest() == self.meta.sliver_hashes[self.index]:
            self.good[self.index] = pending
        else:
            pending.discard()
            self.rejected += 1

    def abandon(self) -> None:
        """The answer broke off or was refused: drop every uncommitted file."""
        if self.current is not None:
            self.current.discard()
            self.current = None
        for p in self.good.values():
            p.discard()
        self.good.clear()


class _ShardRecords:
    """A `FrameSink` for a `sync_shard` answer: each record names its blob in its first 32
    bytes; slivers of blobs in `wanted` (whose metadata is known here) go to pending files,
    hashed on the way and kept only if they match; others are read past. A record that
    does not fit (wrong index for the shard, wrong size) ends the answer (ValueError)."""

    def __init__(
        self,
        service: NodeService,
        shard: int,
        n_shards: int,
        wanted: dict[BlobId, BlobMetadata],
        max_sliver: int,
    ) -> None:
        self.service, self.shard, self.n_shards = service, shard, n_shards
        self.wanted, self.max_sliver = wanted, max_sliver
        self.good: list[PendingFile] = []
        self.rejected = self.records = 0
        self.last: BlobId | None = None
        self.head = bytearray()
        self.index = self.size = -1
        self.meta: BlobMetadata | None = None
        self.blob: BlobId | None = None
        self.current: PendingFile | None = None
        self.hash = hasher()

    def start(self, index: int, size: int) -> None:
        if not BLOB_ID_BYTES < size <= BLOB_ID_BYTES + self.max_sliver:
            raise ValueError(f"a record of {size} bytes does not fit")
        self.index, self.size, self.head, self.blob = index, size - BLOB_ID_BYTES, bytearray(), None
        self.meta, self.current, self.hash = None, None, hasher()

    def data(self, piece: memoryview) -> None:
        if len(self.head) < BLOB_ID_BYTES:
            need = BLOB_ID_BYTES - len(self.head)
            self.head += piece[:need]
            piece = piece[need:]
            if len(self.head) == BLOB_ID_BYTES:
                self._named(BlobId(bytes(self.head)))
        if piece and self.current is not None:
            self.current.write(piece)
            self.hash.update(piece)

    def _named(self, blob_id: BlobId) -> None:
        if self.last is not None and str(blob_id) <= str(self.last):
            raise ValueError("records out of blob id order")
        if self.index != sliver_for_shard(self.shard, int(blob_id), self.n_shards):
            raise ValueError(f"sliver {self.index} of {blob_id} is not of shard {self.shard}")
        self.blob, self.meta = blob_id, self.wanted.get(blob_id)
        if self.meta is not None:
            if self.size != self.meta.params.sliver_len:
                raise ValueError(f"sliver {self.index} of {blob_id} has the wrong size")
            self.current = self.service.store.pending_sliver(blob_id, self.index)

    def end(self) -> None:
        if self.blob is None:
            raise ValueError("a record ended before its blob id")
        self.records += 1
        self.last = self.blob
        pending, self.current = self.current, None
        if pending is None or self.meta is None:
            return
        if self.hash.digest() == self.meta.sliver_hashes[self.index]:
            self.good.append(pending)
        else:
            pending.discard()
            self.rejected += 1

    def abandon(self) -> None:
        """The answer broke off: drop the unfinished sliver (verified ones stay)."""
        if self.current is not None:
            self.current.discard()
            self.current = None


class ShardSync:
    """The new owner's side: fetch gained shards from their previous owners; say which
    shards are held."""

    def __init__(self, service: NodeService, recovery: Recovery, timeout: float = 30.0) -> None:
        self.service, self.recovery, self.timeout = service, recovery, timeout
        self.down: set[str] = set()  # previous owners unreachable in this pass
        self.in_bulk = 0  # slivers this pass stored from sync_shard answers

    def missing(self, committee: Committee, shards: Iterable[int]) -> dict[BlobId, list[int]]:
        """Certified blobs lacking a sliver (or the metadata) of `shards` here → the sliver
        indices missing."""
        store, n = self.service.store, committee.n_shards
        shards = sorted(shards)
        out = {}
        for blob_id in self.service.registry.certified_blobs():
            indices = [sliver_for_shard(s, int(blob_id), n) for s in shards]
            lacking = store.has_slivers(blob_id, indices)
            if lacking or (indices and store.get_metadata(blob_id) is None):
                out[blob_id] = lacking
        return out

    def run_once(self) -> int:
        """One pass: sync what is missing of the gained shards, then record which of this
        node's shards are held. Returns how many slivers were stored."""
        service = self.service
        committee, previous = service.committee(), service.previous_committee()
        mine = my_shards(committee, service.node_id)
        gained = gained_shards(committee, previous, service.node_id)
        if service.held[0] == committee and gained <= service.held[1]:
            return 0  # synced; later blobs reach this node by upload or recovery
        stored = 0
        todo = self.missing(committee, gained) if gained else {}
        if todo:
            assert previous is not None
            service.syncing = True
            try:
                stored = asyncio.run(self._sync(committee, previous, gained, todo))
            finally:
                service.syncing = False
        lacking = self.missing(committee, gained) if gained else {}
        not_held = {
            shard_for_sliver(i, int(b), committee.n_shards)
            for b, indices in lacking.items()
            for i in indices
        }
        if any(not indices for indices in lacking.values()):  # metadata missing only
            not_held = set(gained)
        service.held = (committee, frozenset(mine - not_held))
        if gained:
            event(
                log,
                "shard sync pass",
                gained=len(gained),
                held=len(mine - not_held),
                slivers=stored,
                in_bulk=self.in_bulk,
                blobs_left=len(lacking),
            )
        return stored

    async def _sync(
        self,
        committee: Committee,
        previous: Committee,
        gained: frozenset[int],
        todo: dict[BlobId, list[int]],
    ) -> int:
        """In bulk from each gained shard's previous owner, then blob by blob (metadata
        missing here, or what the bulk answers lacked), then recovery."""
        stored = 0
        async with httpx.AsyncClient(timeout=self.timeout) as http:
            metas = {}
            for blob_id in todo:
                raw = self.service.store.get_metadata(blob_id)
                if raw is not None:
                    metas[blob_id] = BlobMetadata.from_bytes(raw)
            self.down, self.in_bulk = set(), 0
            for shard in sorted(gained):
                url = previous.members[previous.owner_of_shard(shard)].url
                if url in self.down:
                    continue
                try:
                    got = await self._bulk(http, url, shard, committee.n_shards, metas)
                    stored += got
                    self.in_bulk += got
                except (httpx.HTTPError, ValueError, ProtocolError, OSError) as exc:
                    if isinstance(exc, httpx.TransportError):  # unreachable: not again this pass
                        self.down.add(url)
                    event(log, "bulk shard sync failed", shard=shard, url=url, error=str(exc))
            todo = self.missing(committee, gained)
            for blob_id, indices in todo.items():
                try:
                    stored += await self._sync_blob(http, committee, previous, blob_id, indices)
                except Exception as exc:  # a disk hiccup: next pass
                    event(log, "shard sync failed", blob_id=str(blob_id), error=str(exc))
        return stored

    async def _bulk(
        self,
        http: httpx.AsyncClient,
        url: str,
        shard: int,
        n_shards: int,
        metas: dict[BlobId, BlobMetadata],
    ) -> int:
        """Page through `GET /v1/migrate/sync_shard` of the previous owner; store the
        verified slivers of blobs missing here. Each answer is read up to its bound."""
        if not metas:
            return 0
        max_sliver = max(m.params.sliver_len for m in metas.values())
        limit = SYNC_PAGE * (FRAME_HEADER + BLOB_ID_BYTES + max_sliver)
        store, stored, after = self.service.store, 0, None
        pages = len(self.service.registry.certified_blobs()) // (SYNC_PAGE // 2) + 3
        for _ in range(pages):  # a previous owner cannot keep this node paging forever
            sink = _ShardRecords(self.service, shard, n_shards, metas, max_sliver)
            sink.last = after
            params = {"shard": str(shard), "limit": str(SYNC_PAGE)}
            if after is not None:
                params["after"] = str(after)
            try:
                async with http.stream(
                    "GET", f"{url}/v1/migrate/sync_shard", params=params
                ) as resp:
                    if resp.status_code != 200:
                        raise ValueError(f"{url} answered {resp.status_code} to sync_shard")
                    following = resp.headers.get(NEXT_HEADER)
                    parser, received = FrameParser(sink), 0
                    async for chunk in resp.aiter_raw():
                        received += len(chunk)
                        if received > limit:
                            raise ValueError(f"{url} sent more than {limit} bytes")
                        parser.feed(chunk)
            except BaseException:
                sink.abandon()
                raise
            finally:
                if sink.good:
                    await asyncio.to_thread(store.commit, sink.good)
                    stored += len(sink.good)
                    self.service.stats.slivers_synced += len(sink.good)
            if sink.rejected:
                event(log, "previous owner sent bad slivers", shard=shard, count=sink.rejected)
            if following is None:
                break
            nxt = BlobId.parse(following)
            if (after is not None and str(nxt) <= str(after)) or (
                sink.last is not None and str(nxt) < str(sink.last)
            ):
                raise ValueError(f"{url} pages backwards")
            after = nxt
        return stored

    async def _sync_blob(
        self,
        http: httpx.AsyncClient,
        committee: Committee,
        previous: Committee,
        blob_id: BlobId,
        indices: list[int],
    ) -> int:
        """Fetch `indices` of `blob_id` from their previous owners; fall back to recovery
        from every node for what they did not give."""
        store, n = self.service.store, committee.n_shards
        by_owner: dict[int, list[int]] = {}
        for i in indices:
            by_owner.setdefault(
                previous.owner_of_shard(shard_for_sliver(i, int(blob_id), n)), []
            ).append(i)
        meta = await self._metadata(http, previous, blob_id, list(by_owner) or [0])
        stored = 0
        if meta is not None:
            if store.get_metadata(blob_id) is None:
                await asyncio.to_thread(store.put_metadata, blob_id, meta.to_bytes())
            for position, wanted in by_owner.items():
                if previous.members[position].url in self.down:
                    continue
                sink = _VerifiedSlivers(self.service, blob_id, meta, set(wanted))
                client = NodeClient(previous.members[position].url, http, retries=1)
                try:
                    await client.stream_slivers(blob_id, wanted, sink, meta.params.sliver_len)
                except (NodeError, ValueError) as exc:
                    sink.abandon()
                    event(log, "previous owner did not serve", blob_id=str(blob_id), error=str(exc))
                    continue
                if sink.good:
                    await asyncio.to_thread(store.commit, list(sink.good.values()))
                    stored += len(sink.good)
                if sink.rejected:
                    event(
                        log,
                        "previous owner sent bad slivers",
                        blob_id=str(blob_id),
                        count=sink.rejected,
                    )
        self.service.stats.slivers_synced += stored
        owned = self.service.owned_slivers(blob_id)
        if store.get_metadata(blob_id) is None or store.has_slivers(blob_id, owned):
            try:  # the previous owner is gone or lied: rebuild from the other nodes
                stored += await asyncio.to_thread(self.recovery.recover, blob_id)
            except (RecoveryError, RecoveryUnavailable, ProtocolError, OSError) as exc:
                event(
                    log,
                    "shard sync falls back to recovery later",
                    blob_id=str(blob_id),
                    error=str(exc),
                )
        return stored

    async def _metadata(
        self, http: httpx.AsyncClient, previous: Committee, blob_id: BlobId, positions: list[int]
    ) -> BlobMetadata | None:
        """The blob's metadata: stored here, or from a previous owner, verified."""
        raw = self.service.store.get_metadata(blob_id)
        if raw is not None:
            return BlobMetadata.from_bytes(raw)
        for position in positions:
            if previous.members[position].url in self.down:
                continue
            try:
                client = NodeClient(previous.members[position].url, http, retries=1)
                meta = BlobMetadata.from_bytes(await client.get_metadata(blob_id))
                meta.verify(blob_id)
                return meta
            except (NodeError, ProtocolError):
                continue
        return None


MAX_PULLS = 64
"""Confirmations pulling slivers from previous owners at once (more are answered as usual)."""
_pulling: set[tuple[int, BlobId]] = set()


async def pull_from_previous(service: NodeService, blob_id: BlobId, timeout: float = 10.0) -> int:
    """Before confirming a registered blob this node lacks slivers of, fetch them (and the
    metadata, if missing) from their owners in the previous committee: a store overtaken by
    a committee change pushed them there, and the certificate must come from the new
    owners. Verified against the metadata like every sliver; one pull per blob at a time,
    `MAX_PULLS` at most, so a request cannot make the node fetch without bound. Returns how
    many slivers were stored."""
    committee, previous = service.committee(), service.previous_committee()
    key = (id(service), blob_id)
    if (
        previous is None
        or previous.n_shards != committee.n_shards
        or not my_shards(committee, service.node_id)
        or key in _pulling
        or len(_pulling) >= MAX_PULLS
        or not service.registry.blob(blob_id).registered
    ):
        return 0
    _pulling.add(key)
    try:
        store, n = service.store, committee.n_shards
        lacking = store.has_slivers(blob_id, service.owned_slivers(blob_id))
        by_owner: dict[int, list[int]] = {}
        for i in lacking:
            position = previous.owner_of_shard(shard_for_sliver(i, int(blob_id), n))
            if previous.members[position].node_id != service.node_id:
                by_owner.setdefault(position, []).append(i)
        if not by_owner and store.get_metadata(blob_id) is not None:
            return 0
        stored = 0
        async with httpx.AsyncClient(timeout=timeout) as http:
            if store.get_metadata(blob_id) is None:
                for position in list(by_owner) or range(len(previous.members)):
                    client = NodeClient(previous.members[position].url, http, retries=1)
                    try:
                        offered = await client.get_metadata(blob_id)
                        await asyncio.to_thread(service.put_metadata, blob_id, offered)
                        break
                    except (NodeError, ProtocolError, ApiError):
                        continue
            raw = store.get_metadata(blob_id)
            if raw is None:
                return 0
            meta = BlobMetadata.from_bytes(raw)
            for position, wanted in by_owner.items():
                sink = _VerifiedSlivers(service, blob_id, meta, set(wanted))
                client = NodeClient(previous.members[position].url, http, retries=1)
                try:
                    await client.stream_slivers(blob_id, wanted, sink, meta.params.sliver_len)
                except (NodeError, ValueError):
                    sink.abandon()
                    continue
                if sink.good:
                    await asyncio.to_thread(store.commit, list(sink.good.values()))
                    stored += len(sink.good)
        service.stats.slivers_synced += stored
        if stored:
            event(log, "slivers pulled from previous owners", blob_id=str(blob_id), slivers=stored)
        return stored
    finally:
        _pulling.discard(key)


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

    def foreign(self, committee: Committee) -> dict[int, list[tuple[BlobId, int]]]:
        """Stored slivers of shards this node does not own, of certified blobs: shard →
        (blob, index). Those of a blob not yet certified stay: its store may be finishing,
        and its new owners pull them when asked to confirm (deletion or expiry removes
        them with the blob)."""
        mine = my_shards(committee, self.service.node_id)
        root, n = self.service.store.root, committee.n_shards
        certified = set(self.service.registry.certified_blobs())
        out: dict[int, list[tuple[BlobId, int]]] = {}
        self.waiting = 0
        for blob_id in self.service.store.blob_ids():
            for f in (root / str(blob_id)).glob("*.sliver"):
                try:
                    index = int(f.name.split(".")[0])
                except ValueError:
                    continue
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
        if committee == self.done_for:
            return 0
        foreign = self.foreign(committee)
        if not foreign:
            if not self.waiting:
                self.done_for = committee
            return 0
        owners = {committee.owner_of_shard(s) for s in foreign}
        held = asyncio.run(self._held(committee, owners))
        deleted = 0
        for shard, slivers in foreign.items():
            if shard not in held.get(committee.owner_of_shard(shard), ()):
                continue
            for blob_id, index in slivers:
                self.service.store.sliver_path(blob_id, index).unlink(missing_ok=True)
                deleted += 1
        if deleted:
            self.service.stats.slivers_handed_over += deleted
            event(log, "handed over", slivers=deleted, shards=len(foreign))
        return deleted

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


def run(sync: ShardSync, handover: Handover, interval: float, stop: threading.Event) -> None:
    """Sync and hand over in the background until `stop`: at once when the committee
    changes, and every `interval` seconds while anything is left to do."""
    service = sync.service
    while not stop.is_set():
        service.handover_due.wait(interval)
        if stop.is_set():
            return
        service.handover_due.clear()
        for step in (sync.run_once, handover.run_once):
            try:
                step()
            except Exception:  # pragma: no cover - logged and retried
                log.exception("handover pass failed; retrying")
