"""Mirror of `shared_blob.move`: wrap a certified Blob in a shared object anyone funds and
extends."""

from __future__ import annotations

from haulout.protocol.blob_id import BlobId

from .. import calls
from ..events import SharedBlobCreated, SharedBlobFunded
from ..txcontext import MoveObj, TxContext, abort
from .blob import extend
from .registry import mirrors


def take_coin(ctx: TxContext, amount: int) -> None:
    """Split `amount` MIST off the sender's coin (aborts as `coin::split` would)."""
    row = ctx.conn.execute(
        "SELECT amount FROM balances WHERE address = ?", (ctx.sender,)
    ).fetchone()
    have = row[0] if row else 0
    if amount < 0 or have < amount:
        raise abort("system", "EInsufficientPayment", f"needs {amount} MIST, has {have}")
    ctx.conn.execute(
        "UPDATE balances SET amount = amount - ? WHERE address = ?", (amount, ctx.sender)
    )


@mirrors(calls.shared_blob.NEW_FUNDED)
def fn_shared_blob_new_funded(ctx: TxContext, blob: MoveObj, funds: int) -> str:
    """`shared_blob::new` / `new_funded`: wrap a certified Blob in a shared SharedBlob."""
    b = blob.data
    if b["certified_epoch"] is None:
        raise abort("shared_blob", "ENotCertified")
    take_coin(ctx, funds)
    shared = ctx.create("shared_blob::SharedBlob", {"blob": blob.id, "funds": funds})
    shared.owner = None  # transfer::share_object
    blob.owner = shared.id  # wrapped: usable only through the SharedBlob
    ctx.emit(SharedBlobCreated(shared.id, BlobId.from_int(int(b["blob_id"])), blob.id, funds))
    return shared.id


@mirrors(calls.shared_blob.NEW)
def fn_shared_blob_new(ctx: TxContext, blob: MoveObj) -> str:
    return fn_shared_blob_new_funded(ctx, blob, 0)


@mirrors(calls.shared_blob.FUND)
def fn_shared_blob_fund(ctx: TxContext, shared: MoveObj, amount: int) -> None:
    if amount <= 0:
        raise abort("shared_blob", "EZeroFunding")
    take_coin(ctx, amount)
    shared.data["funds"] += amount
    ctx.emit(SharedBlobFunded(shared.id, amount, shared.data["funds"]))


@mirrors(calls.shared_blob.EXTEND)
def fn_shared_blobextend(
    ctx: TxContext, shared: MoveObj, system: MoveObj, extended_epochs: int
) -> None:
    blob = ctx.load(shared.data["blob"], "blob::Blob", wrapper=shared.id)

    def from_funds(cost: int) -> None:
        if shared.data["funds"] < cost:
            raise abort(
                "system",
                "EInsufficientPayment",
                f"needs {cost} MIST, the shared blob holds {shared.data['funds']}; fund it",
            )
        shared.data["funds"] -= cost
        system.data["balance"] += cost
        ctx.paid += cost

    extend(ctx, system, blob, extended_epochs, from_funds)
