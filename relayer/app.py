"""The relayer's HTTP API, compatible with Walrus publisher and aggregator clients."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from haulout.chain.port import ChainPort
from haulout.http_errors import ApiError, install_error_handlers, read_body_limited
from haulout.metrics import install_metrics
from haulout.protocol.blob_id import BlobId, format_object_id, parse_object_id
from haulout.protocol.params import ENCODING_RS16

from .controller import StoreController
from .reader import BlobReader, ReadBlob

_HEADER_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _byte_range(header: str, size: int) -> tuple[int, int]:
    """Parse a single `bytes=a-b` range into [start, end) or raise 416."""
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        raise ApiError(
            416,
            "INVALID_RANGE",
            f"unsupported Range {header!r}; use a single bytes=START-END range",
        )
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)) + 1, size) if m.group(2) else size
    else:
        start, end = max(size - int(m.group(2)), 0), size
    if start >= size or start >= end:
        raise ApiError(
            416, "RANGE_NOT_SATISFIABLE", f"range {header!r} is outside the blob's {size} bytes"
        )
    return start, end


ENCODING_NAMES = {"RS2": ENCODING_RS16}
"""Walrus's names for the encoding types Haulout shares with it (its RS2 is RS over GF(2^16))."""


def parse_encoding_type(text: str | None) -> int | None:
    """The `encoding_type` query parameter: a type number, or Walrus's name for it."""
    if text is None or text == "":
        return None
    if text.isascii() and text.isdigit() and len(text) <= 3:
        return int(text)
    if text.upper() in ENCODING_NAMES:
        return ENCODING_NAMES[text.upper()]
    raise ApiError(
        400,
        "INVALID_ARGUMENT",
        "encoding_type must be 0, 1 or RS2 (the default is the relayer's setting)",
    )


