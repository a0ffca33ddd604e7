"""Blob owners follow the objects, not the events.

A `BlobRegistered` event says who sent the registration, but the object can then be
transferred (the relayer's `send_object_to` does so right after certifying), and a transfer
emits no event. So the owner column is read from the chain's object: for every Blob object a
committed batch touched, again a few seconds later (the relayer's transfer follows its
certification), and in a slow round-robin sweep over all live blobs that catches any later
transfer. A runner catching up only queues the objects it touched (one chain read per object
would slow it down) and reads them once at the chain's tip. All of it runs in the runner, after
the batch's transaction: `process` stays pure and a slow or failing chain read never holds up
indexing.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable

from sqlalchemy import Engine, select, update

from haulout.chain.errors import ObjectNotFound
from haulout.chain.port import ChainPort
from haulout.protocol.blob_id import format_object_id, parse_object_id
from haulout.protocol.errors import ProtocolError

from .models import Blob

log = logging.getLogger("haulout.indexer")

RECHECK_AFTER_S = 5.0
MAX_PENDING = 100_000


class OwnerTracker:
    """Keeps `blobs.owner` equal to the owner of each Blob object on chain."""

    def __init__(
        self,
        chain: ChainPort,
        engine: Engine,
        recheck_after: float = RECHECK_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chain, self.engine, self.recheck_after, self.clock = (
            chain,
            engine,
            recheck_after,
            clock,
        )
        self._pending: deque[tuple[float, str]] = deque()
        self._sweep_after = -1  # registered_cursor the sweep resumes after
        self.updated = 0

    def refresh(self, object_ids: Iterable[str], now: bool = True) -> int:
        """Read the owners of `object_ids` (now, unless `now` is false) and store the changed
        ones; queue a second look either way. Returns how many rows changed."""
        ids = list(object_ids)
        due = self.clock() + self.recheck_after
        if len(self._pending) + len(ids) <= MAX_PENDING:
            self._pending.extend((due, oid) for oid in ids)
        return self._store(ids) if now else 0

    def recheck_due(self, limit: int = 500) -> int:
        """Second look at up to `limit` objects touched `recheck_after` seconds ago or more."""
        now, ids = self.clock(), list[str]()
        while self._pending and self._pending[0][0] <= now and len(ids) < limit:
            ids.append(self._pending.popleft()[1])
        return self._store(ids)

    def sweep(self, limit: int = 20) -> int:
        """Check the next `limit` live blobs (round-robin by registration order)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(Blob.object_id, Blob.registered_cursor)
                .where(Blob.status != "deleted", Blob.registered_cursor > self._sweep_after)
                .order_by(Blob.registered_cursor)
                .limit(limit)
            ).all()
        self._sweep_after = rows[-1].registered_cursor if len(rows) == limit else -1
        return self._store([r.object_id for r in rows])

    def _owner(self, object_id: str) -> str | None:
        try:
            owner = self.chain.get_blob(object_id).owner
            return format_object_id(parse_object_id(owner)) if owner else None
        except ObjectNotFound:
            return None  # deleted or burned: the row keeps its last owner
        except ProtocolError:
            return None  # not an address (shared or wrapped): nothing to record
        except Exception as exc:  # the chain is away: the sweep looks again later
            log.debug(
                "owner read failed",
                extra={"fields": {"object_id": object_id, "error": type(exc).__name__}},
            )
            return None

    def _store(self, object_ids: list[str]) -> int:
        if not object_ids:
            return 0
        owners = {oid: owner for oid in dict.fromkeys(object_ids) if (owner := self._owner(oid))}
        changed = 0
        with self.engine.begin() as conn:
            for oid, owner in owners.items():
                changed += conn.execute(
                    update(Blob)
                    .where(Blob.object_id == oid, Blob.owner != owner)
                    .values(owner=owner)
                ).rowcount
        if changed:
            log.debug("owners updated", extra={"fields": {"changed": changed}})
        self.updated += changed
        return changed
