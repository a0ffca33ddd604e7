"""DevChain: an embedded ledger in one SQLite file that runs the same state machine as `move/`.

Same objects, checks (in the same order), abort codes and events as the Move package; owned
objects usable only by their owner; transactions signed with Ed25519 and checked; a faucet;
an event stream with integer cursors. WAL mode and `BEGIN IMMEDIATE` let every local
process share the file without losing an update.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haulout.protocol import bls
from haulout.protocol.attributes import MAX_KEY_BYTES, MAX_VALUE_BYTES
from haulout.protocol.blob_id import BlobId
from haulout.protocol.certificate import Certificate
from haulout.protocol.committee import Committee, Member
from haulout.protocol.hashing import blake2b256
from haulout.protocol.messages import APP_ID, INTENT_VERSION, proof_of_possession
from haulout.protocol.params import encoded_length, storage_units

from . import machine_staking
from .accounts import Account, verify_transaction
from .encoding_rules import MAX_SYSTEM_SHARDS, reservation_length, supports
from .errors import (
    InvalidTransaction,
    InvalidTransactionSignature,
    MoveAbort,
    NotDeployed,
    ObjectNotFound,
    ObjectNotOwned,
)
from .events import (
    BlobAttributeRemoved,
    BlobAttributeSet,
    BlobCertified,
    BlobDeleted,
    BlobRegistered,
    ChainEvent,
    CommitteeChanged,
    EpochAdvanced,
    Event,
    InvalidBlobID,
    NodeRegistered,
    PricesUpdated,
    SharedBlobCreated,
    SharedBlobFunded,
    StorageReserved,
    parse_event,
)
from .objects import (
    BatchResult,
    BlobObject,
    NodeInfo,
    PaidRegistration,
    PoolInfo,
    SharedBlobView,
    StakedView,
    StorageResource,
    SystemState,
)

MIST_PER_SUI = 1_000_000_000
SYSTEM_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
  id TEXT PRIMARY KEY, type TEXT NOT NULL, owner TEXT, version INTEGER NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS balances (address TEXT PRIMARY KEY, amount INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, tx_digest TEXT NOT NULL, sender TEXT NOT NULL,
  timestamp_ms INTEGER NOT NULL, type TEXT NOT NULL, fields TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (digest TEXT PRIMARY KEY, sender TEXT NOT NULL, ts INTEGER);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class _Obj:
    id: str
    type: str
    owner: str | None
    data: dict[str, Any]
    version: int = 0
    created: bool = False


@dataclass
class TxResult:
    """Outcome of one transaction: digest, per-command results, created objects, events."""

    digest: str
    results: list[Any]
    created: dict[str, str]
    events: list[Event] = field(default_factory=list)
    paid: int = 0
    """MIST this transaction took from the sender (storage and write fees; DevChain has no gas)."""


class _Ctx:
    """State of one executing transaction; flushed in one SQLite transaction or dropped."""

    def __init__(self, conn: sqlite3.Connection, sender: str, digest: str, now_ms: int) -> None:
        self.conn, self.sender, self.digest, self.now_ms = conn, sender, digest, now_ms
        self.objects: dict[str, _Obj] = {}
        self.deleted: set[str] = set()
        self.events: list[Event] = []
        self.counter = 0
        self.paid = 0

    def fresh_id(self) -> str:
        self.counter += 1
        return (
            "0x" + blake2b256(bytes.fromhex(self.digest) + self.counter.to_bytes(8, "little")).hex()
        )

    def load(self, object_id: str, expect: str | None = None, wrapper: str | None = None) -> _Obj:
        """An object the sender may use: shared, owned by the sender, or wrapped in
        `wrapper` (an object the call holds, as a Move struct field)."""
        if object_id in self.deleted:
            raise InvalidTransaction(f"object {object_id} was already consumed in this transaction")
        obj = self.objects.get(object_id)
        if obj is None:
            row = self.conn.execute(
                "SELECT id, type, owner, version, data FROM objects WHERE id = ?", (object_id,)
            ).fetchone()
            if row is None:
                raise ObjectNotFound(
                    f"no live object {object_id}; check the id (it may be deleted)"
                )
            obj = _Obj(row[0], row[1], row[2], json.loads(row[4]), row[3])
            if obj.owner is not None and obj.owner not in (self.sender, wrapper):
                raise ObjectNotOwned(
                    f"object {object_id} ({obj.type}) is owned by {obj.owner}, not by the sender "
                    f"{self.sender}; only its owner may use it"
                )
            self.objects[object_id] = obj
        if expect is not None and obj.type != expect:
            raise InvalidTransaction(f"object {object_id} is a {obj.type}, expected a {expect}")
        return obj

    def create(self, type_: str, data: dict[str, Any], object_id: str | None = None) -> _Obj:
        obj = _Obj(object_id or self.fresh_id(), type_, self.sender, data, 0, True)
        self.objects[obj.id] = obj
        return obj

    def delete(self, obj: _Obj) -> None:
        self.objects.pop(obj.id, None)
        self.deleted.add(obj.id)

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def flush(self) -> None:
        for oid in self.deleted:
            self.conn.execute("DELETE FROM objects WHERE id = ?", (oid,))
        for obj in self.objects.values():
            self.conn.execute(
                "INSERT INTO objects (id, type, owner, version, data) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET owner = excluded.owner, version = excluded.version, "
                "data = excluded.data",
                (obj.id, obj.type, obj.owner, obj.version + 1, json.dumps(obj.data)),
            )
        for ev in self.events:
            self.conn.execute(
                "INSERT INTO events (tx_digest, sender, timestamp_ms, type, fields) VALUES (?, ?, ?, ?, ?)",
                (self.digest, self.sender, self.now_ms, ev.NAME, json.dumps(ev.to_fields())),
            )


def _abort(module: str, name: str, detail: str = "") -> MoveAbort:
    return MoveAbort.named(module, name, detail)


def _storage_view(d: dict[str, Any]) -> StorageResource:
    return StorageResource(d["id"], d["start_epoch"], d["end_epoch"], d["storage_size"])


# ---------------------------------------------------------------------------------------------
# The state machine: one function per public Move function, same checks in the same order.
# ---------------------------------------------------------------------------------------------


def _pay(ctx: _Ctx, system: _Obj, amount: int) -> None:
    """`coin.split(amount)` into the System's balance; aborts when the coin is too small."""
    row = ctx.conn.execute(
        "SELECT amount FROM balances WHERE address = ?", (ctx.sender,)
    ).fetchone()
    have = row[0] if row else 0
    if have < amount:
        raise _abort(
            "system", "EInsufficientPayment", f"needs {amount} MIST, the sender has {have}"
        )
    ctx.conn.execute(
        "UPDATE balances SET amount = amount - ? WHERE address = ?", (amount, ctx.sender)
    )
    system.data["balance"] += amount
    system.data["epoch_fees"] = system.data.get("epoch_fees", 0) + amount
    ctx.paid += amount


