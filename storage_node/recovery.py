"""Sliver recovery: a node rebuilds what it should hold of a certified blob but lacks.

A relayer answers once a quorum has confirmed and serves the other nodes afterwards; if it
crashes first, or a node was down, that node misses its slivers. Every few seconds the node
looks at the certified blobs it has not yet seen complete here. A blob still missing
metadata or owned slivers is recovered from the other nodes only when its upload is not
merely late:

- never while an upload of it is being received here;
- only after `grace` seconds without any upload of it here (since it was certified, or since
  its last upload request, whichever is later);
- under load (an upload of any blob in progress here, or one within the last `grace` seconds)
  background uploads queue up at the relayer, so the grace grows to `grace_max`.

Recovery checks the registered size against `max_blob_size` before fetching anything, then
goes through files, so memory stays bounded whatever the size: `k` slivers are streamed from
the other nodes to files (hashes checked on the way), the blob is decoded stripe by stripe and
re-encoded stripe by stripe; the missing slivers are written as pending files and made
visible only if re-encoding reproduces every sliver hash of the metadata (the full
consistency check).

A failure that may pass (a peer down, only some slivers reachable now) is retried with
exponential backoff; only an inconsistent encoding or a blob over the size limit is given up.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx

from haulout.logs import event
from haulout.node_client import NodeClient, NodeError
from haulout.protocol import codec
from haulout.protocol.blob_id import BlobId
from haulout.protocol.errors import InconsistentEncoding, ProtocolError
from haulout.protocol.metadata import BlobMetadata
from haulout.sliver_files import VerifiedSliverFiles

from .service import NodeService
from .store import PendingFile

log = logging.getLogger("haulout.node.recovery")


class RecoveryError(Exception):
    """A blob cannot be recovered here at all (inconsistently encoded, or over the size
    limit); it is not tried again until the node restarts."""


class RecoveryUnavailable(Exception):
    """A blob cannot be recovered right now (no metadata or fewer than `k` good slivers
    reachable); tried again after a backoff."""


class _RebuiltSlivers:
    """A `SliverSink` for re-encoding: the slivers this node lacks go to pending files in the
    store (hashed on the way), the others are dropped."""

    def __init__(self, pending: dict[int, PendingFile], meta: BlobMetadata) -> None:
        self.pending = pending
        self.hashes = {i: meta.sliver_hasher() for i in pending}

    def write(self, index: int, block: bytes | memoryview) -> None:
        if index in self.pending:
            self.pending[index].write(block)
            self.hashes[index].update(block)


class Recovery:
    """Finds and fills this node's gaps in certified blobs."""

    def __init__(
        self,
        service: NodeService,
        grace: float = 5.0,
        max_blob_size: int = 1 << 30,
        grace_max: float = 120.0,
        workdir: Path | None = None,
        backoff: float = 2.0,
        backoff_max: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service, self.grace, self.max_blob_size = service, grace, max_blob_size
        self.grace_max = max(grace, grace_max)
        self.workdir = workdir or service.store.root.parent / "recovering"
        self.backoff, self.backoff_max, self.clock = backoff, backoff_max, clock
        self.complete: set[BlobId] = set()
        self.first_missing: dict[BlobId, float] = {}
        self.gave_up: set[BlobId] = set()
        self.attempts: dict[BlobId, int] = {}
        self.retry_at: dict[BlobId, float] = {}
        self.committee_seen: object = None  # blobs complete under another committee may not be
        shutil.rmtree(self.workdir, ignore_errors=True)  # what a crash left mid-recovery

    def busy(self, now: float) -> bool:
        """Uploads are arriving here (one in progress, or one within the last `grace`
        seconds): late uploads are likely queued behind them, so missing blobs get
        `grace_max`."""
        return self.service.uploads_in_flight > 0 or now - self.service.last_upload < self.grace

    def waiting_for_upload(self, blob_id: BlobId, now: float) -> bool:
        """True while the blob's own upload may still come: one is in progress here, or the
        grace (grown under load) since it was first seen missing, or since its last upload
        request here, has not passed."""
        since = self.first_missing.setdefault(blob_id, now)
        act = self.service.upload_activity(blob_id)
        if act is not None and act.in_flight:
            return True
        if act is not None:
            since = max(since, act.last)
        return now - since < (self.grace_max if self.busy(now) else self.grace)

    def due(self) -> list[BlobId]:
        """Certified blobs missing data here whose upload is not merely late, and whose
        backoff after a failed attempt is over."""
        now = self.clock()
        out = []
        store = self.service.store
        committee = self.service.committee()
        if committee is not self.committee_seen:  # shards moved: look at every blob again
            self.committee_seen = committee
            self.complete.clear()
        if self.service.syncing:  # gained shards are coming in bulk from previous owners
            return []
        for blob_id in self.service.registry.certified_blobs():
            if blob_id in self.complete or blob_id in self.gave_up:
                continue
            owned = self.service.owned_slivers(blob_id)
            if store.get_metadata(blob_id) is not None and not store.has_slivers(blob_id, owned):
                self._done(blob_id)
                continue
            if self.waiting_for_upload(blob_id, now):
                continue
            if now < self.retry_at.get(blob_id, 0.0):
                continue
            out.append(blob_id)
        return out

    def _done(self, blob_id: BlobId) -> None:
        self.complete.add(blob_id)
        for table in (self.first_missing, self.attempts, self.retry_at):
            table.pop(blob_id, None)

    def recover(self, blob_id: BlobId) -> int:
        """Rebuild this node's missing metadata and slivers of `blob_id`; returns how many
        slivers were stored."""
        size = self.service.registry.blob(blob_id).size
        if size > self.max_blob_size:
            raise RecoveryError(
                f"blob {blob_id} is registered with {size} bytes, more than this node recovers "
                f"({self.max_blob_size}, HAULOUT_NODE_RECOVERY_MAX_BLOB_SIZE)"
            )
        work = self.workdir / f"{blob_id}.{uuid.uuid4().hex[:8]}"
        work.mkdir(parents=True)
        try:
            meta, files = asyncio.run(self._fetch(blob_id, work))
            return self._rebuild(blob_id, meta, files)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _rebuild(self, blob_id: BlobId, meta: BlobMetadata, files: dict[int, Path]) -> int:
        store = self.service.store
        missing = store.has_slivers(blob_id, self.service.owned_slivers(blob_id))
        pending = {i: store.pending_sliver(blob_id, i) for i in missing}
        try:
            with ExitStack() as stack:
                readers = {i: stack.enter_context(open(p, "rb")) for i, p in files.items()}
                sink = _RebuiltSlivers(pending, meta)
                stripes = codec.decode_stream(meta, readers, verify_consistency=False)
                rebuilt = codec.encode_stream(
                    stripes, meta.size, meta.n_shards, sink, encoding_type=meta.encoding_type
                )
            if rebuilt != meta:  # all n hashes compared: the full consistency check
                raise RecoveryError(
                    f"blob {blob_id} was encoded inconsistently: re-encoding it does not "
                    "reproduce its metadata, so this node cannot hold a valid sliver of it"
                )
            for i, h in sink.hashes.items():  # what was written is what was hashed
                if h.digest() != meta.sliver_hashes[i]:
                    raise RecoveryError(f"rebuilt sliver {i} of {blob_id} does not match")
            if store.get_metadata(blob_id) is None:
                store.put_metadata(blob_id, meta.to_bytes())
            store.commit(list(pending.values()))
        except BaseException:
            for p in pending.values():
                p.discard()
            raise
        self.service.stats.slivers_recovered += len(missing)
        return len(missing)

    async def _fetch(self, blob_id: BlobId, work: Path) -> tuple[BlobMetadata, dict[int, Path]]:
        """Metadata from the first peer serving a valid one, then slivers streamed to files
        in `work` until `k` verified ones are in hand."""
        committee = self.service.committee()
        me = next(
            (p for p, m in enumerate(committee.members) if m.node_id == self.service.node_id), -1
        )
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
                raise RecoveryUnavailable(f"no other node served valid metadata for {blob_id}")
            wanted: dict[int, list[int]] = {}
            for i in range(meta.n_shards):
                owner = committee.member_for_sliver(i, int(blob_id))
                if owner != me:
                    wanted.setdefault(owner, []).append(i)
            sink = VerifiedSliverFiles(meta, work)
            for position, indices in wanted.items():  # until k verified slivers are in hand
                if len(sink.good) >= meta.params.k:
                    break
                try:
                    await peers[position].stream_slivers(blob_id, indices, sink)
                except (NodeError, ValueError):
                    sink.abandon()
                    continue
            if len(sink.good) < meta.params.k:  # shards moving: their previous owners
                for url, indices in self._previous_owners(blob_id, meta, set(sink.good)).items():
                    if len(sink.good) >= meta.params.k:
                        break
                    try:
                        await NodeClient(url, http, retries=1).stream_slivers(
                            blob_id, indices, sink, meta.params.sliver_len
                        )
                    except (NodeError, ValueError):
                        sink.abandon()
            if len(sink.good) < meta.params.k:  # changes back to back: whoever holds them
                for url in self._anyone():
                    if len(sink.good) >= meta.params.k:
                        break
                    left = [i for i in range(meta.n_shards) if i not in sink.good]
                    try:
                        await NodeClient(url, http, retries=1).stream_slivers(
                            blob_id, left, sink, meta.params.sliver_len
                        )
                    except (NodeError, ValueError):
                        sink.abandon()
            if len(sink.good) < meta.params.k:
                raise RecoveryUnavailable(
                    f"only {len(sink.good)} of the {meta.params.k} slivers needed to rebuild "
                    f"{blob_id} could be fetched and verified from the other nodes now"
                )
            chosen = sorted(sink.good)[: meta.params.k]
            return meta, {i: sink.good[i] for i in chosen}

    def _anyone(self) -> list[str]:
        """Every other node of the current and previous committees: after changes back to
        back a sliver may still sit with an owner from before, which serves what it holds."""
        urls: dict[str, None] = {}
        for c in (self.service.committee(), self.service.previous_committee()):
            for m in c.members if c is not None else ():
                if m.node_id != self.service.node_id:
                    urls[m.url] = None
        return list(urls)

    def _previous_owners(
        self, blob_id: BlobId, meta: BlobMetadata, have: set[int]
    ) -> dict[str, list[int]]:
        """URL of a shard's owner in the previous committee → the slivers not yet in hand
        that it held, for shards whose owner changed (other than this node)."""
        committee, previous = self.service.committee(), self.service.previous_committee()
        if previous is None or previous.n_shards != meta.n_shards:
            return {}
        out: dict[str, list[int]] = {}
        for i in range(meta.n_shards):
            if i in have:
                continue
            old = previous.members[previous.member_for_sliver(i, int(blob_id))]
            new = committee.members[committee.member_for_sliver(i, int(blob_id))]
            if old.url != new.url and old.node_id != self.service.node_id:
                out.setdefault(old.url, []).append(i)
        return out

    def run_once(self) -> int:
        """Recover every due blob; returns how many slivers were stored."""
        total = 0
        for blob_id in self.due():
            try:
                n = self.recover(blob_id)
            except (RecoveryError, InconsistentEncoding) as exc:
                self.gave_up.add(blob_id)
                event(log, "recovery failed", blob_id=str(blob_id), error=str(exc))
                continue
            except Exception as exc:  # a peer down, too few slivers now, a disk hiccup
                self._later(blob_id, exc)
                continue
            self._done(blob_id)
            total += n
            event(log, "slivers recovered", blob_id=str(blob_id), slivers=n)
        self.service.forget_uploads(older_than=2 * self.grace_max)
        return total

    def _later(self, blob_id: BlobId, exc: Exception) -> None:
        """Schedule another attempt after an exponential backoff."""
        n = self.attempts[blob_id] = self.attempts.get(blob_id, 0) + 1
        delay = min(self.backoff_max, self.backoff * 2 ** (n - 1))
        self.retry_at[blob_id] = self.clock() + delay
        self.service.stats.recovery_retries += 1
        event(
            log,
            "recovery will be retried",
            blob_id=str(blob_id),
            attempt=n,
            retry_in_s=delay,
            error=str(exc) or type(exc).__name__,
        )

    def run(self, interval: float, stop: threading.Event) -> None:
        """Recover in the background until `stop` is set."""
        while not stop.wait(interval):
            try:
                self.run_once()
            except Exception:  # pragma: no cover - logged and retried
                log.exception("recovery pass failed; retrying")
