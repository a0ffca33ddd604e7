"""One request per node per store: `PUT /v1/blobs/{id}/upload` carries the metadata and this
node's slivers and answers the signed confirmation.

A small store used to cost three requests per node (metadata, slivers, confirmation), each a
trip through both HTTP stacks, and ~25 fsyncs per node. Here the body is
`metadata length u32 LE ‖ metadata ‖ frames` (frames as in the batch upload). The node reads
the metadata, waits (asynchronously, woken by the event follower) for the registration the
confirmation needs, checks the metadata against it, then reads the slivers: a small part
(at most `SMALL_PART` bytes, within the `MemoryBudget`) in memory, checked and written
together through the journal (one fsync shared by concurrent uploads); a larger one streamed
to files as the batch upload does. Only when everything is durable is the confirmation
signed and returned.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from haulout.http_errors import ApiError
from haulout.protocol.blob_id import BlobId
from haulout.protocol.frames import FRAME_HEADER, decode_frames
from haulout.protocol.metadata import BlobMetadata
from haulout.protocol.params import MAX_SHARDS_RS16

from . import shard_sync
from .batch import BatchReceiver
from .registry import BlobState
from .service import NodeService

MAX_METADATA = 16 + 32 * MAX_SHARDS_RS16

SMALL_PART = 4 << 20
"""A node's part of a store up to this many bytes is received in memory and journaled."""

MEMORY_BUDGET = 64 << 20
"""Bytes all in-memory upload bodies may hold at once; past it, parts are streamed to files."""


class MemoryBudget:
    """Bytes of upload bodies held in memory (event-loop only: no lock needed)."""

    def __init__(self, budget: int = MEMORY_BUDGET) -> None:
        self.budget, self.held = budget, 0

    def take(self, nbytes: int) -> bool:
        """Reserve `nbytes`, or False when the budget cannot cover them."""
        if self.held + nbytes > self.budget:
            return False
        self.held += nbytes
        return True

    def give_back(self, nbytes: int) -> None:
        """Return a reservation."""
        self.held -= nbytes


class BodyReader:
    """Reads a request body in exact pieces, the rest as a stream, bounded."""

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        self.body = body.__aiter__()
        self.buffer = bytearray()
        self.done = False

    async def exactly(self, count: int, what: str) -> bytes:
        """The next `count` bytes (400 when the body ends first)."""
        while len(self.buffer) < count and not self.done:
            try:
                self.buffer += await self.body.__anext__()
            except StopAsyncIteration:
                self.done = True
        if len(self.buffer) < count:
            raise ApiError(400, "TRUNCATED_UPLOAD", f"the body ended inside the {what}")
        out = bytes(self.buffer[:count])
        del self.buffer[:count]
        return out

    async def rest(self, limit: int, what: str) -> bytes:
        """Everything left, refused (413) as soon as it passes `limit` bytes."""
        out = self.buffer
        self.buffer = bytearray()
        async for chunk in self.stream():
            out += chunk
            if len(out) > limit:
                raise ApiError(413, "PAYLOAD_TOO_LARGE", f"{what} exceeds {limit} bytes")
        if len(out) > limit:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"{what} exceeds {limit} bytes")
        return bytes(out)

    async def stream(self) -> AsyncIterator[bytes]:
        """What is left of the body, as it arrives."""
        if self.buffer:
            left, self.buffer = bytes(self.buffer), bytearray()
            yield left
        if self.done:
            return
        async for chunk in self.body:
            yield chunk


def _checked(service: NodeService, blob_id: BlobId, raw: bytes) -> tuple[BlobMetadata, list[int]]:
    """The checked metadata and the slivers this request may bring (one worker-thread trip):
    as the batch route, those owned now and those owned before the last epoch change (a store
    begun before it pushes to the old owners; the new ones pull)."""
    return service.check_metadata(blob_id, raw), service.accept_upload(blob_id)


def _checked_if_ready(
    service: NodeService, blob_id: BlobId, raw: bytes, until: Callable[[BlobState], bool]
) -> tuple[BlobMetadata, list[int]] | None:
    """`_checked` when the registration the confirmation needs is already known (the
    usual case), in the same worker-thread trip; None when it must be waited for."""
    state = service.registry.blob(blob_id)
    if not (state.registered and until(state)):
        return None
    return _checked(service, blob_id, raw)