def _ring(system: _Obj) -> list[int]:
    usage: list[int] = system.data["usage"]
    return usage


def _reserve_capacity(system: _Obj, size: int, start: int, end: int) -> None:
    d = system.data
    usage, total, length = _ring(system), d["total_capacity"], d["max_epochs_ahead"]
    for e in range(start, end):
        if usage[e % length] + size > total:
            raise _abort(
                "system",
                "EStorageExceeded",
                f"epoch {e} has {total - usage[e % length]} of {total} bytes free, {size} requested",
            )
    for e in range(start, end):
        usage[e % length] += size


def fn_create_system(
    ctx: _Ctx,
    cap: _Obj,
    n_shards: int,
    epoch_duration_ms: int,
    storage_price: int,
    write_price: int,
    total_capacity: int,
    max_epochs_ahead: int,
) -> str:
    if not 1 <= n_shards <= MAX_SYSTEM_SHARDS:
        raise _abort(
            "system", "EInvalidShardCount", f"got {n_shards}, allowed 1..{MAX_SYSTEM_SHARDS}"
        )
    if not 1 <= max_epochs_ahead <= 1000:
        raise _abort("system", "EInvalidEpochsAhead", f"max_epochs_ahead {max_epochs_ahead}")
    system = ctx.create(
        "system::System",
        {
            "version": SYSTEM_VERSION,
            "epoch": 0,
            "epoch_start_ms": ctx.now_ms,
            "epoch_duration_ms": epoch_duration_ms,
            "n_shards": n_shards,
            "members": [],
            "nodes": {},
            "total_capacity": total_capacity,
            "usage": [0] * max_epochs_ahead,
            "storage_price": storage_price,
            "write_price": write_price,
            "max_epochs_ahead": max_epochs_ahead,
            "balance": 0,
            "invalid_ids": [],
            "changing": False,
            "change_epoch": 0,
            "received": [],
            "received_weight": 0,
            "pools": {},
            "stakes": 0,
            "epoch_fees": 0,
        },
    )
    system.owner = None  # transfer::share_object
    ctx.emit(PricesUpdated(0, storage_price, write_price))
    return system.id


def fn_register_node(
    ctx: _Ctx,
    system: _Obj,
    cap: _Obj,
    name: str,
    url: str,
    public_key: bytes,
    pop: bytes,
    node_address: str,
) -> str:
    d = system.data
    if any(n["public_key"] == public_key.hex() for n in d["nodes"].values()):
        raise _abort("system", "ENodeAlreadyRegistered", f"key {public_key.hex()[:16]}…")
    address = bytes.fromhex(node_address.removeprefix("0x").rjust(64, "0"))
    message = proof_of_possession(d["epoch"], public_key, address) if len(public_key) == 48 else b""
    if not message or not bls.verify(public_key, message, pop):
        raise _abort("system", "EInvalidProofOfPossession", f"node {name}")
    node_id = ctx.fresh_id()
    d["nodes"][node_id] = {
        "name": name,
        "url": url,
        "public_key": public_key.hex(),
        "address": node_address,
    }
    d.setdefault("pools", {})[node_id] = machine_staking.new_pool()
    ctx.emit(NodeRegistered(node_id, name, url, public_key.hex()))
    return node_id


def fn_set_committee(
    ctx: _Ctx, system: _Obj, cap: _Obj, node_ids: list[str], shards: list[list[int]]
) -> None:
    d = system.data
    if len(node_ids) != len(shards) or not node_ids:
        raise _abort("system", "EInvalidCommittee", "one shard list per node, at least one node")
    for nid in node_ids:
        if nid not in d["nodes"]:
            raise _abort("system", "EUnknownNode", nid)
    seen = [False] * d["n_shards"]
    for lst in shards:
        for s in lst:
            if not 0 <= s < d["n_shards"] or seen[s]:
                raise _abort(
                    "system", "EInvalidCommittee", f"shard {s} out of range or assigned twice"
                )
            seen[s] = True
    if not all(seen) or len(set(node_ids)) != len(node_ids):
        raise _abort("system", "EInvalidCommittee", "every shard exactly once, each node once")
    if d["members"]:  # who held each shard before: readers and new owners fetch from them
        d["previous_members"] = d["members"]
    d["members"] = [
        {"node_id": n, "shards": list(s)} for n, s in zip(node_ids, shards, strict=True)
    ]
    d["changing"], d["received"], d["received_weight"] = False, [], 0
    ctx.emit(CommitteeChanged(d["epoch"], list(node_ids), d["n_shards"]))


def fn_set_prices(ctx: _Ctx, system: _Obj, cap: _Obj, storage_price: int, write_price: int) -> None:
    system.data["storage_price"], system.data["write_price"] = storage_price, write_price
    ctx.emit(PricesUpdated(system.data["epoch"], storage_price, write_price))


def fn_set_capacity(ctx: _Ctx, system: _Obj, cap: _Obj, total_capacity: int) -> None:
    system.data["total_capacity"] = total_capacity


def _next_epoch(ctx: _Ctx, system: _Obj) -> int:
    d = system.data
    machine_staking.before_next_epoch(ctx, system)
    usage, length = _ring(system), d["max_epochs_ahead"]
    usage[d["epoch"] % length] = 0  # that slot now stands for epoch + max_epochs_ahead
    d["epoch"] += 1
    d["epoch_start_ms"] = ctx.now_ms
    ctx.emit(EpochAdvanced(d["epoch"], ctx.now_ms))
    machine_staking.start_epoch_change(ctx, system)
    return int(d["epoch"])


def fn_advance_epoch(ctx: _Ctx, system: _Obj) -> int:
    d = system.data
    due = d["epoch_start_ms"] + d["epoch_duration_ms"]
    if ctx.now_ms < due:
        raise _abort("system", "EEpochNotOver", f"epoch {d['epoch']} ends in {due - ctx.now_ms} ms")
    return _next_epoch(ctx, system)


def fn_force_advance_epoch(ctx: _Ctx, system: _Obj, cap: _Obj) -> int:
    return _next_epoch(ctx, system)


def fn_reserve_space(ctx: _Ctx, system: _Obj, storage_size: int, epochs_ahead: int) -> str:
    d = system.data
    if storage_size <= 0:
        raise _abort("system", "EInvalidSize")
    if not 1 <= epochs_ahead <= d["max_epochs_ahead"]:
        raise _abort(
            "system", "EInvalidEpochsAhead", f"asked {epochs_ahead}, max {d['max_epochs_ahead']}"
        )
    start, end = d["epoch"], d["epoch"] + epochs_ahead
    _reserve_capacity(system, storage_size, start, end)
    cost = d["storage_price"] * storage_units(storage_size) * epochs_ahead
    _pay(ctx, system, cost)
    storage = ctx.create(
        "storage_resource::Storage",
        {"start_epoch": start, "end_epoch": end, "storage_size": storage_size},
    )
    ctx.emit(StorageReserved(d["epoch"], storage.id, start, end, storage_size, cost))
    return storage.id


