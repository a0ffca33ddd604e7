"""The relayer's own HTTP/1.1 client to nodes (`haulout.http11`): keep-alive reuse, a node that
closed a pooled connection, answers over their bound (declared or chunked), error answers cut,
a trickling answer, and bodies streamed whole. The node is a small asyncio server on a real
socket (the port's boundary) scripted per connection."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable

import httpx
import pytest

from haulout.http11 import AnswerTooLarge, Http11Pool, TransportError
from haulout.node_client import SMALL_BATCH, NodeClient
from haulout.protocol.blob_id import BlobId
from haulout.protocol.frames import decode_frames

Handler = Callable[[int, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    """The request line and body (by Content-Length) of one request."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    length = 0
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return head.split("\r\n")[0], await reader.readexactly(length)


def ok(body: bytes, extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def run(handler: Handler, client: Callable[[int], Awaitable[object]]) -> object:
    """Serve `handler` (called with the connection's number) and run `client(port)`; the whole
    exchange is bounded so a client that would wait for ever fails instead."""

    async def go() -> object:
        count = 0

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal count
            count += 1
            try:
                await handler(count, reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with asyncio.timeout(20):
                return await client(port)
        finally:
            server.close()

    return asyncio.run(go())


def test_keep_alive_connections_are_reused() -> None:
    async def node(_: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            line, body = await read_request(reader)
            writer.write(ok(json.dumps({"line": line, "body": body.decode()}).encode()))
            await writer.drain()

    async def client(port: int) -> object:
        pool = Http11Pool(timeout=5)
        first = await pool.request("PUT", "127.0.0.1", port, "/a?x=1", b"one")
        second = await pool.request("GET", "127.0.0.1", port, "/b")
        return first.json(), second.json(), pool.connections_opened

    first, second, opened = run(node, client)  # type: ignore[misc]
    assert first == {"line": "PUT /a?x=1 HTTP/1.1", "body": "one"}
    assert second == {"line": "GET /b HTTP/1.1", "body": ""}
    assert opened == 1


def test_a_pooled_connection_the_node_closed_is_replaced_and_the_request_sent_again() -> None:
    async def node(n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if n == 1:  # answers once as keep-alive, then drops the next request unanswered
            writer.write(ok(b"first"))
            await writer.drain()
            await read_request(reader)
            return
        writer.write(ok(b"again"))
        await writer.drain()

    async def client(port: int) -> object:
        pool = Http11Pool(timeout=5)
        first = await pool.request("GET", "127.0.0.1", port, "/")
        second = await pool.request("PUT", "127.0.0.1", port, "/", b"body")
        return first.content, second.content, pool.connections_opened

    assert run(node, client) == (b"first", b"again", 2)


def test_a_fresh_connection_without_an_answer_is_an_error_not_a_loop() -> None:
    async def node(_: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)  # and hang up

    async def client(port: int) -> object:
        pool = Http11Pool(timeout=5)
        with pytest.raises(TransportError, match="without answering"):
            await pool.request("GET", "127.0.0.1", port, "/")
        return pool.connections_opened

    assert run(node, client) == 1


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_success_over_its_bound_is_refused_without_reading_it(framing: str) -> None:
    sent: list[int] = []

    async def node(_: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        huge = 50_000_000
        if framing == "content-length":
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {huge}\r\n\r\n".encode())
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = b"x" * 65536
        total = 0
        try:
            while total < huge:
                writer.write(b"10000\r\n" + piece + b"\r\n" if framing == "chunked" else piece)
                await writer.drain()
                total += len(piece)
        finally:
            sent.append(total)

    async def client(port: int) -> object:
        pool = Http11Pool(timeout=5)
        with pytest.raises(AnswerTooLarge) as caught:
            await pool.request("GET", "127.0.0.1", port, "/", limit=4096)
        return caught.value

    err = run(node, client)
    assert isinstance(err, AnswerTooLarge) and err.limit == 4096
    assert sent and sent[0] < 10_000_000  # the connection was dropped long before the end


def test_an_error_answer_is_cut_at_its_bound_with_its_status() -> None:
    async def node(_: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        body = b"e" * 1_000_000
        writer.write(f"HTTP/1.1 404 Not Found\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        writer.write(body)
        await writer.drain()

    async def client(port: int) -> object:
        answer = await Http11Pool(timeout=5).request(
            "GET", "127.0.0.1", port, "/", error_limit=1000
        )
        return answer.status, len(answer.content)

    assert run(node, client) == (404, 1000)


def test_a_trickling_answer_times_out_although_every_byte_comes_within_the_read_timeout() -> None:
    async def node(_: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n")
        for _ in range(4000):  # a byte every 0.1 s: 400 s for the whole answer
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.1)

    async def client(port: int) -> object:
        with pytest.raises(TransportError, match="in time"):
            await Http11Pool(timeout=0.5).request("GET", "127.0.0.1", port, "/", limit=4096)
        return True

    assert run(node, client) is True


def test_a_chunked_answer_is_read_whole_and_the_connection_kept() -> None:
    async def node(_: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            )
            await writer.drain()

    async def client(port: int) -> object:
        pool = Http11Pool(timeout=5)
        answers = [(await pool.request("GET", "127.0.0.1", port, "/")).content for _ in range(3)]
        return answers, pool.connections_opened

    assert run(node, client) == ([b"hello world"] * 3, 1)


def test_header_values_with_line_breaks_are_refused() -> None:
    async def client(port: int) -> object:
        with pytest.raises(ValueError, match="line break"):
            await Http11Pool().request("GET", "127.0.0.1", port, "/", headers={"x": "a\r\nb: c"})
        return True

    async def node(_: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    assert run(node, client) is True


def test_node_client_streams_a_large_batch_whole_over_the_pool() -> None:
    slivers = {0: bytearray(os.urandom(SMALL_BATCH)), 7: bytearray(os.urandom(1000))}
    seen: list[bytes] = []

    async def node(_: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            line, body = await read_request(reader)
            seen.append(body)
            answer = {"stored": sorted(decode_frames(body))} if "slivers" in line else {}
            writer.write(ok(json.dumps(answer).encode()))
            await writer.drain()

    async def client(port: int) -> object:
        async with httpx.AsyncClient() as http:
            node_client = NodeClient(f"http://127.0.0.1:{port}", http, wire=Http11Pool(timeout=5))
            return await node_client.put_slivers(BlobId(bytes(32)), slivers)

    assert run(node, client) == [0, 7]
    assert decode_frames(seen[0]) == {i: bytes(v) for i, v in slivers.items()}
