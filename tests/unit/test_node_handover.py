"""Committee changes in a node: which shards it gained, what its shard-sync route serves, and
that a shard-sync answer is believed only sliver by sliver against the metadata (a previous
owner that lies gets nothing stored)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from haulout.http_errors import ApiError
from haulout.protocol import codec
from haulout.protocol.blob_id import BlobId
from haulout.protocol.committee import Committee
from haulout.protocol.frames import FrameParser, frame_header
from haulout.protocol.metadata import BlobMetadata
from haulout.protocol.params import sliver_for_shard
from storage_node.registry import Registry
from storage_node.service import NodeService
from storage_node.shard_route import BLOB_ID_BYTES, shard_page, shard_records
from storage_node.shard_sync import _ShardRecords, gained_shards
from storage_node.store import SliverStore
from tests.conftest import World, sign_certificate

SHARD = 3


def rotated(c: Committee) -> list[list[int]]:
    n = len(c.members)
    return [list(c.members[(i + 1) % n].shards) for i in range(n)]


def node(world: World, tmp: Path, position: int) -> NodeService:
    n = world.deployment.nodes[position]
    return NodeService(
        world.chain,
        SliverStore(tmp / f"n{position}" / "slivers"),
        Registry(tmp / f"n{position}" / "registry.sqlite"),
        n.bls,
        n.node_id,
    )


def stored_blob(world: World, certify: bool = True) -> codec.EncodedBlob:
    data = os.urandom(4000)
    enc = codec.encode(data, world.chain.system().n_shards)
    blob = world.chain.reserve_and_register(
        world.user, enc.blob_id, enc.metadata.root, len(data), 0, 3, False
    )
    if certify:
        world.chain.certify_blob(world.user, blob.id, sign_certificate(world, blob, [0, 1, 2, 3]))
    return enc


def record(blob_id: BlobId, index: int, sliver: bytes) -> bytes:
    return frame_header(index, BLOB_ID_BYTES + len(sliver)) + blob_id.raw + sliver


def test_the_chain_names_the_previous_committee_and_gained_shards_follow(world: World) -> None:
    dep, chain = world.deployment, world.chain
    first = chain.system().require_committee()
    assert chain.system().previous_committee is None
    assert gained_shards(first, None, dep.nodes[0].node_id) == frozenset()
    chain.set_committee(dep.admin, [m.node_id for m in first.members], rotated(first))
    system = chain.system()
    assert system.previous_committee == first
    now = system.require_committee()
    assert gained_shards(now, first, dep.nodes[0].node_id) == frozenset(first.members[1].shards)
    assert gained_shards(now, first, "0xnot-a-member") == frozenset()


def test_sync_shard_serves_certified_blobs_in_pages(world: World, tmp_path: Path) -> None:
    old = node(world, tmp_path, 0)
    blobs = [stored_blob(world) for _ in range(3)]
    uncertified = stored_blob(world, certify=False)
    while old.follow_once():
        pass
    for enc in [*blobs, uncertified]:
        i = sliver_for_shard(SHARD, int(enc.blob_id), enc.metadata.n_shards)
        old.store.put_sliver(enc.blob_id, i, enc.slivers[i])
    ids = sorted((e.blob_id for e in blobs), key=str)

    first, following = shard_page(old, SHARD, None, 2)
    assert [b for b, *_ in first] == ids[:2] and following == ids[1]
    rest, following = shard_page(old, SHARD, following, 2)
    assert [b for b, *_ in rest] == ids[2:]  # the uncertified blob is not served
    assert following is None
    body = b"".join(shard_records(first + rest))
    by_id = {e.blob_id: e for e in blobs}
    expected = b""
    for b in ids:
        i = sliver_for_shard(SHARD, int(b), by_id[b].metadata.n_shards)
        expected += record(b, i, by_id[b].slivers[i])
    assert body == expected
    with pytest.raises(ApiError) as err:
        shard_page(old, 10, None, 2)  # 10 shards: 0..9
    assert err.value.status == 400


def sink_for(world: World, tmp: Path, encs: list[codec.EncodedBlob]) -> _ShardRecords:
    new = node(world, tmp, 1)
    metas: dict[BlobId, BlobMetadata] = {e.blob_id: e.metadata for e in encs}
    return _ShardRecords(new, SHARD, 10, metas, max(m.params.sliver_len for m in metas.values()))


def test_a_lying_previous_owner_gets_nothing_stored(world: World, tmp_path: Path) -> None:
    good, forged, unknown = sorted(
        (codec.encode(os.urandom(4000), 10) for _ in range(3)), key=lambda e: str(e.blob_id)
    )
    sink = sink_for(world, tmp_path, [good, forged])
    body = b""
    for enc in (good, forged, unknown):
        i = sliver_for_shard(SHARD, int(enc.blob_id), 10)
        sliver = enc.slivers[i] if enc is not forged else bytes(len(enc.slivers[i]))
        body += record(enc.blob_id, i, sliver)
    parser = FrameParser(sink)
    for pos in range(0, len(body), 777):  # any chunking
        parser.feed(body[pos : pos + 777])
    assert parser.inside_frame == 0
    assert (sink.records, sink.rejected, len(sink.good)) == (3, 1, 1)
    sink.service.store.commit(sink.good)
    store = sink.service.store
    i = sliver_for_shard(SHARD, int(good.blob_id), 10)
    assert store.get_sliver(good.blob_id, i) == good.slivers[i]
    assert list(store.root.glob("*/*.sliver")) == [store.sliver_path(good.blob_id, i)]
    assert sink.last == unknown.blob_id


@pytest.mark.parametrize("lie", ["wrong shard", "too long", "out of order"])
def test_a_record_that_does_not_fit_ends_the_answer(world: World, tmp_path: Path, lie: str) -> None:
    a, b = sorted(
        (codec.encode(os.urandom(4000), 10) for _ in range(2)), key=lambda e: str(e.blob_id)
    )
    sink = sink_for(world, tmp_path, [a, b])
    ia = sliver_for_shard(SHARD, int(a.blob_id), 10)
    ib = sliver_for_shard(SHARD, int(b.blob_id), 10)
    if lie == "wrong shard":
        body = record(a.blob_id, (ia + 1) % 10, a.slivers[ia])
    elif lie == "too long":
        body = record(a.blob_id, ia, a.slivers[ia] + b"x" * (1 << 20))
    else:
        body = record(b.blob_id, ib, b.slivers[ib]) + record(a.blob_id, ia, a.slivers[ia])
    with pytest.raises(ValueError):
        FrameParser(sink).feed(body)
    sink.abandon()
    assert not list(sink.service.store.root.glob("*/*.sliver"))


def test_a_node_signs_only_for_what_it_holds_in_the_committee_the_chain_names(
    world: World, tmp_path: Path
) -> None:
    """A confirmation is for the chain's current epoch. A node whose follower has not seen
    the change yet still counts the shards it had; asked to confirm, it must first take the
    committee the chain names, and refuse while it lacks the slivers of the shards it
    gained, instead of vouching for them with the new epoch's signature."""
    enc = stored_blob(world, certify=False)
    service = node(world, tmp_path, 0)
    while service.follow_once():
        pass
    service.store.put_metadata(enc.blob_id, enc.metadata.to_bytes())
    for i in service.owned_slivers(enc.blob_id):
        service.store.put_sliver(enc.blob_id, i, enc.slivers[i])
    assert service.confirmation(enc.blob_id, None)["epoch"] == 0  # all it owns is here

    service.handover_due.clear()
    first = world.chain.system().require_committee()
    node_ids = [m.node_id for m in first.members]
    world.chain.set_committee(world.deployment.admin, node_ids, rotated(first))
    assert service.committee() == first  # the follower has not seen CommitteeChanged
    with pytest.raises(ApiError) as refused:
        service.confirmation(enc.blob_id, None)
    assert refused.value.reason == "SLIVERS_MISSING"
    assert service.committee() == world.chain.system().require_committee()
    assert service.handover_due.is_set()  # and it starts syncing what it gained
