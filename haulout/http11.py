"""A small pooled HTTP/1.1 client on asyncio streams, for the relayer's calls to storage nodes.

httpx (with httpcore, anyio and h11 beneath it) cost about a quarter of the relayer's CPU on
small stores: each call builds requests, URLs, responses and cancel scopes in several layers.
The calls to a node are few and plain (a method, a path, a body in memory or streamed, a
bounded answer), so this client does just that: keep-alive connections per node (at most
`per_host` at once), one write of head and body, and an answer read only up to `limit`
bytes (a success over it is refused, an error answer cut at `error_limit`).

Timeouts: connecting takes at most `connect_timeout`; every read or write waits at most
`timeout`; and the whole answer must arrive within `timeout` plus one second per MiB it may
legitimately have, so a node that trickles bytes cannot hold a call for ever.

A keep-alive connection the node closed meanwhile is noticed when the next request on it gets
no answer at all; that request is then sent once more on a new connection.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

HEAD_LIMIT = 16 << 10
"""The longest answer head (status line and headers) accepted."""

IDLE_SECONDS = 4.0
"""A pooled connection idle longer than this is closed instead of reused (uvicorn closes
keep-alive connections after 5 s)."""

MIN_RATE = 1 << 20
"""Bytes per second an answer must at least arrive at (see the module's timeouts)."""


class TransportError(Exception):
    """The node could not be reached, broke the connection, or sent a malformed answer."""


class AnswerTooLarge(TransportError):
    """A success answer passes the size it can legitimately have; it was not read further."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        size = f"{declared} bytes" if declared is not None else "more"
        super().__init__(f"answered {size} where at most {limit} bytes can be right")
        self.limit, self.declared = limit, declared


@dataclass(frozen=True)
class Answer:
    """A node's answer: status, headers (lower-case names) and the body, bounded."""

    status: int
    headers: dict[str, str]
    content: bytes

    @property
    def status_code(self) -> int:
        """The status (named as httpx names it, so callers handle either answer alike)."""
        return self.status

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.content)


Body = bytes | bytearray | memoryview | AsyncIterable[bytes] | None


class _Conn:
    """One connection and when it was last returned to the pool."""

    __slots__ = ("reader", "writer", "idle_since")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = 0.0

    def close(self) -> None:
        """Close without waiting (the transport finishes on its own)."""
        self.writer.close()


class _Stale(Exception):
    """A reused connection gave no answer at all: send again on a new one."""


