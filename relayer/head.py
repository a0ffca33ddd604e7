"""HEAD on every GET route, as axum gives Walrus's daemon: a HEAD that no route declares is
answered by its GET route with the body dropped (the headers, Content-Length included, stay).

Routes that declare HEAD themselves (a blob's, which then skip reading the blob) keep theirs.
"""

from __future__ import annotations

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """ASGI middleware: route an undeclared HEAD to the GET route and send no body."""

    def __init__(self, app: ASGIApp, router: object) -> None:
        self.app, self.router = app, router

    def declared(self, scope: Scope) -> bool:
        """Whether some route answers HEAD on this path itself."""
        return any(
            route.matches(scope)[0] == Match.FULL for route in getattr(self.router, "routes", [])
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or self.declared(scope):
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the rest of a streamed body: nothing of it goes out
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
