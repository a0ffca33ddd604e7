"""The relayer's node client reads a node's answer only up to the size it can legitimately
have, through httpx and through the relayer's own keep-alive pool (`haulout.http11`) alike.
The node here is a tiny fake HTTP server on a real socket (the port's boundary) that answers
far too much and counts how much of it was actually taken."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from haulout.http11 import Http11Pool
from haulout.node_client import CONFIRMATION_LIMIT, NodeClient, NodeError
from haulout.protocol.blob_id import BlobId
from haulout.protocol.frames import frame_header

HUGE = 50_000_000
BLOB = BlobId(bytes(32))


@dataclass
class FakeNode:
    """Answers every request with `head` then `body_size` bytes (or `body` if given)."""

    head: bytes = b""
    body: bytes | None = None
    body_size: int = 0
    sent: list[int] = field(default_factory=list)
    port: int = 0
    wired: bool = False
    """Whether the client under test goes through the `Http11Pool` (else httpx)."""

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)  # the request (small, one read is enough here)
            sent = 0
            try:
                conn.sendall(self.head)
                if self.body is not None:
                    conn.sendall(self.body)
                    sent = len(self.body)
                else:
                    piece = b"x" * 65536
                    while sent < self.body_size:
                        conn.sendall(piece)
                        sent += len(piece)
            except OSError:
                pass
            self.sent.append(sent)


@pytest.fixture(params=["httpx", "wire"])
def fake_node(request: pytest.FixtureRequest) -> Iterator[FakeNode]:
    node = FakeNode(wired=request.param == "wire")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    node.port = listener.getsockname()[1]
    threading.Thread(target=node.serve, args=(listener,), daemon=True).start()
    yield node
    listener.close()


class Collect:
    """A `FrameSink` keeping the slivers it is given."""

    def __init__(self) -> None:
        self.out: dict[int, bytes] = {}
        self.index = -1

    def start(self, index: int, size: int) -> None:
        self.index, self.out[index] = index, b""

    def data(self, piece: memoryview) -> None:
        self.out[self.index] += bytes(piece)

    def end(self) -> None:
        pass


def call(node: FakeNode, what: str) -> Exception | object:
    async def run() -> object:
        async with httpx.AsyncClient(timeout=10) as http:
            wire = Http11Pool(timeout=10) if node.wired else None
            client = NodeClient(f"http://127.0.0.1:{node.port}", http, retries=1, wire=wire)
            if what == "confirmation":
                return await client.confirmation(BLOB)
            if what == "metadata":
                return await client.get_metadata(BLOB, n_shards=10)
            if what == "slivers":
                return await client.get_slivers(BLOB, [0, 1], sliver_len=100)
            if what == "pull":  # the large read's path: a plain socket on a worker thread
                sink = Collect()
                await client.pull_slivers(BLOB, [0, 1], sink, sliver_len=100)
                return sink.out
            return await client.status(BLOB)

    try:
        return asyncio.run(run())
    except Exception as exc:
        return exc


def test_a_50_mb_confirmation_with_content_length_is_refused_unread(fake_node: FakeNode) -> None:
    fake_node.head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {HUGE}\r\n\r\n"
    ).encode()
    fake_node.body_size = HUGE
    err = call(fake_node, "confirmation")
    assert isinstance(err, NodeError) and err.reason == "ANSWER_TOO_LARGE", err
    assert f"at most {CONFIRMATION_LIMIT} bytes" in str(err)
    _wait_for(fake_node)
    assert fake_node.sent[0] < HUGE // 4  # the socket was closed long before the end


def test_a_50_mb_chunked_confirmation_is_cut_off_at_the_bound(fake_node: FakeNode) -> None:
    fake_node.head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    )
    fake_node.body_size = HUGE  # no length: read until the bound, then hang up
    err = call(fake_node, "confirmation")
    assert isinstance(err, NodeError) and err.reason == "ANSWER_TOO_LARGE", err
    _wait_for(fake_node)
    assert fake_node.sent[0] < HUGE // 4


def test_metadata_and_slivers_are_bounded_by_what_the_blob_implies(fake_node: FakeNode) -> None:
    fake_node.head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    fake_node.body_size = 1 << 20
    for what in ("metadata", "slivers", "status"):
        err = call(fake_node, what)
        assert isinstance(err, NodeError) and err.reason == "ANSWER_TOO_LARGE", (what, err)


def test_answers_of_the_right_size_pass(fake_node: FakeNode) -> None:
    body = frame_header(0, 100) + b"a" * 100 + frame_header(1, 100) + b"b" * 100
    fake_node.head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    fake_node.body = body
    assert call(fake_node, "slivers") == {0: b"a" * 100, 1: b"b" * 100}


def test_a_huge_error_answer_is_cut_not_read_whole(fake_node: FakeNode) -> None:
    message = json.dumps({"error": {"message": "m" * HUGE}}).encode()
    fake_node.head = f"HTTP/1.1 404 Not Found\r\nContent-Length: {len(message)}\r\n\r\n".encode()
    fake_node.body = message
    err = call(fake_node, "status")
    assert isinstance(err, NodeError) and err.status == 404 and len(str(err)) < 1000


def _wait_for(node: FakeNode) -> None:
    for _ in range(500):
        if node.sent:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the fake node never finished answering")


def test_a_pulled_batch_of_slivers_is_bounded_by_what_the_blob_implies(
    fake_node: FakeNode,
) -> None:
    fake_node.head = f"HTTP/1.1 200 OK\r\nContent-Length: {HUGE}\r\n\r\n".encode()
    fake_node.body_size = HUGE
    err = call(fake_node, "pull")
    assert isinstance(err, NodeError) and err.reason == "ANSWER_TOO_LARGE", err
    _wait_for(fake_node)
    assert fake_node.sent[0] < HUGE // 4  # refused on its declared length, unread


def test_a_pulled_batch_without_a_length_or_cut_short_is_refused(fake_node: FakeNode) -> None:
    fake_node.head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    fake_node.body_size = HUGE
    err = call(fake_node, "pull")
    assert isinstance(err, NodeError) and "content-length" in str(err), err
    body = frame_header(0, 100) + b"a" * 50
    fake_node.head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body) + 50}\r\n\r\n".encode()
    fake_node.body, fake_node.sent = body, []
    err = call(fake_node, "pull")
    assert isinstance(err, NodeError) and "cut short" in str(err), err


def test_a_pulled_batch_of_the_right_size_passes_and_errors_are_cut(fake_node: FakeNode) -> None:
    body = frame_header(0, 100) + b"a" * 100 + frame_header(1, 100) + b"b" * 100
    fake_node.head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    fake_node.body = body
    assert call(fake_node, "pull") == {0: b"a" * 100, 1: b"b" * 100}
    message = json.dumps({"error": {"message": "m" * HUGE}}).encode()
    fake_node.head = f"HTTP/1.1 404 Not Found\r\nContent-Length: {len(message)}\r\n\r\n".encode()
    fake_node.body = message
    err = call(fake_node, "pull")
    assert isinstance(err, NodeError) and err.status == 404 and len(str(err)) < 1000