class Http11Pool:
    """Keep-alive HTTP/1.1 connections per (host, port); see the module docstring."""

    def __init__(
        self,
        timeout: float = 30.0,
        connect_timeout: float = 3.0,
        per_host: int = 16,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.per_host, self.idle_seconds = per_host, idle_seconds
        self._idle: dict[tuple[str, int], deque[_Conn]] = {}
        self._slots: dict[tuple[str, int], asyncio.Semaphore] = {}
        self.connections_opened = 0
        """Connections opened so far (keep-alive reuse shows as a low count)."""

    async def request(
        self,
        method: str,
        host: str,
        port: int,
        target: str,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        limit: int = 64 << 10,
        error_limit: int = 16 << 10,
    ) -> Answer:
        """Send one request and read its answer up to `limit` bytes (an error answer: cut
        at `error_limit`). `body` is bytes, or an async iterable whose total length is given
        as a `content-length` header. Raises `TransportError` (`AnswerTooLarge` for a
        success over `limit`)."""
        key = (host, port)
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = asyncio.Semaphore(self.per_host)
        head = self._head(method, host, port, target, body, headers)
        async with slots:
            for _ in range(2):
                conn = self._take(key)
                reused = conn is not None
                if conn is None:
                    conn = await self._connect(host, port)
                try:
                    answer, keep = await self._exchange(
                        conn, method, head, body, limit, error_limit
                    )
                except _Stale:
                    conn.close()
                    if reused and not isinstance(body, AsyncIterable):
                        continue  # the node had closed it: once more on a fresh connection
                    raise TransportError(
                        "the node closed the connection without answering"
                    ) from None
                except BaseException:
                    conn.close()
                    raise
                if keep:
                    conn.idle_since = time.monotonic()
                    self._idle.setdefault(key, deque()).append(conn)
                else:
                    conn.close()
                return answer
        raise TransportError("the node closed the connection without answering")  # pragma: no cover

    def close(self) -> None:
        """Close every pooled connection."""
        for idle in self._idle.values():
            while idle:
                idle.pop().close()

    def _take(self, key: tuple[str, int]) -> _Conn | None:
        """The most recently used live idle connection, if any (stale ones are closed)."""
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if now - conn.idle_since < self.idle_seconds and not conn.reader.at_eof():
                return conn
            conn.close()
        return None

    async def _connect(self, host: str, port: int) -> _Conn:
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(host, port, limit=HEAD_LIMIT)
        except (OSError, TimeoutError) as exc:
            raise TransportError(f"cannot connect to {host}:{port}: {exc or 'timed out'}") from exc
        self.connections_opened += 1
        return _Conn(reader, writer)

    @staticmethod
    def _head(
        method: str,
        host: str,
        port: int,
        target: str,
        body: Body,
        headers: Mapping[str, str] | None,
    ) -> bytes:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}"]
        given = {k.lower() for k in headers or ()}
        for name, value in (headers or {}).items():
            if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}")
        if "content-length" not in given:
            if isinstance(body, AsyncIterable):
                raise ValueError("a streamed body needs its content-length header")
            if body is not None or method in ("PUT", "POST"):
                lines.append(f"Content-Length: {len(body) if body is not None else 0}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _exchange(
        self, conn: _Conn, method: str, head: bytes, body: Body, limit: int, error_limit: int
    ) -> tuple[Answer, bool]:
        """Write the request, read the answer; whether the connection can be reused."""
        writer, reader = conn.writer, conn.reader
        try:
            async with asyncio.timeout(self.timeout):
                if body is None or isinstance(body, AsyncIterable):
                    writer.write(head)
                else:
                    writer.write(head + body)  # one write (and one segment) for small calls
                if isinstance(body, AsyncIterable):
                    async for piece in body:
                        writer.write(piece)
                        await writer.drain()
                else:
                    await writer.drain()
        except TimeoutError as exc:
            raise TransportError(f"sending the request took over {self.timeout:g} s") from exc
        except OSError as exc:
            raise _Stale() from exc
        deadline = time.monotonic() + self.timeout + limit / MIN_RATE
        status, headers = await self._read_head(reader, deadline)
        failed = status >= 400
        cap = error_limit if failed else limit
        keep = headers.get("connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304):
            return Answer(status, headers, b""), keep
        if "chunked" in headers.get("transfer-encoding", "").lower():
            content, whole = await self._read_chunked(reader, cap, failed, deadline)
            return Answer(status, headers, content), keep and whole
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit() or len(declared) > 18:
                raise TransportError(f"malformed content-length {declared[:40]!r}")
            length = int(declared)
            if length > cap and not failed:
                raise AnswerTooLarge(cap, length)
            content = await self._read_exactly(reader, min(length, cap), deadline)
            return Answer(status, headers, content), keep and length <= cap
        content, whole = await self._read_to_end(reader, cap, failed, deadline)
        return Answer(status, headers, content), False

    async def _wait(self, deadline: float, coro: Coroutine[Any, Any, T]) -> T:
        """`await coro` within the read timeout and the answer's deadline."""
        left = min(self.timeout, deadline - time.monotonic())
        try:
            if left <= 0:
                raise TimeoutError
            async with asyncio.timeout(left):
                return await coro
        except TimeoutError as exc:
            coro.close()
            raise TransportError("the node's answer did not arrive in time") from exc

    async def _read_head(
        self, reader: asyncio.StreamReader, deadline: float
    ) -> tuple[int, dict[str, str]]:
        for _ in range(8):  # interim 1xx answers come before the real one
            try:
                raw = await self._wait(deadline, reader.readuntil(b"\r\n\r\n"))
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise _Stale() from exc
                raise TransportError("the node closed the connection mid-answer") from exc
            except asyncio.LimitOverrunError as exc:
                raise TransportError(f"the answer's head passes {HEAD_LIMIT} bytes") from exc
            except OSError as exc:
                raise _Stale() from exc
            lines = bytes(raw).decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise TransportError("not an HTTP/1.x answer")
            status = int(parts[1])
            if 100 <= status < 200:
                continue
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            if parts[0] == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
                headers["connection"] = "close"
            return status, headers
        raise TransportError("too many interim answers")

    async def _read_exactly(self, reader: asyncio.StreamReader, n: int, deadline: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            try:
                piece = await self._wait(deadline, reader.read(min(n - len(buf), 1 << 20)))
            except OSError as exc:
                raise TransportError(f"the connection broke mid-answer: {exc}") from exc
            if not piece:
                raise TransportError(f"the answer was cut short ({n - len(buf)} bytes missing)")
            buf += piece
        return bytes(buf)

    async def _read_to_end(
        self, reader: asyncio.StreamReader, cap: int, failed: bool, deadline: float
    ) -> tuple[bytes, bool]:
        buf = bytearray()
        while True:
            piece = await self._wait(deadline, reader.read(64 << 10))
            if not piece:
                return bytes(buf), True
            buf += piece
            if len(buf) > cap:
                if failed:
                    return bytes(buf[:cap]), False
                raise AnswerTooLarge(cap)

    async def _read_chunked(
        self, reader: asyncio.StreamReader, cap: int, failed: bool, deadline: float
    ) -> tuple[bytes, bool]:
        buf = bytearray()
        while True:
            try:
                line = await self._wait(deadline, reader.readuntil(b"\r\n"))
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                raise TransportError("malformed chunked answer") from exc
            size_text = bytes(line).split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 15:
                raise TransportError("malformed chunk size")
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise TransportError("malformed chunk size") from exc
            if size == 0:
                while True:  # trailers, up to the empty line
                    try:
                        trailer = await self._wait(deadline, reader.readuntil(b"\r\n"))
                    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                        raise TransportError("malformed chunked answer") from exc
                    if trailer == b"\r\n":
                        return bytes(buf), True
            if len(buf) + size > cap:
                if failed:
                    buf += await self._read_exactly(reader, cap - len(buf), deadline)
                    return bytes(buf), False
                raise AnswerTooLarge(cap)
            buf += await self._read_exactly(reader, size + 2, deadline)
            del buf[-2:]
