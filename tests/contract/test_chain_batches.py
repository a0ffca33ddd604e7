"""Tree operations on the chain port: several Blob objects extended, deleted or burned in ONE
transaction, all or none, and attributes set in the registration's own transaction. Runs on
DevChain always and on SuiChain when HAULOUT_SUI_RPC is set (see conftest.py). Registering and
certifying many blobs are one transaction each, all or none, as well."""

from __future__ import annotations

import pytest

from haulout.chain.errors import MoveAbort, ObjectNotFound
from haulout.chain.events import BlobAttributeSet, BlobCertified, BlobDeleted, BlobRegistered
from haulout.chain.objects import BlobObject, BlobSpec
from haulout.protocol import codec
from tests.conftest import World, register, sign_certificate


def certified(world: World, data: bytes, deletable: bool = True, epochs: int = 2) -> BlobObject:
    blob = register(world, data, epochs=epochs, deletable=deletable)
    return world.chain.certify_blob(world.user, blob.id, sign_certificate(world, blob, [0, 1, 2]))


def test_extend_blobs_moves_every_member_in_one_transaction(world: World) -> None:
    a, b, c = (certified(world, bytes([i]) * 300) for i in range(3))
    result = world.chain.extend_blobs(world.user, [(a.id, 3), (b.id, 3), (c.id, 1)])
    assert result.tx_digest
    assert [world.chain.get_blob(x.id).end_epoch for x in (a, b, c)] == [5, 5, 3]
    digests = {e.tx_digest for e in world.chain.events()[-3:]}
    assert len(digests) == 1  # the three BlobCertified(extended) events share one transaction


def test_a_failing_member_changes_no_member(world: World) -> None:
    a, b = certified(world, b"a" * 300), certified(world, b"b" * 300)
    permanent = certified(world, b"p" * 300, deletable=False)
    before = len(world.chain.events())
    with pytest.raises(MoveAbort, match="EInvalidExtension"):  # b beyond max_epochs_ahead
        world.chain.extend_blobs(world.user, [(a.id, 2), (b.id, 500)])
    assert world.chain.get_blob(a.id).end_epoch == 2 and world.chain.get_blob(b.id).end_epoch == 2
    with pytest.raises(MoveAbort, match="ENotDeletable"):
        world.chain.delete_blobs(world.user, [a.id, permanent.id])
    assert world.chain.get_blob(a.id).id == a.id  # still there
    assert len(world.chain.events()) == before


def test_delete_and_burn_blobs_in_one_transaction(world: World) -> None:
    a, b = certified(world, b"x" * 300), certified(world, b"y" * 300)
    result = world.chain.delete_blobs(world.user, [a.id, b.id])
    assert result.tx_digest and len(result.storage_ids) == 2
    deleted = [e for e in world.chain.events() if isinstance(e.event, BlobDeleted)]
    assert {e.event.object_id for e in deleted[-2:]} == {a.id, b.id}
    assert {e.tx_digest for e in deleted[-2:]} == {result.tx_digest}
    for x in (a, b):
        with pytest.raises(ObjectNotFound):
            world.chain.get_blob(x.id)
    c, d = certified(world, b"c" * 300, False), certified(world, b"d" * 300, False)
    assert world.chain.burn_blobs(world.user, [c.id, d.id]).tx_digest
    with pytest.raises(ObjectNotFound):
        world.chain.get_blob(d.id)


def test_attributes_are_set_in_the_registration_transaction(world: World) -> None:
    data = b"<html></html>"
    enc = codec.encode(data, world.chain.system().n_shards)
    paid = world.chain.reserve_and_register_paid(
        world.user,
        enc.blob_id,
        enc.metadata.root,
        len(data),
        0,
        2,
        False,
        {"content-type": "text/html"},
    )
    assert paid.blob.attributes == {"content-type": "text/html"}
    ev = world.chain.events()[-1]
    assert isinstance(ev.event, BlobAttributeSet) and ev.tx_digest == paid.tx_digest


def _spec(world: World, data: bytes, deletable: bool = True, attrs: tuple = ()) -> BlobSpec:
    enc = codec.encode(data, world.chain.system().n_shards)
    return BlobSpec(enc.blob_id, enc.metadata.root, len(data), 0, 2, deletable, attrs)


def test_register_and_certify_many_blobs_in_one_transaction_each(world: World) -> None:
    specs = [_spec(world, bytes([i]) * (100 + i), i % 2 == 0) for i in range(5)]
    specs.append(_spec(world, b"<p>", attrs=(("content-type", "text/html"),)))
    before = world.chain.balance(world.user.address)
    batch = world.chain.register_blobs(world.user, specs)
    assert [b.blob_id for b in batch.blobs] == [s.blob_id for s in specs]
    assert [b.deletable for b in batch.blobs] == [s.deletable for s in specs]
    assert all(b.certified_epoch is None and b.owner == world.user.address for b in batch.blobs)
    assert batch.blobs[-1].attributes == {"content-type": "text/html"}
    assert batch.cost == before - world.chain.balance(world.user.address) > 0
    registered = [e for e in world.chain.events() if isinstance(e.event, BlobRegistered)]
    assert {e.tx_digest for e in registered[-6:]} == {batch.tx_digest}

    certs = [(b.id, sign_certificate(world, b, [0, 1, 2])) for b in batch.blobs]
    done = world.chain.certify_blobs(world.user, certs)
    assert all(world.chain.get_blob(b.id).certified_epoch is not None for b in batch.blobs)
    certified_events = [e for e in world.chain.events() if isinstance(e.event, BlobCertified)]
    assert {e.tx_digest for e in certified_events[-6:]} == {done.tx_digest}


def test_a_failing_registration_or_certificate_changes_nothing(world: World) -> None:
    good = _spec(world, b"g" * 300)
    too_long = BlobSpec(good.blob_id, good.root, good.size, 0, 500, True)  # past max epochs
    before = len(world.chain.events())
    with pytest.raises(MoveAbort):
        world.chain.register_blobs(world.user, [_spec(world, b"h" * 300), too_long])
    assert len(world.chain.events()) == before  # nothing registered, nothing paid for storage

    a, b = world.chain.register_blobs(world.user, [good, _spec(world, b"i" * 300)]).blobs
    wrong = sign_certificate(world, a, [0, 1, 2])  # a's certificate given for b
    with pytest.raises(MoveAbort):
        world.chain.certify_blobs(
            world.user, [(a.id, sign_certificate(world, a, [0, 1, 2])), (b.id, wrong)]
        )
    assert world.chain.get_blob(a.id).certified_epoch is None  # a's good one was undone too
