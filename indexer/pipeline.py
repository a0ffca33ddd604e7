"""The indexing pipeline: a pure `process(events) -> Batch`, then `commit(batch)` that writes
every row and the cursor in one database transaction. A crash at any point leaves the
database as it was before the batch; a restart resumes exactly after the last commit, and
replaying events changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from haulout.chain.events import (
    BlobAttributeRemoved,
    BlobAttributeSet,
    BlobCertified,
    BlobDeleted,
    BlobRegistered,
    ChainEvent,
    CommitteeChanged,
    EpochAdvanced,
    InvalidBlobID,
    NodeRegistered,
    PricesUpdated,
    StorageReserved,
)

from .buckets import BUCKET_EVENTS, write_buckets
from .models import (
    Base,
    Blob,
    BlobAttribute,
    ChainEventRow,
    CommitteeMember,
    Cursor,
    DeadLetter,
    Epoch,
    InvalidBlob,
    Node,
    Price,
    StorageReservation,
)
from .staking import StakingRows
from .text import text_hash

PIPELINE = "haulout_events"
Fault = Callable[[str], None]


@dataclass
class Batch:
    """The rows one batch of events produces, in event order where order matters."""

    cursor: int
    events: list[dict[str, Any]] = field(default_factory=list)
    blob_changes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    attribute_changes: list[tuple[str, str, str | None]] = field(default_factory=list)
    reservations: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)
    prices: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    bucket_events: list[ChainEvent] = field(default_factory=list)
    staking: StakingRows = field(default_factory=StakingRows)


def process(events: Sequence[ChainEvent], cursor: int) -> Batch:
    """Pure: events → rows. No I/O."""
    batch = Batch(cursor)
    for ce in events:
        ev = ce.event
        fields = ev.to_fields()
        batch.events.append(
            {
                "cursor": ce.cursor,
                "tx_digest": ce.tx_digest,
                "sender": ce.sender,
                "timestamp_ms": ce.timestamp_ms,
                "type": ev.NAME,
                "blob_id": str(ev.blob_id) if hasattr(ev, "blob_id") else None,
                "object_id": getattr(ev, "object_id", None),
                "fields": json.dumps(fields, sort_keys=True),
            }
        )
        if isinstance(ev, BlobRegistered):
            batch.blob_changes.append(
                (
                    ev.object_id,
                    {
                        "op": "register",
                        "object_id": ev.object_id,
                        "blob_id": str(ev.blob_id),
                        "owner": ce.sender,
                        "size": ev.size,
                        "encoding_type": ev.encoding_type,
                        "registered_epoch": ev.epoch,
                        "certified_epoch": None,
                        "end_epoch": ev.end_epoch,
                        "deletable": ev.deletable,
                        "status": "registered",
                        "content_type": None,
                        "deleted_epoch": None,
                        "registered_cursor": ce.cursor,
                        "updated_cursor": ce.cursor,
                        "registered_ms": ce.timestamp_ms,
                        "certified_ms": None,
                        "deleted_ms": None,
                    },
                )
            )
        elif isinstance(ev, BlobCertified):
            change: dict[str, Any] = {
                "op": "update",
                "end_epoch": ev.end_epoch,
                "updated_cursor": ce.cursor,
            }
            if not ev.is_extension:
                change.update(
                    status="certified", certified_epoch=ev.epoch, certified_ms=ce.timestamp_ms
                )
            batch.blob_changes.append((ev.object_id, change))
        elif isinstance(ev, BlobDeleted):
            batch.blob_changes.append(
                (
                    ev.object_id,
                    {
                        "op": "update",
                        "status": "deleted",
                        "deleted_epoch": ev.epoch,
                        "deleted_ms": ce.timestamp_ms,
                        "updated_cursor": ce.cursor,
                    },
                )
            )
        elif isinstance(ev, BlobAttributeSet):
            batch.attribute_changes.append((ev.object_id, ev.key, ev.value))
            if ev.key.lower() == "content-type":
                batch.blob_changes.append(
                    (
                        ev.object_id,
                        {
                            "op": "update",
                            "content_type": ev.value,
                            "updated_cursor": ce.cursor,
                        },
                    )
                )
        elif isinstance(ev, BlobAttributeRemoved):
            batch.attribute_changes.append((ev.object_id, ev.key, None))
            if ev.key.lower() == "content-type":
                batch.blob_changes.append(
                    (
                        ev.object_id,
                        {"op": "update", "content_type": None, "updated_cursor": ce.cursor},
                    )
                )
        elif isinstance(ev, StorageReserved):
            batch.reservations.append(
                {
                    "storage_id": ev.storage_id,
                    "owner": ce.sender,
                    "epoch": ev.epoch,
                    "start_epoch": ev.start_epoch,
                    "end_epoch": ev.end_epoch,
                    "storage_size": ev.storage_size,
                    "paid": ev.paid,
                }
            )
        elif isinstance(ev, EpochAdvanced):
            batch.epochs.append({"epoch": ev.epoch, "start_ms": ev.start_ms})
        elif isinstance(ev, NodeRegistered):
            batch.nodes.append(
                {"node_id": ev.node_id, "name": ev.name, "url": ev.url, "public_key": ev.public_key}
            )
        elif isinstance(ev, CommitteeChanged):
            batch.members.extend(
                {
                    "cursor": ce.cursor,
                    "position": i,
                    "epoch": ev.epoch,
                    "node_id": n,
                    "n_shards": ev.n_shards,
                }
                for i, n in enumerate(ev.members)
            )
        elif isinstance(ev, PricesUpdated):
            batch.prices.append(
                {
                    "cursor": ce.cursor,
                    "epoch": ev.epoch,
                    "storage_price": ev.storage_price,
                    "write_price": ev.write_price,
                    "timestamp_ms": ce.timestamp_ms,
                }
            )
            if ev.epoch == 0 and not batch.epochs and ce.cursor <= 2:
                batch.epochs.append({"epoch": 0, "start_ms": ce.timestamp_ms})
        elif isinstance(ev, InvalidBlobID):
            batch.invalid.append({"blob_id": str(ev.blob_id), "epoch": ev.epoch})
        elif isinstance(ev, BUCKET_EVENTS):
            batch.bucket_events.append(ce)
        else:
            batch.staking.add(ce)
        batch.cursor = ce.cursor
    return batch


def _t(model: type[Base]) -> Table:
    """The model's Table (typed)."""
    table: Table = model.__table__  # type: ignore[assignment]
    return table


