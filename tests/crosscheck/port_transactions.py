"""Every transaction the chain port makes, recorded as it runs, and what each is meant to do.

The port's methods are written once (`haulout.chain.client.ChainClient`) over a backend; here
DevChain runs a scenario that calls every method that sends a transaction, and a recording
backend keeps each described transaction (`calls.Transaction`) with its signer. SuiChain
encodes exactly those descriptions (`sui_tx.encode_transaction`), so encoding each recorded one
gives the bytes SuiChain would send.

What each transaction is meant to do is read from the description, not from the encoder:
its commands and values, each object as owned or shared (the ledger knows which), a shared
object mutable exactly when a command takes it `&mut` or by value in the Move sources, a coin
argument as a `SplitCoins` of the gas coin. `generated_calls()` adds one transaction per
declared Move function with values at the edges of their Move types, so a function declared
in `calls/` is cross-checked even before the port uses it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any

import base58

from haulout.chain import calls, sui_tx
from haulout.chain.accounts import Account
from haulout.chain.client import ChainClient
from haulout.chain.devchain import DevChain
from haulout.chain.errors import MoveAbort
from haulout.chain.objects import BlobSpec
from haulout.protocol.blob_id import BlobId
from haulout.protocol.bls import BlsKeyPair
from haulout.protocol.certificate import Certificate, aggregate
from haulout.protocol.committee import Committee
from haulout.protocol.hashing import blake2b256
from haulout.protocol.messages import BlobCertification, proof_of_possession

from .move_signatures import public_functions
from .tx_expect import CLOCK, GAS, Call, Meant, Owned, Res, Shared, Split, Transfer

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "certificate.json").read_text()
)
PACKAGE = "0x" + blake2b256(b"package").hex()
GAS_PRICE, GAS_BUDGET = 1000, 500_000_000
READS = {
    "system",
    "get_blob",
    "get_storage",
    "get_shared_blob",
    "get_bucket",
    "events",
    "balance",
    "publish",
    "get_staked",
    "transaction",
}
"""ChainClient methods that send no transaction (publish is its own transaction, below)."""


def _version(object_id: str) -> int:
    return 2**32 + int.from_bytes(blake2b256(b"version" + object_id.encode())[:3], "little")


def _digest(object_id: str) -> str:
    return base58.b58encode(blake2b256(b"digest" + object_id.encode())).decode()


GAS_REF = sui_tx.OwnedRef("0x" + blake2b256(b"gas").hex(), 2**40 + 3, _digest("gas"))


@dataclass
class Recorded:
    """One transaction the port made: which method, who signed, what it described, and which
    of its objects were shared when it ran."""

    method: str
    signer: Account
    tx: calls.Transaction
    shared: frozenset[str]
    name: str = ""


@dataclass
class Recorder:
    """Wraps a backend: keeps every transaction handed to `execute`, then runs it."""

    inner: Any
    chain: DevChain
    log: list[Recorded] = field(default_factory=list)
    method: str = ""

    def execute(self, signer: Account, tx: calls.Transaction) -> Any:
        shared = frozenset(o for o in tx.object_ids() if self.chain.ledger.row(o).owner is None)
        self.log.append(Recorded(self.method, signer, tx, shared))
        return self.inner.execute(signer, tx)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _port_methods() -> list[str]:
    return [
        n
        for n in dir(ChainClient)
        if not n.startswith("_") and callable(getattr(ChainClient, n)) and n not in READS
    ]


@contextmanager
def recording(chain: DevChain) -> Iterator[Recorder]:
    """Record what `chain`'s port methods send, each under the outermost method's name."""
    recorder = Recorder(chain.backend, chain)
    chain.backend = recorder  # type: ignore[assignment]
    for name in _port_methods():
        method = getattr(chain, name)

        def traced(*a: Any, _m: Callable[..., Any] = method, _n: str = name, **k: Any) -> Any:
            outer = not recorder.method
            if outer:
                recorder.method = _n
            try:
                return _m(*a, **k)
            finally:
                if outer:
                    recorder.method = ""

        setattr(chain, name, wraps(method)(traced))
    try:
        yield recorder
    finally:
        chain.backend = recorder.inner


def _signer_keys() -> list[BlsKeyPair]:
    return [BlsKeyPair.from_secret(bytes.fromhex(m["secret"])) for m in VECTORS["members"]]


def _certificate(committee: Committee, message: bytes, positions: list[int]) -> Certificate:
    keys = _signer_keys()
    return aggregate(committee, message, {p: keys[p].sign(message) for p in positions})


def run_scenario(tmp: Path) -> list[Recorded]:
    """Every transaction-sending port method, on DevChain with the pinned committee; the
    transactions as recorded (named `method`, `method#2`, ...)."""
    chain = DevChain(tmp / "crosscheck.sqlite")
    admin, user = Account(blake2b256(b"admin")), Account(blake2b256(b"user"))
    chain.faucet(admin.address)
    chain.faucet(user.address, 10**13)
    chain.publish(admin)
    with recording(chain) as rec:
        chain.create_system(admin, 10, 1000, 1000, 2000, 1 << 40, 53)
        ids = [
            chain.register_node(
                admin,
                m["name"] + " ✓",
                "http://127.0.0.1:9300",
                bytes.fromhex(m["public_key"]),
                bytes.fromhex(m["pop"]),
                "0x" + m["address"],
            )
            for m in VECTORS["members"]
        ]
        chain.set_committee(admin, ids, [m["shards"] for m in VECTORS["members"]])
        chain.force_advance_epoch(admin)
        chain.set_prices(admin, 1000, 2000)
        chain.set_capacity(admin, 1 << 41)
        committee = chain.system().committee
        assert committee is not None and committee.epoch == 1

        st = chain.reserve_space(user, 10_000_000, 5)
        later = chain.split_storage_by_epoch(user, st.id, 3)
        part = chain.split_storage_by_size(user, st.id, 1000)
        chain.fuse_storage(user, st.id, part.id)
        del later

        vector_blob, root = BlobId.parse(VECTORS["blob_id"]), bytes(range(32))
        storage = chain.reserve_space(user, 10_000, 3)
        blob = chain.register_blob(user, storage.id, vector_blob, root, 5, 0, False)
        pinned = next(c for c in VECTORS["certificates"] if c["label"] == "permanent_quorum")
        chain.certify_blob(
            user,
            blob.id,
            Certificate(*(bytes.fromhex(pinned[k]) for k in ("signature", "signers", "message"))),
        )
        chain.set_attribute(user, blob.id, "content-type", "text/plain; charset=utf-8")
        chain.set_attribute(user, blob.id, "名前", "blob ✓")
        chain.remove_attribute(user, blob.id, "名前")
        chain.extend_blob(user, blob.id, 1)
        chain.extend_blobs(user, [(blob.id, 1)])
        bucket = chain.create_bucket(user, "crosscheck-data")
        chain.commit_bucket(user, bucket.id, blob.id, 0)
        chain.tag_bucket(user, bucket.id, "first", 1)
        chain.extend_bucket(user, bucket.id, blob.id, 1)
        chain.delete_bucket(user, bucket.id)
        shared = chain.share_blob(user, blob.id, 10**9)
        chain.fund_shared_blob(user, shared, 12345)
        chain.extend_shared_blob(user, shared, 1)

        def registered(seed: int, deletable: bool = True) -> str:
            r = bytes([seed]) * 32
            paid = chain.reserve_and_register_paid(
                user,
                BlobId.derive(0, 100 + seed, r),
                r,
                100 + seed,
                0,
                2,
                deletable,
                {"content-type": "application/octet-stream"},
            )
            return paid.blob.id

        plain = chain.reserve_and_register(
            user, BlobId.derive(0, 7, bytes(32)), bytes(32), 7, 0, 2, False
        )
        message = BlobCertification(plain.blob_id).message(1)
        chain.certify_blob(user, plain.id, _certificate(committee, message, [0, 1, 2]))
        chain.share_blob(user, plain.id)

        chain.delete_blob(user, registered(1))
        chain.delete_blobs(user, [registered(2), registered(3)])
        chain.burn(user, registered(4, False))
        chain.burn_blobs(user, [registered(5), registered(6)])
        chain.transfer(user, registered(7), admin.address)
        invalid = next(c for c in VECTORS["certificates"] if c["label"] == "invalidate")
        chain.invalidate_blob_id(
            user,
            Certificate(*(bytes.fromhex(invalid[k]) for k in ("signature", "signers", "message"))),
        )
        relay = Account(blake2b256(b"relay")).address
        chain.register_for_upload_relay(
            user, BlobId.derive(0, 9, bytes(32)), bytes(32), 9, 0, 2, True, bytes(72), (relay, 777)
        )
        many = chain.register_blobs(
            user,
            [
                BlobSpec(BlobId.derive(0, 11, bytes([8]) * 32), bytes([8]) * 32, 11, 0, 2, True),
                BlobSpec(
                    BlobId.derive(0, 12, bytes([9]) * 32),
                    bytes([9]) * 32,
                    12,
                    0,
                    3,
                    False,
                    (("content-type", "text/csv ✓"),),
                ),
            ],
        )
        epoch = chain.system().epoch
        chain.certify_blobs(
            user,
            [
                (
                    b.id,
                    _certificate(
                        committee,
                        BlobCertification(
                            b.blob_id, bytes.fromhex(b.id[2:]) if b.deletable else None
                        ).message(epoch),
                        [0, 1, 2, 3],
                    ),
                )
                for b in many.blobs
            ],
        )
        operator = Account(blake2b256(b"candidate"))
        chain.faucet(operator.address)
        key = BlsKeyPair.generate(b"candidate")
        pop = key.sign(
            proof_of_possession(
                chain.system().epoch, key.public_key, bytes.fromhex(operator.address[2:])
            )
        )
        candidate = chain.register_candidate(
            operator, "candidate", "http://127.0.0.1:9399", key.public_key, pop
        )
        staked = chain.stake(user, candidate, 10**9)
        chain.request_withdraw_stake(user, staked.id)
        chain.leave_committee(operator, candidate)
        with contextlib.suppress(MoveAbort):  # recorded as sent; no change is in progress
            chain.shards_received(operator, candidate, chain.system().epoch, [0, 3])
        chain.shift_clock(2000)
        chain.advance_epoch(user)
        chain.withdraw_stake(user, staked.id)
    counts: dict[str, int] = {}
    for r in rec.log:
        counts[r.method] = counts.get(r.method, 0) + 1
        r.name = r.method if counts[r.method] == 1 else f"{r.method}#{counts[r.method]}"
    return rec.log


# -- one transaction per declared Move function, values at the edges of their types ---------

SHARED_TYPES = {calls.system.SYSTEM, calls.shared_blob.SHARED_BLOB}


def edge_value(move_type: str, salt: int) -> Any:
    """A value of `move_type` at the edge of its range (distinct per `salt`)."""
    bits = {"u8": 8, "u16": 16, "u32": 32, "u64": 64, "u128": 128, "u256": 256}
    if move_type in bits:
        return (1 << bits[move_type]) - 1 - salt % 3
    if move_type == "bool":
        return salt % 2 == 0
    if move_type in ("address", "ID"):
        return "0x" + blake2b256(b"id%d" % salt).hex()
    if move_type == "String":
        return f"ключ-{salt} ✓ " + "x" * salt
    if move_type == "vector<u8>":
        return bytes(range(salt % 7, 200))
    if move_type.startswith("vector<"):
        inner = move_type[7:-1]
        return [edge_value(inner, salt + i) for i in range(3)]
    raise ValueError(f"no edge value for Move type {move_type}")


def generated_calls() -> list[Recorded]:
    """For each declared Move function, one transaction calling it with edge values (typed by
    the Move sources), its returned object (if any) transferred to the sender."""
    out = []
    move = public_functions()
    sender = Account(blake2b256(b"generated"))
    for target, fn in sorted(calls.REGISTRY.items()):
        params = [p for p in move[target] if p not in ("&mut Coin<SUI>", "&Clock")]
        args: list[Any] = []
        shared: set[str] = set()
        for i, (declared, move_type) in enumerate(zip(fn.explicit, params, strict=True)):
            if isinstance(declared, calls.ObjectParam):
                oid = "0x" + blake2b256(f"{target}/{i}".encode()).hex()
                if declared.type in SHARED_TYPES:
                    shared.add(oid)
                args.append(oid)
            elif isinstance(declared, calls.CoinParam):
                args.append(2**64 - 1 - i)
            else:
                args.append(edge_value(move_type, i))
        tx = calls.Transaction()
        result = tx.add(fn(*args))
        if fn.returns and "::" in fn.returns:
            tx.transfer([result], sender.address)
        out.append(Recorded("generated", sender, tx, frozenset(shared), f"call {target}"))
    return out


# -- encoding and meaning ------------------------------------------------------------------


def resolver(shared: frozenset[str]) -> Callable[[str], sui_tx.ObjectInput]:
    """Object refs for a recorded transaction: deterministic versions and digests per id."""

    def resolve(object_id: str) -> sui_tx.ObjectInput:
        if object_id in shared:
            return sui_tx.SharedRef(object_id, _version(object_id))
        return sui_tx.OwnedRef(object_id, _version(object_id), _digest(object_id))

    return resolve


def encode(r: Recorded) -> bytes:
    """The bytes SuiChain sends for this transaction (as `SuiBackend.execute` builds them)."""
    kind = sui_tx.encode_kind(r.tx, PACKAGE, resolver(r.shared)).kind
    return sui_tx.transaction_data(kind, r.signer.address, [GAS_REF], GAS_PRICE, GAS_BUDGET)


def meant(r: Recorded) -> Meant:
    """What the recorded transaction means, from its description and the Move sources."""
    move = public_functions()
    writes: set[str] = set()
    for cmd in r.tx.commands:
        if isinstance(cmd, calls.TransferObjects):
            writes |= {o.id for o in cmd.objects if isinstance(o, calls.Object)}
            continue
        if isinstance(cmd, calls.Pay):
            continue
        for param, arg in zip(move.get(cmd.function.target, []), cmd.args, strict=False):
            if isinstance(arg, calls.Object) and not param.startswith("&"):
                writes.add(arg.id)  # by value
            elif isinstance(arg, calls.Object) and param.startswith("&mut "):
                writes.add(arg.id)

    def obj(object_id: str) -> Owned | Shared:
        if object_id in r.shared:
            return Shared(object_id, _version(object_id), object_id in writes)
        return Owned(object_id, _version(object_id), _digest(object_id))

    commands: list[Any] = []
    index: dict[int, int] = {}  # description command → PTB command

    def meaning(a: Any) -> Any:
        if isinstance(a, calls.Object):
            return obj(a.id)
        if isinstance(a, calls.Result):
            return Res(index[a.index])
        if isinstance(a, calls.GasCoin):
            return GAS
        if isinstance(a, calls.Clock):
            return CLOCK
        if isinstance(a, calls.Coin):
            commands.append(Split(GAS, (a.amount,)))
            return Res(len(commands) - 1)
        if isinstance(a, calls.Pure):
            return a.value
        raise TypeError(f"no meaning for {a!r}")

    for i, cmd in enumerate(r.tx.commands):
        if isinstance(cmd, calls.TransferObjects):
            commands.append(Transfer(tuple(meaning(o) for o in cmd.objects), cmd.recipient))
        elif isinstance(cmd, calls.Pay):  # a tip: split off the gas coin, sent on
            commands.append(Split(GAS, (cmd.amount,)))
            commands.append(Transfer((Res(len(commands) - 1),), cmd.recipient))
        else:
            args = tuple(meaning(a) for a in cmd.args)
            commands.append(Call(cmd.function.target, args))
        index[i] = len(commands) - 1
    return Meant(
        PACKAGE,
        r.signer.address,
        Owned(GAS_REF.object_id, GAS_REF.version, GAS_REF.digest),
        GAS_PRICE,
        GAS_BUDGET,
        tuple(commands),
        len(r.tx.inputs),
    )


def port_methods() -> list[str]:
    """The ChainClient methods that send a transaction (all must appear in the scenario)."""
    return _port_methods()
