"""The relayer's HTTP API, compatible with Walrus publisher and aggregator clients."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Header, Path, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from haulout.chain.errors import NotSupported, ObjectNotFound
from haulout.chain.objects import BlobObject
from haulout.chain.port import ChainPort
from haulout.http_errors import ApiError, install_error_handlers, read_body_limited
from haulout.metrics import install_metrics
from haulout.protocol.attributes import (
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    InvalidAttribute,
    check_servable,
    served_headers,
)
from haulout.protocol.blob_id import BlobId, format_object_id, parse_object_id
from haulout.protocol.params import ENCODING_RS16
from haulout.protocol.upload_relay import TipConfig

from .api_docs import redoc_page
from .auth import BearerAuth, JwtAuth
from .buckets import BucketBook, Buckets, install_bucket_routes
from .content_type import upload_content_type
from .controller import StoreController
from .head import HeadAsGet
from .limits import ADMIT_BYTES, RATE_WINDOW, UploadSlots, first_piece, paced
from .quilts import QuiltService, install_quilt_routes
from .ranges import byte_range
from .read_stats import ServedReads, install_read_stats
from .reader import BlobReader, ReadBlob
from .trees import Trees, install_tree_routes
from .upload_relay import UploadRelay, install_upload_relay_routes

CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=3600"
"""What Walrus's aggregator sends: a day, then revalidation by ETag (a blob can be deleted)."""

BLOB_ID = Path(
    description="a blob id: 43 URL-safe base64 characters",
    json_schema_extra={"pattern": "^[A-Za-z0-9_-]{43}$"},
)
OBJECT_ID = Path(
    description="a Blob object id: 0x and 64 hex digits",
    json_schema_extra={"pattern": "^0x[0-9a-f]{64}$"},
)
RANGE = Header(
    None,
    alias="range",
    description="one byte range, 'bytes=START-END', 'bytes=START-' or 'bytes=-LAST'; "
    "anything else is ignored and the whole blob is served",
    json_schema_extra={
        "anyOf": [  # well-formed ranges with numbers of any length, and anything at all
            {"type": "string", "pattern": "^bytes=[0-9]{0,40}-[0-9]{0,40}$"},
            {"type": "string", "maxLength": 200},
        ],
        "examples": ["bytes=0-99", "bytes=10-", "bytes=-5"],
    },
)
IF_NONE_MATCH = Header(None, alias="if-none-match", description="the blob id, as in ETag")
STRICT = Query(False, description="re-check the encoding even if it is known to be consistent")
SKIP = Query(
    False,
    description="skip the consistency check (trusted writers only); slivers are still "
    "authenticated. Not together with strict_consistency_check",
)
BLOB_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the blob's bytes (Content-Length, or chunked)",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
VALUE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"the value: printable ASCII, at most {MAX_VALUE_BYTES} bytes",
        "content": {"text/plain": {"schema": {"type": "string", "maxLength": MAX_VALUE_BYTES}}},
    }
}


def _etag_matches(if_none_match: str | None, blob_id: BlobId) -> bool:
    """True when `If-None-Match` names this blob (bare or quoted, weak or strong, or `*`)."""
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/").strip('"') for t in if_none_match.split(",")}
    return str(blob_id) in tags or "*" in tags


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


OCTETS = "application/octet-stream"
BYTE_POSITION_MAX = (1 << 63) - 1
"""Byte positions past any blob but still a signed 64-bit number (no unbounded integers)."""


def ByteRangeInvalid(message: str) -> ApiError:  # noqa: N802 - reads as the Walrus error name
    """Walrus's INVALID_BYTE_RANGE (400) for a byte-range read it cannot serve."""
    return ApiError(400, "INVALID_BYTE_RANGE", f"invalid byte range parameters: {message}")


def blob_or_shared(chain: ChainPort, object_id: str) -> BlobObject:
    """The Blob an object id names: a Blob object, or the Blob a SharedBlob wraps (Walrus's
    by-object-id reads accept both)."""
    try:
        return chain.get_blob(object_id)
    except ObjectNotFound:
        try:
            return chain.get_shared_blob(object_id).blob
        except (ObjectNotFound, NotSupported):
            raise ObjectNotFound(f"no live Blob or SharedBlob object {object_id}") from None


