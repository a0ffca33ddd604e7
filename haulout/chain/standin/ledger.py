"""The stand-in's Sui-side records beside DevChain's tables in the same SQLite file: every
live object's version, digest, owner, type and BCS contents (gas coins, packages and dynamic
fields included, which DevChain does not model), executed transactions and checkpoints.

Object digests and transaction digests are computed as Sui computes them
(`blake2b-256("Object::" ‖ bcs(Object))`, `blake2b-256("TransactionData::" ‖ tx bytes)`,
Base58), so references a client builds from one answer are checked byte for byte later.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from dataclasses import dataclass
from typing import Any

import base58

from .move_types import MoveType, Package, parse_type
from .values import _uleb, canonical_address

SCHEMA = """
CREATE TABLE IF NOT EXISTS sui_objects (
  id TEXT PRIMARY KEY, move_type TEXT NOT NULL, package TEXT NOT NULL,
  owner_kind TEXT NOT NULL, owner TEXT, shared_version INTEGER,
  version INTEGER NOT NULL, digest TEXT NOT NULL, prev_tx TEXT NOT NULL,
  rebate INTEGER NOT NULL, contents BLOB NOT NULL, live INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS sui_objects_owner ON sui_objects (owner, live);
CREATE TABLE IF NOT EXISTS sui_transactions (
  digest TEXT PRIMARY KEY, checkpoint INTEGER NOT NULL, position INTEGER NOT NULL,
  executed BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sui_checkpoints (
  seq INTEGER PRIMARY KEY, timestamp_ms INTEGER NOT NULL, digest TEXT NOT NULL
);
"""

GENESIS_DIGEST = "1" * 32
"""Base58 of 32 zero bytes: the previous transaction of genesis objects."""

SUI_COIN = "0x2::coin::Coin<0x2::sui::SUI>"
PACKAGE = "package"
STORAGE_BYTE_COST = 7600
"""MIST per stored byte: Sui's storage price (76 per unit) × 100 units per byte."""
OBJECT_OVERHEAD = 100
"""Bytes charged per object beyond its BCS (Sui's metadata overhead)."""


def digest_text(raw: bytes) -> str:
    """Base58, as Sui prints digests."""
    return base58.b58encode(raw).decode()


def tx_digest(tx_bytes: bytes) -> bytes:
    """Sui's transaction digest: blake2b-256 of `TransactionData::` ‖ BCS."""
    return hashlib.blake2b(b"TransactionData::" + tx_bytes, digest_size=32).digest()


@dataclass
class Row:
    """One object's record: what GetObject answers and what inputs are checked against."""

    id: str
    move_type: str
    package: str
    owner_kind: str  # "address" | "object" | "shared" | "immutable"
    owner: str | None
    shared_version: int | None
    version: int
    digest: str
    prev_tx: str
    rebate: int
    contents: bytes

    @property
    def type(self) -> MoveType:
        """The Move type (`haulout::…` for package structs)."""
        return parse_type(self.move_type)

    def type_tag(self) -> str:
        """The type as Sui prints it, or `package`."""
        return PACKAGE if self.move_type == PACKAGE else self.type.tag(self.package)


def _type_tag_bcs(t: MoveType, package: str) -> bytes:
    codes = {"bool": 0, "u8": 1, "u64": 2, "u128": 3, "address": 4, "signer": 5}
    codes |= {"u16": 8, "u32": 9, "u256": 10}
    if t.name in codes:
        return bytes([codes[t.name]])
    if t.name == "vector":
        return b"\x06" + _type_tag_bcs(t.args[0], package)
    return b"\x07" + _struct_tag_bcs(t, package)


def _struct_tag_bcs(t: MoveType, package: str) -> bytes:
    addr, module, name = t.tag(package).split("<")[0].split("::")
    out = bytes.fromhex(addr[2:])
    for text in (module, name):
        out += _uleb(len(text)) + text.encode()
    return out + _uleb(len(t.args)) + b"".join(_type_tag_bcs(a, package) for a in t.args)


def owner_bcs(kind: str, owner: str | None, shared_version: int | None) -> bytes:
    """BCS of Sui's `Owner` enum."""
    if kind == "address":
        return b"\x00" + bytes.fromhex(canonical_address(owner or "")[2:])
    if kind == "object":
        return b"\x01" + bytes.fromhex(canonical_address(owner or "")[2:])
    if kind == "shared":
        return b"\x02" + struct.pack("<Q", shared_version or 0)
    return b"\x03"


def object_bcs(row: Row, pkg: Package) -> bytes:
    """BCS of Sui's `Object` (a Move object; packages are answered without BCS)."""
    t = row.type
    if row.move_type == SUI_COIN:
        type_bcs = b"\x01"  # MoveObjectType::GasCoin
    else:
        type_bcs = b"\x00" + _struct_tag_bcs(t, row.package)
    public_transfer = "store" in pkg.abilities.get(t.name, {"store"})
    data = (
        b"\x00"  # Data::Move
        + type_bcs
        + (b"\x01" if public_transfer else b"\x00")
        + struct.pack("<Q", row.version)
        + _uleb(len(row.contents))
        + row.contents
    )
    prev = base58.b58decode(row.prev_tx)
    return (
        data
        + owner_bcs(row.owner_kind, row.owner, row.shared_version)
        + _uleb(len(prev))
        + prev
        + struct.pack("<Q", row.rebate)
    )


def object_digest(row: Row, pkg: Package) -> str:
    """Sui's object digest of the row as it stands."""
    if row.move_type == PACKAGE:
        raw = hashlib.blake2b(
            b"Object::" + row.id.encode() + struct.pack("<Q", row.version), digest_size=32
        ).digest()
    else:
        raw = hashlib.blake2b(b"Object::" + object_bcs(row, pkg), digest_size=32).digest()
    return digest_text(raw)


def storage_cost(row: Row) -> int:
    """What storing the row costs (and is rebated when it is deleted or rewritten)."""
    return (len(row.contents) + OBJECT_OVERHEAD) * STORAGE_BYTE_COST


class Objects:
    """Read and write `sui_objects` on one connection (inside the caller's transaction)."""

    COLUMNS = (
        "id, move_type, package, owner_kind, owner, shared_version, version, digest, prev_tx, "
        "rebate, contents"
    )

    def __init__(self, conn: sqlite3.Connection, pkg: Package) -> None:
        self.conn, self.pkg = conn, pkg

    def get(self, object_id: str, live_only: bool = True) -> Row | None:
        """The object's record, or None."""
        row = self.conn.execute(
            f"SELECT {self.COLUMNS} FROM sui_objects WHERE id = ?"
            + (" AND live = 1" if live_only else ""),
            (canonical_address(object_id),),
        ).fetchone()
        return Row(*row) if row else None

    def owned_by(self, owner: str, move_type: str | None, after: str, limit: int) -> list[Row]:
        """Live objects an address owns, by id, from `after` on."""
        sql = f"SELECT {self.COLUMNS} FROM sui_objects WHERE owner = ? AND owner_kind = 'address' AND live = 1 AND id > ?"
        args: list[Any] = [canonical_address(owner), after]
        if move_type:
            sql += " AND move_type = ?"
            args.append(move_type)
        rows = self.conn.execute(sql + " ORDER BY id LIMIT ?", (*args, limit)).fetchall()
        return [Row(*r) for r in rows]

    def put(self, row: Row) -> None:
        """Write (create or replace) a live object, computing its digest and rebate."""
        row.id = canonical_address(row.id)
        row.rebate = storage_cost(row)
        row.digest = object_digest(row, self.pkg)
        self.conn.execute(
            f"INSERT OR REPLACE INTO sui_objects ({self.COLUMNS}, live) VALUES (?,?,?,?,?,?,?,?,?,?,?,1)",
            (
                row.id,
                row.move_type,
                row.package,
                row.owner_kind,
                row.owner,
                row.shared_version,
                row.version,
                row.digest,
                row.prev_tx,
                row.rebate,
                row.contents,
            ),
        )

    def retire(self, object_id: str) -> None:
        """The object was deleted or wrapped: no longer live, its id remembered."""
        self.conn.execute(
            "UPDATE sui_objects SET live = 0 WHERE id = ?", (canonical_address(object_id),)
        )

    def balance(self, owner: str) -> tuple[int, int]:
        """Total SUI in the address's coins, and how many coins."""
        rows = self.conn.execute(
            "SELECT contents FROM sui_objects WHERE owner = ? AND owner_kind = 'address' "
            "AND move_type = ? AND live = 1",
            (canonical_address(owner), SUI_COIN),
        ).fetchall()
        return sum(coin_value(r[0]) for r in rows), len(rows)


def coin_value(contents: bytes) -> int:
    """The balance in a `Coin<SUI>`'s BCS (id, then u64 value)."""
    return int.from_bytes(contents[32:40], "little")


def coin_contents(object_id: str, value: int) -> bytes:
    """BCS of a `Coin<SUI>`."""
    return bytes.fromhex(canonical_address(object_id)[2:]) + struct.pack("<Q", value)
