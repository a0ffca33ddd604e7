"""The relayer's index from DevChain events: which registrations of its own are uncertified and
reusable, and a blob's status (a deleted or expired blob is `nonexistent`, as Walrus says)."""

from __future__ import annotations

from haulout.chain.devchain import DevChain
from relayer.index import BlobIndex
from tests.conftest import World, register, sign_certificate


def test_uncertified_registrations_are_counted_offered_for_reuse_and_leave_on_certify(
    world: World,
) -> None:
    short = register(world, b"same bytes", epochs=2)
    long = register(world, b"same bytes", epochs=5)
    deletable = register(world, b"same bytes", epochs=5, deletable=True)
    index = BlobIndex(world.chain, world.user.address)
    index.catch_up()
    assert index.stats.uncertified_registrations == 3
    reuse = index.reusable(short.blob_id, False, 2, set())
    assert [r.object_id for r in reuse] == [short.id, long.id]  # shortest first
    assert [r.object_id for r in index.reusable(short.blob_id, False, 4, set())] == [long.id]
    assert index.reusable(short.blob_id, False, 4, {long.id}) == []
    assert [r.object_id for r in index.reusable(short.blob_id, True, 1, set())] == [deletable.id]
    assert BlobIndex(world.chain, "0x" + "00" * 32).reusable(short.blob_id, False, 1, set()) == []

    world.chain.certify_blob(world.user, long.id, sign_certificate(world, long, [0, 1, 2]))
    index.catch_up()
    assert index.stats.uncertified_registrations == 2
    status = index.status(short.blob_id)
    assert status["status"] == "certified"
    assert status["blobStatus"]["permanent"]["isCertified"] is True
    assert status["blobStatus"]["permanent"]["deletableCounts"]["countDeletableTotal"] == 1


def test_a_deleted_blob_is_nonexistent(world: World) -> None:
    blob = register(world, b"gone soon", epochs=3, deletable=True)
    world.chain.certify_blob(world.user, blob.id, sign_certificate(world, blob, [0, 1, 2]))
    index = BlobIndex(world.chain, world.user.address)
    index.catch_up()
    assert index.status(blob.blob_id)["status"] == "certified"
    world.chain.delete_blob(world.user, blob.id)
    index.catch_up()
    status = index.status(blob.blob_id)
    assert status["status"] == "nonexistent" and status["blobStatus"] == "nonexistent"
    assert status["objects"][0]["deleted"] is True


def test_an_expired_registration_is_neither_reusable_nor_counted(world: World) -> None:
    assert isinstance(world.chain, DevChain)
    blob = register(world, b"short lived", epochs=1)
    index = BlobIndex(world.chain, world.user.address)
    index.catch_up()
    assert index.stats.uncertified_registrations == 1
    world.chain.force_advance_epoch(world.deployment.admin)
    index.catch_up()
    assert index.stats.uncertified_registrations == 0
    assert index.reusable(blob.blob_id, False, 1, set()) == []
    assert index.status(blob.blob_id)["status"] == "nonexistent"
