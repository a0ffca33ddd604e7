"""The storage node's HTTP API (`/v1`), with OpenAPI and `/metrics`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from haulout.http_errors import ApiError, error_body, install_error_handlers, read_body_limited
from haulout.metrics import install_metrics
from haulout.protocol.blob_id import BlobId
from haulout.protocol.frames import FRAME_HEADER, encode_frames, frame_header
from haulout.protocol.params import MAX_SHARDS_RS16 as MAX_SHARDS  # largest committee, any type

from . import shard_route, shard_sync, upload
from .batch import BatchReceiver
from .pack import SliverRef
from .service import NodeService
from .waiters import NodeBusy

MAX_METADATA = 16 + 32 * MAX_SHARDS

# The OpenAPI document describes ids, indices and bodies exactly (for clients and for the
# schemathesis run); the handlers check them themselves, so a bad one gets its own reason
# code (INVALID_BLOB_ID, INVALID_SLIVER_INDEX) rather than a generic validation error.
BlobIdPath = Annotated[
    str,
    PathParam(
        description="blob id: 43 URL-safe base64 characters, no padding",
        json_schema_extra={"pattern": "^[A-Za-z0-9_-]{43}$", "minLength": 43, "maxLength": 43},
    ),
]
SliverIndexPath = Annotated[
    int,
    PathParam(
        description="sliver index, below the committee's shard count",
        json_schema_extra={"minimum": 0, "maximum": MAX_SHARDS - 1},
    ),
]
ObjectIdQuery = Annotated[
    str | None,
    Query(
        description="the Blob object of a deletable registration (0x + up to 64 hex digits)",
        json_schema_extra={"pattern": "^0x[0-9a-fA-F]{1,64}$", "maxLength": 66},
    ),
]
IndicesQuery = Annotated[
    str,
    Query(
        description="comma-separated sliver indices, e.g. 0,4,8",
        json_schema_extra={
            "pattern": f"^[0-9]{{1,3}}(,[0-9]{{1,3}}){{0,{MAX_SHARDS - 1}}}$",
            "maxLength": 4 * MAX_SHARDS,
        },
    ),
]


def _check_index(index: int) -> None:
    """400 for a sliver index no committee can have (before it names a file)."""
    if not 0 <= index < MAX_SHARDS:
        raise ApiError(400, "INVALID_SLIVER_INDEX", f"a sliver index is in 0..{MAX_SHARDS - 1}")


def _octets(what: str, max_length: int) -> dict[str, Any]:
    """`openapi_extra` for a raw request body (the handlers read the stream themselves)."""
    schema = {"type": "string", "format": "binary", "maxLength": max_length}
    return {
        "requestBody": {
            "required": True,
            "description": what,
            "content": {"application/octet-stream": {"schema": schema}},
        }
    }


STREAM_ABOVE = 4 << 20
"""Batch reads larger than this are streamed from the sliver files, not built in memory."""


def _stream_frames(refs: dict[int, SliverRef]) -> Iterator[bytes]:
    for i in sorted(refs):
        ref = refs[i]
        yield frame_header(i, ref.size)
        with open(ref.path, "rb") as fh:
            fh.seek(ref.offset)
            left = ref.size
            while left > 0 and (chunk := fh.read(min(left, 1 << 20))):
                left -= len(chunk)
                yield chunk


def _member(service: NodeService) -> bool:
    """Whether this node is in the current committee."""
    return any(m.node_id == service.node_id for m in service.committee().members)


def create_app(service: NodeService) -> FastAPI:
    """Build the node API around a service."""
    app = FastAPI(title="Haulout storage node", version="1")
    install_error_handlers(app)
    install_metrics(app, "node", service.stats)

    @app.exception_handler(NodeBusy)
    async def _busy(_: Request, exc: NodeBusy) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status, exc.reason, exc.message),
            status_code=exc.status,
            headers={"retry-after": str(exc.retry_after)},
        )

    @app.put(
        "/v1/blobs/{blob_id}/metadata",
        openapi_extra=_octets("the blob's metadata (BCS)", MAX_METADATA),
    )
    async def put_metadata(blob_id: BlobIdPath, request: Request) -> JSONResponse:
        """Store the blob's metadata; waits briefly (asynchronously) for its registration."""
        bid = BlobId.parse(blob_id)
        raw = await read_body_limited(request, MAX_METADATA, "metadata")
        await service.await_registration(bid, service.metadata_wait)
        with service.uploading(bid):
            created = await run_in_threadpool(service.put_metadata, bid, raw)
        return JSONResponse(
            {"blobId": blob_id, "stored": True}, status_code=201 if created else 200
        )

    budget = upload.MemoryBudget()

    @app.put(
        "/v1/blobs/{blob_id}/upload",
        openapi_extra=_octets(
            "`metadata length u32 LE ‖ metadata ‖ frames` (frames as in the batch upload, "
            "for slivers this node holds)",
            1 << 30,
        ),
    )
    async def put_upload(
        blob_id: BlobIdPath, request: Request, object_id: ObjectIdQuery = None
    ) -> JSONResponse:
        """Metadata and this node's slivers in one request, answered with the signed
        confirmation once they are durable (`storage_node.upload`): a store's one call to
        this node. Waits briefly (asynchronously) for the registration."""
        bid = BlobId.parse(blob_id)
        return JSONResponse(await upload.upload(service, budget, bid, request, object_id))

    @app.get("/v1/blobs/{blob_id}/metadata")
    async def get_metadata(blob_id: BlobIdPath) -> Response:
        meta = await run_in_threadpool(service.metadata, BlobId.parse(blob_id))
        return Response(meta.to_bytes(), media_type="application/octet-stream")

    @app.put(
        "/v1/blobs/{blob_id}/slivers/{index}",
        openapi_extra=_octets("one sliver, as long as the metadata implies", 1 << 24),
    )
    async def put_sliver(
        blob_id: BlobIdPath, index: SliverIndexPath, request: Request
    ) -> JSONResponse:
        bid = BlobId.parse(blob_id)
        _check_index(index)
        meta = await run_in_threadpool(service.metadata_for_upload, bid)
        with service.uploading(bid):
            data = await read_body_limited(request, meta.params.sliver_len, f"sliver {index}")
            await run_in_threadpool(service.put_sliver, bid, index, data)
        return JSONResponse({"blobId": blob_id, "index": index, "stored": True})

    @app.put(
        "/v1/blobs/{blob_id}/slivers",
        openapi_extra=_octets(
            "frames of `index u16 LE ‖ length u32 LE ‖ sliver`, for slivers this node holds",
            1 << 30,
        ),
    )
    async def put_slivers(blob_id: BlobIdPath, request: Request) -> JSONResponse:
        """Batch upload: frames of `index u16 LE ‖ length u32 LE ‖ sliver`, streamed; each
        sliver is hashed as it arrives and the verified ones are made durable together when
        the batch ends (see `storage_node.batch`)."""
        bid = BlobId.parse(blob_id)
        await run_in_threadpool(service.require_registered, bid)
        meta = await run_in_threadpool(service.metadata_for_upload, bid)
        owned = await run_in_threadpool(service.accept_upload, bid)
        owned_set = set(owned)
        limit = len(owned) * (FRAME_HEADER + meta.params.sliver_len)
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise ApiError(
                413,
                "PAYLOAD_TOO_LARGE",
                f"a batch for this node's {len(owned)} slivers is at most {limit} bytes; got {length}",
            )
        receiver = BatchReceiver(service, bid, meta, owned_set)
        with service.uploading(bid):
            stored = await receiver.receive(request.stream())
        return JSONResponse({"blobId": blob_id, "stored": stored})

    @app.get("/v1/blobs/{blob_id}/slivers")
    async def get_slivers(blob_id: BlobIdPath, indices: IndicesQuery) -> Response:
        """Several slivers in one answer, framed like the batch upload (`index u16 LE ‖
        length u32 LE ‖ sliver`); slivers this node does not hold are left out."""
        bid = BlobId.parse(blob_id)
        try:
            wanted = [int(i) for i in indices.split(",")]
        except ValueError:
            raise ApiError(
                400,
                "INVALID_SLIVER_INDEX",
                f"indices must be comma-separated integers; got {indices[:40]!r}"
                + ("…" if len(indices) > 40 else ""),
            ) from None
        n_shards = service.committee().n_shards  # indices outside the committee are a bad request
        if len(wanted) > n_shards or any(not 0 <= i < n_shards for i in wanted):
            raise ApiError(
                400, "INVALID_SLIVER_INDEX", f"at most {n_shards} indices in 0..{n_shards - 1}"
            )
        if len(wanted) > MAX_SHARDS or any(not 0 <= i < MAX_SHARDS for i in wanted):
            raise ApiError(
                400, "INVALID_SLIVER_INDEX", f"at most {MAX_SHARDS} indices in 0..{MAX_SHARDS - 1}"
            )
        refs = await run_in_threadpool(service.sliver_refs, bid, wanted)
        total = sum(FRAME_HEADER + r.size for r in refs.values())
        if total <= STREAM_ABOVE:
            found = await run_in_threadpool(service.store.read_slivers, refs)
            return Response(encode_frames(found), media_type="application/octet-stream")
        return StreamingResponse(
            _stream_frames(refs),
            media_type="application/octet-stream",
            headers={"content-length": str(total)},
        )

    @app.get("/v1/blobs/{blob_id}/slivers/{index}")
    async def get_sliver(blob_id: BlobIdPath, index: SliverIndexPath) -> Response:
        _check_index(index)
        data = await run_in_threadpool(service.sliver, BlobId.parse(blob_id), index)
        return Response(data, media_type="application/octet-stream")

    @app.get("/v1/blobs/{blob_id}/confirmation")
    async def confirmation(blob_id: BlobIdPath, object_id: ObjectIdQuery = None) -> JSONResponse:
        """Sign the blob's certification; waits briefly (asynchronously) for its registration."""
        bid = BlobId.parse(blob_id)
        until = service.confirmable(object_id)
        await service.await_registration(bid, service.confirmation_wait, until)
        await shard_sync.pull_from_previous(service, bid)  # a store overtaken by a new committee
        out = await run_in_threadpool(service.confirmation, bid, object_id)
        return JSONResponse(out)

    @app.get("/v1/blobs/{blob_id}/status")
    async def status(blob_id: BlobIdPath) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(service.status, BlobId.parse(blob_id)))

    @app.get("/v1/migrate/sync_shard")
    async def sync_shard(
        shard: Annotated[int, Query(ge=0, le=MAX_SHARDS - 1)],
        after: Annotated[
            str | None,
            Query(
                description="page on after this blob id (the last one received)",
                json_schema_extra={"pattern": "^[A-Za-z0-9_-]{43}$", "maxLength": 43},
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=shard_route.SYNC_PAGE)] = shard_route.SYNC_PAGE,
    ) -> StreamingResponse:
        """A shard's slivers of live certified blobs, in blob id (text) order, for its new
        owner after a committee change: frames `index ‖ length ‖ blob id ‖ sliver`, at most
        `limit` (≤ 100) blobs per answer; header `x-haulout-next-after` names where the next
        page starts (absent: done). The asker verifies each sliver against the metadata."""
        start = BlobId.parse(after) if after is not None else None
        page, following = await run_in_threadpool(
            shard_route.shard_page, service, shard, start, limit
        )
        headers = {"x-haulout-records": str(len(page))}
        if following is not None:
            headers[shard_route.NEXT_HEADER] = str(following)
        return StreamingResponse(
            shard_route.shard_records(page), media_type="application/octet-stream", headers=headers
        )

    @app.get("/v1/migrate/shards")
    async def migrate_shards() -> JSONResponse:
        """Which of its shards this node holds completely after a committee change: a
        shard's previous owner deletes its copy only once the new owner lists it here."""
        committee = await run_in_threadpool(service.committee)
        mine = list(committee.members[service.member_index].shards) if _member(service) else []
        held = await run_in_threadpool(service.held_shards)
        return JSONResponse(
            {
                "nodeId": service.node_id,
                "epoch": committee.epoch,
                "shards": mine,
                "heldShards": held,
                "syncingShards": sorted(set(mine) - set(held)),
            }
        )

    @app.get("/v1/health")
    async def health() -> JSONResponse:
        committee = await run_in_threadpool(service.committee)
        return JSONResponse(
            {
                "status": "ok",
                "nodeId": service.node_id,
                "publicKey": service.key.public_key.hex(),
                "epoch": service.registry.epoch,
                "shards": list(committee.members[service.member_index].shards)
                if _member(service)
                else [],
                "eventCursor": service.registry.cursor,
            }
        )

    return app
