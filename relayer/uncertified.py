"""Registrations the relayer paid for but never certified (a store failed after registering).

A retry of the same upload reuses them (see `StoreController.claim_reusable`); this module
lists them for `haulout uncertified`, and deletes the deletable ones older than a grace
period on request, so the nodes drop whatever data they hold for them. A deleted
registration's Storage object goes back to the relayer (the chain refunds nothing);
permanent ones cannot be deleted and simply expire at their end epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

from haulout.chain.accounts import Account
from haulout.chain.port import ChainPort

from .index import BlobIndex, Registration


@dataclass(frozen=True)
class Uncertified:
    """One registered, never certified Blob object of the relayer."""

    object_id: str
    blob_id: str
    size: int
    registered_epoch: int
    end_epoch: int
    deletable: bool

    @classmethod
    def of(cls, r: Registration) -> Uncertified:
        """From the index's entry."""
        return cls(
            r.object_id, str(r.blob_id), r.size, r.registered_epoch, r.end_epoch, r.deletable
        )


def list_uncertified(chain: ChainPort, owner: str) -> tuple[int, list[Uncertified]]:
    """The current epoch and `owner`'s live uncertified registrations, oldest first (read
    from the chain's events, as the relayer's index reads them)."""
    index = BlobIndex(chain, owner)
    index.catch_up()
    return index.epoch, [Uncertified.of(r) for r in index.uncertified()]


def delete_stale(
    chain: ChainPort, relayer: Account, grace_epochs: int
) -> tuple[list[Uncertified], list[Uncertified]]:
    """Delete the relayer's deletable uncertified registrations registered at least
    `grace_epochs` epochs ago (younger ones may belong to a store still running or about to
    be retried). Returns (deleted, kept)."""
    epoch, found = list_uncertified(chain, relayer.address)
    deleted: list[Uncertified] = []
    kept: list[Uncertified] = []
    for u in found:
        if u.deletable and u.registered_epoch + grace_epochs <= epoch:
            chain.delete_blob(relayer, u.object_id)
            deleted.append(u)
        else:
            kept.append(u)
    return deleted, kept
