"""Async HTTP client for the storage node API, with timeouts, retries and bounded answers.

Every answer is read only up to the size it can legitimately have (a confirmation is a few
hundred bytes, metadata 32 bytes per shard, a batch of slivers its frames): a node that
answers more is refused as soon as it passes the bound, before the rest is read.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import select
import socket
import struct
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread
import httpx

from haulout.http11 import MIN_RATE, Answer, AnswerTooLarge, Http11Pool, TransportError
from haulout.protocol.blob_id import BlobId
from haulout.protocol.frames import (
    FRAME_HEADER,
    FrameParser,
    FrameSink,
    decode_frames,
    frame_header,
)
from haulout.protocol.params import MAX_SHARDS_BY_TYPE
from haulout.sliver_spool import SpooledSliver

CONFIRMATION_LIMIT = 4 << 10
"""A signed confirmation as JSON: an epoch, a message of ~80 bytes and a 96-byte signature,
base64."""

SMALL_ANSWER_LIMIT = 64 << 10
"""Status, health and acknowledgement answers (a list of at most a few thousand indices)."""

ERROR_ANSWER_LIMIT = 16 << 10
"""An error document; longer ones are cut (only their start is shown)."""

UNKNOWN_SLIVER_LIMIT = 256 << 20
"""The bound on a sliver answer when the caller does not say the sliver length."""


def metadata_limit(n_shards: int | None = None) -> int:
    """The largest serialised metadata for `n_shards` (default: the largest committee)."""
    n = n_shards or max(MAX_SHARDS_BY_TYPE.values())
    return 16 + 32 * n


def slivers_limit(count: int, sliver_len: int | None) -> int:
    """The largest batch answer for `count` slivers of `sliver_len` bytes."""
    return count * (FRAME_HEADER + (sliver_len if sliver_len is not None else UNKNOWN_SLIVER_LIMIT))


SMALL_BATCH = 1 << 20
"""A batch of in-memory slivers up to this many bytes is sent as one piece."""


class NodeError(Exception):
    """A node answered with an error or could not be reached."""

    def __init__(self, url: str, message: str, status: int | None = None, reason: str = "") -> None:
        super().__init__(f"{url}: {message}")
        self.url, self.status, self.reason = url, status, reason


@dataclass(frozen=True)
class Confirmation:
    """A node's signed confirmation of a blob."""

    epoch: int
    message: bytes
    signature: bytes


def _confirmation(answer: dict[str, object]) -> Confirmation:
    """A confirmation from its JSON answer."""
    return Confirmation(
        int(answer["epoch"]),  # type: ignore[call-overload]
        base64.b64decode(answer["message"]),  # type: ignore[arg-type]
        base64.b64decode(answer["signature"]),  # type: ignore[arg-type]
    )


def _raise_for(resp: httpx.Response | Answer, url: str = "") -> None:
    if resp.status_code < 400:
        return
    reason, message = "", resp.content[:300].decode("utf-8", "replace")
    try:
        err = json.loads(resp.content)["error"]
        message = err["message"]
        reason = err["details"][0]["reason"]
    except Exception:
        pass
    where = url or str(resp.request.url)  # type: ignore[union-attr]
    raise NodeError(where, message, resp.status_code, reason)


MAX_RETRY_AFTER = 5.0
"""The longest `Retry-After` (seconds) a node may ask this client to wait before retrying."""


def retry_after(resp: httpx.Response | Answer) -> float:
    """The pause a busy node asks for (`Retry-After` in whole seconds), capped; 0 if none."""
    value = resp.headers.get("retry-after", "")
    return min(float(value), MAX_RETRY_AFTER) if value.isdigit() and len(value) < 6 else 0.0


async def _file_chunks(source: Path | SpooledSliver, chunk: int = 1 << 20) -> AsyncIterator[bytes]:
    """A sliver's bytes from disk, in pieces (a spooled one whole: used for small ones)."""
    if isinstance(source, SpooledSliver):
        yield source.read()
        return
    with open(source, "rb") as fh:
        while data := fh.read(chunk):
            yield data


