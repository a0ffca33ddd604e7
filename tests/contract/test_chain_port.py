"""The chain port's contract, one suite for both adapters: every test runs against DevChain,
and against SuiChain when HAULOUT_SUI_RPC points at a localnet (see conftest.py). Tests that
need what only DevChain offers (a hand-moved clock, raw transaction bytes, several processes
on one ledger file, exact faucet amounts) say so when they skip on Sui.

Every bad input is rejected with the right typed error and leaves no trace.
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain, call, obj, pure
from haulout.chain.errors import (
    InvalidTransactionSignature,
    MoveAbort,
    ObjectNotFound,
    ObjectNotOwned,
)
from haulout.chain.events import (
    BlobCertified,
    BlobDeleted,
    BlobRegistered,
    EpochAdvanced,
    RewardsDistributed,
    StorageReserved,
)
from haulout.protocol import codec
from haulout.protocol.blob_id import BlobId
from haulout.protocol.params import encoded_length, storage_units
from haulout.protocol.upload_relay import parse_tx_digest, tx_digest_text
from tests.conftest import World, make_world, register, sign_certificate


def snapshot(world: World) -> tuple[int, int, object]:
    """Everything an aborted transaction must leave untouched."""
    return (
        len(world.chain.events()),
        world.chain.balance(world.user.address),
        world.chain.system(),
    )


def test_a_paid_registration_says_what_its_own_transaction_cost(world: World) -> None:
    """`cost` from the transaction's effects: the signer's whole spend (fees, and gas on Sui),
    whatever else that account or others spend meanwhile."""
    data = b"x" * 5000
    enc = codec.encode(data, world.chain.system().n_shards)
    world.chain.reserve_space(world.user, 1000, 1)  # on Sui the first use splits the gas coins
    before = world.chain.balance(world.user.address)
    paid = world.chain.reserve_and_register_paid(
        world.user, enc.blob_id, enc.metadata.root, len(data), 0, 3, False
    )
    assert paid.cost == before - world.chain.balance(world.user.address) > 0
    assert paid.blob.blob_id == enc.blob_id and paid.blob.owner == world.user.address
    assert paid.tx_digest
    if world.is_devchain:  # no gas: exactly the storage and write fees
        sys = world.chain.system()
        units = storage_units(encoded_length(sys.n_shards, len(data)))
        assert paid.cost == units * (3 * sys.storage_price + sys.write_price)


def test_register_certify_and_events(world: World) -> None:
    before = world.chain.balance(world.user.address)
    blob = register(world, b"hello haulout")
    sys = world.chain.system()
    need = encoded_length(sys.n_shards, 13)
    assert blob.storage.storage_size == need and blob.certified_epoch is None
    assert blob.owner == world.user.address
    paid = before - world.chain.balance(world.user.address)
    fees = sys.storage_price * storage_units(need) * 3 + sys.write_price * storage_units(need)
    if world.is_devchain:  # no gas
        assert paid == fees
    else:  # the fees, and gas (under the budget) on top
        assert 0 < paid - fees < 500_000_000
    certified = world.chain.certify_blob(
        world.user, blob.id, sign_certificate(world, blob, [0, 1, 2])
    )
    assert certified.certified_epoch == 0
    kinds = [type(e.event) for e in world.chain.events()[-3:]]
    assert kinds == [StorageReserved, BlobRegistered, BlobCertified]
    reg = world.chain.events()[-2].event
    assert isinstance(reg, BlobRegistered) and reg.blob_id == blob.blob_id and reg.end_epoch == 3
    assert world.chain.events()[-1].sender == world.user.address


def test_quorum_exact_passes_one_shard_short_fails(world: World) -> None:
    # 10 shards over 4 nodes: 3, 3, 2, 2. Quorum 3w >= 21 → w >= 7.
    blob = register(world, b"a")
    before = snapshot(world)
    with pytest.raises(MoveAbort) as err:
        world.chain.certify_blob(world.user, blob.id, sign_certificate(world, blob, [0, 1]))  # 6
    assert (err.value.module, err.value.name) == ("committee", "ENotEnoughWeight")
    assert snapshot(world) == before
    world.chain.certify_blob(world.user, blob.id, sign_certificate(world, blob, [1, 2, 3]))  # 7
    with pytest.raises(MoveAbort, match="EAlreadyCertified"):
        world.chain.certify_blob(world.user, blob.id, sign_certificate(world, blob, [0, 1, 2]))


def test_stale_epoch_and_forged_certificates(world: World) -> None:
    blob = register(world, b"b")
    world.chain.force_advance_epoch(world.deployment.admin)
    with pytest.raises(MoveAbort, match="EWrongEpoch"):
        world.chain.certify_blob(
            world.user, blob.id, sign_certificate(world, blob, [0, 1, 2], epoch=0)
        )
    cert = sign_certificate(world, blob, [0, 1, 2])
    forged = type(cert)(cert.signature, bytes([0b1011]), cert.message)  # claims 0, 1, 3
    with pytest.raises(MoveAbort, match="EInvalidSignature"):
        world.chain.certify_blob(world.user, blob.id, forged)
    with pytest.raises(MoveAbort, match="EInvalidBitmap"):
        world.chain.certify_blob(
            world.user, blob.id, type(cert)(cert.signature, b"\x07\x00", cert.message)
        )


def test_deletable_certificate_names_the_object(world: World) -> None:
    blob = register(world, b"c", deletable=True)
    other = register(world, b"c", deletable=True)
    with pytest.raises(MoveAbort, match="EObjectIdMismatch"):
        world.chain.certify_blob(world.user, blob.id, sign_certificate(world, other, [0, 1, 2]))
    permanent = register(world, b"c")
    with pytest.raises(MoveAbort, match="EPersistenceMismatch"):
        world.chain.certify_blob(world.user, blob.id, sign_certificate(world, permanent, [0, 1, 2]))
    world.chain.certify_blob(world.user, blob.id, sign_certificate(world, blob, [0, 1, 2]))


def test_unknown_and_foreign_objects_are_refused(world: World) -> None:
    blob = register(world, b"mine")
    stranger = Account.generate()
    world.fund(stranger.address)
    before = snapshot(world)
    with pytest.raises(ObjectNotOwned, match="only its owner"):
        world.chain.set_attribute(stranger, blob.id, "k", "v")
    with pytest.raises(ObjectNotFound, match="no live"):
        world.chain.get_blob("0x" + "ab" * 32)
    with pytest.raises(ObjectNotFound):
        world.chain.extend_blob(world.user, "0x" + "ab" * 32, 1)
    with pytest.raises(ObjectNotOwned):
        world.chain.force_advance_epoch(stranger)  # the AdminCap is the deployer's
    assert snapshot(world) == before


def test_insufficient_payment_changes_nothing(world: World) -> None:
    world.devchain_only("funds an account with exactly 10 MIST")
    poor = Account.generate()
    world.fund(poor.address, 10)
    before = snapshot(world)
    with pytest.raises(MoveAbort, match="EInsufficientPayment"):
        world.chain.reserve_space(poor, 5 << 20, 2)
    assert snapshot(world) == before and world.chain.balance(poor.address) == 10


def test_tampered_transaction_signature(world: World) -> None:
    world.devchain_only("edits DevChain's signed transaction bytes (a Sui fullnode checks its own)")
    tx, sig = world.chain.build(
        world.user, [call("system::reserve_space", obj(world.chain.system_id), pure(1000), pure(1))]
    )
    bad = bytearray(tx)
    bad[bad.index(b"1000")] = ord("9")
    with pytest.raises(InvalidTransactionSignature):
        world.chain.execute(bytes(bad), sig)
    other = Account.generate()
    forged = json.loads(tx)
    forged["sender"] = other.address
    with pytest.raises(InvalidTransactionSignature, match="sender"):
        world.chain.execute(
            json.dumps(forged).encode(), world.user.sign_transaction(json.dumps(forged).encode())
        )
    world.chain.execute(tx, sig)  # the untampered one is fine


def test_register_checks(world: World) -> None:
    from haulout.protocol import codec

    enc = codec.encode(b"x" * 1000, 10)
    storage = world.chain.reserve_space(world.user, 100, 2)
    with pytest.raises(MoveAbort, match="EResourceSize"):
        world.chain.register_blob(
            world.user, storage.id, enc.blob_id, enc.metadata.root, 1000, 0, False
        )
    with pytest.raises(MoveAbort, match="EInvalidBlobId"):
        world.chain.register_blob(world.user, storage.id, enc.blob_id, bytes(32), 1000, 0, False)
    with pytest.raises(MoveAbort, match="EUnsupportedEncoding"):
        world.chain.register_blob(
            world.user, storage.id, enc.blob_id, enc.metadata.root, 1000, 2, False
        )
    with pytest.raises(MoveAbort, match="EInvalidEpochsAhead"):
        world.chain.reserve_space(world.user, 100, 54)
    for _ in range(2):
        world.chain.force_advance_epoch(world.deployment.admin)
    big = world.chain.reserve_space(world.user, 1 << 20, 1)
    world.chain.register_blob(world.user, big.id, enc.blob_id, enc.metadata.root, 1000, 0, False)
    with pytest.raises(MoveAbort, match="EResourceBounds"):  # storage bought for epochs [0, 2)
        world.chain.register_blob(
            world.user, storage.id, enc.blob_id, enc.metadata.root, 1000, 0, False
        )


def test_extend_delete_reuse_and_attributes(world: World) -> None:
    blob = register(world, b"d" * 100, epochs=2, deletable=True)
    with pytest.raises(MoveAbort, match="ENotCertified"):
        world.chain.extend_blob(world.user, blob.id, 1)
    world.chain.certify_blob(world.user, blob.id, sign_certificate(world, blob, [0, 1, 2]))
    assert world.chain.extend_blob(world.user, blob.id, 3).end_epoch == 5
    with pytest.raises(MoveAbort, match="EInvalidExtension"):
        world.chain.extend_blob(world.user, blob.id, 60)
    world.chain.set_attribute(world.user, blob.id, "content-type", "text/plain")
    assert world.chain.get_blob(blob.id).attributes == {"content-type": "text/plain"}
    world.chain.remove_attribute(world.user, blob.id, "content-type")
    with pytest.raises(MoveAbort, match="EAttributeNotFound"):
        world.chain.remove_attribute(world.user, blob.id, "content-type")
    storage = world.chain.delete_blob(world.user, blob.id)
    assert (storage.start_epoch, storage.end_epoch) == (0, 5)
    ev = world.chain.events()[-1].event
    assert isinstance(ev, BlobDeleted) and ev.was_certified
    with pytest.raises(ObjectNotFound):
        world.chain.get_blob(blob.id)
    from haulout.protocol import codec

    enc = codec.encode(b"reuse", 10)
    again = world.chain.register_blob(
        world.user, storage.id, enc.blob_id, enc.metadata.root, 5, 0, False
    )
    assert again.storage.id == storage.id
    with pytest.raises(MoveAbort, match="ENotDeletable"):
        world.chain.delete_blob(world.user, again.id)


def test_storage_split_and_fuse_numbers(world: World) -> None:
    s = world.chain.reserve_space(world.user, 10_000, 6)
    late = world.chain.split_storage_by_epoch(world.user, s.id, 4)
    assert (world.chain.get_storage(s.id).end_epoch, late.start_epoch, late.end_epoch) == (4, 4, 6)
    part = world.chain.split_storage_by_size(world.user, s.id, 3_000)
    assert (world.chain.get_storage(s.id).storage_size, part.storage_size) == (7_000, 3_000)
    with pytest.raises(MoveAbort, match="EIncompatibleSize"):
        world.chain.fuse_storage(world.user, s.id, late.id)
    fused = world.chain.fuse_storage(world.user, s.id, part.id)
    assert fused.storage_size == 10_000
    whole = world.chain.fuse_storage(world.user, s.id, late.id)
    assert (whole.start_epoch, whole.end_epoch, whole.storage_size) == (0, 6, 10_000)
    with pytest.raises(MoveAbort, match="EInvalidSplitEpoch"):
        world.chain.split_storage_by_epoch(world.user, s.id, 6)
    with pytest.raises(MoveAbort, match="EInvalidSplitSize"):
        world.chain.split_storage_by_size(world.user, s.id, 10_000)


def test_epochs_follow_the_clock(world: World) -> None:
    world.devchain_only("moves the clock by an hour")
    assert world.clock is not None
    with pytest.raises(MoveAbort, match="EEpochNotOver"):
        world.chain.advance_epoch(world.user)
    world.clock.ms += 3_600_000
    assert world.chain.advance_epoch(world.user) == 1
    last = world.chain.events()[-1]
    advanced = [
        e.event for e in world.chain.events() if e.tx_digest == last.tx_digest
    ]  # then the epoch change: no stake here, so the committee stays and it is done at once
    assert [type(e).__name__ for e in advanced if not isinstance(e, RewardsDistributed)] == [
        "EpochAdvanced",
        "EpochChangeStart",
        "EpochChangeDone",
    ]
    assert isinstance(advanced[-3], EpochAdvanced) and advanced[-3].epoch == 1


def test_capacity_is_enforced_per_epoch(world: World, tmp_path: Path) -> None:
    world.devchain_only("deploys a System with a 3 MiB capacity")
    w = make_world(tmp_path / "small", total_capacity=3 << 20)
    w.chain.reserve_space(w.user, 2 << 20, 2)
    with pytest.raises(MoveAbort, match="EStorageExceeded"):
        w.chain.reserve_space(w.user, 2 << 20, 1)
    w.chain.force_advance_epoch(w.deployment.admin)
    w.chain.force_advance_epoch(w.deployment.admin)
    w.chain.reserve_space(w.user, 2 << 20, 1)  # the first reservation has ended


def test_invalidate_blob_id(world: World) -> None:
    from haulout.protocol.certificate import aggregate
    from haulout.protocol.messages import invalid_blob_message

    blob = register(world, b"bad writer")
    msg = invalid_blob_message(0, blob.blob_id)
    keys = [n.bls for n in world.deployment.nodes]
    cert = aggregate(world.committee, msg, {p: keys[p].sign(msg) for p in (2, 3)})  # 4: 12 >= 11
    assert world.chain.invalidate_blob_id(world.user, cert) == blob.blob_id
    with pytest.raises(MoveAbort, match="EBlobIdInvalidated"):
        register(world, b"bad writer")
    short = aggregate(world.committee, msg, {3: keys[3].sign(msg)})
    with pytest.raises(MoveAbort, match="ENotEnoughWeight"):
        world.chain.invalidate_blob_id(world.user, short)


def _reserve_many(ledger: str, seed: str, count: int) -> None:
    chain = DevChain(ledger)
    user = Account.from_hex(seed)
    for _ in range(count):
        chain.reserve_space(user, 1000, 1)


def test_concurrent_writers_in_several_processes_lose_nothing(world: World) -> None:
    world.devchain_only("several processes share one DevChain ledger file")
    seeds = []
    for _ in range(4):
        a = Account.generate()
        world.chain.faucet(a.address, 10**12)
        seeds.append(a.seed.hex())
    start_events = len(world.chain.events())
    before = world.chain.system()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_reserve_many, args=(world.chain.path, s, 15)) for s in seeds]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert len(world.chain.events()) - start_events == 60
    after = world.chain.system()
    assert after.used_capacity - before.used_capacity == 60 * 1000
    for s in seeds:
        cost = before.storage_price * storage_units(1000)
        assert world.chain.balance(Account.from_hex(s).address) == 10**12 - 15 * cost


def test_blob_id_text_in_events_round_trips(world: World) -> None:
    blob = register(world, b"e")
    ev = [e.event for e in world.chain.events() if isinstance(e.event, BlobRegistered)][-1]
    assert BlobId.parse(str(ev.blob_id)) == blob.blob_id


def test_register_type_1_bills_its_own_encoded_length(world: World) -> None:
    root, size = bytes(range(32)), 1001  # k = 4: type 0 blocks of 251 bytes, type 1 of 252
    blob_id = BlobId.derive(1, size, root)
    need = encoded_length(world.chain.system().n_shards, size, 1)
    assert need > encoded_length(world.chain.system().n_shards, size, 0)
    short = world.chain.reserve_space(world.user, need - 1, 2)
    before = snapshot(world)
    with pytest.raises(MoveAbort, match="EResourceSize"):
        world.chain.register_blob(world.user, short.id, blob_id, root, size, 1, False)
    assert snapshot(world) == before
    blob = world.chain.reserve_and_register(world.user, blob_id, root, size, 1, 2, False)
    assert (blob.encoding_type, blob.storage.storage_size, blob.blob_id) == (1, need, blob_id)
    registered = [e.event for e in world.chain.events() if isinstance(e.event, BlobRegistered)]
    assert registered[-1].encoding_type == 1


def test_unsupported_encoding_in_reserve_and_register_leaves_no_trace(world: World) -> None:
    root = bytes(range(32))
    before = snapshot(world)
    for encoding_type in (2, 255):
        with pytest.raises(MoveAbort, match="EUnsupportedEncoding"):
            world.chain.reserve_and_register(
                world.user, BlobId.derive(encoding_type, 9, root), root, 9, encoding_type, 2, False
            )
    assert snapshot(world) == before


def test_a_relay_registration_carries_its_auth_package_and_tip(world: World) -> None:
    """What an upload relay reads back by digest: the auth package as the first input, the
    tip in the balance changes, the registration among the events (the very events, cursors
    included, that the event stream lists for that transaction)."""
    data = b"r" * 3000
    enc = codec.encode(data, world.chain.system().n_shards)
    relay = Account.generate().address
    before = world.chain.balance(world.user.address)
    package = bytes(range(72))
    paid = world.chain.register_for_upload_relay(
        world.user, enc.blob_id, enc.metadata.root, len(data), 0, 2, True, package, (relay, 777)
    )
    assert paid.blob.owner == world.user.address and paid.blob.deletable
    assert world.chain.balance(relay) == 777
    assert paid.cost == before - world.chain.balance(world.user.address) > 777
    tx = world.chain.transaction(paid.tx_digest)
    assert tx.digest == paid.tx_digest and tx.sender == world.user.address
    assert tx.inputs[0] == package  # DevChain carries no other pure input; Sui its arguments
    assert tx.balance_changes == {relay: 777, world.user.address: -paid.cost}
    assert abs(tx.timestamp_ms - world.chain.system().epoch_start_ms) < 3_600_000
    (registered,) = [ce.event for ce in tx.events if isinstance(ce.event, BlobRegistered)]
    assert registered.blob_id == enc.blob_id and registered.object_id == paid.blob.id
    assert list(tx.events) == [ce for ce in world.chain.events() if ce.tx_digest == tx.digest]
    hex_digest = parse_tx_digest(paid.tx_digest)  # the relay's parser gives 64 hex digits
    assert world.chain.transaction(hex_digest).events == tx.events
    for unknown in ("ab" * 32, tx_digest_text("cd" * 32), "not a digest"):
        with pytest.raises(ObjectNotFound):
            world.chain.transaction(unknown)


def test_a_relay_tip_the_signer_cannot_pay_moves_nothing(world: World) -> None:
    world.devchain_only("an account funded with an exact amount (a faucet gives a fixed sum)")
    data = b"r" * 3000
    enc = codec.encode(data, world.chain.system().n_shards)
    relay = Account.generate().address
    poor = Account.generate()
    world.fund(poor.address, 500)
    with pytest.raises(MoveAbort):  # a tip it cannot pay: nothing registered, nothing moved
        world.chain.register_for_upload_relay(
            poor, enc.blob_id, enc.metadata.root, len(data), 0, 2, True, bytes(72), (relay, 1000)
        )
    assert world.chain.balance(relay) == 0 and world.chain.balance(poor.address) == 500