def fn_register_blob(
    ctx: _Ctx,
    system: _Obj,
    storage: _Obj,
    blob_id: int,
    root: int,
    size: int,
    encoding_type: int,
    deletable: bool,
) -> str:
    d = system.data
    if not supports(encoding_type, d["n_shards"]):
        raise _abort(
            "blob",
            "EUnsupportedEncoding",
            f"type {encoding_type} on a system of {d['n_shards']} shards",
        )
    if str(blob_id) in d["invalid_ids"]:
        raise _abort("blob", "EBlobIdInvalidated")
    derived = BlobId.derive(encoding_type, size, root.to_bytes(32, "little"))
    if int(derived) != blob_id:
        raise _abort("blob", "EInvalidBlobId", f"derivation gives {derived}")
    s = storage.data
    if not s["start_epoch"] <= d["epoch"] < s["end_epoch"]:
        raise _abort(
            "blob",
            "EResourceBounds",
            f"storage covers [{s['start_epoch']}, {s['end_epoch']}), now {d['epoch']}",
        )
    needed = encoded_length(d["n_shards"], size, encoding_type)
    if needed > s["storage_size"]:
        raise _abort(
            "blob", "EResourceSize", f"encoded length {needed} > storage {s['storage_size']}"
        )
    _pay(ctx, system, d["write_price"] * storage_units(needed))
    ctx.delete(storage)
    blob = ctx.create(
        "blob::Blob",
        {
            "registered_epoch": d["epoch"],
            "blob_id": str(blob_id),
            "size": size,
            "encoding_type": encoding_type,
            "certified_epoch": None,
            "storage": {"id": storage.id, **s},
            "deletable": bool(deletable),
            "attributes": {},
        },
    )
    ctx.emit(
        BlobRegistered(
            d["epoch"],
            BlobId.from_int(blob_id),
            size,
            encoding_type,
            s["end_epoch"],
            bool(deletable),
            blob.id,
        )
    )
    return blob.id


def _parse_message(message: bytes, intent: int) -> tuple[int, bytes]:
    """`messages::parse`: header checks in Move's order; returns (epoch, body)."""
    if len(message) < 7:
        raise _abort("messages", "EInvalidMessageLength", "shorter than the 7-byte header")
    if message[2] != APP_ID:
        raise _abort("messages", "EIncorrectAppId")
    if message[1] != INTENT_VERSION:
        raise _abort("messages", "EIncorrectIntentVersion")
    if message[0] != intent:
        raise _abort("messages", "EIncorrectIntentType", f"got {message[0]}, expected {intent}")
    return int.from_bytes(message[3:7], "little"), message[7:]


def _committee_of(d: dict[str, Any], key: str = "members") -> Committee:
    members = tuple(
        Member(
            m["node_id"],
            d["nodes"][m["node_id"]]["name"],
            d["nodes"][m["node_id"]]["url"],
            bytes.fromhex(d["nodes"][m["node_id"]]["public_key"]),
            tuple(m["shards"]),
        )
        for m in d[key]
    )
    return Committee(d["epoch"], d["n_shards"], members)


def _verify_signers(
    d: dict[str, Any], signature: bytes, signers: bytes, message: bytes, quorum: bool
) -> None:
    """`committee::verify`: bitmap, weight, then the aggregate BLS signature."""
    members = d["members"]
    if not members:
        raise _abort("committee", "ENotEnoughWeight", "the System has no committee")
    if len(signers) != (len(members) + 7) // 8:
        raise _abort(
            "committee", "EInvalidBitmap", f"{len(signers)} bytes for {len(members)} members"
        )
    positions = [j * 8 + i for j, b in enumerate(signers) for i in range(8) if b >> i & 1]
    if positions and positions[-1] >= len(members):
        raise _abort("committee", "EInvalidBitmap", "bit past the last member")
    weight = sum(len(members[p]["shards"]) for p in positions)
    n = d["n_shards"]
    if not (3 * weight >= 2 * n + 1 if quorum else 3 * weight >= n + 1):
        raise _abort("committee", "ENotEnoughWeight", f"weight {weight} of {n} shards")
    committee = _committee_of(d)
    try:
        agg = bls.aggregate_public_keys([committee.parsed_keys[p] for p in positions])
        ok = bls.verify(agg, message, signature)
    except Exception:
        ok = False
    if not ok:
        raise _abort("committee", "EInvalidSignature")


def fn_certify_blob(
    ctx: _Ctx, system: _Obj, blob: _Obj, signature: bytes, signers: bytes, message: bytes
) -> None:
    d, b = system.data, blob.data
    if b["certified_epoch"] is not None:
        raise _abort("blob", "EAlreadyCertified")
    if d["epoch"] >= b["storage"]["end_epoch"]:
        raise _abort("blob", "EBlobExpired")
    epoch, body = _parse_message(message, 1)
    if len(body) < 33:
        raise _abort("messages", "EInvalidMessageLength", "certification body under 33 bytes")
    if body[32] not in (0, 1):
        raise _abort("messages", "EInvalidPersistence")
    if len(body) != (33 if body[32] == 0 else 65):
        raise _abort("messages", "EInvalidMessageLength", "certification body length")
    if epoch != d["epoch"]:
        raise _abort("committee", "EWrongEpoch", f"message epoch {epoch}, current {d['epoch']}")
    if int.from_bytes(body[:32], "little") != int(b["blob_id"]):
        raise _abort("blob", "EBlobIdMismatch")
    if (body[32] == 1) != b["deletable"]:
        raise _abort("blob", "EPersistenceMismatch")
    if b["deletable"] and "0x" + body[33:].hex() != blob.id:
        raise _abort("blob", "EObjectIdMismatch")
    _verify_signers(d, signature, signers, message, quorum=True)
    b["certified_epoch"] = d["epoch"]
    ctx.emit(
        BlobCertified(
            d["epoch"],
            BlobId.from_int(int(b["blob_id"])),
            b["storage"]["end_epoch"],
            b["deletable"],
            blob.id,
            False,
        )
    )


def fn_extend_blob(ctx: _Ctx, system: _Obj, blob: _Obj, extended_epochs: int) -> None:
    _extend(ctx, system, blob, extended_epochs, lambda cost: _pay(ctx, system, cost))


