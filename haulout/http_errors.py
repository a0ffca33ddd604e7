"""One error shape for every service: `{"error": {code, status, message, details: [{reason}]}}`.

Every typed error (protocol, chain, service) is mapped to HTTP here, in one handler.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from haulout.chain import errors as chain_errors
from haulout.protocol import errors as perr
from haulout.protocol.attributes import InvalidAttribute
from haulout.protocol.buckets import InvalidBucketName

log = logging.getLogger("haulout.http")

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "FAILED_PRECONDITION",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "FAILED_PRECONDITION",
    411: "INVALID_ARGUMENT",
    413: "OUT_OF_RANGE",
    416: "RANGE_NOT_SATISFIABLE",
    422: "DATA_LOSS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
"""The error body's `status` per HTTP code: for every code Walrus's daemon sends, the (code,
status) pair of its `StatusCode` table (walrus-storage-node-client api/errors.rs), since its
Rust client refuses to read an error whose pair is not in that table."""


class ApiError(Exception):
    """An error with its HTTP status and a stable reason code, for any service; `headers`
    go on the answer (e.g. `Retry-After` on a 503, `Content-Range` on a 416)."""

    def __init__(
        self, status: int, reason: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.headers = headers or {}


def error_body(status: int, reason: str, message: str) -> dict[str, Any]:
    """The JSON error document."""
    return {
        "error": {
            "code": status,
            "status": STATUS_NAMES.get(status, "UNKNOWN"),
            "message": message,
            "details": [
                {"@type": "ErrorInfo", "reason": reason, "domain": "haulout", "metadata": {}}
            ],
        }
    }


_PROTOCOL_STATUS: dict[type[Exception], int] = {
    perr.BlobTooLarge: 413,
    perr.InvalidBlobId: 400,
    perr.InvalidMetadata: 400,
    perr.InvalidSliver: 400,
    perr.InvalidParameters: 400,
    perr.NotEnoughSlivers: 503,
    perr.InconsistentEncoding: 422,
    perr.InvalidCertificate: 400,
    perr.InvalidSignature: 400,
    perr.InvalidMessage: 400,
    InvalidAttribute: 400,
    InvalidBucketName: 400,
    chain_errors.ObjectNotFound: 404,
    chain_errors.ObjectNotOwned: 403,
    chain_errors.InvalidTransaction: 400,
    chain_errors.NotDeployed: 503,
    chain_errors.NotSupported: 501,
}

CLIENT_ABORTS: dict[tuple[str, str], int] = {
    ("system", "EInvalidEpochsAhead"): 400,
    ("blob", "EInvalidExtension"): 400,
    ("blob", "EAttributeKeyTooLong"): 400,
    ("blob", "EAttributeValueTooLong"): 400,
    ("blob", "EAttributeNotFound"): 404,
    ("blob", "ENotDeletable"): 409,
    ("blob", "ENotCertified"): 409,
    ("blob", "EBlobExpired"): 409,
    ("blob", "EBlobIdInvalidated"): 409,
    ("bucket", "EInvalidName"): 400,
    ("bucket", "EInvalidTag"): 400,
    ("bucket", "EStaleVersion"): 409,
    ("bucket", "EUnknownVersion"): 404,
    ("bucket", "ETooManyTags"): 409,
    ("bucket", "EManifestNotLive"): 409,
}
"""Move aborts caused by what the client asked (its epochs, its blob, its attribute). Every
other abort comes from a transaction the service built itself (certificates, storage, epochs
changing under it, its own wallet) and is a 503: not the client's fault, worth a retry."""


def _move_abort(exc: chain_errors.MoveAbort) -> ApiError:
    reason = f"MOVE_ABORT_{exc.module.upper()}_{exc.name}"
    status = CLIENT_ABORTS.get((exc.module, exc.name))
    if status is not None:
        return ApiError(status, reason, str(exc))
    return ApiError(
        503,
        reason,
        f"the chain refused this service's own transaction ({exc}); this is not a fault of "
        "the request: retry in a few seconds",
        {"retry-after": "2"},
    )


def to_api_error(exc: Exception) -> ApiError:
    """Map a typed error to its HTTP form. An error of no known type is a 500 whose message
    never holds the exception's text (it may hold paths, SQL or request data): that goes to
    the log under a request id the message gives."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, chain_errors.MoveAbort):
        return _move_abort(exc)
    for cls in type(exc).__mro__:
        if cls in _PROTOCOL_STATUS:
            return ApiError(_PROTOCOL_STATUS[cls], getattr(exc, "reason", "ERROR"), str(exc))
    request_id = uuid.uuid4().hex[:12]
    if isinstance(exc, chain_errors.ChainError):  # the chain's RPC failed, or a signature
        log.warning(
            "chain unavailable",
            exc_info=exc,
            extra={"fields": {"request_id": request_id}},
        )
        return ApiError(
            503,
            "CHAIN_UNAVAILABLE",
            f"the chain did not accept or answer the call (request id {request_id}); "
            "retry in a few seconds",
            {"retry-after": "2"},
        )
    log.error("unhandled error", exc_info=exc, extra={"fields": {"request_id": request_id}})
    return ApiError(
        500,
        "INTERNAL",
        f"internal error (request id {request_id}, logged by the service); retry, and report "
        "it with the request id if it persists",
    )


def error_response(api: ApiError) -> JSONResponse:
    """The JSON answer for an `ApiError`, with its headers."""
    return JSONResponse(
        error_body(api.status, api.reason, api.message),
        status_code=api.status,
        headers=api.headers or None,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through `error_body`."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "path", "body"))
            parts.append(f"{loc}: {e.get('msg')}")
        msg = "invalid request: " + "; ".join(parts)
        return JSONResponse(error_body(400, "INVALID_ARGUMENT", msg), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return JSONResponse(
            error_body(exc.status_code, reason, str(exc.detail)), status_code=exc.status_code
        )

    async def _typed(_: Request, exc: Exception) -> JSONResponse:
        return error_response(to_api_error(exc))

    app.add_exception_handler(perr.ProtocolError, _typed)
    app.add_exception_handler(chain_errors.ChainError, _typed)
    app.add_exception_handler(Exception, _typed)


async def read_body_limited(request: Request, limit: int, what: str) -> bytes:
    """Read a request body, refusing (413) as soon as it passes `limit` bytes."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise ApiError(
            413, "PAYLOAD_TOO_LARGE", f"{what} of {length} bytes exceeds the limit of {limit} bytes"
        )
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"{what} exceeds the limit of {limit} bytes")
    return bytes(buf)
