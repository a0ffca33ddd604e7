"""The new owner's side of a committee change: fetch the shards it gained from their
previous owners (in bulk, then blob by blob, then recovery), say which shards it holds, and
pull a store's slivers when asked to confirm a blob the change overtook. See
`storage_node.handover`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import httpx

from haulout.http_errors import ApiError
from haulout.logs import event
from haulout.node_client import NodeClient, NodeError
from haulout.protocol.blob_id import BlobId
from haulout.protocol.committee import Committee
from haulout.protocol.errors import InvalidCommittee, ProtocolError
from haulout.protocol.frames import FRAME_HEADER, FrameParser
from haulout.protocol.hashing import Hasher, hasher
from haulout.protocol.metadata import BlobMetadata
from haulout.protocol.params import shard_for_sliver, sliver_for_shard

from .recovery import Recovery, RecoveryError, RecoveryUnavailable
from .service import NodeService
from .shard_route import BLOB_ID_BYTES, NEXT_HEADER, SYNC_PAGE
from .store import PendingFile

log = logging.getLogger("haulout.node.handover")


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
        self.index, self.hash = -1, meta.sliver_hasher()
        self.current: PendingFile | None = None

    def start(self, index: int, size: int) -> None:
        if index not in self.wanted or size != self.meta.params.sliver_len or index in self.good:
            raise ValueError(f"frame for sliver {index} of {size} bytes was not asked for")
        self.index, self.hash = index, self.meta.sliver_hasher()
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
        self.good_bytes = 0
        self.rejected = self.records = 0
        self.last: BlobId | None = None
        self.head = bytearray()
        self.index = self.size = -1
        self.meta: BlobMetadata | None = None
        self.blob: BlobId | None = None
        self.current: PendingFile | None = None
        self.hash: Hasher = hasher()

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
            self.hash = self.meta.sliver_hasher()  # BLAKE3 for type 1, blake2b for type 0
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
            self.good_bytes += self.size
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
                    self.service.stats.bytes_synced += sink.good_bytes
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
        self.service.stats.bytes_synced += stored * meta.params.sliver_len if meta else 0
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


def may_pull(service: NodeService) -> bool:
    """Whether `pull_from_previous` could fetch anything now (a committee change moved
    shards to this node); False in the steady state, when a store needs no pull."""
    committee, previous = service.committee(), service.previous_committee()
    return (
        previous is not None
        and previous.n_shards == committee.n_shards
        and bool(my_shards(committee, service.node_id))
    )


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
        service.stats.bytes_synced += stored * meta.params.sliver_len
        if stored:
            event(log, "slivers pulled from previous owners", blob_id=str(blob_id), slivers=stored)
        return stored
    finally:
        _pulling.discard(key)
