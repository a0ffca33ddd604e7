"""The store flow, top to bottom: receive & encode → reserve & register → push slivers →
collect confirmations → aggregate → certify → answer in Walrus's JSON shape.

With a Content-Length the body is encoded while it arrives (no second pass over it); a
chunked body of unknown length is spooled to disk first, since the encoding's block size
depends on the blob's size.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import queue
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from haulout.chain.accounts import Account
from haulout.chain.errors import MoveAbort, ObjectNotFound
from haulout.chain.objects import BlobObject, BlobSpec, PaidRegistration, SystemState
from haulout.chain.port import ChainPort
from haulout.http11 import Http11Pool
from haulout.http_errors import ApiError
from haulout.logs import debug, event
from haulout.node_client import Confirmation, NodeClient, NodeError
from haulout.protocol import bls, codec
from haulout.protocol.blob_id import BlobId
from haulout.protocol.certificate import aggregate, quorum_reached, verify_certificate
from haulout.protocol.committee import Committee
from haulout.protocol.errors import InvalidSliver
from haulout.protocol.messages import BlobCertification
from haulout.protocol.metadata import BlobMetadata
from haulout.protocol.params import (
    DEFAULT_ENCODING,
    EncodingParams,
    check_encoding_type,
    check_shards,
    check_size,
    encoded_length,
)
from haulout.sliver_spool import SpooledSliver, StripeSpool

from .batch_store import Batch, BatchMember
from .index import BlobIndex
from .limits import EncodeMemory
from .verdicts import ConsistencyVerdicts

log = logging.getLogger("haulout.relayer")

T = TypeVar("T")


def upload_interrupted() -> ApiError:
    """The answer when a client goes away mid-body (nothing was stored; sending it again is safe)."""
    return ApiError(
        400,
        "UPLOAD_INTERRUPTED",
        "the client went away before sending the whole body; nothing was stored, send it again",
    )


@dataclass
class StoreStats:
    """Counters for /metrics."""

    uploads: int = 0
    uploads_failed: int = 0
    bytes_stored: int = 0
    already_certified: int = 0
    confirmations_rejected: int = 0
    node_upload_failures: int = 0
    tail_uploads_pending: int = 0
    tail_bytes_held: int = 0
    encode_memory_bytes: int = 0
    """Sliver bytes uploads in flight hold in memory (bounded by HAULOUT_RELAYER_ENCODE_MEMORY)."""
    uploads_through_files: int = 0
    """Uploads small enough for memory that went through files: the budget was held."""
    store_seconds_total: float = 0.0
    uploads_shared: int = 0
    """Uploads answered by an identical upload running at the same time (no registration)."""
    registrations_reused: int = 0
    """Stores that certified a registration a failed store had paid for."""
    epoch_changes_during_store: int = 0
    """Certifications that needed confirmations of a newer epoch."""


CPU_PHASES_FROM = 1 << 20
"""Uploads from this size on (or of unknown size) also log their process CPU per step; for
smaller ones the clock read (which sums every thread's time in the kernel, ~0.3 ms under
load) cost more than their steps are worth measuring."""


class Phases:
    """Wall-clock and (with `cpu`) process CPU seconds per step of one upload, for logs (CPU
    covers every thread of the relayer, so it also counts concurrent requests)."""

    def __init__(self, cpu: bool = True) -> None:
        self.track_cpu = cpu
        self.last = time.perf_counter()
        self.last_cpu = time.process_time() if cpu else 0.0
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def mark(self, name: str) -> None:
        """Close the current step."""
        now = time.perf_counter()
        self.seconds[name] = round(now - self.last, 4)
        self.last = now
        if self.track_cpu:
            cpu = time.process_time()
            self.cpu[name] = round(cpu - self.last_cpu, 4)
            self.last_cpu = cpu


class BodyPipe:
    """Hands a request body from the event loop to the encoding thread, in pieces of about
    1 MiB, holding at most `depth` of them (bounded memory, and backpressure on the client).

    A piece is the list of chunks as they arrived (never joined: no copy here; the codec cuts
    stripes from any chunks). When the queue is full the feeder sleeps until the encoding
    thread takes a piece (it wakes the loop), not polling."""

    def __init__(self, depth: int = 2, piece: int = 1 << 20) -> None:
        self.queue: queue.Queue[list[bytes] | BaseException | None] = queue.Queue(depth)
        self.piece = piece
        self.closed = False
        self.arrived = asyncio.Event()  # a first piece (or the end, or an error) is queued
        self.room = asyncio.Event()  # the encoding thread took a piece
        self.loop = asyncio.get_running_loop()

    async def _put(self, item: list[bytes] | BaseException | None) -> None:
        while not self.closed:
            self.room.clear()
            try:
                self.queue.put_nowait(item)
                self.arrived.set()
                return
            except queue.Full:
                pass
            try:  # woken by `chunks`; the timeout only guards against a lost wake-up
                async with asyncio.timeout(0.5):
                    await self.room.wait()
            except TimeoutError:
                pass

    async def feed(self, body: AsyncIterator[bytes]) -> None:
        """Read the body (on the event loop) into the queue; errors are passed along."""
        parts: list[bytes] = []
        held = 0
        try:
            async for chunk in body:
                if self.closed:
                    return
                parts.append(chunk)
                held += len(chunk)
                if held >= self.piece:
                    await self._put(parts)
                    parts, held = [], 0
            if parts:
                await self._put(parts)
            await self._put(None)
        except Exception as exc:  # e.g. ClientDisconnect: the encoder raises it
            await self._put(exc)

    def chunks(self) -> Iterator[bytes]:
        """The body's pieces, for the encoding thread (blocks while the queue is empty)."""
        while True:
            try:
                item = self.queue.get(timeout=0.5)
            except queue.Empty:
                if self.closed:  # the request was abandoned: do not wait forever
                    raise ClientDisconnect() from None
                continue
            if not self.closed:  # (a RuntimeError: the loop is gone, nobody feeds any more)
                with contextlib.suppress(RuntimeError):
                    self.loop.call_soon_threadsafe(self.room.set)
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield from item

    def close(self) -> None:
        """Stop feeding (the encoder finished or failed)."""
        self.closed = True
        self.room.set()


