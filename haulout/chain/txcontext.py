"""The context one DevChain transaction runs in: the objects it loaded, created and deleted,
its events and payments, flushed to the ledger in one SQLite transaction or dropped.

The state-machine mirrors (`haulout/chain/machine/`) take a `TxContext` as Move functions take
`&mut TxContext`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from haulout.protocol.hashing import blake2b256

from .errors import InvalidTransaction, MoveAbort, ObjectNotFound, ObjectNotOwned
from .events import Event


@dataclass
class MoveObj:
    """A Move object as the ledger keeps it: type `module::Struct`, owner (None when shared;
    an object id when wrapped), fields as JSON-able data."""

    id: str
    type: str
    owner: str | None
    data: dict[str, Any]
    version: int = 0
    created: bool = False


class TxContext:
    """State of one executing transaction; flushed in one SQLite transaction or dropped."""

    def __init__(self, conn: sqlite3.Connection, sender: str, digest: str, now_ms: int) -> None:
        self.conn, self.sender, self.digest, self.now_ms = conn, sender, digest, now_ms
        self.objects: dict[str, MoveObj] = {}
        self.deleted: set[str] = set()
        self.events: list[Event] = []
        self.counter = 0
        self.paid = 0

    def fresh_id(self) -> str:
        """A new object id, derived from the digest and a counter (`object::new`)."""
        self.counter += 1
        return (
            "0x" + blake2b256(bytes.fromhex(self.digest) + self.counter.to_bytes(8, "little")).hex()
        )

    def load(
        self, object_id: str, expect: str | None = None, wrapper: str | None = None
    ) -> MoveObj:
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
            obj = MoveObj(row[0], row[1], row[2], json.loads(row[4]), row[3])
            if obj.owner is not None and obj.owner not in (self.sender, wrapper):
                raise ObjectNotOwned(
                    f"object {object_id} ({obj.type}) is owned by {obj.owner}, not by the sender "
                    f"{self.sender}; only its owner may use it"
                )
            self.objects[object_id] = obj
        if expect is not None and obj.type != expect:
            raise InvalidTransaction(f"object {object_id} is a {obj.type}, expected a {expect}")
        return obj

    def create(self, type_: str, data: dict[str, Any], object_id: str | None = None) -> MoveObj:
        """A new object owned by the sender (`object_id` to unwrap one that keeps its id)."""
        obj = MoveObj(object_id or self.fresh_id(), type_, self.sender, data, 0, True)
        self.objects[obj.id] = obj
        return obj

    def delete(self, obj: MoveObj) -> None:
        """Consume an object (deleted, or wrapped into another)."""
        self.objects.pop(obj.id, None)
        self.deleted.add(obj.id)

    def emit(self, event: Event) -> None:
        """Emit an event (`event::emit`)."""
        self.events.append(event)

    def flush(self) -> None:
        """Write the objects, deletions and events (inside the caller's SQLite transaction)."""
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


def abort(module: str, name: str, detail: str = "") -> MoveAbort:
    """The typed error of a Move `abort` with the named code of `module`."""
    return MoveAbort.named(module, name, detail)