def store_options(
    deletable: bool, permanent: bool, share: bool, send_object_to: str | None
) -> bool:
    """Whether a store makes a deletable blob, as Walrus's publisher decides it: deletable
    unless `permanent`; `deletable` itself no longer changes anything, but naming both is a
    contradiction. A shared blob belongs to no one, so it cannot also be sent to someone."""
    if deletable and permanent:
        raise ApiError(
            400,
            "INVALID_BLOB_PERSISTENCE",
            "the blob cannot be defined as both deletable and permanent; pass only one of them",
        )
    if share and send_object_to:
        raise ApiError(
            400,
            "INVALID_ARGUMENT",
            "a shared blob belongs to no one: pass either share or send_object_to, not both",
        )
    return not permanent


def consistency_flags(strict: bool, skip: bool) -> None:
    """Walrus's rule: a read checks strictly, skips the check, or neither, never both."""
    if strict and skip:
        raise ApiError(
            400,
            "INVALID_CONSISTENCY_CHECK",
            "pass either strict_consistency_check or skip_consistency_check, not both",
        )


def create_app(
    chain: ChainPort,
    controller: StoreController,
    reader: BlobReader,
    auth_token: str = "",
    default_epochs: int = 1,
    slots: UploadSlots | None = None,
    body_timeout: float = 30.0,
    reads: ServedReads | None = None,
    relay: UploadRelay | None = None,
    jwt: JwtAuth | None = None,
    min_body_rate: tuple[float, float] = (0.0, RATE_WINDOW),
    max_tree_members: int = 1000,
) -> FastAPI:
    """Build the relayer API around its flows. `slots` bounds concurrent uploads and
    `body_timeout` is the longest pause allowed inside an upload's body, `min_body_rate` the
    slowest body accepted (bytes/s, and the seconds of waiting it is judged over); `relay` is
    the upload relay (no tip unless given), `jwt` the scoped upload rights besides the token;
    `max_tree_members` bounds the blobs of a tree (and a bucket's version) it acts on."""
    slots = slots or UploadSlots(32)
    relay = relay or UploadRelay(chain, controller, TipConfig())
    app = FastAPI(title="Haulout relayer (publisher + aggregator)", version="1")
    install_error_handlers(app)
    reads = reads or ServedReads()
    quilts = QuiltService(controller, reader, body_timeout)
    install_metrics(
        app,
        "relayer",
        controller.stats,
        reader.stats,
        controller.index.stats,
        slots.stats,
        reads.totals,
        relay.stats,
        quilts.stats,
    )
    install_read_stats(app, reads)
    install_quilt_routes(app, quilts, slots, default_epochs)
    trees = Trees(chain, controller, reader, max_tree_members)
    install_tree_routes(app, trees)
    book = BucketBook(controller.account.address)
    book.attach(controller.index)
    install_bucket_routes(app, Buckets(trees, book))
    install_upload_relay_routes(app, relay, slots, body_timeout, parse_encoding_type, min_body_rate)
    app.add_middleware(BearerAuth, token=auth_token, jwt=jwt)  # before routing and validation
    app.add_middleware(HeadAsGet, router=app.router)  # HEAD on every GET route, as axum
    app.add_middleware(  # outermost, as Walrus's daemon: browsers may call it from any origin
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["*"],
        allow_headers=["*"],
        max_age=86400,
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
        if not (length.isascii() and length.isdigit() and len(length) <= 19):
            raise ApiError(400, "INVALID_ARGUMENT", "Content-Length is not a number of bytes")
        return int(length)

    @app.put("/v1/blobs", openapi_extra=BLOB_BODY)
    async def store_blob(
        request: Request,
        epochs: int | None = Query(None, ge=1, le=1000, description="epochs to store for"),
        deletable: bool = Query(
            False,
            description="no effect: blobs are deletable unless `permanent` (kept for old clients)",
            deprecated=True,
        ),
        permanent: bool = Query(False, description="store a permanent blob (not deletable)"),
        force: bool = Query(
            False, description="store and certify a new Blob object even if already certified"
        ),
        share: bool = Query(False, description="wrap the new Blob in a SharedBlob anyone funds"),
        send_object_to: str | None = Query(
            None,
            description="address to receive the Blob object",
            json_schema_extra={"pattern": "^0x[0-9a-f]{64}$"},
        ),
        encoding_type: str | None = Query(
            None,
            max_length=16,
            description="encoding type: 0 (RS over GF(2^8)) or 1 (RS over GF(2^16), also "
            "'RS2' as Walrus clients name it); default: the relayer's setting",
        ),
    ) -> JSONResponse:
        persistence = store_options(deletable, permanent, share, send_object_to)
        recipient = format_object_id(parse_object_id(send_object_to)) if send_object_to else None
        content_type = upload_content_type(request.headers.get("content-type"))
        size = declared_size(request)
        wanted_type = parse_encoding_type(encoding_type)
        with slots.hold():  # from now to the answer, slow body or not
            body = paced(request.stream(), body_timeout, slots.stats, *min_body_rate)
            try:
                body = await first_piece(body, ADMIT_BYTES)
            except Exception:  # a failed upload, though no encoder saw it
                controller.stats.uploads_failed += 1
                raise
            async with slots.encoding():  # only a body that arrives waits for an encoder
                result = await controller.store(
                    body,
                    epochs or default_epochs,
                    persistence,
                    recipient,
                    size,
                    wanted_type,
                    content_type=content_type,
                    force=force,
                )
        if share and "newlyCreated" in result:
            created = result["newlyCreated"]
            oid = created["blobObject"]["id"]
            shared = await run_in_threadpool(chain.share_blob, controller.account, oid)
            created["sharedBlobObject"] = shared
        return JSONResponse(result)

    def _headers(blob_id: BlobId, attributes: dict[str, str] | None = None) -> dict[str, str]:
        """Walrus's aggregator headers, then the attributes that may be headers (an
        allow-list, valid values only: never framing, caching or CORS headers)."""
        return {
            **served_headers(attributes or {}),
            "etag": str(blob_id),
            "accept-ranges": "bytes",
            "cache-control": CACHE_CONTROL,
            "x-content-type-options": "nosniff",
        }

    async def _serve(
        request: Request,
        blob_id: BlobId,
        attributes: dict[str, str] | None,
        range_header: str | None,
        if_none_match: str | None,
        strict: bool,
        skip: bool = False,
    ) -> Response:
        consistency_flags(strict, skip)
        if _etag_matches(if_none_match, blob_id):
            await run_in_threadpool(reader.require_live, blob_id)
            return Response(status_code=304, headers=_headers(blob_id))
        if request.method == "HEAD" and not strict:  # the size is on chain: no need to read
            blob = ReadBlob(await reader.size(blob_id), data=b"")
        else:
            blob = await reader.read(blob_id, strict=strict, skip=skip)
        headers = _headers(blob_id, attributes)
        media = headers.pop("content-type", "application/octet-stream")
        status, start, end = 200, 0, blob.size
        try:
            if range_header and blob.size and (wanted := byte_range(range_header, blob.size)):
                start, end = wanted
                status = 206
                headers["content-range"] = f"bytes {start}-{end - 1}/{blob.size}"
        except ApiError:
            blob.discard()
            raise
        if request.method != "HEAD":
            reads.record(str(blob_id), end - start)  # counted as served (for the indexer)
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

    @app.get("/v1/blobs/{blob_id}")
    @app.head("/v1/blobs/{blob_id}", operation_id="head_blob")
    async def read_blob(
        request: Request,
        blob_id: str = BLOB_ID,
        range_header: str | None = RANGE,
        if_none_match: str | None = IF_NONE_MATCH,
        strict_consistency_check: bool = STRICT,
        skip_consistency_check: bool = SKIP,
    ) -> Response:
        consistency_flags(strict_consistency_check, skip_consistency_check)
        bid = BlobId.parse(blob_id)
        attributes: dict[str, str] = {}
        await run_in_threadpool(reader.require_live, bid)  # catches up on a blob just stored
        live = reader.index.live(bid)
        if live:
            try:
                attributes = (await run_in_threadpool(chain.get_blob, live[0].object_id)).attributes
            except Exception:
                attributes = {}
        return await _serve(
            request,
            bid,
            attributes,
            range_header,
            if_none_match,
            strict_consistency_check,
            skip_consistency_check,
        )

    @app.get("/v1/blobs/by-object-id/{object_id}")
    @app.head("/v1/blobs/by-object-id/{object_id}", operation_id="head_blob_by_object_id")
    async def read_by_object(
        request: Request,
        object_id: str = OBJECT_ID,
        range_header: str | None = RANGE,
        if_none_match: str | None = IF_NONE_MATCH,
        strict_consistency_check: bool = STRICT,
        skip_consistency_check: bool = SKIP,
    ) -> Response:
        consistency_flags(strict_consistency_check, skip_consistency_check)
        try:
            blob = await run_in_threadpool(
                blob_or_shared, chain, format_object_id(parse_object_id(object_id))
            )
        except ObjectNotFound as exc:  # Walrus's GetBlobError has one "not found" reason
            raise ApiError(404, "BLOB_NOT_FOUND", str(exc)) from exc
        if blob.certified_epoch is None:
            raise ApiError(
                404,
                "BLOB_NOT_CERTIFIED",
                f"blob object {blob.id} is registered but not certified yet",
            )
        return await _serve(
            request,
            blob.blob_id,
            blob.attributes,
            range_header,
            if_none_match,
            strict_consistency_check,
            skip_consistency_check,
        )

    @app.get("/v1/blobs/{blob_id}/byte-range")
    @app.head("/v1/blobs/{blob_id}/byte-range", operation_id="head_blob_byte_range")
    async def read_byte_range(
        request: Request,
        blob_id: str = BLOB_ID,
        start: int = Query(..., ge=0, le=BYTE_POSITION_MAX, description="first byte (from 0)"),
        length: int = Query(..., ge=0, le=BYTE_POSITION_MAX, description="bytes to read (> 0)"),
        strict_consistency_check: bool = STRICT,
        skip_consistency_check: bool = SKIP,
    ) -> Response:
        """Walrus's byte-range read: 200 (not 206, so CDNs cache it) with the bytes
        `[start, start + length)`, ETag `<blob id>-<start>-<length>`; a range that is empty
        or reaches past the blob's end is a 400 INVALID_BYTE_RANGE."""
        consistency_flags(strict_consistency_check, skip_consistency_check)
        bid = BlobId.parse(blob_id)
        if length == 0:
            raise ByteRangeInvalid("length must be greater than 0")
        size = await reader.size(bid)
        if start + length > size:
            raise ByteRangeInvalid(
                f"byte range out of bounds: requested {start}-{start + length}, blob size is {size}"
            )
        headers = {
            "etag": f"{bid}-{start}-{length}",
            "cache-control": CACHE_CONTROL,
            "x-content-type-options": "nosniff",
            "content-length": str(length),
        }
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers, media_type=OCTETS)
        blob = await reader.read(bid, strict=strict_consistency_check, skip=skip_consistency_check)
        reads.record(str(bid), length)
        if blob.data is not None:
            body = blob.data[start : start + length]
            return Response(body, status_code=200, headers=headers, media_type=OCTETS)
        return StreamingResponse(
            blob.chunks(start, start + length),
            status_code=200,
            headers=headers,
            media_type=OCTETS,
            background=BackgroundTask(blob.discard),
        )

    @app.delete("/v1/blobs/by-object-id/{object_id}")
    async def delete_by_object(object_id: str = OBJECT_ID) -> JSONResponse:
        oid = format_object_id(parse_object_id(object_id))
        blob, tree = await trees.delete(oid)  # a manifest goes with its members, in one tx
        storage = tree["storageIds"][0] if tree["storageIds"] else None
        return JSONResponse(
            {
                "deleted": {"objectId": oid, "blobId": str(blob.blob_id), "storageId": storage},
                "tree": tree,
            }
        )

    @app.post("/v1/blobs/by-object-id/{object_id}/extend")
    async def extend(
        object_id: str = OBJECT_ID, epochs: int = Query(..., ge=1, le=1000)
    ) -> JSONResponse:
        oid = format_object_id(parse_object_id(object_id))
        blob, tree = await trees.extend(oid, epochs)  # a manifest with its members, one tx
        return JSONResponse({"blobObject": blob.to_walrus_json(), "tree": tree})

    @app.put("/v1/blobs/by-object-id/{object_id}/attributes/{key}", openapi_extra=VALUE_BODY)
    async def set_attribute(
        request: Request,
        object_id: str = OBJECT_ID,
        key: str = Path(
            description="an HTTP token; only allow-listed keys are served as headers",
            json_schema_extra={"maxLength": MAX_KEY_BYTES},
        ),
    ) -> JSONResponse:
        """Set an attribute. The relayer refuses what it could never serve as a header."""
        check_servable(key)
        try:
            raw = await read_body_limited(request, MAX_VALUE_BYTES, "attribute value")
        except ApiError as exc:
            if exc.status != 413:
                raise
            raise InvalidAttribute(
                f"attribute value is longer than {MAX_VALUE_BYTES} bytes"
            ) from None
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidAttribute("attribute value is not UTF-8 text") from None
        check_servable(key, value)
        oid = format_object_id(parse_object_id(object_id))
        await run_in_threadpool(chain.set_attribute, controller.account, oid, key, value)
        return JSONResponse({"objectId": oid, "key": key, "value": value})

    @app.delete("/v1/blobs/by-object-id/{object_id}/attributes/{key}")
    async def remove_attribute(key: str, object_id: str = OBJECT_ID) -> JSONResponse:
        """Remove an attribute, whatever its key (so a bad one set elsewhere can go)."""
        oid = format_object_id(parse_object_id(object_id))
        await run_in_threadpool(chain.remove_attribute, controller.account, oid, key)
        return JSONResponse({"objectId": oid, "removed": key})

    @app.get("/v1/blobs/{blob_id}/status")
    async def blob_status(blob_id: str = BLOB_ID) -> JSONResponse:
        bid = BlobId.parse(blob_id)
        await run_in_threadpool(reader.index.catch_up)
        out: dict[str, Any] = reader.index.status(bid)
        return JSONResponse(out)

    @app.get("/v1/api", include_in_schema=False)
    @app.head("/v1/api", include_in_schema=False)
    async def api_docs(request: Request) -> Response:
        """The OpenAPI document, at Walrus's path: a Redoc page with the document inside it,
        as Walrus serves it, or the JSON document itself for a client that accepts JSON."""
        document = app.openapi()
        accept = request.headers.get("accept", "")
        if "application/json" in accept and "text/html" not in accept:
            return JSONResponse(document)
        return HTMLResponse(redoc_page(document))

    @app.get("/status", response_class=PlainTextResponse)
    @app.head("/status", response_class=PlainTextResponse, include_in_schema=False)
    async def daemon_status() -> str:
        """Walrus's liveness route: `OK` whenever the daemon answers (no chain call)."""
        return "OK"

    @app.get("/v1/health")
    async def health() -> JSONResponse:
        system = await run_in_threadpool(chain.system)
        return JSONResponse(
            {
                "status": "ok",
                "epoch": system.epoch,
                "nShards": system.n_shards,
                "maxBlobSize": controller.max_blob_size,
                "maxTreeMembers": trees.max_members,  # a bucket version's blobs, at most
                "encodingType": controller.encoding_type,  # of uploads without ?encoding_type=
                "maxEpochsAhead": system.max_epochs_ahead,
                "nodes": [m.url for m in system.require_committee().members],
                "address": controller.account.address,
            }
        )

    return app
