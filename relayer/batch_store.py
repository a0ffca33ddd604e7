"""Batch stores: the members of one request (e.g. every quilt of a bucket commit) register in
ONE chain transaction and certify in ONE, so a push costs a constant number of transactions
however many files it has, instead of two per blob.

Each member runs the ordinary store flow (`StoreController.store`, with its idempotency rules:
identical uploads share a flight, a registration paid for earlier is reused, a blob certified
already is answered as such) and meets the others twice: at registration and at
certification. A stage runs once every member has either joined it or said it will not (it was
answered without registering, reused a registration, failed, or waits for an identical
upload). A batch transaction is all or none: when it fails, each of its members goes on alone
with the single-blob calls (nothing was paid by the failed one, so nothing is paid twice).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from starlette.concurrency import run_in_threadpool

from haulout.chain.accounts import Account
from haulout.chain.objects import BlobSpec, PaidRegistration
from haulout.chain.port import ChainPort
from haulout.logs import event
from haulout.protocol.certificate import Certificate
from haulout.protocol.params import encoded_length

log = logging.getLogger("haulout.relayer.batch")

MAX_BATCH_MEMBERS = 200
"""Most blobs one batch transaction registers or certifies: a registration is four PTB
commands (two payments split off the gas coin, reserve, register) plus one per attribute, and
a PTB holds at most 1024 commands; larger batches go as several transactions."""

DISTRIBUTING = 8
"""Members of one batch pushing slivers at once (each to every node)."""

P = TypeVar("P")
R = TypeVar("R")


@dataclass
class Stage(Generic[P, R]):
    """One meeting point: runs `flush` over the joined payloads once `expected` members have
    decided (joined or skipped); each joined member gets its own result (None: go alone)."""

    expected: int
    flush: Callable[[list[P]], Awaitable[list[R | None]]]
    decided: int = 0
    joined: list[tuple[P, asyncio.Future[R | None]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def join(self, payload: P) -> R | None:
        """Wait for the stage's transaction; its result for this payload, or None."""
        fut: asyncio.Future[R | None] = asyncio.get_running_loop().create_future()
        self.joined.append((payload, fut))
        self.decide()
        return await asyncio.shield(fut)

    def decide(self) -> None:
        """Count one member as decided; the last one starts the flush."""
        self.decided += 1
        if self.decided == self.expected and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        joined, self.joined = self.joined, []
        if len(joined) < 2:  # nothing to share: the single call, as an ordinary store
            results: list[R | None] = [None] * len(joined)
        else:
            try:
                results = await self.flush([p for p, _ in joined])
            except Exception as exc:  # each goes alone with the single-blob calls
                event(log, "batch transaction failed; members go alone", error=str(exc)[:300])
                results = [None] * len(joined)
        if len(results) != len(joined):  # never leave a member waiting
            results = [None] * len(joined)
        for (_, fut), result in zip(joined, results, strict=True):
            if not fut.done():
                fut.set_result(result)


class Batch:
    """The two meeting points of one batch store of `members` blobs for one account."""

    def __init__(self, chain: ChainPort, account: Account, members: int, n_shards: int) -> None:
        self.chain, self.account, self.n_shards = chain, account, n_shards
        self.registration: Stage[BlobSpec, PaidRegistration] = Stage(members, self._register)
        self.certification: Stage[tuple[str, Certificate], bool] = Stage(members, self._certify)
        self.distributing = asyncio.Semaphore(DISTRIBUTING)
        self.transactions = 0
        """Batch transactions sent (registrations and certifications)."""

    def member(self) -> BatchMember:
        """A handle for one member's store."""
        return BatchMember(self)

    async def _register(self, specs: list[BlobSpec]) -> list[PaidRegistration | None]:
        out: list[PaidRegistration | None] = []
        for start in range(0, len(specs), MAX_BATCH_MEMBERS):
            part = specs[start : start + MAX_BATCH_MEMBERS]
            try:
                done = await run_in_threadpool(self.chain.register_blobs, self.account, part)
            except Exception as exc:  # this part goes alone; the others keep their batch
                event(log, "batch registration failed; members go alone", error=str(exc)[:300])
                out.extend([None] * len(part))
                continue
            self.transactions += 1
            out.extend(self._apportion(done.blobs, done.cost, done.tx_digest))
            event(log, "batch registered", blobs=len(part), tx=done.tx_digest, cost=done.cost)
        return out

    def _apportion(self, blobs: Any, cost: int, digest: str) -> list[PaidRegistration | None]:
        """Each blob's share of the transaction's cost, by encoded length (the rest to the
        first), so the members' answers add up to what was paid."""
        weights = [encoded_length(self.n_shards, b.size, b.encoding_type) for b in blobs]
        total = sum(weights) or 1
        shares = [cost * w // total for w in weights]
        shares[0] += cost - sum(shares)
        return [PaidRegistration(b, s, digest) for b, s in zip(blobs, shares, strict=True)]

    async def _certify(self, certs: list[tuple[str, Certificate]]) -> list[bool | None]:
        out: list[bool | None] = []
        for start in range(0, len(certs), MAX_BATCH_MEMBERS):
            part = certs[start : start + MAX_BATCH_MEMBERS]
            try:
                done = await run_in_threadpool(self.chain.certify_blobs, self.account, part)
            except Exception as exc:  # e.g. the epoch moved on: each certifies alone
                event(log, "batch certification failed; members go alone", error=str(exc)[:300])
                out.extend([None] * len(part))
                continue
            self.transactions += 1
            out.extend([True] * len(part))
            event(log, "batch certified", blobs=len(part), tx=done.tx_digest)
        return out


class BatchMember:
    """One member's side of a batch: join or skip each stage exactly once (`leave` skips
    whatever is left, so a member that ends early never holds the others up)."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.pending = {"registration", "certification"}

    def skip(self, stage: str) -> None:
        """This member will not take part in `stage`."""
        if stage in self.pending:
            self.pending.discard(stage)
            getattr(self.batch, stage).decide()

    def leave(self) -> None:
        """Skip every stage not yet decided."""
        for stage in sorted(self.pending):
            self.skip(stage)

    async def register(self, spec: BlobSpec) -> PaidRegistration | None:
        """The registration from the batch's transaction, or None: register alone."""
        if "registration" not in self.pending:
            return None
        self.pending.discard("registration")
        return await self.batch.registration.join(spec)

    async def certify(self, object_id: str, certificate: Certificate) -> bool:
        """Whether the batch's transaction certified the blob (False: certify alone)."""
        if "certification" not in self.pending:
            return False
        self.pending.discard("certification")
        return bool(await self.batch.certification.join((object_id, certificate)))