async def _raw(resp: httpx.Response) -> AsyncIterator[bytes]:
    """The answer's raw bytes as they arrive (or at once, when a transport such as a test's
    mock answered from bytes already in memory)."""
    if resp.is_stream_consumed:
        yield resp.content
        return
    async for chunk in resp.aiter_raw():
        yield chunk


SENDFILE_ABOVE = 1 << 20
"""A batch of slivers in files from this size on goes through `sendfile`."""


SliverFile = Path | SpooledSliver
"""A sliver to send from disk: a file of its own, or blocks of the relayer's spool file."""


def _file_size(source: SliverFile) -> int:
    """A sliver's length in bytes, from its file or its spool blocks."""
    return source.size if isinstance(source, SpooledSliver) else source.stat().st_size


def _segments(source: SliverFile, size: int) -> tuple[str, list[tuple[int, int]]]:
    """The file holding a sliver and its (offset, length) pieces in order."""
    if isinstance(source, SpooledSliver):
        return str(source.path), list(source.segments())
    return str(source), [(0, size)]


def _sendfile_all(
    sock: socket.socket, poller: select.poll, fd: int, offset: int, count: int, timeout: float
) -> None:
    """`count` bytes of file `fd` from `offset` to the (non-blocking) socket through
    `os.sendfile`, waiting at most `timeout` each time the socket is full. One call per
    piece, none of `socket.sendfile`'s per-call set-up: a spooled sliver is ~60 pieces."""
    out = sock.fileno()
    while count:
        try:
            sent = os.sendfile(out, fd, offset, count)
        except BlockingIOError:
            if not poller.poll(timeout * 1000):
                raise TimeoutError("the node stopped reading the batch") from None
            continue
        if not sent:
            raise ValueError("a sliver file is shorter than its slivers")
        offset += sent
        count -= sent


def _send_files(
    host: str,
    port: int,
    target: str,
    files: list[tuple[int, SliverFile, int]],
    total: int,
    timeout: float,
) -> tuple[int, bytes]:
    """PUT frames whose slivers come from files (`os.sendfile`: the kernel copies them from
    the page cache to the socket); the answer's status and body, bounded: headers to 16 KiB,
    a success to `SMALL_ANSWER_LIMIT`, an error cut at `ERROR_ANSWER_LIMIT`. `timeout`
    bounds each socket operation."""
    fds: dict[str, int] = {}
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(
                (
                    f"PUT {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    "Content-Type: application/octet-stream\r\n"
                    f"Content-Length: {total}\r\nConnection: close\r\n\r\n"
                ).encode()
            )
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLOUT)
            for index, source, size in files:
                path, pieces = _segments(source, size)
                if path not in fds:
                    fds[path] = os.open(path, os.O_RDONLY)
                sock.sendall(frame_header(index, size))
                for offset, length in pieces:
                    _sendfile_all(sock, poller, fds[path], offset, length, timeout)
        finally:
            for fd in fds.values():
                os.close(fd)
        status, headers, body = _answer_head(sock)
        declared = headers.get("content-length", "")
        length = int(declared) if declared.isdigit() and len(declared) <= 19 else -1
        cap = ERROR_ANSWER_LIMIT if status >= 400 else SMALL_ANSWER_LIMIT
        if length >= 0 and length > cap and status < 400:
            raise ValueError(f"the answer of {length} bytes passes the {cap} it can have")
        want = length if length >= 0 else cap + 1
        buf = bytearray(body)
        while len(buf) < want and len(buf) <= cap:
            chunk = sock.recv(64 << 10)
            if not chunk:
                break
            buf += chunk
        if len(buf) > cap and status < 400:
            raise ValueError(f"the answer passes the {cap} bytes it can have")
        return status, bytes(buf[:cap])