def _extend(
    ctx: _Ctx, system: _Obj, blob: _Obj, extended_epochs: int, pay: Callable[[int], None]
) -> None:
    """`blob::extend_blob`, paid by `pay` (the sender's coin, or a SharedBlob's funds)."""
    d, b = system.data, blob.data
    st = b["storage"]
    if b["certified_epoch"] is None:
        raise _abort("blob", "ENotCertified")
    if d["epoch"] >= st["end_epoch"]:
        raise _abort("blob", "EBlobExpired")
    if (
        extended_epochs <= 0
        or st["end_epoch"] + extended_epochs - d["epoch"] > d["max_epochs_ahead"]
    ):
        raise _abort(
            "blob", "EInvalidExtension", f"+{extended_epochs} from end epoch {st['end_epoch']}"
        )
    _reserve_capacity(
        system, st["storage_size"], st["end_epoch"], st["end_epoch"] + extended_epochs
    )
    pay(d["storage_price"] * storage_units(st["storage_size"]) * extended_epochs)
    st["end_epoch"] += extended_epochs
    ctx.emit(
        BlobCertified(
            d["epoch"],
            BlobId.from_int(int(b["blob_id"])),
            st["end_epoch"],
            b["deletable"],
            blob.id,
            True,
        )
    )


def _take_coin(ctx: _Ctx, amount: int) -> None:
    """Split `amount` MIST off the sender's coin (aborts as `coin::split` would)."""
    row = ctx.conn.execute(
        "SELECT amount FROM balances WHERE address = ?", (ctx.sender,)
    ).fetchone()
    have = row[0] if row else 0
    if amount < 0 or have < amount:
        raise _abort("system", "EInsufficientPayment", f"needs {amount} MIST, has {have}")
    ctx.conn.execute(
        "UPDATE balances SET amount = amount - ? WHERE address = ?", (amount, ctx.sender)
    )


def fn_shared_blob_new_funded(ctx: _Ctx, blob: _Obj, funds: int) -> str:
    """`shared_blob::new` / `new_funded`: wrap a certified Blob in a shared SharedBlob."""
    b = blob.data
    if b["certified_epoch"] is None:
        raise _abort("shared_blob", "ENotCertified")
    _take_coin(ctx, funds)
    shared = ctx.create("shared_blob::SharedBlob", {"blob": blob.id, "funds": funds})
    shared.owner = None  # transfer::share_object
    blob.owner = shared.id  # wrapped: usable only through the SharedBlob
    ctx.emit(SharedBlobCreated(shared.id, BlobId.from_int(int(b["blob_id"])), blob.id, funds))
    return shared.id


def fn_shared_blob_new(ctx: _Ctx, blob: _Obj) -> str:
    return fn_shared_blob_new_funded(ctx, blob, 0)


def fn_shared_blob_fund(ctx: _Ctx, shared: _Obj, amount: int) -> None:
    if amount <= 0:
        raise _abort("shared_blob", "EZeroFunding")
    _take_coin(ctx, amount)
    shared.data["funds"] += amount
    ctx.emit(SharedBlobFunded(shared.id, amount, shared.data["funds"]))


def fn_shared_blob_extend(ctx: _Ctx, shared: _Obj, system: _Obj, extended_epochs: int) -> None:
    blob = ctx.load(shared.data["blob"], "blob::Blob", wrapper=shared.id)

    def from_funds(cost: int) -> None:
        if shared.data["funds"] < cost:
            raise _abort(
                "system",
                "EInsufficientPayment",
                f"needs {cost} MIST, the shared blob holds {shared.data['funds']}; fund it",
            )
        shared.data["funds"] -= cost
        system.data["balance"] += cost
        system.data["epoch_fees"] = system.data.get("epoch_fees", 0) + cost
        ctx.paid += cost

    _extend(ctx, system, blob, extended_epochs, from_funds)


def fn_delete_blob(ctx: _Ctx, system: _Obj, blob: _Obj) -> str:
    b = blob.data
    if not b["deletable"]:
        raise _abort("blob", "ENotDeletable")
    st = dict(b["storage"])
    ctx.emit(
        BlobDeleted(
            system.data["epoch"],
            BlobId.from_int(int(b["blob_id"])),
            st["end_epoch"],
            blob.id,
            b["certified_epoch"] is not None,
        )
    )
    ctx.delete(blob)
    sid = st.pop("id")
    ctx.create("storage_resource::Storage", st, object_id=sid)
    return str(sid)


def fn_burn(ctx: _Ctx, blob: _Obj) -> None:
    ctx.delete(blob)


def fn_set_attribute(ctx: _Ctx, blob: _Obj, key: str, value: str) -> None:
    if len(key.encode()) > MAX_KEY_BYTES:
        raise _abort("blob", "EAttributeKeyTooLong", f"{len(key.encode())} bytes")
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise _abort("blob", "EAttributeValueTooLong", f"{len(value.encode())} bytes")
    blob.data["attributes"][key] = value
    ctx.emit(BlobAttributeSet(BlobId.from_int(int(blob.data["blob_id"])), blob.id, key, value))


def fn_remove_attribute(ctx: _Ctx, blob: _Obj, key: str) -> None:
    if key not in blob.data["attributes"]:
        raise _abort("blob", "EAttributeNotFound", key)
    del blob.data["attributes"][key]
    ctx.emit(BlobAttributeRemoved(BlobId.from_int(int(blob.data["blob_id"])), blob.id, key))


def fn_invalidate_blob_id(
    ctx: _Ctx, system: _Obj, signature: bytes, signers: bytes, message: bytes
) -> int:
    d = system.data
    epoch, body = _parse_message(message, 2)
    if len(body) != 32:
        raise _abort("messages", "EInvalidMessageLength", "invalid-blob body is 32 bytes")
    if epoch != d["epoch"]:
        raise _abort("committee", "EWrongEpoch", f"message epoch {epoch}, current {d['epoch']}")
    _verify_signers(d, signature, signers, message, quorum=False)
    blob_id = int.from_bytes(body, "little")
    if str(blob_id) not in d["invalid_ids"]:
        d["invalid_ids"].append(str(blob_id))
    ctx.emit(InvalidBlobID(d["epoch"], BlobId.from_int(blob_id)))
    return blob_id


def fn_split_by_epoch(ctx: _Ctx, storage: _Obj, split_epoch: int) -> str:
    s = storage.data
    if not s["start_epoch"] < split_epoch < s["end_epoch"]:
        raise _abort("storage_resource", "EInvalidSplitEpoch")
    new = ctx.create(
        "storage_resource::Storage",
        {
            "start_epoch": split_epoch,
            "end_epoch": s["end_epoch"],
            "storage_size": s["storage_size"],
        },
    )
    s["end_epoch"] = split_epoch
    return new.id


def fn_split_by_size(ctx: _Ctx, storage: _Obj, split_size: int) -> str:
    s = storage.data
    if not 0 < split_size < s["storage_size"]:
        raise _abort("storage_resource", "EInvalidSplitSize")
    new = ctx.create(
        "storage_resource::Storage",
        {"start_epoch": s["start_epoch"], "end_epoch": s["end_epoch"], "storage_size": split_size},
    )
    s["storage_size"] -= split_size
    return new.id


