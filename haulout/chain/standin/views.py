"""Answers in the shapes sui-rpc-api gives: objects (BCS, contents, JSON view, owner),
checkpoints with their executed transactions, and read masks applied to every answer.

Read masks follow sui-rpc-api's `FieldMaskTree`: a path selects a field and everything under
it, `*` selects everything, and fields outside the mask are left unset, so a client that
forgets to ask for a field sees it missing as it would on a node. Defaults are those of
crates/sui-rpc-api/src/grpc/v2beta2/ledger_service (GetObject: `object_id,version,digest`;
GetCheckpoint: `sequence_number,digest`).
"""

from __future__ import annotations

import dataclasses
import datetime
import sqlite3
from typing import Any

import pysui.sui.sui_grpc.suimsgs.google.protobuf as gproto
import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as rpc

from .executor import owner_proto
from .ledger import PACKAGE, SUI_COIN, Row, coin_value, object_bcs
from .move_types import Package
from .values import decode, to_json

OBJECT_MASK_DEFAULT = ["object_id", "version", "digest"]
CHECKPOINT_MASK_DEFAULT = ["sequence_number", "digest"]
MAX_JSON_CONTENTS = 1 << 20
"""Objects with larger contents are answered without a JSON view (a node bounds it too)."""


def mask_tree(paths: list[str] | None, default: list[str]) -> dict[str, Any]:
    """`a.b,c` → {"a": {"b": {}}, "c": {}}."""
    tree: dict[str, Any] = {}
    for path in paths or default:
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})
    return tree


def prune(message: Any, tree: dict[str, Any]) -> Any:
    """Unset every field of `message` outside `tree` (in place); returns the message."""
    if not tree or "*" in tree:
        return message
    for f in dataclasses.fields(message):
        if f.name not in tree:
            default = (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            )  # type: ignore[misc]
            setattr(message, f.name, default)
            continue
        sub, value = tree[f.name], getattr(message, f.name)
        if not sub or value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            if dataclasses.is_dataclass(item):
                prune(item, sub)
    return message


def paths(read_mask: Any) -> list[str] | None:
    """The paths of a FieldMask message, or None when absent."""
    return list(read_mask.paths) if read_mask is not None and read_mask.paths else None


def object_proto(row: Row, pkg: Package) -> rpc.Object:
    """The full Object message of a row (prune it with the request's read mask)."""
    obj = rpc.Object(
        object_id=row.id,
        version=row.version,
        digest=row.digest,
        owner=owner_proto(row),
        object_type=row.type_tag(),
        previous_transaction=row.prev_tx,
        storage_rebate=row.rebate,
    )
    if row.move_type == PACKAGE:
        return obj
    t = row.type
    obj.bcs = rpc.Bcs(name="Object", value=object_bcs(row, pkg))
    obj.has_public_transfer = "store" in pkg.abilities.get(t.name, {"store"})
    obj.contents = rpc.Bcs(name=row.type_tag(), value=row.contents)
    if len(row.contents) <= MAX_JSON_CONTENTS:
        obj.json = gproto.Value.from_dict(to_json(pkg, t, decode(pkg, t, row.contents)))
    if row.move_type == SUI_COIN:
        obj.balance = coin_value(row.contents)
    return obj


def checkpoint_proto(conn: sqlite3.Connection, seq: int) -> rpc.Checkpoint | None:
    """A checkpoint with its transactions, or None past the tip."""
    row = conn.execute(
        "SELECT seq, timestamp_ms, digest FROM sui_checkpoints WHERE seq = ?", (seq,)
    ).fetchone()
    if row is None:
        return None
    txs = [
        rpc.ExecutedTransaction.FromString(r[0])
        for r in conn.execute(
            "SELECT executed FROM sui_transactions WHERE checkpoint = ? ORDER BY position", (seq,)
        )
    ]
    total = conn.execute(
        "SELECT COUNT(*) FROM sui_transactions WHERE checkpoint <= ?", (seq,)
    ).fetchone()[0]
    ts = datetime.datetime.fromtimestamp(row[1] / 1000, datetime.UTC)
    return rpc.Checkpoint(
        sequence_number=row[0],
        digest=row[2],
        summary=rpc.CheckpointSummary(
            digest=row[2],
            epoch=0,
            sequence_number=row[0],
            total_network_transactions=total,
            timestamp=ts,
        ),
        transactions=txs,
    )


def latest_checkpoint(conn: sqlite3.Connection) -> int:
    """The tip's sequence number."""
    return int(conn.execute("SELECT MAX(seq) FROM sui_checkpoints").fetchone()[0] or 0)