@dataclass
class Encoded:
    """An encoded upload: slivers in memory (small blobs) or in one spool file (large ones,
    see `haulout.sliver_spool`)."""

    metadata: BlobMetadata
    slivers: list[bytearray] | list[SpooledSliver]
    workdir: Path

    def memory_bytes(self) -> int:
        """Bytes of slivers held in memory."""
        return sum(len(s) for s in self.slivers if not isinstance(s, SpooledSliver))

    def keep_only(self, needed: set[int]) -> None:
        """Drop the in-memory slivers no pending upload needs any more."""
        for i, s in enumerate(self.slivers):
            if i not in needed and not isinstance(s, SpooledSliver):
                self.slivers[i] = bytearray()  # type: ignore[call-overload]


@dataclass
class Distribution:
    """What the push to the committee produced."""

    confirmations: dict[int, Confirmation] = field(default_factory=dict)
    signatures: dict[int, bytes] = field(default_factory=dict)
    verified: set[tuple[int, bytes, bytes]] = field(default_factory=set)
    groups: list[frozenset[tuple[int, bytes, bytes]]] = field(default_factory=list)
    """The verified signatures in the groups they were checked in (each group's sum verifies)."""
    """(position, message, signature) already checked: never paired again."""
    failures: dict[str, str] = field(default_factory=dict)
    tail: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass
class Upload:
    """One upload in progress: its work directory (handed over to the background uploads
    once they take it) and its timings."""

    workdir: Path
    handed_over: bool = False
    phases: Phases = field(default_factory=Phases)
    reserved: int = 0
    """Memory budget its in-memory slivers took: given back when the store ends, or, when
    background uploads still hold its slivers, once they finish (so the slivers of stores
    in flight and of their background uploads share one bound)."""


CERTIFY_ATTEMPTS = 4
"""Certifications tried per store when the epoch changes under it (each with fresh
confirmations of the new epoch)."""

SMALL_PART = 1 << 20
"""A node's part of a store up to this many bytes (in memory) goes in one request that also
brings back its confirmation (`PUT /v1/blobs/<id>/upload`); larger parts go as metadata,
concurrent batches, then the confirmation."""

INLINE_ENCODE_BYTES = 128 << 10
"""Uploads up to this size (with a Content-Length, on a chain whose reads are local) are
received whole and encoded on the event loop: encoding 100 KB to 100 shards takes well
under a millisecond, less than a trip to a worker thread and back costs such a store."""

LANE_BYTES = 4 << 20
"""Sliver bytes per concurrent batch to one node: below this, more batches only add requests
and directory syncs."""


