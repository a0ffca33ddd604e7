"""The read flow: find metadata → fetch and verify `k` slivers (primaries first) → decode →
check the encoding is consistent, unless that is already known (see `relayer.verdicts`).

Blobs up to `memory_limit` are read in memory and cached (bounded by bytes); larger ones go
through files (slivers streamed to disk with their hashes checked on the way, the blob
decoded to a temporary file served and then removed), so a read's memory stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import os
import random
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import anyio
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
from haulout.protocol.params import ENCODING_RS16, shard_for_sliver
from haulout.sliver_files import VerifiedSliverFiles

from .assembly import PrimaryAssembly
from .index import BlobIndex
from .verdicts import ConsistencyVerdicts

log = logging.getLogger("haulout.relayer.read")

MAP_WINDOW = 32 << 20
"""Bytes of a large blob's file mapped at once while it is served."""

PULL_THREADS = 16
"""Worker threads all large reads together may hold receiving slivers (one per node a read
asks), apart from the threads every request needs."""


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
    assembled_reads: int = 0
    """Large type-1 reads served straight from their primary slivers (no decode)."""


@dataclass
class ReadBlob:
    """A verified blob: its bytes in memory, or a temporary file removed by `discard`."""

    size: int
    data: bytes | None = None
    path: Path | None = None
    workdir: Path | None = field(default=None, repr=False)

    def chunks(self, start: int, end: int, piece: int = 4 << 20) -> Iterator[bytes | memoryview]:
        """Bytes `[start, end)` in pieces; the temporary file goes once they are read.

        From a file the pieces are views of one read-only mapping, its pages mapped at once
        (`MAP_POPULATE`): the socket copies straight from the page cache, where reading
        into new buffers cost a copy and a page fault per 4 KiB of fresh memory (a fifth of
        the relayer's CPU on a large read). The mapping lives as long as a view of it: the
        file's removal does not take the pages from under a piece still being sent. Windows
        of `MAP_WINDOW` bytes are mapped one after another (at most two at once: the last
        piece of the previous may still wait in the socket's buffer), so a large blob's pages
        do not all count in the relayer's resident memory at once."""
        try:
            if self.data is not None:
                for pos in range(start, end, piece):
                    yield self.data[pos : min(pos + piece, end)]
                return
            assert self.path is not None
            if end <= start:
                return
            with open(self.path, "rb") as fh:
                end = min(end, os.fstat(fh.fileno()).st_size)
                window = MAP_WINDOW - MAP_WINDOW % mmap.ALLOCATIONGRANULARITY
                first = start - start % mmap.ALLOCATIONGRANULARITY
                for at in range(first, end, window):
                    view = memoryview(
                        mmap.mmap(
                            fh.fileno(),
                            min(window, end - at),
                            flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
                            prot=mmap.PROT_READ,
                            offset=at,
                        )
                    )
                    for pos in range(max(start, at), min(at + window, end), piece):
                        yield view[pos - at : min(pos + piece, end, at + window) - at]
                    del view  # unmapped once the socket has sent its last piece
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the temporary files, if any (idempotent)."""
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


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
        memory_limit: int = 32 << 20,
        spool_dir: Path | None = None,
    ) -> None:
        self.chain, self.index, self.http = chain, index, http
        self.verdicts = verdicts
        self.memory_limit, self.spool_dir = memory_limit, spool_dir
        self.cache: OrderedDict[BlobId, bytes] = OrderedDict()
        self.cache_bytes, self.retries = cache_bytes, retries
        self.stats = ReadStats()
        self._pulls: anyio.CapacityLimiter | None = None  # made in the event loop, on first use

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

    def require_live_now(self, blob_id: BlobId) -> None:
        """`require_live` after reading the chain's latest events: when nodes no longer serve a
        blob, it may have expired or been deleted a moment ago (a 404, not a 503)."""
        self.index.catch_up()
        self.require_live(blob_id)

    async def size(self, blob_id: BlobId) -> int:
        """A live blob's size, from its registration (what HEAD needs, without a read)."""
        await run_in_threadpool(self.require_live, blob_id)
        return self.index.live(blob_id)[0].size

    async def read(self, blob_id: BlobId, strict: bool = False, skip: bool = False) -> ReadBlob:
        """The blob, verified. The full consistency check runs when `strict` or when the blob
        is not yet known to be consistent; an inconsistent blob raises before any byte is
        returned. `skip` (Walrus's `skip_consistency_check`, for a trusted writer) leaves the
        check out; slivers are still authenticated against the metadata."""
        await run_in_threadpool(self.require_live, blob_id)
        if blob_id in self.cache and not strict:
            self.cache.move_to_end(blob_id)
            self.stats.cache_hits += 1
            data = self.cache[blob_id]
            return ReadBlob(len(data), data=data)
        system = await run_in_threadpool(self.chain.system)
        committee = system.require_committee()
        nodes = [NodeClient(m.url, self.http, self.retries) for m in committee.members]
        previous = _previous_owners(committee, system.previous_committee, self.http, self.retries)
        others = list({n.url: n for n in previous.values()}.values())
        try:
            metadata = await self.metadata(blob_id, nodes + others, committee.n_shards)
        except Exception:
            await run_in_threadpool(self.require_live_now, blob_id)  # expired meanwhile: 404
            raise
        known = self.verdicts.known(blob_id)
        check = strict or (not skip and not known)
        workdir = None
        if metadata.size > self.memory_limit:
            workdir = Path(tempfile.mkdtemp(prefix="read-", dir=self.spool_dir))
        try:
            blob: ReadBlob | None = None
            forged: set[int] = set()
            if workdir is not None and not check and metadata.encoding_type == ENCODING_RS16:
                blob, forged = await self.primaries(blob_id, metadata, committee, nodes, workdir)
            if blob is None:
                try:
                    slivers = await self.slivers(
                        blob_id, metadata, committee, nodes, workdir, previous, forged
                    )
                except Exception:  # nodes drop a blob once it expires or is deleted: then a 404
                    await run_in_threadpool(self.require_live_now, blob_id)
                    raise
                blob = await run_in_threadpool(self._decode, metadata, slivers, check, workdir)
        except BaseException:
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)
            raise
        if check:
            self.stats.consistency_checks += 1
            await run_in_threadpool(self.verdicts.record, blob_id, "checked")
        else:
            self.stats.consistency_known += 1
        self.stats.reads += 1
        self.stats.read_bytes += blob.size
        if blob.data is not None and (check or known):  # never cache an unchecked blob
            self._remember(blob_id, blob.data)
        return blob

    def _decode(
        self,
        meta: BlobMetadata,
        slivers: dict[int, bytes] | dict[int, Path],
        check: bool,
        workdir: Path | None,
    ) -> ReadBlob:
        """Decode in memory, or from sliver files into `workdir/blob`."""
        files: list[BinaryIO] = []
        try:
            sources: dict[int, bytes | BinaryIO] = {}
            for i, s in slivers.items():
                if isinstance(s, Path):
                    files.append(open(s, "rb"))  # noqa: SIM115 - closed below
                    sources[i] = files[-1]
                else:
                    sources[i] = s
            stripes = codec.decode_stream(meta, sources, verify_consistency=check)
            try:
                if workdir is None:
                    return ReadBlob(meta.size, data=b"".join(stripes))
                out = workdir / "blob"
                with open(out, "wb") as fh:
                    for stripe in stripes:
                        fh.write(stripe)
                return ReadBlob(meta.size, path=out, workdir=workdir)
            except InconsistentEncoding:
                self.stats.inconsistent += 1
                raise
        finally:
            for f in files:
                f.close()

    def _remember(self, blob_id: BlobId, data: bytes) -> None:
        if len(data) > self.cache_bytes // 4:
            return
        self.cache[blob_id] = data
        while sum(len(v) for v in self.cache.values()) > self.cache_bytes:
            self.cache.popitem(last=False)

    async def metadata(
        self, blob_id: BlobId, nodes: list[NodeClient], n_shards: int | None = None
    ) -> BlobMetadata:
        """Metadata from the first node whose copy derives the blob id."""
        errors = []
        for node in random.sample(nodes, len(nodes)):
            try:
                meta = BlobMetadata.from_bytes(await node.get_metadata(blob_id, n_shards))
                meta.verify(blob_id)
                return meta
            except (NodeError, InvalidMetadata) as exc:
                errors.append(str(exc))
        raise ApiError(
            503,
            "BLOB_UNAVAILABLE",  # as Walrus: transient, retry with backoff
            f"no storage node served valid metadata for {blob_id}: {'; '.join(errors)}",
        )

    async def primaries(
        self,
        blob_id: BlobId,
        meta: BlobMetadata,
        committee: Committee,
        nodes: list[NodeClient],
        workdir: Path,
    ) -> tuple[ReadBlob | None, set[int]]:
        """A large type-1 blob with no consistency check due, straight from its `k` primary
        slivers (see `relayer.assembly`): one request per node, all nodes at once, each
        answer received, hashed and written in place on its own thread. None when some
        primary is missing or forged (those forged are returned, not to be asked again): the
        caller then takes the general path."""
        if self._pulls is None:
            self._pulls = anyio.CapacityLimiter(PULL_THREADS)
        pulls = self._pulls
        k = meta.params.k
        by_node: dict[int, list[int]] = {}
        for i in range(k):
            by_node.setdefault(committee.member_for_sliver(i, int(blob_id)), []).append(i)
        assembly = PrimaryAssembly(meta, workdir)
        failures: list[str] = []

        async def pull(position: int, indices: list[int]) -> None:
            node = nodes[position]
            try:
                sink = assembly.sink(indices)
                await node.pull_slivers(blob_id, indices, sink, meta.params.sliver_len, pulls)
            except NodeError as exc:
                failures.append(str(exc))

        try:
            await asyncio.gather(*(pull(p, ix) for p, ix in by_node.items()))
        finally:
            assembly.close()
        for i, why in assembly.forged.items():
            self.rejected(blob_id, i, why)
        if assembly.complete:
            self.stats.assembled_reads += 1
            return ReadBlob(meta.size, path=assembly.path, workdir=workdir), set()
        assembly.path.unlink(missing_ok=True)
        event(
            log,
            "primary slivers incomplete; reading through decode",
            blob_id=str(blob_id),
            verified=len(assembly.good),
            errors="; ".join((failures + list(assembly.forged.values()))[:3]),
        )
        return None, set(assembly.forged)

    async def slivers(
        self,
        blob_id: BlobId,
        meta: BlobMetadata,
        committee: Committee,
        nodes: list[NodeClient],
        workdir: Path | None = None,
        previous: dict[int, NodeClient] | None = None,
        forged: set[int] | frozenset[int] = frozenset(),
    ) -> dict[int, bytes] | dict[int, Path]:
        """`k` verified slivers, primaries first, asking further nodes while some fail: in
        memory, or streamed into files under `workdir`.

        Each wave asks every node for all its wanted slivers in one request, so a read costs
        a request per node, not per sliver. During a committee change a shard's new owner
        may not hold it yet: what it lacks is asked of the shard's previous owner (`previous`:
        shard → that owner's client, for shards that moved), which serves it until then;
        after changes back to back, when that is still not enough, every node of both
        committees is asked for what is missing (one request each, only on that path).
        Slivers already found `forged` in this read are not asked for again."""
        k, n = meta.params.k, meta.n_shards
        order = [i for i in range(k) if i not in forged] + random.sample(range(k, n), n - k)
        good: dict[int, bytes | Path] = {}
        failures: list[str] = []

        async def ask(node: NodeClient, indices: list[int]) -> dict[int, bytes | Path]:
            try:
                if workdir is None:
                    got = await node.get_slivers(blob_id, indices, meta.params.sliver_len)
                    found: dict[int, bytes | Path] = dict(
                        await run_in_threadpool(self._verified, blob_id, meta, got, failures)
                    )
                else:
                    files = VerifiedSliverFiles(
                        meta, workdir, lambda i, why: self.rejected(blob_id, i, why)
                    )
                    await node.stream_slivers(blob_id, indices, files, meta.params.sliver_len)
                    failures.extend(files.failures)
                    found = dict(files.good)
            except (NodeError, ValueError) as exc:
                failures.append(str(exc))
                return {}
            if missing := [i for i in indices if i not in found]:
                failures.append(f"{node.url} gave no valid sliver {missing}")
            return found

        pos = 0
        while len(good) < k and pos < n:
            wave = order[pos : pos + (k - len(good))]
            pos += len(wave)
            by_node: dict[int, list[int]] = {}
            for i in wave:
                by_node.setdefault(committee.member_for_sliver(i, int(blob_id)), []).append(i)

            async def fetch(position: int, indices: list[int]) -> dict[int, bytes | Path]:
                found = await ask(nodes[position], indices)
                left: dict[str, tuple[NodeClient, list[int]]] = {}
                for i in indices:
                    shard = shard_for_sliver(i, int(blob_id), n)
                    if i not in found and previous and (old := previous.get(shard)):
                        left.setdefault(old.url, (old, []))[1].append(i)
                for more in await asyncio.gather(*(ask(c, ix) for c, ix in left.values())):
                    found.update(more)
                return found

            for batch in await asyncio.gather(*(fetch(p, ix) for p, ix in by_node.items())):
                good.update(batch)
        if len(good) < k and previous:  # committee changes back to back: whoever holds them
            everyone = {c.url: c for c in [*nodes, *previous.values()]}
            for client in everyone.values():
                if len(good) >= k:
                    break
                good.update(
                    await ask(client, [i for i in range(n) if i not in good and i not in forged])
                )
        if len(good) < k:
            raise ApiError(
                503,
                "BLOB_UNAVAILABLE",  # as Walrus: transient, retry with backoff
                f"only {len(good)} of the {k} slivers needed to rebuild {blob_id} could be fetched and verified; "
                f"errors: {'; '.join(failures[:5])}",
            )
        return dict(sorted(good.items())[:k])  # type: ignore[return-value]

    def rejected(self, blob_id: BlobId, index: int, why: str) -> None:
        """Count and log a sliver that failed its hash."""
        self.stats.slivers_rejected += 1
        event(log, "sliver rejected", blob_id=str(blob_id), index=index, error=why)

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
                self.rejected(blob_id, i, str(exc))
                failures.append(str(exc))
        return ok


def _previous_owners(
    current: Committee, previous: Committee | None, http: httpx.AsyncClient, retries: int
) -> dict[int, NodeClient]:
    """Shard → a client of its owner in the previous committee, for the shards whose owner
    changed (the chain's `previous_committee`): they serve a moved shard until its new
    owner holds it. One client per node."""
    if previous is None or previous.n_shards != current.n_shards:
        return {}
    clients: dict[str, NodeClient] = {}
    out = {}
    for shard in range(current.n_shards):
        old = previous.members[previous.owner_of_shard(shard)]
        if old.url != current.members[current.owner_of_shard(shard)].url:
            out[shard] = clients.setdefault(old.url, NodeClient(old.url, http, retries))
    return out
