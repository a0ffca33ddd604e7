"""Buckets on the chain port: create, commit only on the current base version, tags, one
transaction that extends the manifest and every member, delete with the tree's blobs. Runs on
DevChain always and on SuiChain when HAULOUT_SUI_RPC is set (see conftest.py)."""

from __future__ import annotations

import pytest

from haulout.chain.errors import MoveAbort, ObjectNotFound
from haulout.chain.events import BucketCommitted, BucketExtended
from tests.conftest import World
from tests.contract.test_chain_batches import certified


def test_commit_needs_the_current_base_and_no_update_is_lost(world: World) -> None:
    chain, user = world.chain, world.user
    m1, m2 = certified(world, b"manifest one" * 30), certified(world, b"manifest two" * 30)
    bucket = chain.create_bucket(user, "contract-data")
    assert (bucket.version, bucket.manifest_blob_id, bucket.owner) == (0, None, user.address)
    done = chain.commit_bucket(user, bucket.id, m1.id, 0)
    assert done.bucket.version == 1 and done.bucket.manifest_blob_id == m1.blob_id
    before = len(chain.events())
    with pytest.raises(MoveAbort, match="EStaleVersion"):  # a writer still at version 0
        chain.commit_bucket(user, bucket.id, m2.id, 0)
    assert len(chain.events()) == before
    assert chain.get_bucket(bucket.id).manifest_blob_id == m1.blob_id
    chain.commit_bucket(user, bucket.id, m2.id, 1)
    chain.tag_bucket(user, bucket.id, "first", 1)
    got = chain.get_bucket(bucket.id)
    assert (got.version, got.manifest_blob_id, got.tags) == (2, m2.blob_id, {"first": 1})
    commits = [e.event for e in chain.events() if isinstance(e.event, BucketCommitted)]
    assert [(c.version, c.manifest_object_id) for c in commits[-2:]] == [(1, m1.id), (2, m2.id)]


def test_extension_moves_manifest_and_members_in_one_transaction(world: World) -> None:
    chain, user = world.chain, world.user
    manifest = certified(world, b"tree" * 100)
    members = [certified(world, bytes([i]) * 300) for i in range(2)]
    bucket = chain.create_bucket(user, "contract-ext")
    chain.commit_bucket(user, bucket.id, manifest.id, 0)
    result = chain.extend_bucket(user, bucket.id, manifest.id, 3, [(m.id, 3) for m in members])
    ends = [chain.get_blob(x.id).end_epoch for x in (manifest, *members)]
    assert ends == [manifest.end_epoch + 3] * 3
    last = chain.events()[-4:]
    assert {e.tx_digest for e in last} == {result.tx_digest}
    assert isinstance(last[-1].event, BucketExtended) and last[-1].event.end_epoch == ends[0]
    other = certified(world, b"not the manifest" * 20)
    with pytest.raises(MoveAbort, match="EManifestMismatch"):
        chain.extend_bucket(user, bucket.id, other.id, 1, [(members[0].id, 1)])
    assert chain.get_blob(members[0].id).end_epoch == ends[1]  # all or none


def test_delete_bucket_with_its_blobs_in_one_transaction(world: World) -> None:
    chain, user = world.chain, world.user
    manifest, member = certified(world, b"m" * 300), certified(world, b"n" * 300)
    bucket = chain.create_bucket(user, "contract-rm")
    chain.commit_bucket(user, bucket.id, manifest.id, 0)
    chain.delete_bucket(user, bucket.id, [manifest.id, member.id])
    for oid, read in ((bucket.id, chain.get_bucket), (member.id, chain.get_blob)):
        with pytest.raises(ObjectNotFound):
            read(oid)
