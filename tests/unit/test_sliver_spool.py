"""The relayer's one-file spool of a large upload's slivers (`haulout.sliver_spool`): what it
holds is exactly the slivers the codec makes, and what the node client sends from it (through
`sendfile`, block by block) is exactly those slivers' frames. Also: an encoding lane reuses
its shared-memory segment between uploads and still encodes right."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from pathlib import Path

import httpx
import pytest

from haulout.node_client import NodeClient
from haulout.protocol import codec, leopard_lane
from haulout.protocol.blob_id import BlobId
from haulout.protocol.frames import decode_frames
from haulout.protocol.params import ENCODING_RS, ENCODING_RS16
from haulout.sliver_spool import SpoolOrderError, StripeSpool


@pytest.mark.parametrize(
    ("encoding", "n", "size"),
    [
        (ENCODING_RS16, 100, 5 << 20),  # several stripes: through a lane, whole stripes
        (ENCODING_RS16, 1000, 3 << 20),
        (ENCODING_RS16, 4, 1000),  # one stripe: in-process, block by block
        (ENCODING_RS, 10, 300_000),  # zfec, block by block
    ],
)
def test_spooled_slivers_are_the_codecs_slivers(
    tmp_path: Path, encoding: int, n: int, size: int
) -> None:
    data = os.urandom(size)
    expected = codec.encode(data, n, encoding)
    spool = StripeSpool(tmp_path / "slivers.spool", n)
    try:
        meta = codec.encode_stream(data, size, n, spool, encoding_type=encoding)
    finally:
        spool.close()
    assert meta == expected.metadata
    slivers = spool.slivers()
    assert [s.read() for s in slivers] == expected.slivers
    assert (tmp_path / "slivers.spool").stat().st_size == n * len(expected.slivers[0])


def test_a_block_out_of_order_is_refused(tmp_path: Path) -> None:
    spool = StripeSpool(tmp_path / "s", 3)
    spool.write(0, b"ab")
    with pytest.raises(SpoolOrderError):
        spool.write(2, b"cd")
    with pytest.raises(SpoolOrderError):
        spool.write(1, b"cde")  # uneven block
    spool.close()


def _one_request_server() -> tuple[int, list[bytes], threading.Thread]:
    """A node stand-in on a real socket: reads one PUT, keeps its body, answers `stored`."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    bodies: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            got = b""
            while b"\r\n\r\n" not in got:
                got += conn.recv(65536)
            head, _, body = got.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            while len(body) < length:
                body += conn.recv(1 << 20)
            bodies.append(body)
            answer = b'{"stored": []}'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(answer)}\r\n\r\n".encode()
                + answer
            )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, bodies, thread


def test_a_batch_sent_from_the_spool_carries_each_slivers_bytes(tmp_path: Path) -> None:
    n, size = 100, 6 << 20
    data = os.urandom(size)
    spool = StripeSpool(tmp_path / "slivers.spool", n)
    try:
        codec.encode_stream(data, size, n, spool, encoding_type=ENCODING_RS16)
    finally:
        spool.close()
    slivers = spool.slivers()
    assert slivers[0].blocks > 1  # a sliver is several separate pieces of the file
    wanted = [3, 4, 50, 99]
    port, bodies, thread = _one_request_server()

    async def go() -> list[int]:
        async with httpx.AsyncClient() as http:
            client = NodeClient(f"http://127.0.0.1:{port}", http)
            return await client.put_slivers(BlobId(bytes(32)), {i: slivers[i] for i in wanted})

    assert asyncio.run(go()) == []
    thread.join(10)
    expected = codec.encode(data, n, ENCODING_RS16).slivers
    assert decode_frames(bodies[0]) == {i: expected[i] for i in wanted}


def test_a_lane_reuses_its_segment_and_encodes_right(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = leopard_lane.LanePool(limit=1)
    monkeypatch.setattr(leopard_lane, "POOL", pool)
    first, second = os.urandom(5 << 20), os.urandom(4 << 20)
    try:
        a = codec.encode(first, 100, ENCODING_RS16)
        (lane,) = pool.idle
        assert lane.shm is not None
        kept = lane.shm.name
        b = codec.encode(second, 100, ENCODING_RS16)  # smaller: fits the kept segment
        assert pool.idle == [lane] and lane.shm is not None and lane.shm.name == kept
    finally:
        pool.close()
    assert lane.shm is None  # a stopped lane removes its segment
    monkeypatch.setattr(leopard_lane, "POOL", leopard_lane.LanePool(limit=0))  # in-process
    for data, on_lane in ((first, a), (second, b)):
        here = codec.encode(data, 100, ENCODING_RS16)
        assert (here.metadata, here.slivers) == (on_lane.metadata, on_lane.slivers)
