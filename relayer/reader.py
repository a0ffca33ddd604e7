"""The read flow: find metadata → fetch and verify `k` slivers (primaries first) → decode →
check the encoding is consistent, unless that is already known (see `relayer.verdicts`).
Decoded blobs are cached (bounded by bytes).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from dataclasses import dataclass

import httpx
from starlette.concurrency import run_in_threadpool

from haulout.chain.port import ChainPort
from haulout.http_errors import ApiError
from haulout.logs import event
from haulout.node_client import NodeClient, NodeError
from haulout.protocol import codec
from haulout.protocol.blob_id import BlobId
from haulout.protocol.committee import Committee
from haulout.protocol.errors import InconsistentEncoding, InvalidMetadata, InvalidSliver
from haulout.protocol.metadata import BlobMetadata

from .index import BlobIndex
from .verdicts import ConsistencyVerdicts

log = logging.getLogger("haulout.relayer.read")


@dataclass
class ReadStats:
    """Counters for /metrics."""

    reads: int = 0
    read_bytes: int = 0
    slivers_rejected: int = 0
    cache_hits: int = 0
    inconsistent: int = 0
    consistency_checks: int = 0
    consistency_known: int = 0


class BlobReader:
    """Reads blobs from the committee."""

    def __init__(
        self,
        chain: ChainPort,
        index: BlobIndex,
        http: httpx.AsyncClient,
        cache_bytes: int,
        verdicts: ConsistencyVerdicts,
        retries: int = 2,
    ) -> None:
        self.chain, self.index, self.http = chain, index, http
        self.verdicts = verdicts
        self.cache: OrderedDict[BlobId, bytes] = OrderedDict()
        self.cache_bytes, self.retries = cache_bytes, retries
        self.stats = ReadStats()

    def require_live(self, blob_id: BlobId) -> None:
        """404 unless the blob is certified, undeleted and unexpired."""
        if self.index.live(blob_id):
            return
        self.index.catch_up()
        if not self.index.live(blob_id):
            raise ApiError(
                404,
                "BLOB_NOT_FOUND",
                f"blob {blob_id} is not stored: it was never certified, or it was deleted or has expired",
            )

    async def read(self, blob_id: BlobId, strict: bool = False) -> bytes:
        """The blob's bytes, verified. The full consistency check runs when `strict` or when
        the blob is not yet known to be consistent."""
        await run_in_threadpool(self.require_live, blob_id)
        if blob_id in self.cache and not strict:
            self.cache.move_to_end(blob_id)
            self.stats.cache_hits += 1
            return self.cache[blob_id]
        committee = (await run_in_threadpool(self.chain.system)).require_committee()
        nodes = [NodeClient(m.url, self.http, self.retries) for m in committee.members]
        metadata = await self.metadata(blob_id, nodes)
        slivers = await self.slivers(blob_id, metadata, committee, nodes)
        check = strict or not self.verdicts.known(blob_id)
        try:
            data = await run_in_threadpool(
                lambda: b"".join(codec.decode_stream(metadata, slivers, verify_consistency=check))
            )
        except InconsistentEncoding:
            self.stats.inconsistent += 1
            raise
        if check:
            self.stats.consistency_checks += 1
            await run_in_threadpool(self.verdicts.record, blob_id, "checked")
        else:
            self.stats.consistency_known += 1
        self.stats.reads += 1
        self.stats.read_bytes += len(data)
        self._remember(blob_id, data)
        return data

    def _remember(self, blob_id: BlobId, data: bytes) -> None:
        if len(data) > self.cache_bytes // 4:
            return
        self.cache[blob_id] = data
        while sum(len(v) for v in self.cache.values()) > self.cache_bytes:
            self.cache.popitem(last=False)

    async def metadata(self, blob_id: BlobId, nodes: list[NodeClient]) -> BlobMetadata:
        """Metadata from the first node whose copy derives the blob id."""
        errors = []
        for node in random.sample(nodes, len(nodes)):
            try:
                meta = BlobMetadata.from_bytes(await node.get_metadata(blob_id))
                meta.verify(blob_id)
                return meta
            except (NodeError, InvalidMetadata) as exc:
                errors.append(str(exc))
        raise ApiError(
            503,
            "METADATA_UNAVAILABLE",
            f"no storage node served valid metadata for {blob_id}: {'; '.join(errors)}",
        )

    async def slivers(
        self, blob_id: BlobId, meta: BlobMetadata, committee: Committee, nodes: list[NodeClient]
    ) -> dict[int, bytes]:
        """`k` verified slivers, primaries first, asking further nodes while some fail.

        Each wave asks every node for all its wanted slivers in one request, so a read costs
        a request per node, not per sliver."""
        k, n = meta.params.k, meta.n_shards
        order = list(range(k)) + random.sample(range(k, n), n - k)
        good: dict[int, bytes] = {}
        failures: list[str] = []
        pos = 0
        while len(good) < k and pos < n:
            wave = order[pos : pos + (k - len(good))]
            pos += len(wave)
            by_node: dict[int, list[int]] = {}
            for i in wave:
                by_node.setdefault(committee.member_for_sliver(i, int(blob_id)), []).append(i)

            async def fetch(position: int, indices: list[int]) -> dict[int, bytes]:
                try:
                    got = await nodes[position].get_slivers(blob_id, indices)
                except NodeError as exc:
                    failures.append(str(exc))
                    return {}
                missing = [i for i in indices if i not in got]
                if missing:
                    failures.append(f"{nodes[position].url} lacks slivers {missing}")
                return await run_in_threadpool(self._verified, blob_id, meta, got, failures)

            for batch in await asyncio.gather(*(fetch(p, ix) for p, ix in by_node.items())):
                good.update(batch)
        if len(good) < k:
            raise ApiError(
                503,
                "NOT_ENOUGH_SLIVERS",
                f"only {len(good)} of the {k} slivers needed to rebuild {blob_id} could be fetched and verified; "
                f"errors: {'; '.join(failures[:5])}",
            )
        return dict(sorted(good.items())[:k])

    def _verified(
        self, blob_id: BlobId, meta: BlobMetadata, got: dict[int, bytes], failures: list[str]
    ) -> dict[int, bytes]:
        """The slivers of `got` that match the metadata; the others are counted and logged."""
        ok = {}
        for i, data in got.items():
            try:
                meta.check_sliver(i, data)
                ok[i] = data
            except InvalidSliver as exc:
                self.stats.slivers_rejected += 1
                event(log, "sliver rejected", blob_id=str(blob_id), index=i, error=str(exc))
                failures.append(str(exc))
        return ok
