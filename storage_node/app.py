"""The storage node's HTTP API (`/v1`), with OpenAPI and `/metrics`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from haulout.http_errors import ApiError, install_error_handlers, read_body_limited
from haulout.metrics import install_metrics
from haulout.protocol.blob_id import BlobId
from haulout.protocol.frames import FRAME_HEADER, encode_frames, frame_header
from haulout.protocol.params import MAX_SHARDS_RS16 as MAX_SHARDS  # largest committee, any type

from .batch import BatchReceiver
from .service import NodeService

MAX_METADATA = 16 + 32 * MAX_SHARDS


STREAM_ABOVE = 4 << 20
"""Batch reads larger than this are streamed from the sliver files, not built in memory."""


def _stream_frames(files: dict[int, Path], sizes: dict[int, int]) -> Iterator[bytes]:
    for i in sorted(files):
        yield frame_header(i, sizes[i])
        with open(files[i], "rb") as fh:
            while chunk := fh.read(1 << 20):
                yield chunk


def create_app(service: NodeService) -> FastAPI:
    """Build the node API around a service."""
    app = FastAPI(title="Haulout storage node", version="1")
    install_error_handlers(app)
    install_metrics(app, "node", service.stats)

    @app.put("/v1/blobs/{blob_id}/metadata")
    async def put_metadata(blob_id: str, request: Request) -> JSONResponse:
        bid = BlobId.parse(blob_id)
        raw = await read_body_limited(request, MAX_METADATA, "metadata")
        created = await run_in_threadpool(service.put_metadata, bid, raw)
        return JSONResponse(
            {"blobId": blob_id, "stored": True}, status_code=201 if created else 200
        )

    @app.get("/v1/blobs/{blob_id}/metadata")
    async def get_metadata(blob_id: str) -> Response:
        meta = await run_in_threadpool(service.metadata, BlobId.parse(blob_id))
        return Response(meta.to_bytes(), media_type="application/octet-stream")

    @app.put("/v1/blobs/{blob_id}/slivers/{index}")
    async def put_sliver(blob_id: str, index: int, request: Request) -> JSONResponse:
        bid = BlobId.parse(blob_id)
        meta = await run_in_threadpool(service.metadata_for_upload, bid)
        data = await read_body_limited(request, meta.params.sliver_len, f"sliver {index}")
        await run_in_threadpool(service.put_sliver, bid, index, data)
        return JSONResponse({"blobId": blob_id, "index": index, "stored": True})

    @app.put("/v1/blobs/{blob_id}/slivers")
    async def put_slivers(blob_id: str, request: Request) -> JSONResponse:
        """Batch upload: frames of `index u16 LE ‖ length u32 LE ‖ sliver`, streamed; each
        sliver is hashed as it arrives and the verified ones are made durable together when
        the batch ends (see `storage_node.batch`)."""
        bid = BlobId.parse(blob_id)
        await run_in_threadpool(service.require_registered, bid)
        meta = await run_in_threadpool(service.metadata_for_upload, bid)
        owned = await run_in_threadpool(service.owned_slivers, bid)
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
        stored = await receiver.receive(request.stream())
        return JSONResponse({"blobId": blob_id, "stored": stored})

    @app.get("/v1/blobs/{blob_id}/slivers")
    async def get_slivers(
        blob_id: str,
        indices: str = Query(..., description="comma-separated sliver indices, e.g. 0,4,8"),
    ) -> Response:
        """Several slivers in one answer, framed like the batch upload (`index u16 LE ‖
        length u32 LE ‖ sliver`); slivers this node does not hold are left out."""
        bid = BlobId.parse(blob_id)
        try:
            wanted = [int(i) for i in indices.split(",")]
        except ValueError:
            raise ApiError(
                400,
                "INVALID_SLIVER_INDEX",
                f"indices must be comma-separated integers; got {indices!r}",
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
        files = await run_in_threadpool(service.sliver_files, bid, wanted)
        sizes = {i: p.stat().st_size for i, p in files.items()}
        total = sum(FRAME_HEADER + n for n in sizes.values())
        if total <= STREAM_ABOVE:
            found = await run_in_threadpool(lambda: {i: p.read_bytes() for i, p in files.items()})
            return Response(encode_frames(found), media_type="application/octet-stream")
        return StreamingResponse(
            _stream_frames(files, sizes),
            media_type="application/octet-stream",
            headers={"content-length": str(total)},
        )

    @app.get("/v1/blobs/{blob_id}/slivers/{index}")
    async def get_sliver(blob_id: str, index: int) -> Response:
        data = await run_in_threadpool(service.sliver, BlobId.parse(blob_id), index)
        return Response(data, media_type="application/octet-stream")

    @app.get("/v1/blobs/{blob_id}/confirmation")
    async def confirmation(blob_id: str, object_id: str | None = Query(None)) -> JSONResponse:
        out = await run_in_threadpool(service.confirmation, BlobId.parse(blob_id), object_id)
        return JSONResponse(out)

    @app.get("/v1/blobs/{blob_id}/status")
    async def status(blob_id: str) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(service.status, BlobId.parse(blob_id)))

    @app.get("/v1/health")
    async def health() -> JSONResponse:
        committee = await run_in_threadpool(service.committee)
        return JSONResponse(
            {
                "status": "ok",
                "nodeId": service.node_id,
                "publicKey": service.key.public_key.hex(),
                "epoch": service.registry.epoch,
                "shards": list(committee.members[service.member_index].shards),
                "eventCursor": service.registry.cursor,
            }
        )

    return app
