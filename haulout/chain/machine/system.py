"""Mirror of `system.move`: the System object, nodes, committee, prices, epochs, storage
purchase and invalid blob ids; same checks in the same order, same aborts and events."""

from __future__ import annotations

from haulout.protocol import bls
from haulout.protocol.blob_id import BlobId
from haulout.protocol.messages import proof_of_possession
from haulout.protocol.params import storage_units

from .. import calls
from ..encoding_rules import MAX_SYSTEM_SHARDS
from ..events import (
    CommitteeChanged,
    EpochAdvanced,
    InvalidBlobID,
    NodeRegistered,
    PricesUpdated,
    StorageReserved,
)
from ..txcontext import MoveObj, TxContext, abort
from .committee import parse_message, verify_signers
from .registry import mirrors

SYSTEM_VERSION = 1


def pay(ctx: TxContext, system: MoveObj, amount: int) -> None:
    """`coin.split(amount)` into the System's balance; aborts when the coin is too small."""
    row = ctx.conn.execute(
        "SELECT amount FROM balances WHERE address = ?", (ctx.sender,)
    ).fetchone()
    have = row[0] if row else 0
    if have < amount:
        raise abort("system", "EInsufficientPayment", f"needs {amount} MIST, the sender has {have}")
    ctx.conn.execute(
        "UPDATE balances SET amount = amount - ? WHERE address = ?", (amount, ctx.sender)
    )
    system.data["balance"] += amount
    ctx.paid += amount


def _ring(system: MoveObj) -> list[int]:
    usage: list[int] = system.data["usage"]
    return usage


def reserve_capacity(system: MoveObj, size: int, start: int, end: int) -> None:
    d = system.data
    usage, total, length = _ring(system), d["total_capacity"], d["max_epochs_ahead"]
    for e in range(start, end):
        if usage[e % length] + size > total:
            raise abort(
                "system",
                "EStorageExceeded",
                f"epoch {e} has {total - usage[e % length]} of {total} bytes free, {size} requested",
            )
    for e in range(start, end):
        usage[e % length] += size


@mirrors(calls.system.CREATE_SYSTEM)
def fn_create_system(
    ctx: TxContext,
    cap: MoveObj,
    n_shards: int,
    epoch_duration_ms: int,
    storage_price: int,
    write_price: int,
    total_capacity: int,
    max_epochs_ahead: int,
) -> str:
    if not 1 <= n_shards <= MAX_SYSTEM_SHARDS:
        raise abort(
            "system", "EInvalidShardCount", f"got {n_shards}, allowed 1..{MAX_SYSTEM_SHARDS}"
        )
    if not 1 <= max_epochs_ahead <= 1000:
        raise abort("system", "EInvalidEpochsAhead", f"max_epochs_ahead {max_epochs_ahead}")
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
        },
    )
    system.owner = None  # transfer::share_object
    ctx.emit(PricesUpdated(0, storage_price, write_price))
    return system.id


@mirrors(calls.system.REGISTER_NODE)
def fn_register_node(
    ctx: TxContext,
    system: MoveObj,
    cap: MoveObj,
    name: str,
    url: str,
    public_key: bytes,
    pop: bytes,
    node_address: str,
) -> str:
    d = system.data
    if any(n["public_key"] == public_key.hex() for n in d["nodes"].values()):
        raise abort("system", "ENodeAlreadyRegistered", f"key {public_key.hex()[:16]}…")
    address = bytes.fromhex(node_address.removeprefix("0x").rjust(64, "0"))
    message = proof_of_possession(d["epoch"], public_key, address) if len(public_key) == 48 else b""
    if not message or not bls.verify(public_key, message, pop):
        raise abort("system", "EInvalidProofOfPossession", f"node {name}")
    node_id = ctx.fresh_id()
    d["nodes"][node_id] = {
        "name": name,
        "url": url,
        "public_key": public_key.hex(),
        "address": node_address,
    }
    ctx.emit(NodeRegistered(node_id, name, url, public_key.hex()))
    return node_id