def _store_and_confirm(
    service: NodeService,
    blob_id: BlobId,
    raw: bytes,
    meta: BlobMetadata,
    slivers: dict[int, bytes],
    accepted: set[int],
    object_id: str | None,
) -> dict[str, object]:
    """Store a small upload durably, then sign its confirmation (one worker-thread trip;
    for a chain whose reads are remote: see `upload`)."""
    service.store_upload(blob_id, raw, meta, slivers, accepted)
    return service.confirmation(blob_id, object_id, stored=frozenset(slivers))


async def upload(
    service: NodeService,
    budget: MemoryBudget,
    blob_id: BlobId,
    request: Request,
    object_id: str | None,
) -> dict[str, object]:
    """Receive metadata and slivers, store them durably, return the signed confirmation."""
    until = service.confirmable(object_id)  # a malformed object id: 400 before reading
    length = request.headers.get("content-length")
    reader = BodyReader(request.stream())
    (meta_len,) = struct.unpack("<I", await reader.exactly(4, "metadata length"))
    if meta_len > MAX_METADATA:
        raise ApiError(
            413, "PAYLOAD_TOO_LARGE", f"metadata of {meta_len} bytes exceeds {MAX_METADATA}"
        )
    raw = await reader.exactly(meta_len, "metadata")
    # a chain whose reads are local (DevChain's SQLite file): checks, writes to the page
    # cache and signing run on the event loop, less than trips to a worker thread and back
    # cost; the fsync alone is another thread's (`GroupSync`). Else (reads are network
    # round trips) on worker threads, as they were.
    local = bool(getattr(service.chain, "local_reads", False))
    if local:
        checked = _checked_if_ready(service, blob_id, raw, until)
    else:
        checked = await run_in_threadpool(_checked_if_ready, service, blob_id, raw, until)
    if checked is None:  # the registration is not seen yet: wait for the follower
        await service.await_registration(blob_id, service.confirmation_wait, until)
        if local:
            checked = _checked(service, blob_id, raw)
        else:
            checked = await run_in_threadpool(_checked, service, blob_id, raw)
    meta, owned = checked
    with service.uploading(blob_id):
        limit = len(owned) * (FRAME_HEADER + meta.params.sliver_len)
        if length is not None and length.isdigit() and int(length) > 4 + meta_len + limit:
            raise ApiError(
                413,
                "PAYLOAD_TOO_LARGE",
                f"an upload for this node's {len(owned)} slivers is at most "
                f"{4 + meta_len + limit} bytes; got {length}",
            )
        if limit <= SMALL_PART and budget.take(limit):
            try:
                body = await reader.rest(limit, f"the slivers of {len(owned)} shards")
                try:
                    slivers = decode_frames(body)
                except ValueError as exc:
                    raise ApiError(400, "TRUNCATED_BATCH", f"{exc}; resend it") from None
                del body
                # nothing to pull from a previous committee (the common case): checked and
                # written on the loop (page cache), made durable by the journal's group sync
                # (one fsync and one wake-up for the uploads waiting together), then signed
                whole = set(owned) <= slivers.keys() or not shard_sync.may_pull(service)
                if whole and not local:
                    return await run_in_threadpool(
                        _store_and_confirm,
                        service,
                        blob_id,
                        raw,
                        meta,
                        slivers,
                        set(owned),
                        object_id,
                    )
                if whole:
                    position = service.store_upload(
                        blob_id, raw, meta, slivers, set(owned), sync=False
                    )
                    if position is not None:
                        await service.store.group_sync.durable(*position)
                    return service.confirmation(blob_id, object_id, stored=frozenset(slivers))
                await run_in_threadpool(
                    service.store_upload, blob_id, raw, meta, slivers, set(owned)
                )
            finally:
                budget.give_back(limit)
        else:
            await run_in_threadpool(service.put_metadata, blob_id, raw)
            receiver = BatchReceiver(service, blob_id, meta, set(owned))
            await receiver.receive(reader.stream())
    await shard_sync.pull_from_previous(service, blob_id)  # a store overtaken by a new committee
    confirmation: dict[str, object] = await run_in_threadpool(
        service.confirmation, blob_id, object_id
    )
    return confirmation
