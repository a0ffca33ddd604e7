"""Mirror of `blob.move`: register, certify, extend, delete, burn, attributes."""

from __future__ import annotations

from collections.abc import Callable

from haulout.protocol.attributes import MAX_KEY_BYTES, MAX_VALUE_BYTES
from haulout.protocol.blob_id import BlobId
from haulout.protocol.params import encoded_length, storage_units

from .. import calls
from ..encoding_rules import supports
from ..events import (
    BlobAttributeRemoved,
    BlobAttributeSet,
    BlobCertified,
    BlobDeleted,
    BlobRegistered,
)
from ..txcontext import MoveObj, TxContext, abort
from .committee import parse_message, verify_signers
from .registry import mirrors
from .system import pay, reserve_capacity


@mirrors(calls.blob.REGISTER_BLOB)
def fn_register_blob(
    ctx: TxContext,
    system: MoveObj,
    storage: MoveObj,
    blob_id: int,
    root: int,
    size: int,
    encoding_type: int,
    deletable: bool,
) -> str:
    d = system.data
    if not supports(encoding_type, d["n_shards"]):
        raise abort(
            "blob",
            "EUnsupportedEncoding",
            f"type {encoding_type} on a system of {d['n_shards']} shards",
        )
    if str(blob_id) in d["invalid_ids"]:
        raise abort("blob", "EBlobIdInvalidated")
    derived = BlobId.derive(encoding_type, size, root.to_bytes(32, "little"))
    if int(derived) != blob_id:
        raise abort("blob", "EInvalidBlobId", f"derivation gives {derived}")
    s = storage.data
    if not s["start_epoch"] <= d["epoch"] < s["end_epoch"]:
        raise abort(
            "blob",
            "EResourceBounds",
            f"storage covers [{s['start_epoch']}, {s['end_epoch']}), now {d['epoch']}",
        )
    needed = encoded_length(d["n_shards"], size, encoding_type)
    if needed > s["storage_size"]:
        raise abort(
            "blob", "EResourceSize", f"encoded length {needed} > storage {s['storage_size']}"
        )
    pay(ctx, system, d["write_price"] * storage_units(needed))
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


@mirrors(calls.blob.CERTIFY_BLOB)
def fn_certify_blob(
    ctx: TxContext, system: MoveObj, blob: MoveObj, signature: bytes, signers: bytes, message: bytes
) -> None:
    d, b = system.data, blob.data
    if b["certified_epoch"] is not None:
        raise abort("blob", "EAlreadyCertified")
    if d["epoch"] >= b["storage"]["end_epoch"]:
        raise abort("blob", "EBlobExpired")
    epoch, body = parse_message(message, 1)
    if len(body) < 33:
        raise abort("messages", "EInvalidMessageLength", "certification body under 33 bytes")
    if body[32] not in (0, 1):
        raise abort("messages", "EInvalidPersistence")
    if len(body) != (33 if body[32] == 0 else 65):
        raise abort("messages", "EInvalidMessageLength", "certification body length")
    if epoch != d["epoch"]:
        raise abort("committee", "EWrongEpoch", f"message epoch {epoch}, current {d['epoch']}")
    if int.from_bytes(body[:32], "little") != int(b["blob_id"]):
        raise abort("blob", "EBlobIdMismatch")
    if (body[32] == 1) != b["deletable"]:
        raise abort("blob", "EPersistenceMismatch")
    if b["deletable"] and "0x" + body[33:].hex() != blob.id:
        raise abort("blob", "EObjectIdMismatch")
    verify_signers(d, signature, signers, message, quorum=True)
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


@mirrors(calls.blob.EXTEND_BLOB)
def fn_extend_blob(ctx: TxContext, system: MoveObj, blob: MoveObj, extended_epochs: int) -> None:
    extend(ctx, system, blob, extended_epochs, lambda cost: pay(ctx, system, cost))


def extend(
    ctx: TxContext, system: MoveObj, blob: MoveObj, extended_epochs: int, pay: Callable[[int], None]
) -> None:
    """`blob::extend_blob`, paid by `pay` (the sender's coin, or a SharedBlob's funds)."""
    d, b = system.data, blob.data
    st = b["storage"]
    if b["certified_epoch"] is None:
        raise abort("blob", "ENotCertified")
    if d["epoch"] >= st["end_epoch"]:
        raise abort("blob", "EBlobExpired")
    if (
        extended_epochs <= 0
        or st["end_epoch"] + extended_epochs - d["epoch"] > d["max_epochs_ahead"]
    ):
        raise abort(
            "blob", "EInvalidExtension", f"+{extended_epochs} from end epoch {st['end_epoch']}"
        )
    reserve_capacity(system, st["storage_size"], st["end_epoch"], st["end_epoch"] + extended_epochs)
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


@mirrors(calls.blob.DELETE_BLOB)
def fn_delete_blob(ctx: TxContext, system: MoveObj, blob: MoveObj) -> str:
    b = blob.data
    if not b["deletable"]:
        raise abort("blob", "ENotDeletable")
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


@mirrors(calls.blob.BURN)
def fn_burn(ctx: TxContext, blob: MoveObj) -> None:
    ctx.delete(blob)


@mirrors(calls.blob.SET_ATTRIBUTE)
def fn_set_attribute(ctx: TxContext, blob: MoveObj, key: str, value: str) -> None:
    if len(key.encode()) > MAX_KEY_BYTES:
        raise abort("blob", "EAttributeKeyTooLong", f"{len(key.encode())} bytes")
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise abort("blob", "EAttributeValueTooLong", f"{len(value.encode())} bytes")
    blob.data["attributes"][key] = value
    ctx.emit(BlobAttributeSet(BlobId.from_int(int(blob.data["blob_id"])), blob.id, key, value))


@mirrors(calls.blob.REMOVE_ATTRIBUTE)
def fn_remove_attribute(ctx: TxContext, blob: MoveObj, key: str) -> None:
    if key not in blob.data["attributes"]:
        raise abort("blob", "EAttributeNotFound", key)
    del blob.data["attributes"][key]
    ctx.emit(BlobAttributeRemoved(BlobId.from_int(int(blob.data["blob_id"])), blob.id, key))