@mirrors(calls.system.SET_COMMITTEE)
def fn_set_committee(
    ctx: TxContext, system: MoveObj, cap: MoveObj, node_ids: list[str], shards: list[list[int]]
) -> None:
    d = system.data
    if len(node_ids) != len(shards) or not node_ids:
        raise abort("system", "EInvalidCommittee", "one shard list per node, at least one node")
    for nid in node_ids:
        if nid not in d["nodes"]:
            raise abort("system", "EUnknownNode", nid)
    seen = [False] * d["n_shards"]
    for lst in shards:
        for s in lst:
            if not 0 <= s < d["n_shards"] or seen[s]:
                raise abort(
                    "system", "EInvalidCommittee", f"shard {s} out of range or assigned twice"
                )
            seen[s] = True
    if not all(seen) or len(set(node_ids)) != len(node_ids):
        raise abort("system", "EInvalidCommittee", "every shard exactly once, each node once")
    if d["members"]:  # who held each shard before: readers and new owners fetch from them
        d["previous_members"] = d["members"]
    d["members"] = [
        {"node_id": n, "shards": list(s)} for n, s in zip(node_ids, shards, strict=True)
    ]
    ctx.emit(CommitteeChanged(d["epoch"], list(node_ids), d["n_shards"]))


@mirrors(calls.system.SET_PRICES)
def fn_set_prices(
    ctx: TxContext, system: MoveObj, cap: MoveObj, storage_price: int, write_price: int
) -> None:
    system.data["storage_price"], system.data["write_price"] = storage_price, write_price
    ctx.emit(PricesUpdated(system.data["epoch"], storage_price, write_price))


@mirrors(calls.system.SET_CAPACITY)
def fn_set_capacity(ctx: TxContext, system: MoveObj, cap: MoveObj, total_capacity: int) -> None:
    system.data["total_capacity"] = total_capacity


def _next_epoch(ctx: TxContext, system: MoveObj) -> int:
    d = system.data
    usage, length = _ring(system), d["max_epochs_ahead"]
    usage[d["epoch"] % length] = 0  # that slot now stands for epoch + max_epochs_ahead
    d["epoch"] += 1
    d["epoch_start_ms"] = ctx.now_ms
    ctx.emit(EpochAdvanced(d["epoch"], ctx.now_ms))
    return int(d["epoch"])


@mirrors(calls.system.ADVANCE_EPOCH)
def fn_advance_epoch(ctx: TxContext, system: MoveObj) -> int:
    d = system.data
    due = d["epoch_start_ms"] + d["epoch_duration_ms"]
    if ctx.now_ms < due:
        raise abort("system", "EEpochNotOver", f"epoch {d['epoch']} ends in {due - ctx.now_ms} ms")
    return _next_epoch(ctx, system)


@mirrors(calls.system.FORCE_ADVANCE_EPOCH)
def fn_force_advance_epoch(ctx: TxContext, system: MoveObj, cap: MoveObj) -> int:
    return _next_epoch(ctx, system)


@mirrors(calls.system.RESERVE_SPACE)
def fn_reserve_space(ctx: TxContext, system: MoveObj, storage_size: int, epochs_ahead: int) -> str:
    d = system.data
    if storage_size <= 0:
        raise abort("system", "EInvalidSize")
    if not 1 <= epochs_ahead <= d["max_epochs_ahead"]:
        raise abort(
            "system", "EInvalidEpochsAhead", f"asked {epochs_ahead}, max {d['max_epochs_ahead']}"
        )
    start, end = d["epoch"], d["epoch"] + epochs_ahead
    reserve_capacity(system, storage_size, start, end)
    cost = d["storage_price"] * storage_units(storage_size) * epochs_ahead
    pay(ctx, system, cost)
    storage = ctx.create(
        "storage_resource::Storage",
        {"start_epoch": start, "end_epoch": end, "storage_size": storage_size},
    )
    ctx.emit(StorageReserved(d["epoch"], storage.id, start, end, storage_size, cost))
    return storage.id


@mirrors(calls.system.INVALIDATE_BLOB_ID)
def fn_invalidate_blob_id(
    ctx: TxContext, system: MoveObj, signature: bytes, signers: bytes, message: bytes
) -> int:
    d = system.data
    epoch, body = parse_message(message, 2)
    if len(body) != 32:
        raise abort("messages", "EInvalidMessageLength", "invalid-blob body is 32 bytes")
    if epoch != d["epoch"]:
        raise abort("committee", "EWrongEpoch", f"message epoch {epoch}, current {d['epoch']}")
    verify_signers(d, signature, signers, message, quorum=False)
    blob_id = int.from_bytes(body, "little")
    if str(blob_id) not in d["invalid_ids"]:
        d["invalid_ids"].append(str(blob_id))
    ctx.emit(InvalidBlobID(d["epoch"], BlobId.from_int(blob_id)))
    return blob_id
