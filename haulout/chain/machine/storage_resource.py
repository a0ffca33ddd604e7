"""Mirror of `storage_resource.move`: split a Storage by epoch or size, fuse two."""

from __future__ import annotations

from .. import calls
from ..txcontext import MoveObj, TxContext, abort
from .registry import mirrors


@mirrors(calls.storage_resource.SPLIT_BY_EPOCH)
def fn_split_by_epoch(ctx: TxContext, storage: MoveObj, split_epoch: int) -> str:
    s = storage.data
    if not s["start_epoch"] < split_epoch < s["end_epoch"]:
        raise abort("storage_resource", "EInvalidSplitEpoch")
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


@mirrors(calls.storage_resource.SPLIT_BY_SIZE)
def fn_split_by_size(ctx: TxContext, storage: MoveObj, split_size: int) -> str:
    s = storage.data
    if not 0 < split_size < s["storage_size"]:
        raise abort("storage_resource", "EInvalidSplitSize")
    new = ctx.create(
        "storage_resource::Storage",
        {"start_epoch": s["start_epoch"], "end_epoch": s["end_epoch"], "storage_size": split_size},
    )
    s["storage_size"] -= split_size
    return new.id


@mirrors(calls.storage_resource.FUSE)
def fn_fuse(ctx: TxContext, first: MoveObj, second: MoveObj) -> None:
    a, b = first.data, second.data
    if a["start_epoch"] == b["start_epoch"] and a["end_epoch"] == b["end_epoch"]:
        a["storage_size"] += b["storage_size"]
    elif a["end_epoch"] == b["start_epoch"] or b["end_epoch"] == a["start_epoch"]:
        if a["storage_size"] != b["storage_size"]:
            raise abort("storage_resource", "EIncompatibleSize")
        a["start_epoch"] = min(a["start_epoch"], b["start_epoch"])
        a["end_epoch"] = max(a["end_epoch"], b["end_epoch"])
    else:
        raise abort("storage_resource", "EIncompatibleEpochs")
    ctx.delete(second)