class StoreController:
    """Publishes uploads as certified blobs; chain, index and HTTP client are given."""

    def __init__(
        self,
        chain: ChainPort,
        account: Account,
        index: BlobIndex,
        http: httpx.AsyncClient,
        spool_dir: Path,
        max_blob_size: int,
        verdicts: ConsistencyVerdicts,
        node_retries: int = 3,
        uploads_per_node: int = 4,
        memory_limit: int = 32 << 20,
        encoding_type: int = DEFAULT_ENCODING,
        encode_memory: EncodeMemory | None = None,
        wire: Http11Pool | None = None,
    ) -> None:
        self.chain, self.account, self.index, self.http = chain, account, index, http
        self.wire = wire
        """Keep-alive connections for the calls to nodes (None: through `http`)."""
        self.local_reads = bool(getattr(chain, "local_reads", False))
        """Chain reads run on the event loop (see `read_chain`)."""
        self.spool_dir = spool_dir
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.max_blob_size = max_blob_size
        self.verdicts = verdicts
        self.node_retries = node_retries
        self.uploads_per_node = uploads_per_node
        self.memory_limit = memory_limit
        self.encode_memory = encode_memory or EncodeMemory(4 * memory_limit)
        self.encoding_type = codec.default_encoding(encoding_type)  # 0 where 1 is unavailable
        self.stats = StoreStats()
        self.tails: set[asyncio.Task[None]] = set()
        self.flights: dict[tuple[BlobId, bool, int, str | None], asyncio.Future[BlobObject]] = {}
        """Uploads being published, by (blob id, deletable, epochs, recipient): an identical
        upload waits for the one running instead of registering (and paying) again."""
        self.claimed: set[str] = set()
        """Blob objects a running store is certifying: never reused by another at once."""

    async def store(
        self,
        body: AsyncIterator[bytes],
        epochs: int,
        deletable: bool,
        send_object_to: str | None,
        declared_size: int | None = None,
        encoding_type: int | None = None,
        content_type: str | None = None,
        force: bool = False,
        member: BatchMember | None = None,
    ) -> dict[str, Any]:
        """The whole flow for one upload. The work directory is removed whatever happens: at
        once, or when the nodes still being served after certification have their slivers.

        `declared_size` is the request's Content-Length, when it has one; `encoding_type`
        the upload's own choice (Walrus clients send it), else this relayer's setting;
        `content_type` (checked) becomes the `content-type` attribute in the registration's
        transaction. `force` (Walrus's) registers and certifies a new Blob object even when
        the blob is certified already. `member`: this upload is one of a batch whose members
        register in one transaction and certify in one (`batch_store`)."""
        started = time.perf_counter()
        encoding = self.encoding_for(encoding_type)
        if declared_size is not None:
            self.check_declared(declared_size)
        upload = Upload(
            Path(tempfile.mkdtemp(prefix="upload-", dir=self.spool_dir)),
            phases=Phases(cpu=declared_size is None or declared_size >= CPU_PHASES_FROM),
        )
        try:
            if declared_size is None:
                system = await run_in_threadpool(self.chain.system)
                system.require_committee()
                check_shards(system.n_shards, encoding)  # e.g. type 0 over 1,000 shards: a 400
                spooled, size = await self.spool(body, upload.workdir)
                upload.phases.mark("spool")
                upload.reserved = self.reserve_memory(size, system.n_shards, encoding)
                encoded = await self.encode_from(
                    spooled.open("rb"),
                    size,
                    system.n_shards,
                    upload.workdir,
                    encoding,
                    upload.reserved > 0,
                    record=True,
                )
            elif declared_size <= INLINE_ENCODE_BYTES and self.local_reads:
                # a small body on a local chain: received whole, then the System read,
                # encoding and verdict on the event loop (about a millisecond), no thread trip
                size = declared_size
                chunks = await self.receive_small(body, size)
                system = self.chain.system()
                system.require_committee()
                check_shards(system.n_shards, encoding)  # e.g. type 0 over 1,000 shards: a 400
                upload.reserved = self.reserve_memory(size, system.n_shards, encoding)
                try:
                    encoded = self.encode(
                        chunks, size, system.n_shards, upload.workdir, encoding, upload.reserved > 0
                    )
                except InvalidSliver as exc:  # the codec's "more/fewer bytes than declared"
                    raise ApiError(400, "BODY_SIZE_MISMATCH", str(exc)) from exc
                self.verdicts.record(encoded.metadata.blob_id, "encoded")
            else:
                size = declared_size
                seen: list[SystemState] = []

                def prepare() -> tuple[int, bool]:
                    # on the encoding thread, before its first byte: one thread trip reads
                    # the System, reserves memory, encodes and records the verdict
                    system = self.chain.system()
                    system.require_committee()
                    check_shards(system.n_shards, encoding)  # e.g. type 0 over 1,000: a 400
                    seen.append(system)
                    upload.reserved = self.reserve_memory(size, system.n_shards, encoding)
                    return system.n_shards, upload.reserved > 0

                encoded = await self.receive_and_encode(
                    body, size, 0, upload.workdir, encoding, prepare=prepare, record=True
                )
                system = seen[0]
            blob_id = encoded.metadata.blob_id
            upload.phases.mark("encode")
            debug(
                log,
                "encoded",
                blob_id=str(blob_id),
                size=size,
                n_shards=system.n_shards,
                encoding_type=encoding,
            )

            if (
                not force
                and not deletable
                and (found := self.already_certified(encoded, system, epochs))
            ):
                self.stats.already_certified += 1
                return found
            if not force and deletable and not send_object_to:
                if found := await self.already_owned(encoded, system, epochs):
                    self.stats.already_certified += 1
                    return found

            key = (blob_id, deletable, epochs, send_object_to)
            while not force and (flight := self.flights.get(key)) is not None:  # same, running
                if member is not None:  # it may be a member of this very batch: never wait
                    member.leave()  # for it at a meeting point
                try:
                    shared = await asyncio.shield(flight)
                except Exception:  # it failed: this one tries again (reusing its registration)
                    continue
                self.stats.uploads_shared += 1
                return await self.shared_answer(shared, encoded, system, epochs)
            flight = asyncio.get_running_loop().create_future()
            if not force:  # a forced store is its own: no identical upload waits for it
                self.flights[key] = flight
            try:
                answer, blob = await self.publish(
                    upload, encoded, system, epochs, deletable, send_object_to, content_type, member
                )
                flight.set_result(blob)
            except BaseException as exc:  # waiting uploads then try themselves
                flight.set_exception(
                    exc
                    if isinstance(exc, Exception)
                    else ApiError(503, "UPLOAD_ABANDONED", "the identical upload was abandoned")
                )
                flight.exception()  # retrieved: there may be no waiting upload
                raise
            finally:
                if self.flights.get(key) is flight:
                    del self.flights[key]
            self.stats.uploads += 1
            self.stats.bytes_stored += size
            await self.bound_tails()
            return answer
        except Exception:
            self.stats.uploads_failed += 1
            raise
        finally:
            if member is not None:  # answered, failed or done: the others go on without it
                member.leave()
            if not upload.handed_over:  # else the background uploads give it back
                self.encode_memory.give_back(upload.reserved)
            self.stats.encode_memory_bytes = self.encode_memory.held
            self.stats.uploads_through_files = self.encode_memory.through_files
            self.stats.store_seconds_total += time.perf_counter() - started
            if not upload.handed_over:
                shutil.rmtree(upload.workdir, ignore_errors=True)

    async def store_batch(
        self,
        bodies: list[tuple[AsyncIterator[bytes], int]],
        epochs: int,
        deletable: bool,
        encoding_type: int | None = None,
    ) -> list[dict[str, Any] | BaseException]:
        """Store several blobs (each its body and size) as one batch: one registration
        transaction and one certification transaction for all of them that need one (see
        `batch_store`); each answer as `store`'s, or the exception that member ended with
        (the others are stored all the same)."""
        system = await run_in_threadpool(self.chain.system)
        system.require_committee()
        batch = Batch(self.chain, self.account, len(bodies), system.n_shards)
        answers = await asyncio.gather(
            *(
                self.store(
                    body, epochs, deletable, None, size, encoding_type, member=batch.member()
                )
                for body, size in bodies
            ),
            return_exceptions=True,
        )
        return answers

    async def publish(
        self,
        upload: Upload,
        encoded: Encoded,
        system: SystemState,
        epochs: int,
        deletable: bool,
        send_object_to: str | None,
        content_type: str | None = None,
        member: BatchMember | None = None,
    ) -> tuple[dict[str, Any], BlobObject]:
        """Register (or reuse a registration the relayer already paid for), push, certify;
        returns the Walrus answer and the certified Blob object. A batch `member` registers
        and certifies in its batch's transactions (alone when those fail)."""
        blob_id = encoded.metadata.blob_id
        blob = await self.claim_reusable(blob_id, deletable, system.epoch + epochs)
        if member is not None and blob is not None:
            member.skip("registration")  # paid for already
        if blob is not None:
            cost = 0
            operation: dict[str, Any] = {
                "reuseRegistration": {
                    "encodedLength": encoded_length(system.n_shards, blob.size, blob.encoding_type)
                }
            }
            self.stats.registrations_reused += 1
            event(log, "registration reused", blob_id=str(blob_id), object_id=blob.id)
        else:
            paid: PaidRegistration | None = None
            if member is not None:
                attributes = (("content-type", content_type),) if content_type else ()
                spec = BlobSpec(
                    blob_id,
                    encoded.metadata.root,
                    encoded.metadata.size,
                    encoded.metadata.encoding_type,
                    epochs,
                    deletable,
                    attributes,
                )
                paid = await member.register(spec)
            if paid is None:
                paid = await run_in_threadpool(
                    self.chain.reserve_and_register_paid,
                    self.account,
                    blob_id,
                    encoded.metadata.root,
                    encoded.metadata.size,
                    encoded.metadata.encoding_type,
                    epochs,
                    deletable,
                    {"content-type": content_type} if content_type else None,
                )
            blob, cost = paid.blob, paid.cost
            self.claimed.add(blob.id)
            self.index.note_registered(blob, self.account.address)  # in memory: no thread trip
            operation = {
                "registerFromScratch": {
                    "encodedLength": encoded_length(system.n_shards, blob.size, blob.encoding_type),
                    "epochsAhead": epochs,
                }
            }
            debug(log, "registered", blob_id=str(blob_id), object_id=blob.id, cost=cost)
        upload.phases.mark("register")
        try:
            committee = system.require_committee()
            if member is None:
                dist = await self.distribute(encoded, blob, committee, system.epoch)
            else:
                async with member.batch.distributing:
                    dist = await self.distribute(encoded, blob, committee, system.epoch)
            if dist.tail:  # they finish (and then drop the work directory) whatever follows
                self.finish_later(
                    dist.tail, upload.workdir, str(blob_id), encoded.memory_bytes(), upload.reserved
                )
                upload.handed_over = True
            upload.phases.mark("distribute")
            blob = await self.certify(dist, blob, committee, system.epoch, member)
        finally:
            self.claimed.discard(blob.id)
        upload.phases.mark("certify")
        self.index.note_certified(blob)  # in memory: no thread trip
        event(
            log,
            "certified",
            blob_id=str(blob_id),
            object_id=blob.id,
            signers=sorted(dist.signatures),
            seconds=upload.phases.seconds,
            cpu_seconds=upload.phases.cpu,
        )
        if send_object_to:
            await run_in_threadpool(self.chain.transfer, self.account, blob.id, send_object_to)
        answer = {
            "newlyCreated": {
                "blobObject": blob.to_walrus_json(),
                "resourceOperation": operation,
                "cost": cost,
            }
        }
        return answer, blob

    async def claim_reusable(
        self, blob_id: BlobId, deletable: bool, min_end_epoch: int
    ) -> BlobObject | None:
        """A registered, never certified Blob object of this blob id and persistence that the
        relayer owns and that lasts long enough (left by a failed store), claimed for this
        store; as Walrus's `reuse_resources`, so a retry does not pay again."""
        # in memory (the index's lock is never held across chain reads): no thread trip
        found = self.index.reusable(blob_id, deletable, min_end_epoch, set(self.claimed))
        for reg in found:
            if reg.object_id in self.claimed:  # taken while we checked the previous one
                continue
            self.claimed.add(reg.object_id)
            try:
                blob = await self.read_chain(self.chain.get_blob, reg.object_id)
            except ObjectNotFound:
                blob = None
            if (
                blob is not None
                and blob.owner == self.account.address
                and blob.certified_epoch is None
                and blob.end_epoch >= min_end_epoch
            ):
                return blob
            self.claimed.discard(reg.object_id)
        return None

    async def shared_answer(
        self, blob: BlobObject, encoded: Encoded, system: SystemState, epochs: int
    ) -> dict[str, Any]:
        """The answer to an upload that waited for an identical one: what Walrus says of a
        blob that is already certified (the certification event for a permanent blob, the
        object for a deletable one); this upload paid nothing."""
        if not blob.deletable and (found := self.already_certified(encoded, system, epochs)):
            return found
        return {
            "alreadyCertified": {
                "blobId": str(blob.blob_id),
                "object": blob.id,
                "endEpoch": blob.end_epoch,
            }
        }

    async def certify(
        self,
        dist: Distribution,
        blob: BlobObject,
        committee: Committee,
        epoch: int,
        member: BatchMember | None = None,
    ) -> BlobObject:
        """Certify with the confirmations collected for `epoch`. When the epoch has moved on
        (before or during certification: `EWrongEpoch`), the committee the chain now names
        is asked for confirmations of the new epoch and certification is tried again, up to
        `CERTIFY_ATTEMPTS` times; then a 503 (a race on the server's side, never the
        client's fault). A batch `member` first tries its batch's certification transaction
        (then, when that failed, alone: the batch's was all or none, so nothing is certified)."""
        try:
            return await self._certify(dist, blob, committee, epoch, member)
        finally:
            if member is not None:
                member.skip("certification")

    async def _certify(
        self,
        dist: Distribution,
        blob: BlobObject,
        committee: Committee,
        epoch: int,
        member: BatchMember | None,
    ) -> BlobObject:
        for attempt in range(CERTIFY_ATTEMPTS):
            system = await self.read_chain(self.chain.system)
            current = system.require_committee()
            moved = current.members != committee.members
            if moved:  # shards or positions changed: the confirmations so far do not count
                dist.confirmations.clear()
                committee = current
            stale = (
                moved
                or system.epoch != epoch
                or any(c.epoch != system.epoch for c in dist.confirmations.values())
            )
            if system.epoch != epoch:
                self.stats.epoch_changes_during_store += 1
                event(log, "epoch changed during store", blob_id=str(blob.blob_id), old=epoch)
            epoch = system.epoch
            self.select(dist, committee, blob, epoch)
            if stale and not self.has_quorum(dist, committee):
                await self.reconfirm(dist, blob, committee, epoch)
                self.select(dist, committee, blob, epoch)
            if not self.has_quorum(dist, committee) and any(
                c.epoch > epoch for c in dist.confirmations.values()
            ):
                continue  # the epoch moved on while the nodes were asked: ask again
            certificate = self.certificate(dist, blob, committee, epoch)
            if member is not None and await member.certify(blob.id, certificate):
                return await self.read_chain(self.chain.get_blob, blob.id)
            try:
                return await run_in_threadpool(
                    self.chain.certify_blob, self.account, blob.id, certificate
                )
            except MoveAbort as exc:
                if exc.name == "EBlobExpired":
                    raise ApiError(
                        503,
                        "BLOB_EXPIRED_DURING_STORE",
                        f"blob {blob.blob_id} reached its end epoch {blob.end_epoch} while it "
                        "was being stored (the epoch changed); store it for more epochs",
                    ) from exc
                if exc.name != "EWrongEpoch":
                    raise
                event(
                    log, "certificate of a past epoch; confirming again", blob_id=str(blob.blob_id)
                )
                await asyncio.sleep(0.1 * (attempt + 1))  # a lagging view of the chain catches up
        raise ApiError(
            503,
            "EPOCH_CHANGED",
            f"the epoch kept changing while blob {blob.blob_id} was being certified "
            f"({CERTIFY_ATTEMPTS} attempts). It is registered as {blob.id}; retry the same "
            "upload and that registration is reused (no second payment)",
        )

    async def read_chain(self, read: Callable[..., T], *args: Any) -> T:
        """A chain read: on the event loop where the chain says its reads are local and
        cheap (DevChain's SQLite file: tens of microseconds, less than a thread trip costs),
        else on a worker thread (a network round trip must not hold the loop)."""
        if self.local_reads:
            return read(*args)
        return await run_in_threadpool(read, *args)

    def has_quorum(self, dist: Distribution, committee: Committee) -> bool:
        """Whether the valid signatures reach a quorum."""
        return quorum_reached(committee.weight(list(dist.signatures)), committee.n_shards)

    def select(
        self, dist: Distribution, committee: Committee, blob: BlobObject, epoch: int
    ) -> None:
        """Keep the confirmations valid for `epoch`; say why each other one is not. When
        those already verified make a quorum, the others are left unchecked (no pairing)."""
        object_id = bytes.fromhex(blob.id[2:]) if blob.deletable else None
        expected = BlobCertification(blob.blob_id, object_id).message(epoch)
        known = {
            p: c.signature
            for p, c in dist.confirmations.items()
            if (p, expected, c.signature) in dist.verified
        }
        if quorum_reached(committee.weight(list(known)), committee.n_shards):
            dist.signatures = known
            return
        dist.signatures, rejected = select_confirmations(
            committee, blob, dist.confirmations, epoch, verified=dist.verified, groups=dist.groups
        )
        for name, why in rejected.items():
            self.reject(dist, name, why)

    async def reconfirm(
        self, dist: Distribution, blob: BlobObject, committee: Committee, epoch: int
    ) -> None:
        """Ask the members without a valid confirmation for `epoch` for a fresh one (their
        slivers are already pushed); stops once a quorum is valid."""
        missing = [p for p in range(len(committee.members)) if p not in dist.signatures]
        object_id = blob.id if blob.deletable else None

        async def ask(position: int) -> None:
            member = committee.members[position]
            node = NodeClient(member.url, self.http, self.node_retries, self.wire)
            try:
                conf = await node.confirmation(blob.blob_id, object_id)
            except Exception as exc:
                why = str(exc) if isinstance(exc, NodeError) else f"{type(exc).__name__}: {exc}"
                dist.failures[member.name] = f"confirmation for epoch {epoch}: {why}"
                return
            dist.confirmations[position] = conf
            good, _ = select_confirmations(
                committee, blob, {position: conf}, epoch, verified=dist.verified, groups=dist.groups
            )
            dist.signatures.update(good)

        pending = {asyncio.create_task(ask(p)) for p in missing}
        try:
            while pending and not self.has_quorum(dist, committee):
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pending:
                task.cancel()

    def encoding_for(self, requested: int | None) -> int:
        """The encoding type of one upload: the requested one, checked, else the default."""
        if requested is None:
            return self.encoding_type
        check_encoding_type(requested)  # a typed 400 for an unknown type
        if requested not in codec.available_types():
            raise ApiError(
                400,
                "ENCODING_UNAVAILABLE",
                f"this relayer cannot encode type {requested} (its codec is not installed); "
                f"use one of {list(codec.available_types())}",
            )
        return requested

    def reserve_memory(self, size: int, n_shards: int, encoding_type: int) -> int:
        """Bytes of the memory budget this upload's slivers take, or 0 when they go through
        files (a blob over `memory_limit`, or the budget held by the uploads in flight)."""
        if size > self.memory_limit:
            return 0
        expected = n_shards * EncodingParams(n_shards, size, encoding_type).sliver_len
        if not self.encode_memory.take(expected):
            self.stats.uploads_through_files = self.encode_memory.through_files
            return 0
        self.stats.encode_memory_bytes = self.encode_memory.held
        return expected

    def too_large(self) -> ApiError:
        """The 413 for an upload over this relayer's limit."""
        return ApiError(
            413,
            "BLOB_TOO_LARGE",
            f"the upload exceeds this relayer's maximum blob size of {self.max_blob_size} "
            "bytes; split it (the haulout client chunks large files automatically)",
        )

    def check_declared(self, size: int) -> None:
        """Refuse a Content-Length over the limit before reading a byte of the body."""
        if size > self.max_blob_size:
            raise self.too_large()

    async def receive_small(self, body: AsyncIterator[bytes], size: int) -> list[bytes]:
        """The chunks of a body of at most `INLINE_ENCODE_BYTES`, as they arrived (never
        joined); reading stops once they pass `size` (the codec then says the body is longer
        than declared)."""
        chunks: list[bytes] = []
        got = 0
        try:
            async for chunk in body:
                chunks.append(chunk)
                got += len(chunk)
                if got > size:
                    break
        except ClientDisconnect as exc:
            raise upload_interrupted() from exc
        return chunks

    async def spool(self, body: AsyncIterator[bytes], workdir: Path) -> tuple[Path, int]:
        """Stream a body of unknown length to disk, refusing it as soon as it passes the limit."""
        path = workdir / "body"
        size = 0
        with open(path, "wb") as fh:
            async for chunk in body:
                size += len(chunk)
                if size > self.max_blob_size:
                    raise self.too_large()
                fh.write(chunk)
        check_size(size, self.max_blob_size)
        return path, size

    async def receive_and_encode(
        self,
        body: AsyncIterator[bytes],
        size: int,
        n_shards: int,
        workdir: Path,
        encoding_type: int = DEFAULT_ENCODING,
        in_memory: bool | None = None,
        prepare: Callable[[], tuple[int, bool]] | None = None,
        record: bool = False,
    ) -> Encoded:
        """Encode the body on worker threads while the event loop keeps receiving it
        (`prepare` and `record` as `encode_from`'s)."""
        pipe = BodyPipe()
        feeder = asyncio.create_task(pipe.feed(body))
        try:
            # no worker thread (and no buffer) for a body that has not sent its first piece:
            # a client that promises a large Content-Length and stalls holds only its socket
            arrived = asyncio.create_task(pipe.arrived.wait())
            await asyncio.wait([feeder, arrived], return_when=asyncio.FIRST_COMPLETED)
            arrived.cancel()
            return await self.encode_from(
                pipe.chunks(),
                size,
                n_shards,
                workdir,
                encoding_type,
                in_memory,
                prepare=prepare,
                record=record,
            )
        finally:
            pipe.close()
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)

    async def encode_from(
        self,
        source: codec.Source,
        size: int,
        n_shards: int,
        workdir: Path,
        encoding_type: int = DEFAULT_ENCODING,
        in_memory: bool | None = None,
        prepare: Callable[[], tuple[int, bool]] | None = None,
        record: bool = False,
    ) -> Encoded:
        """Encode on a worker thread; a body that does not match its declared size is a 400.

        `prepare()`, when given, runs first on that thread and says the shard count and
        whether to encode in memory (it reads the System); with `record` the encoded blob
        id is recorded as consistent (encoded by us) there too: one thread trip for all of
        it (each trip costs a small store more CPU than the work it carries)."""

        def work() -> Encoded:
            n, memory = prepare() if prepare is not None else (n_shards, in_memory)
            encoded = self.encode(source, size, n, workdir, encoding_type, memory)
            if record:
                self.verdicts.record(encoded.metadata.blob_id, "encoded")
            return encoded

        try:
            return await run_in_threadpool(work)
        except InvalidSliver as exc:  # the codec's "more/fewer bytes than declared"
            raise ApiError(400, "BODY_SIZE_MISMATCH", str(exc)) from exc
        except ClientDisconnect as exc:
            raise upload_interrupted() from exc
        finally:
            if hasattr(source, "close"):
                source.close()

    def encode(
        self,
        source: codec.Source,
        size: int,
        n_shards: int,
        workdir: Path,
        encoding_type: int = DEFAULT_ENCODING,
        in_memory: bool | None = None,
    ) -> Encoded:
        """Encode the upload: slivers stay in memory up to `memory_limit` bytes of blob
        (about 3x that in slivers at n=100), else one spool file (bounded RSS). The
        in-memory slivers grow with the bytes received, never from the declared size.
        `in_memory` overrides the size rule (the store flow decides by its memory budget)."""
        EncodingParams(n_shards, size, encoding_type)  # n too large for the type: a 400
        if size <= self.memory_limit if in_memory is None else in_memory:
            memory = codec.MemorySink(n_shards)
            metadata = codec.encode_stream(
                source, size, n_shards, memory, encoding_type=encoding_type
            )
            return Encoded(metadata, memory.buffers, workdir)
        sink = StripeSpool(workdir / "slivers.spool", n_shards)
        try:
            metadata = codec.encode_stream(
                source, size, n_shards, sink, encoding_type=encoding_type
            )
        finally:
            sink.close()
        return Encoded(metadata, sink.slivers(), workdir)

    async def already_owned(
        self, encoded: Encoded, system: SystemState, epochs: int
    ) -> dict[str, Any] | None:
        """Walrus's `alreadyCertified` answer (with the object) when this relayer still owns a
        certified deletable Blob of this id lasting long enough: an identical deletable upload
        that finishes just after another must not register and pay again."""
        min_end = system.epoch + epochs
        for reg in self.index.own_certified_deletable(encoded.metadata.blob_id, min_end):
            try:
                blob = await run_in_threadpool(self.chain.get_blob, reg.object_id)
            except Exception:  # gone meanwhile (deleted): not ours to offer
                continue
            if blob.owner == self.account.address and blob.certified_epoch is not None:
                return {
                    "alreadyCertified": {
                        "blobId": str(blob.blob_id),
                        "object": blob.id,
                        "endEpoch": blob.storage.end_epoch,
                    }
                }
        return None

    def already_certified(
        self, encoded: Encoded, system: SystemState, epochs: int
    ) -> dict[str, Any] | None:
        """Walrus's `alreadyCertified` answer when a long-enough permanent blob exists."""
        found = self.index.permanent_certified(encoded.metadata.blob_id, system.epoch + epochs)
        if found is None:
            return None
        if not found.certified_tx:  # certified by this relayer a moment ago: event not read yet
            return {
                "alreadyCertified": {
                    "blobId": str(found.blob_id),
                    "object": found.object_id,
                    "endEpoch": found.end_epoch,
                }
            }
        return {
            "alreadyCertified": {
                "blobId": str(found.blob_id),
                "event": {"txDigest": found.certified_tx, "eventSeq": str(found.certified_cursor)},
                "endEpoch": found.end_epoch,
            }
        }

    async def distribute(
        self, encoded: Encoded, blob: BlobObject, committee: Committee, epoch: int
    ) -> Distribution:
        """Push metadata and slivers and collect confirmations, quorum first.

        The heaviest members that together make a quorum are pushed to first; the others
        start when those are done, at once when one of them fails or signs badly, or when
        one of them lags: half as long again as the first of them took. This returns as
        soon as valid confirmations (for `epoch`, or for a later one that began meanwhile)
        reach a quorum, or when every member has answered; pushes still running go on in the background
        (`Distribution.tail`), so every node still gets its slivers, but a slow node no
        longer holds the upload up."""
        dist = Distribution()
        members = committee.members
        order = sorted(range(len(members)), key=lambda p: (-members[p].weight, p))
        first: list[int] = []
        for p in order:
            if quorum_reached(committee.weight(first), committee.n_shards):
                break
            first.append(p)
        release = asyncio.Event()
        quorum = asyncio.Event()
        loop = asyncio.get_running_loop()
        started = loop.time()
        timer: list[asyncio.TimerHandle] = []
        signed: dict[int, list[int]] = {}  # epoch → members whose confirmation for it verified
        unchecked: dict[int, dict[int, Confirmation]] = {}  # epoch → right message, not paired

        async def one(position: int) -> None:
            if position not in first:
                await release.wait()
            member = members[position]
            try:
                conf = await self.push(encoded, blob, committee, position)
                if position in first and not timer:  # the first of the quorum set is done
                    lag = max(0.2, 0.5 * (loop.time() - started))
                    timer.append(loop.call_later(lag, release.set))
            except Exception as exc:  # whatever went wrong, it is this node's failure alone
                why = str(exc) if isinstance(exc, NodeError) else f"{type(exc).__name__}: {exc}"
                self.stats.node_upload_failures += 1
                dist.failures[member.name] = why
                event(log, "node upload failed", node=member.name, error=why)
                release.set()
                return
            dist.confirmations[position] = conf
            # signed for a later epoch (it began meanwhile): valid for that one; `certify`
            # picks the epoch the chain is in
            signed_for = max(epoch, conf.epoch)
            right, rejected = select_confirmations(
                committee, blob, {position: conf}, signed_for, verify=False
            )
            waiting = unchecked.setdefault(signed_for, {})
            waiting.update({p: conf for p in right})
            valid = signed.setdefault(signed_for, [])
            if quorum.is_set() or quorum_reached(
                committee.weight(valid + list(waiting)), committee.n_shards
            ):
                # enough for a quorum if they verify: one pairing check for all of them (a
                # late one is still checked, so a node that signs wrongly is noticed)
                batch = dict(waiting)
                waiting.clear()
                good, bad = select_confirmations(
                    committee, blob, batch, signed_for, verified=dist.verified, groups=dist.groups
                )
                rejected.update(bad)
                valid.extend(good)
                if signed_for == epoch:
                    dist.signatures.update(good)
            for name, why in rejected.items():
                self.reject(dist, name, why)
                release.set()
            if quorum_reached(committee.weight(valid), committee.n_shards):
                quorum.set()

        tasks = [asyncio.create_task(one(p)) for p in order]
        head: asyncio.Future[Any] = asyncio.gather(
            *(t for p, t in zip(order, tasks, strict=True) if p in first), return_exceptions=True
        )
        everyone: asyncio.Future[Any] = asyncio.gather(*tasks, return_exceptions=True)
        quorum_wait: asyncio.Future[Any] = asyncio.create_task(quorum.wait())
        await asyncio.wait([head, quorum_wait], return_when=asyncio.FIRST_COMPLETED)
        release.set()  # the rest now: as the tail after a quorum, or because it is needed
        await asyncio.wait([everyone, quorum_wait], return_when=asyncio.FIRST_COMPLETED)
        quorum_wait.cancel()
        for handle in timer:
            handle.cancel()
        dist.tail = [t for t in tasks if not t.done()]
        still = [p for p, t in zip(order, tasks, strict=True) if not t.done()]
        encoded.keep_only({i for p in still for i in committee.slivers_of(p, int(blob.blob_id))})
        return dist

    def reject(self, dist: Distribution, name: str, why: str) -> None:
        """Drop a stale, wrong or forged confirmation, saying why."""
        self.stats.confirmations_rejected += 1
        dist.failures[name] = f"confirmation rejected: {why}"
        event(log, "confirmation rejected", node=name, why=why)

    async def push(
        self, encoded: Encoded, blob: BlobObject, committee: Committee, position: int
    ) -> Confirmation:
        """A small part: one request (metadata and slivers in, confirmation out). Else metadata,
        then this member's slivers in up to `uploads_per_node` concurrent
        batches (one per `LANE_BYTES`), then its signed confirmation."""
        node = NodeClient(committee.members[position].url, self.http, self.node_retries, self.wire)
        owned = committee.slivers_of(position, int(blob.blob_id))
        size = len(owned) * encoded.metadata.params.sliver_len
        object_id = blob.id if blob.deletable else None
        if size <= SMALL_PART and not any(
            isinstance(encoded.slivers[i], SpooledSliver) for i in owned
        ):
            # one request: metadata and slivers in, the signed confirmation out
            slivers: dict[int, bytearray] = {i: encoded.slivers[i] for i in owned}  # type: ignore[misc]
            return await node.upload(blob.blob_id, encoded.metadata.to_bytes(), slivers, object_id)
        await node.put_metadata(blob.blob_id, encoded.metadata.to_bytes())
        count = max(1, min(self.uploads_per_node, size // LANE_BYTES))  # small blobs: one batch
        lanes = [owned[j::count] for j in range(count)]
        await asyncio.gather(
            *(
                node.put_slivers(blob.blob_id, {i: encoded.slivers[i] for i in lane})
                for lane in lanes
                if lane
            )
        )
        return await node.confirmation(blob.blob_id, object_id)

    def finish_later(
        self,
        tail: list[asyncio.Task[None]],
        workdir: Path,
        blob_id: str,
        held: int,
        reserved: int = 0,
    ) -> None:
        """Let the pushes still running after certification finish, then drop the work
        directory (their slivers may be files in it) and give back the `reserved` memory
        budget. `held` bytes of slivers stay in memory until then; see `bound_tails`."""
        self.stats.tail_uploads_pending += len(tail)
        self.stats.tail_bytes_held += held

        async def wait() -> None:
            try:
                for task in tail:
                    await asyncio.gather(task, return_exceptions=True)
                    self.stats.tail_uploads_pending -= 1
                debug(log, "tail uploads finished", blob_id=blob_id, nodes=len(tail))
            finally:
                self.stats.tail_bytes_held -= held
                self.encode_memory.give_back(reserved)
                self.stats.encode_memory_bytes = self.encode_memory.held
                shutil.rmtree(workdir, ignore_errors=True)

        task = asyncio.create_task(wait())
        self.tails.add(task)
        task.add_done_callback(self.tails.discard)

    async def bound_tails(self) -> None:
        """Backpressure: while background uploads hold more than `memory_limit * 4` bytes of
        slivers (slow nodes falling behind), the next answer waits for them."""
        while self.stats.tail_bytes_held > 4 * self.memory_limit and self.tails:
            await asyncio.wait(list(self.tails), return_when=asyncio.FIRST_COMPLETED)

    async def drain(self, timeout: float = 8.0) -> None:
        """Wait (bounded) for background tail uploads; called when the relayer stops."""
        if self.tails:
            await asyncio.wait(list(self.tails), timeout=timeout)

    def certificate(
        self, dist: Distribution, blob: BlobObject, committee: Committee, epoch: int
    ) -> Any:
        """Aggregate a quorum of confirmations into a certificate (or say who failed)."""
        weight = committee.weight(list(dist.signatures))
        if not quorum_reached(weight, committee.n_shards):
            failures = "; ".join(f"{k}: {v}" for k, v in sorted(dist.failures.items()))
            raise ApiError(
                503,
                "NOT_ENOUGH_CONFIRMATIONS",
                f"only {weight} of {committee.n_shards} shards confirmed blob {blob.blob_id} (a quorum needs "
                f"3w >= 2n+1); failures: {failures or 'none'}. The blob is registered as {blob.id}; "
                "retry when more storage nodes are up: the same upload reuses that registration "
                "(no second payment)",
            )
        message = BlobCertification(
            blob.blob_id, bytes.fromhex(blob.id[2:]) if blob.deletable else None
        ).message(epoch)
        cert = aggregate(committee, message, dist.signatures)
        if any((p, message, sig) not in dist.verified for p, sig in dist.signatures.items()):
            verify_certificate(committee, cert, epoch)
        else:  # a sum of verified signatures: no pairing here
            chosen = {(p, message, sig) for p, sig in dist.signatures.items()}
            covered = set().union(*(g for g in dist.groups if g <= chosen))
            if covered == chosen:  # whole groups, each of whose sums verified: so does theirs,
                # and the chain checking it in this process (DevChain) needs no pairing either
                keys = [committee.parsed_keys[p] for p in sorted(dist.signatures)]
                bls.remember_verified(bls.aggregate_public_keys(keys), message, cert.signature)
        return cert


def select_confirmations(
    committee: Committee,
    blob: BlobObject,
    confirmations: dict[int, Confirmation],
    epoch: int,
    verified: set[tuple[int, bytes, bytes]] | None = None,
    verify: bool = True,
    groups: list[frozenset[tuple[int, bytes, bytes]]] | None = None,
) -> tuple[dict[int, bytes], dict[str, str]]:
    """Keep the confirmations that sign this blob's certification for `epoch` under the
    member's registered key; say why each other one was rejected (stale, wrong, forged).

    Signatures are checked together (one pairing check of their sum under the sum of the
    keys; one by one only when that fails, to name the bad ones); those in `verified` are
    not checked again, and those that pass are added to it, and to `groups` as one group
    of (position, message, signature) whose sum is known to verify. `verify=False` checks
    only the messages."""
    object_id = bytes.fromhex(blob.id[2:]) if blob.deletable else None
    expected = BlobCertification(blob.blob_id, object_id).message(epoch)
    good: dict[int, bytes] = {}
    rejected: dict[str, str] = {}
    to_check: dict[int, bytes] = {}
    for position, conf in sorted(confirmations.items()):
        name = committee.members[position].name
        if conf.message != expected:
            if conf.message == BlobCertification(blob.blob_id, object_id).message(conf.epoch):
                rejected[name] = (
                    f"stale: signed for epoch {conf.epoch}, the current epoch is {epoch}"
                )
            else:
                rejected[name] = "signs another message (another blob or persistence)"
        elif not verify or (
            verified is not None and (position, expected, conf.signature) in verified
        ):
            good[position] = conf.signature
        else:
            to_check[position] = conf.signature
    passed = verify_together(committee, expected, to_check)
    if groups is not None and passed:
        checked = [(p, expected, to_check[p]) for p in sorted(passed)]
        if passed == set(to_check):  # their sum verified
            groups.append(frozenset(checked))
        else:  # each verified alone
            groups.extend(frozenset([one]) for one in checked)
    for position, signature in to_check.items():
        if position in passed:
            good[position] = signature
            if verified is not None:
                verified.add((position, expected, signature))
        else:
            name = committee.members[position].name
            rejected[name] = "signature does not verify under the member's registered key"
    return dict(sorted(good.items())), rejected


def verify_together(committee: Committee, message: bytes, signatures: dict[int, bytes]) -> set[int]:
    """The positions whose signature of `message` verifies: one pairing check of the sum of
    the signatures under the sum of the members' keys when they all do (the usual case),
    else one check each."""
    if len(signatures) > 1:  # (one of them not even a point: False, then one by one)
        keys = [committee.parsed_keys[p] for p in signatures]
        if bls.verify_sum(keys, message, list(signatures.values())):
            return set(signatures)
    return {
        p for p, sig in signatures.items() if bls.verify(committee.parsed_keys[p], message, sig)
    }


def b64(data: bytes) -> str:
    """Base64 text."""
    return base64.b64encode(data).decode()


def new_request_id() -> str:
    """An id for log correlation."""
    return uuid.uuid4().hex[:12]