def create_app(
    chain: ChainPort,
    controller: StoreController,
    reader: BlobReader,
    auth_token: str = "",
    default_epochs: int = 1,
) -> FastAPI:
    """Build the relayer API around its flows."""
    app = FastAPI(title="Haulout relayer (publisher + aggregator)", version="1")
    install_error_handlers(app)
    install_metrics(app, "relayer", controller.stats, reader.stats)

    def authorize(request: Request) -> None:
        if not auth_token:
            return
        if request.headers.get("authorization", "") != f"Bearer {auth_token}":
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                "this relayer requires a bearer token for writes: send 'Authorization: Bearer <token>'",
            )

    def declared_size(request: Request) -> int | None:
        """The body's Content-Length (None for a chunked body); a request with neither header
        has no body at all, which is almost always a client mistake, so it is refused."""
        if "chunked" in request.headers.get("transfer-encoding", "").lower():
            return None
        length = request.headers.get("content-length")
        if length is None:
            raise ApiError(
                400,
                "NO_BODY",
                "the request has no body: send the blob's bytes as the request body "
                "(an explicit 'Content-Length: 0' stores an empty blob)",
            )
        if not length.isdigit():
            raise ApiError(400, "INVALID_ARGUMENT", f"Content-Length {length!r} is not a number")
        return int(length)

    @app.put("/v1/blobs")
    async def store_blob(
        request: Request,
        epochs: int | None = Query(None, ge=1, le=1000, description="epochs to store for"),
        deletable: bool = Query(False),
        permanent: bool = Query(False),
        send_object_to: str | None = Query(None, description="address to receive the Blob object"),
        encoding_type: str | None = Query(
            None,
            max_length=16,
            description="encoding type: 0 (RS over GF(2^8)) or 1 (RS over GF(2^16), also "
            "'RS2' as Walrus clients name it); default: the relayer's setting",
        ),
    ) -> JSONResponse:
        authorize(request)
        if deletable and permanent:
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "a blob is either deletable or permanent; pass only one of them",
            )
        recipient = format_object_id(parse_object_id(send_object_to)) if send_object_to else None
        result = await controller.store(
            request.stream(),
            epochs or default_epochs,
            deletable,
            recipient,
            declared_size(request),
            parse_encoding_type(encoding_type),
        )
        return JSONResponse(result)

    def _headers(
        blob_id: BlobId, size: int, attributes: dict[str, str] | None = None
    ) -> dict[str, str]:
        headers = {
            "etag": f'"{blob_id}"',
            "accept-ranges": "bytes",
            "cache-control": "public, max-age=31536000, immutable",
        }
        for key, value in (attributes or {}).items():
            if _HEADER_TOKEN.match(key) and key.lower() not in (
                "content-length",
                "content-range",
                "etag",
            ):
                headers[key.lower()] = value
        return headers

    def _strict(request: Request) -> bool:
        """`?strict_consistency_check=true`: re-check the encoding even if it is known good."""
        value = request.query_params.get("strict_consistency_check", "false").lower()
        if value not in ("true", "false", "1", "0"):
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                f"strict_consistency_check must be true or false; got {value!r}",
            )
        return value in ("true", "1")

    async def _serve(
        request: Request, blob_id: BlobId, attributes: dict[str, str] | None = None
    ) -> Response:
        if request.headers.get("if-none-match", "").strip('"') == str(blob_id):
            await run_in_threadpool(reader.require_live, blob_id)
            return Response(status_code=304, headers={"etag": f'"{blob_id}"'})
        strict = _strict(request)
        if request.method == "HEAD" and not strict:  # the size is on chain: no need to read
            blob = ReadBlob(await reader.size(blob_id), data=b"")
        else:
            blob = await reader.read(blob_id, strict=strict)
        headers = _headers(blob_id, blob.size, attributes)
        media = headers.pop("content-type", "application/octet-stream")
        status, start, end = 200, 0, blob.size
        try:
            if (rng := request.headers.get("range")) and blob.size:
                start, end = _byte_range(rng, blob.size)
                status = 206
                headers["content-range"] = f"bytes {start}-{end - 1}/{blob.size}"
        except ApiError:
            blob.discard()
            raise
        if request.method == "HEAD":
            blob.discard()
            headers["content-length"] = str(end - start)
            return Response(status_code=status, headers=headers, media_type=media)
        if blob.data is not None:
            whole = (start, end) == (0, blob.size)  # no copy of a whole blob
            body = blob.data if whole else blob.data[start:end]
            return Response(body, status_code=status, headers=headers, media_type=media)
        headers["content-length"] = str(end - start)
        return StreamingResponse(  # a large blob, from its temporary file
            blob.chunks(start, end),
            status_code=status,
            headers=headers,
            media_type=media,
            background=BackgroundTask(blob.discard),
        )

    @app.api_route("/v1/blobs/{blob_id}", methods=["GET", "HEAD"])
    async def read_blob(blob_id: str, request: Request) -> Response:
        bid = BlobId.parse(blob_id)
        attributes: dict[str, str] = {}
        live = reader.index.live(bid)
        if live:
            try:
                attributes = (await run_in_threadpool(chain.get_blob, live[0].object_id)).attributes
            except Exception:
                attributes = {}
        return await _serve(request, bid, attributes)

    @app.get("/v1/blobs/by-object-id/{object_id}")
    async def read_by_object(object_id: str, request: Request) -> Response:
        blob = await run_in_threadpool(chain.get_blob, format_object_id(parse_object_id(object_id)))
        if blob.certified_epoch is None:
            raise ApiError(
                404,
                "BLOB_NOT_CERTIFIED",
                f"blob object {blob.id} is registered but not certified yet",
            )
        return await _serve(request, blob.blob_id, blob.attributes)

    @app.delete("/v1/blobs/by-object-id/{object_id}")
    async def delete_by_object(object_id: str, request: Request) -> JSONResponse:
        authorize(request)
        oid = format_object_id(parse_object_id(object_id))
        blob = await run_in_threadpool(chain.get_blob, oid)
        storage = await run_in_threadpool(chain.delete_blob, controller.account, oid)
        reader.cache.pop(blob.blob_id, None)
        await run_in_threadpool(reader.index.catch_up)
        return JSONResponse(
            {"deleted": {"objectId": oid, "blobId": str(blob.blob_id), "storageId": storage.id}}
        )

    @app.post("/v1/blobs/by-object-id/{object_id}/extend")
    async def extend(
        object_id: str, request: Request, epochs: int = Query(..., ge=1, le=1000)
    ) -> JSONResponse:
        authorize(request)
        oid = format_object_id(parse_object_id(object_id))
        blob = await run_in_threadpool(chain.extend_blob, controller.account, oid, epochs)
        return JSONResponse({"blobObject": blob.to_walrus_json()})

    @app.put("/v1/blobs/by-object-id/{object_id}/attributes/{key}")
    async def set_attribute(object_id: str, key: str, request: Request) -> JSONResponse:
        authorize(request)
        value = (await read_body_limited(request, 4096, "attribute value")).decode(
            "utf-8", "replace"
        )
        oid = format_object_id(parse_object_id(object_id))
        await run_in_threadpool(chain.set_attribute, controller.account, oid, key, value)
        return JSONResponse({"objectId": oid, "key": key, "value": value})

    @app.delete("/v1/blobs/by-object-id/{object_id}/attributes/{key}")
    async def remove_attribute(object_id: str, key: str, request: Request) -> JSONResponse:
        authorize(request)
        oid = format_object_id(parse_object_id(object_id))
        await run_in_threadpool(chain.remove_attribute, controller.account, oid, key)
        return JSONResponse({"objectId": oid, "removed": key})

    @app.get("/v1/blobs/{blob_id}/status")
    async def blob_status(blob_id: str) -> JSONResponse:
        bid = BlobId.parse(blob_id)
        await run_in_threadpool(reader.index.catch_up)
        regs = reader.index.by_blob.get(bid, {})
        out: dict[str, Any] = {
            "blobId": str(bid),
            "status": "certified"
            if reader.index.live(bid)
            else (
                "invalid"
                if bid in reader.index.invalid
                else ("registered" if regs else "nonexistent")
            ),
            "epoch": reader.index.epoch,
            "objects": [
                {
                    "objectId": r.object_id,
                    "deletable": r.deletable,
                    "certified": r.certified,
                    "deleted": r.deleted,
                    "endEpoch": r.end_epoch,
                }
                for r in regs.values()
            ],
        }
        return JSONResponse(out)

    @app.get("/v1/health")
    async def health() -> JSONResponse:
        system = await run_in_threadpool(chain.system)
        return JSONResponse(
            {
                "status": "ok",
                "epoch": system.epoch,
                "nShards": system.n_shards,
                "maxBlobSize": controller.max_blob_size,
                "encodingType": controller.encoding_type,  # of uploads without ?encoding_type=
                "nodes": [m.url for m in system.require_committee().members],
                "address": controller.account.address,
            }
        )

    return app
