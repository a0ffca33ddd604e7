"""What the relayer's node client sends: whole frames on every attempt, small batches in one
piece. The node is faked at the HTTP boundary (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx

from haulout.node_client import SMALL_BATCH, NodeClient
from haulout.protocol.blob_id import BlobId
from haulout.protocol.frames import decode_frames


def test_a_retried_streamed_batch_is_sent_whole_again(tmp_path: Path) -> None:
    """The retry used to send the first attempt's exhausted stream: an empty body."""
    sliver = tmp_path / "3.sliver"
    sliver.write_bytes(os.urandom(5000))
    bodies: list[bytes] = []

    def node(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        if len(bodies) == 1:
            return httpx.Response(503, json={"error": {"message": "busy"}})
        return httpx.Response(200, json={"stored": [3]})

    async def go() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(node)) as http:
            client = NodeClient("http://node", http, retries=2)
            return await client.put_slivers(BlobId(bytes(32)), {3: sliver})

    assert asyncio.run(go()) == [3]
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert decode_frames(bodies[1]) == {3: sliver.read_bytes()}


def test_small_batches_in_one_piece_and_large_ones_streamed_carry_the_same_frames() -> None:
    small = {i: bytearray(os.urandom(1500)) for i in (1, 5, 9)}
    large = {0: bytearray(os.urandom(SMALL_BATCH)), 2: bytearray(os.urandom(10))}
    seen: list[bytes] = []

    def node(request: httpx.Request) -> httpx.Response:
        assert int(request.headers["content-length"]) == len(request.read())
        seen.append(request.read())
        return httpx.Response(200, json={"stored": []})

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(node)) as http:
            client = NodeClient("http://node", http)
            await client.put_slivers(BlobId(bytes(32)), small)
            await client.put_slivers(BlobId(bytes(32)), large)

    asyncio.run(go())
    assert [decode_frames(body) for body in seen] == [
        {i: bytes(v) for i, v in small.items()},
        {i: bytes(v) for i, v in large.items()},
    ]
