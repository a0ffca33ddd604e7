"""Shared blobs, transfers, typed reads and event paging on the chain port: every adapter
(DevChain, SuiChain through the stand-in, a real node when configured) answers alike."""

from __future__ import annotations

import pytest

from haulout.chain.accounts import Account
from haulout.chain.errors import MoveAbort, ObjectNotFound, ObjectNotOwned
from haulout.chain.events import SharedBlobCreated, SharedBlobFunded
from haulout.protocol.params import storage_units
from tests.conftest import World, register, sign_certificate


def _certified(world: World, data: bytes) -> str:
    blob = register(world, data, epochs=2)
    world.chain.certify_blob(world.user, blob.id, sign_certificate(world, blob, [0, 1, 2]))
    return blob.id


def test_a_shared_blob_is_funded_and_extended_by_another_account(world: World) -> None:
    blob_id = _certified(world, b"shared" * 50)
    shared = world.chain.share_blob(world.user, blob_id, 5_000_000)
    view = world.chain.get_shared_blob(shared)
    assert (view.blob.id, view.funds, view.blob.end_epoch) == (blob_id, 5_000_000, 2)
    other = Account.generate()
    world.fund(other.address)
    view = world.chain.fund_shared_blob(other, shared, 1_000_000)
    assert view.funds == 6_000_000
    view = world.chain.extend_shared_blob(other, shared, 3)
    cost = world.chain.system().storage_price * storage_units(view.blob.storage.storage_size) * 3
    assert (view.blob.end_epoch, view.funds) == (5, 6_000_000 - cost)
    kinds = [type(e.event) for e in world.chain.events()[-4:]]
    assert SharedBlobCreated in kinds and SharedBlobFunded in kinds
    with pytest.raises(MoveAbort, match="EInsufficientPayment"):  # more than the account has
        world.chain.fund_shared_blob(other, shared, 10**15)


def test_a_transferred_blob_is_the_recipients(world: World) -> None:
    blob = register(world, b"gift")
    friend = Account.generate()
    world.fund(friend.address)
    world.chain.transfer(world.user, blob.id, friend.address)
    assert world.chain.get_blob(blob.id).owner == friend.address
    with pytest.raises(ObjectNotOwned):
        world.chain.set_attribute(world.user, blob.id, "k", "v")
    world.chain.set_attribute(friend, blob.id, "k", "v")
    assert world.chain.get_blob(blob.id).attributes == {"k": "v"}


def test_an_object_read_as_another_type_is_not_found(world: World) -> None:
    storage = world.chain.reserve_space(world.user, 1000, 1)
    with pytest.raises(ObjectNotFound):
        world.chain.get_blob(storage.id)


def test_events_page_by_cursor_and_limit(world: World) -> None:
    blob = register(world, b"paging")  # one transaction: StorageReserved, BlobRegistered
    events = world.chain.events()
    assert world.chain.events(limit=2) == events[:2]
    ours = [e for e in events if e.tx_digest == events[-1].tx_digest]
    assert len(ours) == 2 and ours[1].event.object_id == blob.id  # type: ignore[attr-defined]
    assert world.chain.events(after=ours[0].cursor) == [ours[1]]
    assert world.chain.events(after=ours[1].cursor) == []
