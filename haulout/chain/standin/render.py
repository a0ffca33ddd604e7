"""DevChain's object rows as the Move values `move/sources` defines, so the stand-in can give
their BCS contents and JSON view as a Sui node would.

DevChain keeps some state in a more convenient shape than Move (a Blob's attributes inline
rather than in a dynamic field, node public keys as hex, the System's balance as a number);
this module is the one place that maps each row to its Move struct.
"""

from __future__ import annotations

from typing import Any

from haulout.protocol.hashing import blake2b256

from .values import canonical_address

DEVCHAIN_TYPES = {
    "system::System": "haulout::system::System",
    "system::AdminCap": "haulout::system::AdminCap",
    "storage_resource::Storage": "haulout::storage_resource::Storage",
    "blob::Blob": "haulout::blob::Blob",
    "shared_blob::SharedBlob": "haulout::shared_blob::SharedBlob",
    "bucket::Bucket": "haulout::bucket::Bucket",
    "staking::StakedSui": "haulout::staking::StakedSui",
}
"""DevChain object type → Move struct in the package."""

ATTRIBUTES_TYPE = (
    "0x2::dynamic_field::Field<vector<u8>, 0x2::vec_map::VecMap<0x1::string::String, "
    "0x1::string::String>>"
)


def _storage(oid: str, d: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": oid,
        "start_epoch": d["start_epoch"],
        "end_epoch": d["end_epoch"],
        "storage_size": d["storage_size"],
    }


def _blob(oid: str, d: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": oid,
        "registered_epoch": d["registered_epoch"],
        "blob_id": int(d["blob_id"]),
        "size": d["size"],
        "encoding_type": d["encoding_type"],
        "certified_epoch": d["certified_epoch"],
        "storage": _storage(d["storage"]["id"], d["storage"]),
        "deletable": d["deletable"],
    }


def table_id(parent: str, field_name: str) -> str:
    """A stable id for a `Table` UID held in a field (its own object on Sui, never read here)."""
    return "0x" + blake2b256(bytes.fromhex(parent[2:]) + field_name.encode()).hex()


def _system(oid: str, d: dict[str, Any]) -> dict[str, Any]:
    nodes = d["nodes"]
    return {
        "id": oid,
        "version": d["version"],
        "epoch": d["epoch"],
        "epoch_start_ms": d["epoch_start_ms"],
        "epoch_duration_ms": d["epoch_duration_ms"],
        "n_shards": d["n_shards"],
        "nodes": {
            "contents": [
                {
                    "key": nid,
                    "value": {
                        "name": n["name"],
                        "url": n["url"],
                        "public_key": bytes.fromhex(n["public_key"]),
                        "node_address": canonical_address(n["address"]),
                    },
                }
                for nid, n in nodes.items()
            ]
        },
        "committee": _committee(d["members"], nodes, d["n_shards"]),
        "total_capacity": d["total_capacity"],
        "usage": list(d["usage"]),
        "storage_price": d["storage_price"],
        "write_price": d["write_price"],
        "max_epochs_ahead": d["max_epochs_ahead"],
        "balance": d["balance"],
        "invalid_ids": {"id": table_id(oid, "invalid_ids"), "size": len(d["invalid_ids"])},
        "previous_committee": _committee(d.get("previous_members", []), nodes, d["n_shards"]),
        "changing": bool(d.get("changing", False)),
        "change_epoch": d.get("change_epoch", 0),
        "received": list(d.get("received", [])),
        "received_weight": d.get("received_weight", 0),
        "pools": {
            "contents": [
                {
                    "key": nid,
                    "value": {"stake": p["stake"], "shares": p["shares"], "active": p["active"]},
                }
                for nid, p in d.get("pools", {}).items()
            ]
        },
        "stakes": d.get("stakes", 0),
        "epoch_fees": d.get("epoch_fees", 0),
    }


def _committee(members: list[dict[str, Any]], nodes: dict[str, Any], n_shards: int) -> Any:
    """A `committee::Committee` value from DevChain's member list."""
    return {
        "members": [
            {
                "node_id": m["node_id"],
                "public_key": bytes.fromhex(nodes[m["node_id"]]["public_key"]),
                "shards": list(m["shards"]),
            }
            for m in members
        ],
        "n_shards": n_shards,
    }


STAKED_FIELDS = (
    "node_id",
    "shares",
    "principal",
    "withdraw_amount",
    "withdraw_epoch",
    "withdrawing",
)
"""`staking::StakedSui`'s fields after its id, in declaration order."""


def move_value(devchain_type: str, oid: str, data: dict[str, Any], wrapped: Any = None) -> Any:
    """The Move struct value of a DevChain row (`wrapped`: a SharedBlob's Blob row data)."""
    if devchain_type == "system::System":
        return _system(oid, data)
    if devchain_type == "system::AdminCap":
        return {"id": oid}
    if devchain_type == "storage_resource::Storage":
        return _storage(oid, data)
    if devchain_type == "blob::Blob":
        return _blob(oid, data)
    if devchain_type == "bucket::Bucket":
        return {
            "id": oid,
            "name": data["name"],
            "version": data["version"],
            "manifest_blob_id": int(data["manifest_blob_id"]),
            "tags": {"contents": [{"key": k, "value": v} for k, v in data["tags"].items()]},
        }
    if devchain_type == "staking::StakedSui":
        return {"id": oid, **{k: data[k] for k in STAKED_FIELDS}}
    if devchain_type == "shared_blob::SharedBlob":
        return {"id": oid, "blob": _blob(data["blob"], wrapped), "funds": data["funds"]}
    raise KeyError(f"no Move mapping for DevChain type {devchain_type}")


def attributes_value(field_id: str, attributes: dict[str, str]) -> dict[str, Any]:
    """The `Field<vector<u8>, VecMap<String, String>>` holding a Blob's attributes."""
    return {
        "id": field_id,
        "name": b"attributes",
        "value": {"contents": [{"key": k, "value": v} for k, v in attributes.items()]},
    }