def fn_fuse(ctx: _Ctx, first: _Obj, second: _Obj) -> None:
    a, b = first.data, second.data
    if a["start_epoch"] == b["start_epoch"] and a["end_epoch"] == b["end_epoch"]:
        a["storage_size"] += b["storage_size"]
    elif a["end_epoch"] == b["start_epoch"] or b["end_epoch"] == a["start_epoch"]:
        if a["storage_size"] != b["storage_size"]:
            raise _abort("storage_resource", "EIncompatibleSize")
        a["start_epoch"] = min(a["start_epoch"], b["start_epoch"])
        a["end_epoch"] = max(a["end_epoch"], b["end_epoch"])
    else:
        raise _abort("storage_resource", "EIncompatibleEpochs")
    ctx.delete(second)


# name → (function, argument kinds): "o:<Type>" an object of that type, "b" bytes, "p" pure value
FUNCTIONS: dict[str, tuple[Callable[..., Any], list[str]]] = {
    "system::create_system": (
        fn_create_system,
        ["o:system::AdminCap", "p", "p", "p", "p", "p", "p"],
    ),
    "system::register_node": (
        fn_register_node,
        ["o:system::System", "o:system::AdminCap", "p", "p", "b", "b", "p"],
    ),
    "system::set_committee": (
        fn_set_committee,
        ["o:system::System", "o:system::AdminCap", "p", "p"],
    ),
    "system::set_prices": (fn_set_prices, ["o:system::System", "o:system::AdminCap", "p", "p"]),
    "system::set_capacity": (fn_set_capacity, ["o:system::System", "o:system::AdminCap", "p"]),
    "system::advance_epoch": (fn_advance_epoch, ["o:system::System"]),
    "system::force_advance_epoch": (
        fn_force_advance_epoch,
        ["o:system::System", "o:system::AdminCap"],
    ),
    "system::reserve_space": (fn_reserve_space, ["o:system::System", "p", "p"]),
    "system::invalidate_blob_id": (fn_invalidate_blob_id, ["o:system::System", "b", "b", "b"]),
    "blob::register_blob": (
        fn_register_blob,
        ["o:system::System", "o:storage_resource::Storage", "p", "p", "p", "p", "p"],
    ),
    "blob::certify_blob": (fn_certify_blob, ["o:system::System", "o:blob::Blob", "b", "b", "b"]),
    "blob::extend_blob": (fn_extend_blob, ["o:system::System", "o:blob::Blob", "p"]),
    "blob::delete_blob": (fn_delete_blob, ["o:system::System", "o:blob::Blob"]),
    "shared_blob::new": (fn_shared_blob_new, ["o:blob::Blob"]),
    "shared_blob::new_funded": (fn_shared_blob_new_funded, ["o:blob::Blob", "p"]),
    "shared_blob::fund": (fn_shared_blob_fund, ["o:shared_blob::SharedBlob", "p"]),
    "shared_blob::extend": (
        fn_shared_blob_extend,
        ["o:shared_blob::SharedBlob", "o:system::System", "p"],
    ),
    "blob::burn": (fn_burn, ["o:blob::Blob"]),
    "blob::set_attribute": (fn_set_attribute, ["o:blob::Blob", "p", "p"]),
    "blob::remove_attribute": (fn_remove_attribute, ["o:blob::Blob", "p"]),
    "storage_resource::split_by_epoch": (fn_split_by_epoch, ["o:storage_resource::Storage", "p"]),
    "storage_resource::split_by_size": (fn_split_by_size, ["o:storage_resource::Storage", "p"]),
    "storage_resource::fuse": (
        fn_fuse,
        ["o:storage_resource::Storage", "o:storage_resource::Storage"],
    ),
}

machine_staking.register(FUNCTIONS)


def obj(object_id: str) -> dict[str, Any]:
    """Transaction argument: an object by id."""
    return {"object": object_id}


def res(index: int) -> dict[str, Any]:
    """Transaction argument: the result of an earlier command."""
    return {"result": index}


def pure(value: Any) -> dict[str, Any]:
    """Transaction argument: a pure value (bytes are passed as `pure_bytes`)."""
    return {"pure": value}


def pure_bytes(value: bytes) -> dict[str, Any]:
    """Transaction argument: a byte vector."""
    return {"bytes": base64.b64encode(value).decode()}


def call(target: str, *args: dict[str, Any]) -> dict[str, Any]:
    """A Move call command."""
    return {"call": target, "args": list(args)}


def transfer_cmd(result_index: int, recipient: str) -> dict[str, Any]:
    """`transfer::public_transfer` of an earlier result to `recipient`."""
    return {"call": "transfer", "args": [res(result_index), pure(recipient)]}


