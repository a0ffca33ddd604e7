"""The node's part in the on-chain epoch change (`EpochChangeStart` → `ShardsReceived` →
`EpochChangeDone`, see DESIGN.md §3).

When the chain starts an epoch change that moves shards, this node, if a member of the new
committee, syncs every shard it gained (`shard_sync`: in bulk from the previous owner, then
blob by blob, then recovery from the others) and, once the last pass found all of them held,
reports `shards_received` from its own account. The change completes when members holding a
quorum of shards have reported. Old owners (`handover`) let go of a shard once its new owner
has reported it on chain, or says it holds it (`GET /v1/migrate/shards`).
"""

from __future__ import annotations

import logging

from haulout.chain.accounts import Account
from haulout.chain.errors import ChainError, MoveAbort
from haulout.logs import event

from .service import NodeService
from .shard_sync import gained_shards, my_shards

log = logging.getLogger("haulout.node.epoch")

SETTLED = {"EAlreadyReported", "ENoChangeInProgress", "EWrongChangeEpoch", "ENotCommitteeMember"}
"""Aborts that mean there is nothing (more) to report: another pass raced this one, or the
chain moved on; the next pass reads the System again."""


class EpochReporter:
    """Reports `shards_received` once per epoch change, when every gained shard is held."""

    def __init__(self, service: NodeService, account: Account | None) -> None:
        self.service, self.account = service, account
        self.reported: int | None = None
        """The epoch this node last reported (or found reported) its shards for."""

    def run_once(self) -> bool:
        """Report if due; True when a report was sent in this pass."""
        if self.account is None:
            return False
        service = self.service
        system = service.chain.system()
        if system.change_epoch != system.epoch or self.reported == system.epoch:
            return False
        if service.node_id in system.received:
            self.reported = system.epoch
            return False
        committee = system.committee
        if committee is None or not my_shards(committee, service.node_id):
            return False
        if service.committee() != committee:  # the follower has not seen the change yet
            service.refresh_committee(at_most_every=0.0)
            return False
        gained = gained_shards(committee, system.previous_committee, service.node_id)
        held_for, held = service.held
        if held_for != committee or not gained <= held:
            return False  # still syncing: the next pass looks again
        try:
            service.chain.shards_received(
                self.account, service.node_id, system.epoch, sorted(gained)
            )
        except MoveAbort as exc:
            if exc.name not in SETTLED:
                raise
            self.reported = system.epoch
            return False
        except ChainError as exc:  # a transaction-level refusal: retried next pass
            event(log, "shards_received not accepted", epoch=system.epoch, error=str(exc))
            return False
        self.reported = system.epoch
        service.stats.shard_reports += 1
        event(log, "shards received reported", epoch=system.epoch, gained=len(gained))
        return True
