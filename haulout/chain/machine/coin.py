"""A plain SUI payment inside a transaction (`SplitCoins(GasCoin) + TransferObjects`): how a
client tips an upload relay in the transaction that registers its blob."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidTransaction
from ..txcontext import TxContext
from .shared_blob import take_coin


def transfer_sui(ctx: TxContext, amount: Any, recipient: Any) -> None:
    """`SplitCoins(GasCoin) + TransferObjects`: pay `amount` MIST to `recipient` (a tip)."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise InvalidTransaction("pay takes a positive amount of MIST")
    if not (isinstance(recipient, str) and len(recipient) == 66 and recipient.startswith("0x")):
        raise InvalidTransaction("pay takes a recipient address: 0x and 64 hex digits")
    take_coin(ctx, amount)
    ctx.conn.execute(
        "INSERT INTO balances VALUES (?, ?) "
        "ON CONFLICT(address) DO UPDATE SET amount = amount + excluded.amount",
        (recipient, amount),
    )
    ctx.change_balance(recipient, amount)
    ctx.paid += amount