def _insert(conn: Connection, table: Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _upsert(
    conn: Connection, table: Table, rows: list[dict[str, Any]], keys: list[str], update: bool = True
) -> None:
    if not rows:
        return
    stmt = _insert(conn, table)
    if update:
        cols = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
        stmt = (
            stmt.on_conflict_do_update(index_elements=keys, set_=cols)
            if cols
            else stmt.on_conflict_do_nothing(index_elements=keys)
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    conn.execute(stmt, rows)


def _fold_blobs(
    conn: Connection, changes: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Apply this batch's blob changes, in order, on top of the rows already stored."""
    ids = sorted({oid for oid, _ in changes})
    table = _t(Blob)
    current: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), 500):
        query = select(table).where(table.c.object_id.in_(ids[i : i + 500]))
        for found in conn.execute(query).mappings():
            current[found["object_id"]] = dict(found)
    for oid, change in changes:
        if change["op"] == "register":
            if oid not in current:
                current[oid] = {k: v for k, v in change.items() if k != "op"}
        elif oid in current:
            row = current[oid]
            if change["updated_cursor"] < row["updated_cursor"]:
                continue  # replay of an event already reflected
            if row["status"] == "deleted" and change.get("status") == "certified":
                continue
            row.update({k: v for k, v in change.items() if k != "op"})
    return [current[oid] for oid in ids if oid in current]


def commit(conn: Connection, batch: Batch, fault: Fault | None = None) -> None:
    """Write the batch, its dead letters and the cursor in one transaction (the caller's
    `conn.begin()`)."""
    write_rows(conn, batch, fault)
    _upsert(conn, _t(DeadLetter), batch.dead_letters, ["cursor"], update=False)
    if fault is not None:
        fault("cursor")
    cursor = max(batch.cursor, stored_cursor(conn))  # a replayed batch never moves it back
    _upsert(conn, _t(Cursor), [{"pipeline": PIPELINE, "cursor": cursor}], ["pipeline"])
    if fault is not None:
        fault("done")


def write_rows(conn: Connection, batch: Batch, fault: Fault | None = None) -> None:
    """Write the batch's rows (not the cursor) on the caller's transaction."""

    def step(name: str) -> None:
        if fault is not None:
            fault(name)

    step("events")
    _upsert(conn, _t(ChainEventRow), batch.events, ["cursor"], update=False)
    step("blobs")
    _upsert(conn, _t(Blob), _fold_blobs(conn, batch.blob_changes), ["object_id"])
    step("attributes")
    final: dict[tuple[str, str], str | None] = {}
    for oid, key, value in batch.attribute_changes:
        final[(oid, key)] = value
    _upsert(
        conn,
        _t(BlobAttribute),
        [
            {
                "object_id": o,
                "key_hash": text_hash(k),
                "key": k,
                "value": v,
                "value_hash": text_hash(v),
            }
            for (o, k), v in final.items()
            if v is not None
        ],
        ["object_id", "key_hash"],
    )
    table = _t(BlobAttribute)
    for (o, k), v in final.items():
        if v is None:
            conn.execute(
                delete(table).where(table.c.object_id == o, table.c.key_hash == text_hash(k))
            )
    step("reference")
    _upsert(conn, _t(StorageReservation), batch.reservations, ["storage_id"])
    _upsert(conn, _t(Epoch), batch.epochs, ["epoch"])
    _upsert(conn, _t(Node), batch.nodes, ["node_id"])
    _upsert(conn, _t(CommitteeMember), batch.members, ["cursor", "position"])
    _upsert(conn, _t(Price), batch.prices, ["cursor"])
    _upsert(conn, _t(InvalidBlob), batch.invalid, ["blob_id"])
    step("buckets")
    write_buckets(conn, batch.bucket_events)
    step("staking")
    batch.staking.write(conn, _upsert)


def stored_cursor(conn: Connection) -> int:
    """The last committed cursor (0 before the first batch)."""
    table = _t(Cursor)
    value = conn.execute(select(table.c.cursor).where(table.c.pipeline == PIPELINE)).scalar()
    return int(value or 0)


def dead_letter_count(conn: Connection) -> int:
    """How many events were dead-lettered."""
    table = _t(DeadLetter)
    return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def touched_objects(batch: Batch) -> list[str]:
    """The Blob objects a batch changed (their owner may have changed too)."""
    return sorted(
        {oid for oid, _ in batch.blob_changes} | {o for o, _, _ in batch.attribute_changes}
    )
