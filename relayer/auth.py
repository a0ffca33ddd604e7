"""The relayer's bearer token, checked before anything else looks at a write request.

A plain ASGI middleware, so an unauthenticated request is refused before routing, query
validation or reading a byte of its body (a 401, never a 400/422 that would tell a stranger
how to shape a request), and the token is compared in constant time.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from haulout.http_errors import ApiError, error_response

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods anyone may use: reads are public, as on a Walrus aggregator."""


class BearerAuth:
    """Refuse write requests (every method but GET/HEAD/OPTIONS) without
    `Authorization: Bearer <token>`; with an empty token, let everything through."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.expected and scope["type"] == "http" and scope["method"] not in READ_METHODS:
            given = b""
            for name, value in scope["headers"]:
                if name == b"authorization":
                    given = value
            if not hmac.compare_digest(given, self.expected):
                refusal = ApiError(
                    401,
                    "UNAUTHENTICATED",
                    "this relayer requires a bearer token for writes: send "
                    "'Authorization: Bearer <token>'",
                    {"www-authenticate": "Bearer"},
                )
                await error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)