class DevChain:
    """The embedded ledger. `path` is the SQLite file; `clock` returns milliseconds."""

    def __init__(self, path: str | Path, clock: Callable[[], int] | None = None) -> None:
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock or (lambda: int(time.time() * 1000))
        self._local = threading.local()
        conn = self._conn()
        conn.executescript(_SCHEMA)

    # -- plumbing ---------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=60, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn = conn
        return conn

    def now_ms(self) -> int:
        """The ledger clock (`sui::clock::Clock`), in milliseconds."""
        offset = self._meta("clock_offset_ms")
        return self._clock() + (int(offset) if offset else 0)

    def shift_clock(self, ms: int) -> None:
        """Move the ledger clock forward for every process sharing the file (dev/testing)."""
        conn = self._conn()
        current = int(self._meta("clock_offset_ms") or 0)
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('clock_offset_ms', ?)",
            (str(current + ms),),
        )

    def _meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def system_id(self) -> str:
        """The shared System object's id."""
        sid = self._meta("system_id")
        if sid is None:
            raise NotDeployed(f"{self.path} has no System object; run `haulout deploy` first")
        return sid

    @property
    def admin_cap_id(self) -> str:
        """The AdminCap's id (owned by the deployer)."""
        cid = self._meta("admin_cap_id")
        if cid is None:
            raise NotDeployed(f"{self.path} is not published; run `haulout deploy` first")
        return cid

    # -- transactions -----------------------------------------------------------------------

    def build(self, signer: Account, commands: list[dict[str, Any]]) -> tuple[bytes, bytes]:
        """Serialise and sign a transaction: returns (tx_bytes, signature)."""
        tx = {"sender": signer.address, "nonce": os.urandom(16).hex(), "commands": commands}
        tx_bytes = json.dumps(tx, sort_keys=True, separators=(",", ":")).encode()
        return tx_bytes, signer.sign_transaction(tx_bytes)

    def submit(self, signer: Account, commands: list[dict[str, Any]]) -> TxResult:
        """Build, sign and execute a transaction."""
        return self.execute(*self.build(signer, commands))

    def execute(self, tx_bytes: bytes, signature: bytes) -> TxResult:
        """Check the signature, then run every command atomically; an abort changes nothing."""
        try:
            signer = verify_transaction(tx_bytes, signature)
        except ValueError as exc:
            raise InvalidTransactionSignature(f"transaction rejected: {exc}") from exc
        try:
            tx = json.loads(tx_bytes)
            sender, commands = tx["sender"], tx["commands"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidTransaction(f"malformed transaction: {exc}") from exc
        if signer != sender:
            raise InvalidTransactionSignature(f"signed by {signer} but the sender is {sender}")
        digest = blake2b256(tx_bytes).hex()
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM transactions WHERE digest = ?", (digest,)).fetchone():
                raise InvalidTransaction(f"transaction {digest} was already executed (replay)")
            ctx = _Ctx(conn, sender, digest, self.now_ms())
            results = self._run(ctx, commands)
            ctx.flush()
            conn.execute(
                "INSERT INTO transactions (digest, sender, ts) VALUES (?, ?, ?)",
                (digest, sender, ctx.now_ms),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        created = {o.id: o.type for o in ctx.objects.values() if o.created}
        return TxResult(digest, results, created, ctx.events, ctx.paid)

    def _run(self, ctx: _Ctx, commands: list[dict[str, Any]]) -> list[Any]:
        results: list[Any] = []
        for cmd in commands:
            target, args = cmd.get("call"), cmd.get("args", [])
            if target == "transfer":
                oid, recipient = self._arg(ctx, results, args[0], "raw"), args[1]["pure"]
                ctx.load(oid).owner = recipient
                results.append(None)
                continue
            if target not in FUNCTIONS:
                raise InvalidTransaction(f"unknown function {target!r}")
            fn, kinds = FUNCTIONS[target]
            if len(args) != len(kinds):
                raise InvalidTransaction(f"{target} takes {len(kinds)} arguments, got {len(args)}")
            values = [self._arg(ctx, results, a, k) for a, k in zip(args, kinds, strict=True)]
            results.append(fn(ctx, *values))
        return results

    def _arg(self, ctx: _Ctx, results: list[Any], arg: dict[str, Any], kind: str) -> Any:
        if "result" in arg:
            value = results[arg["result"]]
        elif "object" in arg:
            value = arg["object"]
        elif "bytes" in arg:
            return base64.b64decode(arg["bytes"])
        elif "pure" in arg:
            return arg["pure"]
        else:
            raise InvalidTransaction(f"malformed argument {arg!r}")
        if kind == "raw":
            return value
        if kind.startswith("o:"):
            return ctx.load(str(value), kind[2:])
        return value

    # -- deploy and dev helpers -------------------------------------------------------------

    def publish(self, admin: Account) -> str:
        """Publish the package: `init` gives the AdminCap to the publisher. Returns the cap id."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self._meta("admin_cap_id"):
                raise InvalidTransaction(f"{self.path} already holds a published package")
            cap_id = "0x" + blake2b256(b"admin-cap" + os.urandom(16)).hex()
            conn.execute(
                "INSERT INTO objects VALUES (?, 'system::AdminCap', ?, 1, '{}')",
                (cap_id, admin.address),
            )
            conn.execute("INSERT INTO meta VALUES ('admin_cap_id', ?)", (cap_id,))
            conn.execute(
                "INSERT INTO meta VALUES ('package_id', ?)",
                ("0x" + blake2b256(cap_id.encode()).hex(),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return cap_id

    def create_system(
        self,
        admin: Account,
        n_shards: int,
        epoch_duration_ms: int,
        storage_price: int,
        write_price: int,
        total_capacity: int,
        max_epochs_ahead: int,
    ) -> str:
        """Create and share the System object."""
        r = self.submit(
            admin,
            [
                call(
                    "system::create_system",
                    obj(self.admin_cap_id),
                    pure(n_shards),
                    pure(epoch_duration_ms),
                    pure(storage_price),
                    pure(write_price),
                    pure(total_capacity),
                    pure(max_epochs_ahead),
                )
            ],
        )
        sid = str(r.results[0])
        self._conn().execute("INSERT OR REPLACE INTO meta VALUES ('system_id', ?)", (sid,))
        return sid

    def faucet(self, address: str, amount: int = 1000 * MIST_PER_SUI) -> int:
        """Mint SUI for a dev account; returns the new balance."""
        conn = self._conn()
        conn.execute(
            "INSERT INTO balances VALUES (?, ?) ON CONFLICT(address) DO UPDATE SET amount = amount + excluded.amount",
            (address, amount),
        )
        return self.balance(address)

    def balance(self, address: str) -> int:
        """SUI balance in MIST."""
        row = (
            self._conn()
            .execute("SELECT amount FROM balances WHERE address = ?", (address,))
            .fetchone()
        )
        return int(row[0]) if row else 0

    # -- admin calls ------------------------------------------------------------------------

    def register_node(
        self, admin: Account, name: str, url: str, public_key: bytes, pop: bytes, node_address: str
    ) -> str:
        """Register a storage node with a proof of possession of its BLS key."""
        r = self.submit(
            admin,
            [
                call(
                    "system::register_node",
                    obj(self.system_id),
                    obj(self.admin_cap_id),
                    pure(name),
                    pure(url),
                    pure_bytes(public_key),
                    pure_bytes(pop),
                    pure(node_address),
                )
            ],
        )
        return str(r.results[0])

    def set_committee(
        self, admin: Account, node_ids: Sequence[str], shards: Sequence[Sequence[int]]
    ) -> None:
        """Set the committee: members in order with their shards."""
        self.submit(
            admin,
            [
                call(
                    "system::set_committee",
                    obj(self.system_id),
                    obj(self.admin_cap_id),
                    pure(list(node_ids)),
                    pure([list(s) for s in shards]),
                )
            ],
        )

    def set_prices(self, admin: Account, storage_price: int, write_price: int) -> None:
        """Set storage price (per unit per epoch) and write price (per unit)."""
        self.submit(
            admin,
            [
                call(
                    "system::set_prices",
                    obj(self.system_id),
                    obj(self.admin_cap_id),
                    pure(storage_price),
                    pure(write_price),
                )
            ],
        )

    def set_capacity(self, admin: Account, total_capacity: int) -> None:
        """Set the total capacity in bytes."""
        self.submit(
            admin,
            [
                call(
                    "system::set_capacity",
                    obj(self.system_id),
                    obj(self.admin_cap_id),
                    pure(total_capacity),
                )
            ],
        )

    def advance_epoch(self, signer: Account) -> int:
        """Start the next epoch once the current one has run its duration."""
        return int(
            self.submit(signer, [call("system::advance_epoch", obj(self.system_id))]).results[0]
        )

    def force_advance_epoch(self, admin: Account) -> int:
        """Admin-only: start the next epoch now (localnet)."""
        return int(
            self.submit(
                admin,
                [call("system::force_advance_epoch", obj(self.system_id), obj(self.admin_cap_id))],
            ).results[0]
        )

    # -- epoch change and staking ----------------------------------------------------------

    def register_candidate(
        self, signer: Account, name: str, url: str, public_key: bytes, pop: bytes
    ) -> str:
        """Register a node without the AdminCap; the signer's address is the node's account
        (the proof of possession binds it). It gets shards once stake backs it."""
        r = self.submit(
            signer,
            [
                call(
                    "system::register_candidate",
                    obj(self.system_id),
                    pure(name),
                    pure(url),
                    pure_bytes(public_key),
                    pure_bytes(pop),
                )
            ],
        )
        return str(r.results[0])

    def leave_committee(self, signer: Account, node_id: str) -> None:
        """The node's own account withdraws it: no shards for it from the next change on."""
        self.submit(signer, [call("system::leave_committee", obj(self.system_id), pure(node_id))])

    def shards_received(
        self, signer: Account, node_id: str, epoch: int, shards: Sequence[int]
    ) -> None:
        """The node's own account reports it holds every shard it gained in this change."""
        self.submit(
            signer,
            [
                call(
                    "system::shards_received",
                    obj(self.system_id),
                    pure(node_id),
                    pure(epoch),
                    pure(sorted(int(s) for s in shards)),
                )
            ],
        )

    def stake(self, signer: Account, node_id: str, amount: int) -> StakedView:
        """Stake `amount` MIST of the signer's to the pool of `node_id`; returns the receipt."""
        r = self.submit(
            signer,
            [call("system::stake", obj(self.system_id), pure(node_id), pure(amount))],
        )
        return self.get_staked(str(r.results[0]))

    def request_withdraw_stake(self, signer: Account, staked_id: str) -> StakedView:
        """Stop a stake counting; withdrawable from the next epoch."""
        self.submit(
            signer,
            [call("system::request_withdraw_stake", obj(self.system_id), obj(staked_id))],
        )
        return self.get_staked(staked_id)

    def withdraw_stake(self, signer: Account, staked_id: str) -> int:
        """Pay out a stake whose withdrawal was requested in an earlier epoch; returns MIST."""
        r = self.submit(
            signer, [call("system::withdraw_stake", obj(self.system_id), obj(staked_id))]
        )
        return int(r.results[0])

    # -- user calls -------------------------------------------------------------------------

    def reserve_space(
        self, signer: Account, storage_size: int, epochs_ahead: int
    ) -> StorageResource:
        """Buy storage."""
        r = self.submit(
            signer,
            [
                call(
                    "system::reserve_space",
                    obj(self.system_id),
                    pure(storage_size),
                    pure(epochs_ahead),
                )
            ],
        )
        return self.get_storage(str(r.results[0]))

    def register_blob(
        self,
        signer: Account,
        storage_id: str,
        blob_id: BlobId,
        root: bytes,
        size: int,
        encoding_type: int,
        deletable: bool,
    ) -> BlobObject:
        """Register a blob into owned storage."""
        r = self.submit(
            signer,
            [
                call(
                    "blob::register_blob",
                    obj(self.system_id),
                    obj(storage_id),
                    pure(int(blob_id)),
                    pure(int.from_bytes(root, "little")),
                    pure(size),
                    pure(encoding_type),
                    pure(deletable),
                )
            ],
        )
        return self.get_blob(str(r.results[0]))

    def reserve_and_register(
        self,
        signer: Account,
        blob_id: BlobId,
        root: bytes,
        size: int,
        encoding_type: int,
        epochs_ahead: int,
        deletable: bool,
    ) -> BlobObject:
        """Reserve exactly the encoded length and register, in one transaction."""
        return self.reserve_and_register_paid(
            signer, blob_id, root, size, encoding_type, epochs_ahead, deletable
        ).blob

    def reserve_and_register_paid(
        self,
        signer: Account,
        blob_id: BlobId,
        root: bytes,
        size: int,
        encoding_type: int,
        epochs_ahead: int,
        deletable: bool,
        attributes: Mapping[str, str] | None = None,
    ) -> PaidRegistration:
        """`reserve_and_register`, with what that one transaction paid; `attributes` are set
        in the same transaction."""
        needed = reservation_length(self.system().n_shards, size, encoding_type)
        set_attributes = [
            call("blob::set_attribute", res(1), pure(k), pure(v))
            for k, v in (attributes or {}).items()
        ]
        r = self.submit(
            signer,
            [
                call(
                    "system::reserve_space", obj(self.system_id), pure(needed), pure(epochs_ahead)
                ),
                call(
                    "blob::register_blob",
                    obj(self.system_id),
                    res(0),
                    pure(int(blob_id)),
                    pure(int.from_bytes(root, "little")),
                    pure(size),
                    pure(encoding_type),
                    pure(deletable),
                ),
                *set_attributes,
            ],
        )
        return PaidRegistration(self.get_blob(str(r.results[1])), r.paid, r.digest)

    def certify_blob(self, signer: Account, object_id: str, certificate: Certificate) -> BlobObject:
        """Certify with a quorum certificate."""
        self.submit(
            signer,
            [
                call(
                    "blob::certify_blob",
                    obj(self.system_id),
                    obj(object_id),
                    pure_bytes(certificate.signature),
                    pure_bytes(certificate.signers),
                    pure_bytes(certificate.message),
                )
            ],
        )
        return self.get_blob(object_id)

    def extend_blob(self, signer: Account, object_id: str, epochs: int) -> BlobObject:
        """Pay for more epochs."""
        self.submit(
            signer, [call("blob::extend_blob", obj(self.system_id), obj(object_id), pure(epochs))]
        )
        return self.get_blob(object_id)

    def extend_blobs(self, signer: Account, extensions: Sequence[tuple[str, int]]) -> BatchResult:
        """Extend several blobs in one transaction (one Move call each): all or none."""
        r = self.submit(
            signer,
            [
                call("blob::extend_blob", obj(self.system_id), obj(oid), pure(epochs))
                for oid, epochs in extensions
            ],
        )
        return BatchResult(r.digest)

    def delete_blobs(self, signer: Account, object_ids: Sequence[str]) -> BatchResult:
        """Delete several deletable blobs in one transaction: all or none."""
        r = self.submit(
            signer, [call("blob::delete_blob", obj(self.system_id), obj(oid)) for oid in object_ids]
        )
        return BatchResult(r.digest, tuple(str(s) for s in r.results))

    def burn_blobs(self, signer: Account, object_ids: Sequence[str]) -> BatchResult:
        """Burn several Blob objects in one transaction: all or none."""
        r = self.submit(signer, [call("blob::burn", obj(oid)) for oid in object_ids])
        return BatchResult(r.digest)

    def share_blob(self, signer: Account, object_id: str, funds: int = 0) -> str:
        """Wrap a certified Blob in a shared SharedBlob; returns its id."""
        if funds:
            r = self.submit(signer, [call("shared_blob::new_funded", obj(object_id), pure(funds))])
        else:
            r = self.submit(signer, [call("shared_blob::new", obj(object_id))])
        return str(r.results[0])

    def fund_shared_blob(self, signer: Account, shared_blob_id: str, amount: int) -> SharedBlobView:
        """Add the signer's MIST to a SharedBlob."""
        self.submit(signer, [call("shared_blob::fund", obj(shared_blob_id), pure(amount))])
        return self.get_shared_blob(shared_blob_id)

    def extend_shared_blob(
        self, signer: Account, shared_blob_id: str, epochs: int
    ) -> SharedBlobView:
        """Extend a SharedBlob's Blob from its funds."""
        self.submit(
            signer,
            [call("shared_blob::extend", obj(shared_blob_id), obj(self.system_id), pure(epochs))],
        )
        return self.get_shared_blob(shared_blob_id)

    def get_shared_blob(self, shared_blob_id: str) -> SharedBlobView:
        """A SharedBlob with its wrapped Blob."""
        _, d = self._row(shared_blob_id, "shared_blob::SharedBlob")
        return SharedBlobView(shared_blob_id, self.get_blob(d["blob"]), d["funds"])

    def delete_blob(self, signer: Account, object_id: str) -> StorageResource:
        """Delete a deletable blob; returns the freed Storage."""
        r = self.submit(signer, [call("blob::delete_blob", obj(self.system_id), obj(object_id))])
        return self.get_storage(str(r.results[0]))

    def burn(self, signer: Account, object_id: str) -> None:
        """Destroy a Blob object."""
        self.submit(signer, [call("blob::burn", obj(object_id))])

    def set_attribute(self, signer: Account, object_id: str, key: str, value: str) -> None:
        """Set an attribute."""
        self.submit(signer, [call("blob::set_attribute", obj(object_id), pure(key), pure(value))])

    def remove_attribute(self, signer: Account, object_id: str, key: str) -> None:
        """Remove an attribute."""
        self.submit(signer, [call("blob::remove_attribute", obj(object_id), pure(key))])

    def invalidate_blob_id(self, signer: Account, certificate: Certificate) -> BlobId:
        """Record a blob id as invalid."""
        r = self.submit(
            signer,
            [
                call(
                    "system::invalidate_blob_id",
                    obj(self.system_id),
                    pure_bytes(certificate.signature),
                    pure_bytes(certificate.signers),
                    pure_bytes(certificate.message),
                )
            ],
        )
        return BlobId.from_int(int(r.results[0]))

    def split_storage_by_epoch(
        self, signer: Account, storage_id: str, epoch: int
    ) -> StorageResource:
        """Split storage at an epoch; returns the later part."""
        r = self.submit(
            signer, [call("storage_resource::split_by_epoch", obj(storage_id), pure(epoch))]
        )
        return self.get_storage(str(r.results[0]))

    def split_storage_by_size(self, signer: Account, storage_id: str, size: int) -> StorageResource:
        """Split off `size` bytes; returns the new part."""
        r = self.submit(
            signer, [call("storage_resource::split_by_size", obj(storage_id), pure(size))]
        )
        return self.get_storage(str(r.results[0]))

    def fuse_storage(self, signer: Account, first: str, second: str) -> StorageResource:
        """Fuse `second` into `first`."""
        self.submit(signer, [call("storage_resource::fuse", obj(first), obj(second))])
        return self.get_storage(first)

    def transfer(self, signer: Account, object_id: str, recipient: str) -> None:
        """Transfer an owned object."""
        self.submit(signer, [{"call": "transfer", "args": [obj(object_id), pure(recipient)]}])

    # -- reads ------------------------------------------------------------------------------

    def _row(self, object_id: str, expect: str) -> tuple[str | None, dict[str, Any]]:
        row = (
            self._conn()
            .execute("SELECT type, owner, data FROM objects WHERE id = ?", (object_id,))
            .fetchone()
        )
        if row is None or row[0] != expect:
            raise ObjectNotFound(f"no live {expect.split('::')[-1]} object {object_id}")
        return row[1], json.loads(row[2])

    def system(self) -> SystemState:
        """The System object."""
        _, d = self._row(self.system_id, "system::System")
        committee = _committee_of(d) if d["members"] else None
        nodes = tuple(
            NodeInfo(nid, n["name"], n["url"], bytes.fromhex(n["public_key"]), n["address"])
            for nid, n in d["nodes"].items()
        )
        return SystemState(
            self.system_id,
            d["version"],
            d["epoch"],
            d["epoch_start_ms"],
            d["epoch_duration_ms"],
            d["n_shards"],
            committee,
            d["total_capacity"],
            d["usage"][d["epoch"] % d["max_epochs_ahead"]],
            d["storage_price"],
            d["write_price"],
            d["max_epochs_ahead"],
            nodes,
            _committee_of(d, "previous_members") if d.get("previous_members") else None,
            int(d.get("change_epoch", 0)),
            bool(d.get("changing")),
            tuple(d.get("received", ())),
            tuple(
                PoolInfo(nid, p["stake"], p["shares"], p["active"])
                for nid, p in d.get("pools", {}).items()
            ),
        )

    def get_staked(self, object_id: str) -> StakedView:
        """A stake receipt."""
        _, s = self._row(object_id, machine_staking.STAKED_TYPE)
        return StakedView(
            object_id,
            s["node_id"],
            s["shares"],
            s["principal"],
            s["withdrawing"],
            s["withdraw_epoch"],
            s["withdraw_amount"],
        )

    def get_blob(self, object_id: str) -> BlobObject:
        """A Blob object."""
        owner, b = self._row(object_id, "blob::Blob")
        return BlobObject(
            object_id,
            b["registered_epoch"],
            BlobId.from_int(int(b["blob_id"])),
            b["size"],
            b["encoding_type"],
            b["certified_epoch"],
            _storage_view(b["storage"]),
            b["deletable"],
            owner or "",
            dict(b["attributes"]),
        )

    def get_storage(self, object_id: str) -> StorageResource:
        """A Storage object."""
        _, s = self._row(object_id, "storage_resource::Storage")
        return StorageResource(object_id, s["start_epoch"], s["end_epoch"], s["storage_size"])

    def owner_of(self, object_id: str) -> str | None:
        """Owner address of an object (None when shared)."""
        row = (
            self._conn().execute("SELECT owner FROM objects WHERE id = ?", (object_id,)).fetchone()
        )
        if row is None:
            raise ObjectNotFound(f"no live object {object_id}")
        return row[0]

    def events(self, after: int | None = None, limit: int = 1000) -> list[ChainEvent]:
        """Events with cursor > `after`, oldest first."""
        rows = (
            self._conn()
            .execute(
                "SELECT seq, tx_digest, sender, timestamp_ms, type, fields FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (after or 0, limit),
            )
            .fetchall()
        )
        return [
            ChainEvent(r[0], r[1], r[2], r[3], parse_event(r[4], json.loads(r[5]))) for r in rows
        ]
