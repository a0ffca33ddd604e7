"""Gas coins for SuiChain: each account's SUI coins, each lent to one transaction at a time.

On Sui an owned coin can be input to one transaction per version; two concurrent transactions
paying with the same coin conflict (one fails, and the coin may stay locked for the epoch). So
every signer gets a purse of coins: a transaction borrows one, and gives it back at the version
its effects report. When an account has fewer coins than the pool wants, its richest coin is
split once (a `SplitCoins` transaction) so that concurrent uploads each have their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .accounts import Account
from .errors import ChainError, MoveAbort
from .sui_tx import OwnedRef

POOL_SIZE = 8
"""Coins per account: as many transactions of one account run at once."""
WAIT_S = 120.0
"""How long a transaction waits for a free coin before giving up."""


@dataclass(frozen=True)
class GasCoin:
    """A SUI coin at a version, with its balance (MIST)."""

    ref: OwnedRef
    balance: int


@dataclass
class Lease:
    """A coin lent to one transaction; `returned` is the coin after it (from the effects), or
    None when the outcome is unknown (the coin is then dropped and listed again later)."""

    coin: GasCoin
    returned: GasCoin | None = None


class _Purse:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.free: list[GasCoin] = []
        self.lent = 0


ListCoins = Callable[[str], list[GasCoin]]
"""An address's SUI coins, as the node lists them."""
Split = Callable[[Account, GasCoin, list[int]], list[GasCoin]]
"""Split `amounts` off a coin (paying with it); every coin after: the rest and the new ones."""


class GasPool:
    """Lends each signer's coins to its transactions, one transaction per coin."""

    def __init__(
        self,
        list_coins: ListCoins,
        split: Split,
        min_balance: int,
        size: int = POOL_SIZE,
        wait_s: float = WAIT_S,
    ) -> None:
        self._list, self._split = list_coins, split
        self.min_balance, self.size, self.wait_s = min_balance, size, wait_s
        self._purses: dict[str, _Purse] = {}
        self._lock = threading.Lock()

    def _purse(self, address: str) -> _Purse:
        with self._lock:
            return self._purses.setdefault(address, _Purse())

    @contextmanager
    def lend(self, signer: Account) -> Iterator[Lease]:
        """A coin of `signer`'s for the duration of one transaction."""
        lease = Lease(self.acquire(signer))
        try:
            yield lease
        finally:
            self.release(signer.address, lease.returned)

    def acquire(self, signer: Account) -> GasCoin:
        """Take a free coin (the richest), listing (and if needed splitting) the account's
        coins when none is free or lent; waits while all are lent."""
        purse = self._purse(signer.address)
        deadline = time.monotonic() + self.wait_s
        with purse.cond:
            while not purse.free:
                if purse.lent == 0:
                    purse.free = self._fill(signer)
                    if not purse.free:
                        raise MoveAbort.named(
                            "system",
                            "EInsufficientPayment",
                            f"{signer.address} has no SUI coin of at least {self.min_balance} "
                            "MIST to pay gas with; fund it (the localnet faucet)",
                        )
                    break
                left = deadline - time.monotonic()
                if left <= 0 or not purse.cond.wait(left):
                    raise ChainError(
                        f"all {purse.lent} gas coins of {signer.address} stayed busy for "
                        f"{self.wait_s:.0f} s; retry later"
                    )
            purse.free.sort(key=lambda c: c.balance)
            purse.lent += 1
            return purse.free.pop()

    def release(self, address: str, coin: GasCoin | None) -> None:
        """Give a coin back after its transaction (None: its outcome is unknown, drop it)."""
        purse = self._purse(address)
        with purse.cond:
            purse.lent -= 1
            if coin is not None and coin.balance >= self.min_balance:
                purse.free.append(coin)
            purse.cond.notify()

    def _fill(self, signer: Account) -> list[GasCoin]:
        coins = [c for c in self._list(signer.address) if c.balance >= self.min_balance]
        missing = self.size - len(coins)
        if missing <= 0 or not coins:
            return coins
        richest = max(coins, key=lambda c: c.balance)
        share = richest.balance // (missing + 1)
        if share < 2 * self.min_balance:  # too poor to split usefully: use what there is
            return coins
        others = [c for c in coins if c.ref.object_id != richest.ref.object_id]
        after = self._split(signer, richest, [share] * missing)
        return others + [c for c in after if c.balance >= self.min_balance]