def _answer_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read an answer's head (bounded to 16 KiB): its status, headers (lower-case names) and
    the body bytes that came with it."""
    answer = bytearray()
    while b"\r\n\r\n" not in answer:
        if len(answer) > 16 << 10:
            raise ValueError("the answer's headers are too long")
        chunk = sock.recv(16 << 10)
        if not chunk:
            raise EOFError("the node closed the connection before answering")
        answer += chunk
    head, _, body = bytes(answer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError("not an HTTP answer")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers, body


PULL_BUFFER = 1 << 20
"""Bytes `_pull_frames` receives at once (into one reused buffer)."""


def _pull_frames(
    host: str, port: int, target: str, sink: FrameSink, limit: int, timeout: float
) -> tuple[int, bytes]:
    """GET a batch of slivers over a plain socket and hand its frames to `sink` as they
    arrive (received into one reused buffer: no copies, no HTTP library per piece), on the
    calling thread. The answer must declare its length, at most `limit` (else it is refused
    unread); it must arrive within `timeout` plus a second per MiB it may have, and each
    socket operation within `timeout`. Returns the status and, for an error, its body cut at
    `ERROR_ANSWER_LIMIT` (empty on success)."""
    deadline = time.monotonic() + timeout + limit / MIN_RATE
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        status, headers, body = _answer_head(sock)
        if status >= 400:
            error = bytearray(body)
            while len(error) <= ERROR_ANSWER_LIMIT and (chunk := sock.recv(16 << 10)):
                error += chunk
            return status, bytes(error[:ERROR_ANSWER_LIMIT])
        declared = headers.get("content-length", "")
        if "transfer-encoding" in headers or not declared.isdigit() or len(declared) > 15:
            raise ValueError("the batch of slivers came without a plain content-length")
        length = int(declared)
        if length > limit:
            raise AnswerTooLarge(limit, length)
        if len(body) > length:
            raise ValueError("the node sent more than the length it declared")
        parser = FrameParser(sink)
        parser.feed(body)
        left = length - len(body)
        buf = memoryview(bytearray(PULL_BUFFER))
        while left:
            if time.monotonic() > deadline:
                raise TimeoutError("the batch of slivers arrived too slowly")
            got = sock.recv_into(buf, min(left, PULL_BUFFER))
            if not got:
                raise EOFError(f"the batch of slivers was cut short ({left} bytes missing)")
            left -= got
            parser.feed(buf[:got])
        if missing := parser.inside_frame:
            raise EOFError(f"the batch of slivers was cut short ({missing} bytes missing)")
        return status, b""


class NodeClient:
    """Talks to one storage node; `retries` applies to connection errors and 5xx answers.

    With a `wire` pool (the relayer's) calls to an `http://` node go over its lean
    keep-alive connections; else, and for streamed reads, through the httpx `client`."""

    def __init__(
        self, url: str, client: httpx.AsyncClient, retries: int = 3, wire: Http11Pool | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.client = client
        self.retries = retries
        self.wire: Http11Pool | None = None
        if wire is not None:
            parts = urllib.parse.urlsplit(self.url)
            if parts.scheme == "http" and parts.hostname:
                self.wire = wire
                self._host, self._port = parts.hostname, parts.port or 80
                self._base = parts.path

    async def _request(
        self, method: str, path: str, limit: int = SMALL_ANSWER_LIMIT, **kw: object
    ) -> httpx.Response | Answer:
        """One call, retried on connection errors and 5xx; its answer read up to `limit`."""
        last: Exception | None = None
        for attempt in range(self.retries):
            pause = 0.2 * (2**attempt)
            try:
                body = kw.get("content")
                # a fresh stream for every attempt (kw keeps the factory for the next one)
                args = {**kw, "content": body()} if callable(body) else kw
                resp: httpx.Response | Answer
                if self.wire is not None:
                    resp = await self._wired(method, path, limit, args)
                else:
                    request = self.client.build_request(method, self.url + path, **args)  # type: ignore[arg-type]
                    resp = await self._bounded(request, limit)
                if resp.status_code >= 500 and attempt + 1 < self.retries:
                    last = NodeError(self.url, f"HTTP {resp.status_code}", resp.status_code)
                    pause = max(pause, retry_after(resp))
                else:
                    _raise_for(resp, self.url + path)
                    return resp
            except (httpx.HTTPError, TransportError) as exc:
                if isinstance(exc, AnswerTooLarge):
                    raise NodeError(
                        self.url + path,
                        f"{exc}; the answer was refused",
                        reason="ANSWER_TOO_LARGE",
                    ) from exc
                last = NodeError(self.url, f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(pause)
        assert last is not None
        raise last

    async def _wired(
        self, method: str, path: str, limit: int, args: Mapping[str, object]
    ) -> Answer:
        """One attempt over the `wire` pool."""
        assert self.wire is not None
        target = self._base + path
        if params := args.get("params"):
            target += "?" + urllib.parse.urlencode(params)  # type: ignore[arg-type]
        return await self.wire.request(
            method,
            self._host,
            self._port,
            target,
            args.get("content"),  # type: ignore[arg-type]
            args.get("headers"),  # type: ignore[arg-type]
            limit,
            ERROR_ANSWER_LIMIT,
        )

    async def _bounded(self, request: httpx.Request, limit: int) -> httpx.Response:
        """Send `request` and read its answer, refusing one over `limit` bytes without
        reading the rest (an error answer is cut at `ERROR_ANSWER_LIMIT` instead). The raw
        bytes are read: nodes never compress, so a compressed answer cannot expand here."""
        resp = await self.client.send(request, stream=True)
        try:
            failed = resp.status_code >= 400
            cap = ERROR_ANSWER_LIMIT if failed else limit
            declared = resp.headers.get("content-length", "")
            if not failed and declared.isdigit() and int(declared) > cap:
                raise self._too_large(request, cap, declared)
            body = bytearray()
            async for chunk in _raw(resp):
                body += chunk
                if len(body) > cap:
                    if failed:
                        del body[cap:]
                        break
                    raise self._too_large(request, cap)
        finally:
            await resp.aclose()
        return httpx.Response(
            resp.status_code, headers=resp.headers, content=bytes(body), request=request
        )

    def _too_large(self, request: httpx.Request, cap: int, declared: str = "") -> NodeError:
        size = f"{declared} bytes" if declared else "more"
        return NodeError(
            str(request.url),
            f"answered {size} where at most {cap} bytes can be right; the answer was refused",
            reason="ANSWER_TOO_LARGE",
        )

    async def _retried(self, call: Callable[[], Awaitable[dict[str, object]]]) -> dict[str, object]:
        """`call()` retried as `_request` retries (connection errors and 5xx)."""
        last: NodeError | None = None
        for attempt in range(self.retries):
            try:
                return await call()
            except NodeError as exc:
                if exc.status is not None and exc.status < 500:
                    raise
                last = exc
            if attempt + 1 < self.retries:
                await asyncio.sleep(0.2 * (2**attempt))
        assert last is not None
        raise last

    async def _put_files(
        self, path: str, files: list[tuple[int, SliverFile, int]], total: int
    ) -> dict[str, object]:
        """A batch of slivers from their files with `sendfile` (the kernel copies them from
        the page cache to the socket; no pass through Python), on its own connection, on a
        worker thread (the event loop may be uvloop, which has no `sendfile`)."""
        url = httpx.URL(self.url + path)
        timeout = self.wire.timeout if self.wire is not None else (self.client.timeout.read or 60.0)
        try:
            status, body = await anyio.to_thread.run_sync(
                _send_files, url.host, url.port or 80, url.raw_path.decode(), files, total, timeout
            )
        except (OSError, EOFError, ValueError) as exc:
            raise NodeError(self.url, f"{type(exc).__name__}: {exc}") from exc
        _raise_for(Answer(status, {}, body), self.url + path)
        answer: dict[str, object] = json.loads(body)
        return answer

    async def put_metadata(self, blob_id: BlobId, metadata: bytes) -> None:
        """Upload serialised metadata."""
        await self._request("PUT", f"/v1/blobs/{blob_id}/metadata", content=metadata)

    async def put_sliver(self, blob_id: BlobId, index: int, data: bytes | SliverFile) -> None:
        """Upload one sliver (from memory or streamed from a file)."""
        if isinstance(data, (Path, SpooledSliver)):
            source = data
            await self._request(
                "PUT",
                f"/v1/blobs/{blob_id}/slivers/{index}",
                content=lambda: _file_chunks(source),
                headers={"content-length": str(_file_size(source))},
            )
        else:
            await self._request("PUT", f"/v1/blobs/{blob_id}/slivers/{index}", content=data)

    async def put_slivers(
        self, blob_id: BlobId, slivers: Mapping[int, bytes | bytearray | SliverFile]
    ) -> list[int]:
        """Upload several slivers in one streamed request (frames: index u16, length u32, bytes)."""
        order = sorted(slivers)
        sizes = {
            i: (_file_size(v) if isinstance(v, (Path, SpooledSliver)) else len(v))
            for i, v in slivers.items()
        }

        async def frames() -> AsyncIterator[bytes]:
            for i in order:
                yield frame_header(i, sizes[i])
                sliver = slivers[i]
                if not isinstance(sliver, (Path, SpooledSliver)):  # in memory: 1 MiB pieces
                    view = memoryview(sliver)
                    for at in range(0, len(view), 1 << 20):
                        yield bytes(view[at : at + (1 << 20)])
                else:
                    async for piece in _file_chunks(sliver):
                        yield piece

        total = sum(6 + sizes[i] for i in order)
        on_disk = [isinstance(v, (Path, SpooledSliver)) for v in slivers.values()]
        if total >= SENDFILE_ABOVE and all(on_disk):
            files = [(i, slivers[i], sizes[i]) for i in order]
            answer = await self._retried(
                lambda: self._put_files(f"/v1/blobs/{blob_id}/slivers", files, total)  # type: ignore[arg-type]
            )
            stored_files: list[int] = answer["stored"]  # type: ignore[assignment]
            return stored_files
        body: object = frames
        if total <= SMALL_BATCH and not any(on_disk):
            # One write instead of two per sliver: each write of a streamed body costs a trip
            # through h11 and anyio (timeouts, checkpoints), the bulk of a small upload's CPU.
            body = b"".join(
                frame_header(i, sizes[i]) + bytes(slivers[i])  # type: ignore[arg-type]
                for i in order
            )
        resp = await self._request(
            "PUT",
            f"/v1/blobs/{blob_id}/slivers",
            content=body,
            headers={"content-length": str(total)},
        )
        stored: list[int] = resp.json()["stored"]
        return stored

    async def upload(
        self,
        blob_id: BlobId,
        metadata: bytes,
        slivers: Mapping[int, bytes | bytearray],
        object_id: str | None = None,
    ) -> Confirmation:
        """Metadata and this node's (in-memory) slivers in one request; the answer is the
        node's signed confirmation, given once they are durable (a store's one call to a
        node when its part is small)."""
        order = sorted(slivers)
        parts: list[bytes | bytearray] = [struct.pack("<I", len(metadata)), metadata]
        for i in order:
            parts += [frame_header(i, len(slivers[i])), slivers[i]]
        body = b"".join(parts)
        params = {"object_id": object_id} if object_id else None
        path = f"/v1/blobs/{blob_id}/upload"
        resp = await self._request("PUT", path, CONFIRMATION_LIMIT, content=body, params=params)
        return _confirmation(resp.json())

    async def get_metadata(self, blob_id: BlobId, n_shards: int | None = None) -> bytes:
        """Serialised metadata (read up to what `n_shards` hashes take; pass it when known)."""
        path = f"/v1/blobs/{blob_id}/metadata"
        return (await self._request("GET", path, metadata_limit(n_shards))).content

    async def get_slivers(
        self, blob_id: BlobId, indices: list[int], sliver_len: int | None = None
    ) -> dict[int, bytes]:
        """Several slivers in one request; those the node lacks are absent from the answer.
        The answer is read up to `len(indices)` frames of `sliver_len` bytes: pass it."""
        resp = await self._request(
            "GET",
            f"/v1/blobs/{blob_id}/slivers",
            slivers_limit(len(indices), sliver_len),
            params={"indices": ",".join(map(str, indices))},
        )
        try:
            return decode_frames(resp.content)
        except ValueError as exc:
            raise NodeError(self.url, f"malformed batch of slivers: {exc}") from exc

    async def stream_slivers(
        self,
        blob_id: BlobId,
        indices: list[int],
        sink: FrameSink,
        sliver_len: int | None = None,
    ) -> None:
        """Like `get_slivers`, but the answer's frames are handed to `sink` as they arrive
        (large slivers never sit in memory); one attempt, the reader asks elsewhere."""
        params = {"indices": ",".join(map(str, indices))}
        limit = slivers_limit(len(indices), sliver_len)
        try:
            async with self.client.stream(
                "GET", f"{self.url}/v1/blobs/{blob_id}/slivers", params=params
            ) as resp:
                if resp.status_code >= 400:
                    error = bytearray()
                    async for chunk in resp.aiter_raw():
                        error += chunk
                        if len(error) > ERROR_ANSWER_LIMIT:
                            break
                    _raise_for(
                        httpx.Response(
                            resp.status_code,
                            content=bytes(error[:ERROR_ANSWER_LIMIT]),
                            request=resp.request,
                        )
                    )
                parser = FrameParser(sink)
                received = 0
                async for chunk in resp.aiter_raw():
                    received += len(chunk)
                    if received > limit:
                        raise NodeError(
                            self.url,
                            f"the batch of slivers passed the {limit} bytes it can have; refused",
                            reason="ANSWER_TOO_LARGE",
                        )
                    parser.feed(chunk)
        except httpx.HTTPError as exc:
            raise NodeError(self.url, f"{type(exc).__name__}: {exc}") from exc
        if missing := parser.inside_frame:
            raise NodeError(
                self.url, f"the batch of slivers was cut short ({missing} bytes missing)"
            )

    async def pull_slivers(
        self,
        blob_id: BlobId,
        indices: list[int],
        sink: FrameSink,
        sliver_len: int,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        """Like `stream_slivers`, but received on a worker thread over a plain socket (see
        `_pull_frames`): `sink` is called on that thread, so several nodes' answers are
        received, hashed and written at once. The thread is taken from `limiter` when given
        (so long transfers do not hold the threads every request needs). One attempt;
        `https://` nodes go through `stream_slivers`."""
        url = httpx.URL(f"{self.url}/v1/blobs/{blob_id}/slivers")
        if url.scheme != "http":
            await self.stream_slivers(blob_id, indices, sink, sliver_len)
            return
        target = (
            url.raw_path.decode()
            + "?"
            + urllib.parse.urlencode({"indices": ",".join(map(str, indices))})
        )
        timeout = self.client.timeout.read or 60.0
        limit = slivers_limit(len(indices), sliver_len)
        try:
            status, error = await anyio.to_thread.run_sync(
                _pull_frames,
                url.host,
                url.port or 80,
                target,
                sink,
                limit,
                timeout,
                limiter=limiter,
            )
        except AnswerTooLarge as exc:
            raise NodeError(
                self.url, f"{exc}; the batch of slivers was refused", reason="ANSWER_TOO_LARGE"
            ) from exc
        except (OSError, EOFError, ValueError) as exc:
            raise NodeError(self.url, f"{type(exc).__name__}: {exc}") from exc
        _raise_for(Answer(status, {}, error), str(url))

    async def get_sliver(self, blob_id: BlobId, index: int, sliver_len: int | None = None) -> bytes:
        """One sliver (read up to `sliver_len` bytes: pass it)."""
        limit = sliver_len if sliver_len is not None else UNKNOWN_SLIVER_LIMIT
        return (await self._request("GET", f"/v1/blobs/{blob_id}/slivers/{index}", limit)).content

    async def confirmation(self, blob_id: BlobId, object_id: str | None = None) -> Confirmation:
        """The node's BLS-signed confirmation (an answer over `CONFIRMATION_LIMIT` is refused)."""
        params = {"object_id": object_id} if object_id else None
        path = f"/v1/blobs/{blob_id}/confirmation"
        return _confirmation(
            (await self._request("GET", path, CONFIRMATION_LIMIT, params=params)).json()
        )

    async def status(self, blob_id: BlobId) -> dict[str, object]:
        """What the node holds of a blob."""
        result: dict[str, object] = (
            await self._request("GET", f"/v1/blobs/{blob_id}/status")
        ).json()
        return result

    async def health(self) -> dict[str, object]:
        """Node health."""
        result: dict[str, object] = (await self._request("GET", "/v1/health")).json()
        return result
