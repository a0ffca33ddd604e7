"""One error shape for every service: `{"error": {code, status, message, details: [{reason}]}}`.

Every typed error (protocol, chain, service) is mapped to HTTP here, in one handler.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from haulout.chain import errors as chain_errors
from haulout.protocol import errors as perr

log = logging.getLogger("haulout.http")

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "FAILED_PRECONDITION",
    413: "OUT_OF_RANGE",
    416: "OUT_OF_RANGE",
    422: "DATA_LOSS",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ApiError(Exception):
    """An error with its HTTP status and a stable reason code, for any service."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def error_body(status: int, reason: str, message: str) -> dict[str, Any]:
    """The JSON error document."""
    return {
        "error": {
            "code": status,
            "status": STATUS_NAMES.get(status, "UNKNOWN"),
            "message": message,
            "details": [{"@type": "ErrorInfo", "reason": reason, "domain": "haulout"}],
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
    chain_errors.ObjectNotFound: 404,
    chain_errors.ObjectNotOwned: 403,
    chain_errors.MoveAbort: 400,
    chain_errors.InvalidTransaction: 400,
    chain_errors.InvalidTransactionSignature: 400,
    chain_errors.NotDeployed: 503,
}


def to_api_error(exc: Exception) -> ApiError:
    """Map a typed error to its HTTP form."""
    if isinstance(exc, ApiError):
        return exc
    for cls in type(exc).__mro__:
        if cls in _PROTOCOL_STATUS:
            reason = getattr(exc, "reason", "ERROR")
            if isinstance(exc, chain_errors.MoveAbort):
                reason = f"MOVE_ABORT_{exc.module.upper()}_{exc.name}"
            return ApiError(_PROTOCOL_STATUS[cls], reason, str(exc))
    return ApiError(500, "INTERNAL", f"internal error: {type(exc).__name__}: {exc}")


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through `error_body`."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, exc.reason, exc.message), status_code=exc.status)

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
        api = to_api_error(exc)
        return JSONResponse(error_body(api.status, api.reason, api.message), status_code=api.status)

    app.add_exception_handler(perr.ProtocolError, _typed)
    app.add_exception_handler(chain_errors.ChainError, _typed)

    @app.exception_handler(Exception)
    async def _other(_: Request, exc: Exception) -> JSONResponse:
        api = to_api_error(exc)
        if api.status >= 500:
            log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body(api.status, api.reason, api.message), status_code=api.status)


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
