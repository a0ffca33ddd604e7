"""A large batch (`PUT /v1/blobs/<id>/slivers`) lands in one batch pack file, not one file per
sliver, and every reader finds its slivers: single and batch reads (what the relayer and
recovery fetch), shard sync's pages, handover's drop; a flipped byte in its index makes the
pack count as missing (recovery rebuilds it), a flipped byte in a sliver is caught by the hash
check every fetcher makes; per-sliver files of older data directories still read beside it."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from haulout.protocol import codec
from haulout.protocol.blob_id import BlobId
from haulout.protocol.frames import FrameParser, decode_frames, frame_header
from haulout.protocol.params import shard_for_sliver
from haulout.sliver_files import VerifiedSliverFiles
from storage_node import direct_writes, pack
from storage_node.app import create_app
from storage_node.batch import BatchReceiver
from storage_node.registry import Registry
from storage_node.service import NodeService
from storage_node.shard_route import BLOB_ID_BYTES, shard_page, shard_records
from storage_node.store import BATCH_PREFIX, SliverStore, stored_slivers
from tests.conftest import World, make_world, sign_certificate


def _node(world: World, tmp: Path) -> tuple[NodeService, TestClient]:
    n = world.deployment.nodes[0]
    service = NodeService(
        world.chain,
        SliverStore(tmp / "slivers"),
        Registry(tmp / "registry.sqlite"),
        n.bls,
        n.node_id,
    )
    return service, TestClient(create_app(service))


def _stored(world: World, size: int = 200_000) -> codec.EncodedBlob:
    data = os.urandom(size)
    enc = codec.encode(data, world.chain.system().n_shards, 1)
    blob = world.chain.reserve_and_register(
        world.user, enc.blob_id, enc.metadata.root, len(data), 1, 3, False
    )
    world.chain.certify_blob(world.user, blob.id, sign_certificate(world, blob, [0, 1, 2, 3]))
    return enc


def _frames(enc: codec.EncodedBlob, indices: list[int]) -> bytes:
    return b"".join(frame_header(i, len(enc.slivers[i])) + enc.slivers[i] for i in indices)


def _files(service: NodeService, blob: BlobId) -> list[str]:
    return sorted(p.name for p in (service.store.root / str(blob)).iterdir())


def test_a_batch_is_one_pack_and_every_reader_finds_its_slivers(tmp_path: Path) -> None:
    world = make_world(tmp_path, n_shards=40)
    service, http = _node(world, tmp_path)
    enc = _stored(world)
    while service.follow_once():
        pass
    owned = service.owned_slivers(enc.blob_id)
    assert len(owned) == 10
    assert http.put(f"/v1/blobs/{enc.blob_id}/metadata", content=enc.metadata.to_bytes()).is_success
    first, second = owned[::2], owned[1::2]  # two concurrent batches of one store: two packs
    for batch in (first, second):
        resp = http.put(f"/v1/blobs/{enc.blob_id}/slivers", content=_frames(enc, batch))
        assert resp.status_code == 200 and sorted(resp.json()["stored"]) == sorted(batch)
    names = _files(service, enc.blob_id)
    assert names[-1] == "metadata" and not any(n.endswith(".sliver") for n in names)
    assert [n.startswith(BATCH_PREFIX) and n.endswith(".pack") for n in names[:-1]] == [True] * 2

    for i in owned:  # one sliver (the relayer's fallback read)
        got = http.get(f"/v1/blobs/{enc.blob_id}/slivers/{i}")
        assert got.status_code == 200 and got.content == enc.slivers[i]
    wanted = ",".join(map(str, owned))  # a batch read: what reads and recovery pull
    got = http.get(f"/v1/blobs/{enc.blob_id}/slivers", params={"indices": wanted})
    assert decode_frames(got.content) == {i: enc.slivers[i] for i in owned}
    assert service.store.has_slivers(enc.blob_id, owned) == []
    assert sorted(stored_slivers(service.store.root / str(enc.blob_id))) == sorted(owned)

    shard = shard_for_sliver(owned[3], int(enc.blob_id), enc.metadata.n_shards)  # shard sync
    page, _ = shard_page(service, shard, None, 10)
    assert b"".join(shard_records(page)) == (
        frame_header(owned[3], BLOB_ID_BYTES + len(enc.slivers[owned[3]]))
        + enc.blob_id.raw
        + enc.slivers[owned[3]]
    )

    assert service.store.drop_slivers(enc.blob_id, [first[0], second[1]]) == 2  # handover
    left = sorted(set(owned) - {first[0], second[1]})
    assert sorted(service.store.sliver_indices(enc.blob_id)) == left
    assert service.store.read_slivers(service.store.locate(enc.blob_id, owned)) == {
        i: enc.slivers[i] for i in left
    }


def test_a_forged_sliver_mid_batch_keeps_only_those_before_it(tmp_path: Path) -> None:
    world = make_world(tmp_path, n_shards=40)
    service, http = _node(world, tmp_path)
    enc = _stored(world)
    while service.follow_once():
        pass
    owned = service.owned_slivers(enc.blob_id)
    http.put(f"/v1/blobs/{enc.blob_id}/metadata", content=enc.metadata.to_bytes())
    body = bytearray(_frames(enc, owned))
    at = 3 * (6 + len(enc.slivers[owned[0]])) + 6 + 100  # inside the 4th sliver
    body[at] ^= 0x01
    resp = http.put(f"/v1/blobs/{enc.blob_id}/slivers", content=bytes(body))
    assert resp.status_code == 400
    assert service.store.has_slivers(enc.blob_id, owned) == owned[3:]
    assert service.store.read_slivers(service.store.locate(enc.blob_id, owned)) == {
        i: enc.slivers[i] for i in owned[:3]
    }
    assert not list((service.store.root / str(enc.blob_id)).glob(".*.tmp"))
    resp = http.put(f"/v1/blobs/{enc.blob_id}/slivers", content=_frames(enc, owned[3:]))
    assert resp.status_code == 200  # the retry sends the rest
    assert service.store.has_slivers(enc.blob_id, owned) == []


def _one_pack(service: NodeService, blob: BlobId) -> Path:
    (path,) = (service.store.root / str(blob)).glob(f"{BATCH_PREFIX}*.pack")
    return path


def test_flipped_bytes_in_a_batch_pack_are_caught(tmp_path: Path) -> None:
    world = make_world(tmp_path, n_shards=40)
    service, http = _node(world, tmp_path)
    enc = _stored(world)
    while service.follow_once():
        pass
    owned = service.owned_slivers(enc.blob_id)
    http.put(f"/v1/blobs/{enc.blob_id}/metadata", content=enc.metadata.to_bytes())
    assert http.put(f"/v1/blobs/{enc.blob_id}/slivers", content=_frames(enc, owned)).is_success
    path = _one_pack(service, enc.blob_id)
    raw = path.read_bytes()

    # in a sliver: served as stored, refused by the hash check of whoever fetched it
    ref = stored_slivers(path.parent)[owned[2]]
    flipped = bytearray(raw)
    flipped[ref.offset + 7] ^= 0x80
    path.write_bytes(bytes(flipped))
    got = http.get(f"/v1/blobs/{enc.blob_id}/slivers", params={"indices": str(owned[2])})
    sink = VerifiedSliverFiles(enc.metadata, tmp_path)
    FrameParser(sink).feed(got.content)
    assert sink.good == {} and sink.rejected == 1

    # in the index: the pack reads as absent (recovery fetches its slivers again)
    flipped = bytearray(raw)
    flipped[len(raw) - 12 - 3] ^= 0x01
    path.write_bytes(bytes(flipped))
    assert service.store.has_slivers(enc.blob_id, owned) == owned
    assert service.store.get_sliver(enc.blob_id, owned[0]) is None
    assert http.get(f"/v1/blobs/{enc.blob_id}/slivers/{owned[0]}").status_code == 404


def test_batch_packs_read_beside_old_per_sliver_files_and_small_packs(tmp_path: Path) -> None:
    store = SliverStore(tmp_path / "slivers")
    blob = BlobId(os.urandom(32))
    d = store.root / str(blob)
    d.mkdir()
    (d / "9.sliver").write_bytes(b"nine")  # a data directory from before packs
    store.write_upload(blob, b"m", {1: b"one"})  # a small upload's pack
    pending = store.pending_pack(blob)
    for i, data in ((5, b"five"), (3, b"three")):
        pending.write(data)
        pending.keep(i)
    pending.write(b"cut sh")  # a sliver the batch broke off inside
    assert store.commit_pack(pending) == [5, 3]
    assert store.read_slivers(store.locate(blob, [1, 3, 5, 9, 11])) == {
        1: b"one",
        3: b"three",
        5: b"five",
        9: b"nine",
    }
    (path,) = d.glob(f"{BATCH_PREFIX}*.pack")
    assert pack.read_all(str(path)) == {5: b"five", 3: b"three"}
    assert store.drop_slivers(blob, [5]) == 1  # rewritten in the small-pack layout: still read
    assert store.get_sliver(blob, 3) == b"three" and store.get_sliver(blob, 5) is None


def test_a_slow_disk_does_not_stall_the_node_while_a_batch_arrives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = tmp_path / "probe"
    probe.touch()
    try:
        os.close(os.open(probe, os.O_RDWR | os.O_DIRECT))
    except OSError:
        pytest.skip("this file system has no O_DIRECT (batches go through the page cache)")
    world = make_world(tmp_path, n_shards=40)
    service, http = _node(world, tmp_path)
    enc = _stored(world, size=8_000_000)
    while service.follow_once():
        pass
    owned = service.owned_slivers(enc.blob_id)
    http.put(f"/v1/blobs/{enc.blob_id}/metadata", content=enc.metadata.to_bytes())
    body = _frames(enc, owned)
    real_pwrite = os.pwrite

    def slow_disk(fd: int, data: memoryview, offset: int) -> int:
        time.sleep(0.1)
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(direct_writes.os, "pwrite", slow_disk)
    monkeypatch.setattr(direct_writes, "_typical_write", [float("inf")])  # a node just started

    async def receive_while_ticking() -> tuple[list[int], float]:
        receiver = BatchReceiver(service, enc.blob_id, enc.metadata, set(owned))

        async def chunks() -> AsyncIterator[bytes]:
            for at in range(0, len(body), 256 << 10):
                yield body[at : at + (256 << 10)]
                await asyncio.sleep(0)

        gaps: list[float] = []
        done = asyncio.Event()

        async def tick() -> None:  # another request's turn on the event loop
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        ticker = asyncio.create_task(tick())
        stored = await receiver.receive(chunks())
        done.set()
        await ticker
        return stored, max(gaps)

    stored, worst_gap = asyncio.run(receive_while_ticking())
    assert sorted(stored) == sorted(owned)
    assert service.store.has_slivers(enc.blob_id, owned) == []
    assert worst_gap < 0.08  # every disk write took 100 ms, none of it on the event loop
    assert direct_writes._typical_write[0] > direct_writes.QUICK_WRITE  # and so will the next
