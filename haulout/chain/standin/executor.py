"""Execute a signed Sui `TransactionData` on DevChain's state machine, answering as a node.

Before execution (a rejection, no effects, as a node's transaction checks): BCS decoding, the
intent signature (Ed25519 over blake2b-256(intent ‖ tx bytes), scheme flag 0x00) by the
sender, the gas price and budget, the gas coins (owned by the sender, at the referenced
version and digest, worth the budget), every owned input at its current version and digest
and owned by the sender, shared inputs at their initial shared version.

Execution (`ptb`): the commands run over DevChain's state machine; a failure has effects
and still pays gas, as on Sui, and moves every mutable input to the new version. Then gas
(computation, storage of what is written, 99% rebates of what it replaces), the new object
records, effects, events, balance changes, and one checkpoint per transaction.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import sqlite3
from typing import Any

import pysui.sui.sui_grpc.suimsgs.google.protobuf as gproto
import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as rpc
from grpclib.const import Status
from pysui.sui.sui_bcs import bcs

from haulout.chain.accounts import verify_transaction
from haulout.chain.ledger import Ledger

from .ledger import (
    PACKAGE,
    SUI_COIN,
    Objects,
    Row,
    coin_contents,
    coin_value,
    digest_text,
    storage_cost,
    tx_digest,
)
from .move_types import Package, parse_type
from .ptb import Coin, Failure, Input, Kind, Outcome, _addr, _Run
from .values import canonical_address, encode, to_json

SUI_TYPE = parse_type("0x2::sui::SUI").tag("")
"""`0x…02::sui::SUI`: Sui prints type tags with full 64-hex addresses."""
REFERENCE_GAS_PRICE = 1000
MAX_GAS_BUDGET = 50_000_000_000
COMPUTATION_UNITS = 1000
"""Computation units charged per transaction (Sui's smallest computation bucket)."""
REBATE_SHARE = 0.99
"""Share of an object's storage cost returned when it is rewritten or deleted (Sui: 99%)."""

IN, OUT, OP = (
    rpc.ChangedObjectInputObjectState,
    rpc.ChangedObjectOutputObjectState,
    rpc.ChangedObjectIdOperation,
)


class Rejected(Exception):
    """Refused before execution: a gRPC error status, no effects, nothing charged."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status


def _value(v: Any) -> gproto.Value:
    return gproto.Value.from_dict(v)


class Executor:
    """Runs transactions against one DevChain ledger file."""

    def __init__(self, chain: Ledger, pkg: Package) -> None:
        self.chain, self.pkg = chain, pkg
        self.stale_inputs = 0
        """Transactions refused because an input was at an old version (coin contention)."""

    # -- entry ------------------------------------------------------------------------------

    def execute(
        self, tx_bytes: bytes, signatures: list[bytes], simulate: bool = False
    ) -> rpc.ExecutedTransaction:
        """Check, run and (unless `simulate`) commit one transaction; its ExecutedTransaction."""
        try:
            data = bcs.TransactionData.deserialize(tx_bytes).value
            kind = data.TransactionKind
        except Exception as exc:
            raise Rejected(Status.INVALID_ARGUMENT, f"invalid transaction: {exc}") from exc
        sender = _addr(data.Sender)
        if not simulate:
            if len(signatures) != 1:
                raise Rejected(
                    Status.INVALID_ARGUMENT, f"expected 1 signature, got {len(signatures)}"
                )
            try:
                signer = verify_transaction(tx_bytes, signatures[0])
            except ValueError as exc:
                raise Rejected(Status.INVALID_ARGUMENT, f"invalid signature: {exc}") from exc
            if canonical_address(signer) != sender:
                raise Rejected(
                    Status.INVALID_ARGUMENT,
                    f"signature is from {signer}, but the transaction's sender is {sender}",
                )
        raw_digest = tx_digest(tx_bytes)
        digest = digest_text(raw_digest)
        conn = self.chain.conn()
        if not simulate:
            done = conn.execute(
                "SELECT executed FROM sui_transactions WHERE digest = ?", (digest,)
            ).fetchone()
            if done:  # a node answers a resubmitted transaction with its effects
                return rpc.ExecutedTransaction.FromString(done[0])
        if kind.index != 0:
            raise Rejected(Status.INVALID_ARGUMENT, "only programmable transactions are accepted")
        conn.execute("BEGIN IMMEDIATE")
        try:
            executed = self._execute(conn, data, tx_bytes, sender, raw_digest, digest, simulate)
            conn.execute("ROLLBACK" if simulate else "COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return executed

    # -- checks -----------------------------------------------------------------------------

    def _check_ref(self, objs: Objects, ref: Any, sender: str) -> Row:
        oid = _addr(ref.ObjectID)
        row = objs.get(oid)
        if row is None:
            raise Rejected(Status.INVALID_ARGUMENT, f"Object {oid} not found")
        version, dig = int(ref.SequenceNumber), ref.ObjectDigest.to_digest_str()
        if (row.version, row.digest) != (version, dig):
            self.stale_inputs += 1
            raise Rejected(
                Status.INVALID_ARGUMENT,
                f"Object ID {oid} Version {version} Digest {dig} is not available for "
                f"consumption, current version: {row.version}",
            )
        if row.owner_kind == "address" and row.owner != sender:
            raise Rejected(
                Status.INVALID_ARGUMENT,
                f"Transaction was not signed by the correct sender: Object {oid} is owned by "
                f"account address {row.owner}, but given owner/signer address is {sender}",
            )
        if row.owner_kind in ("shared", "object"):
            raise Rejected(
                Status.INVALID_ARGUMENT,
                f"Object {oid} is not owned or immutable ({row.owner_kind})",
            )
        return row

    def _inputs(self, objs: Objects, inputs: list[Any], sender: str) -> list[Input]:
        out = []
        for i, arg in enumerate(inputs):
            if arg.index == 0:  # Pure
                out.append(Input("pure", bytes(arg.value)))
                continue
            if arg.index != 1:
                raise Rejected(Status.INVALID_ARGUMENT, f"input {i}: unsupported kind")
            obj = arg.value
            if obj.index == 0:  # ImmOrOwnedObject
                out.append(Input("owned", row=self._check_ref(objs, obj.value, sender)))
            elif obj.index == 1:  # SharedObject
                oid = _addr(obj.value.ObjectID)
                row = objs.get(oid)
                if row is None:
                    raise Rejected(Status.INVALID_ARGUMENT, f"Object {oid} not found")
                if row.owner_kind != "shared" or row.shared_version != int(
                    obj.value.SequenceNumber
                ):
                    raise Rejected(
                        Status.INVALID_ARGUMENT,
                        f"Object {oid} is not shared at initial version "
                        f"{obj.value.SequenceNumber} (it is {row.owner_kind}, "
                        f"{row.shared_version})",
                    )
                out.append(Input("shared", row=row, mutable=bool(obj.value.Mutable)))
            else:
                raise Rejected(Status.INVALID_ARGUMENT, f"input {i}: receiving is not supported")
        return out

    # -- the run ----------------------------------------------------------------------------

    def _execute(
        self,
        conn: sqlite3.Connection,
        data: Any,
        tx_bytes: bytes,
        sender: str,
        raw_digest: bytes,
        digest: str,
        simulate: bool,
    ) -> rpc.ExecutedTransaction:
        objs = Objects(conn, self.pkg)
        gas = data.GasData
        price, budget = int(gas.Price), int(gas.Budget)
        if price < REFERENCE_GAS_PRICE:
            raise Rejected(
                Status.INVALID_ARGUMENT,
                f"gas price {price} is under the reference gas price {REFERENCE_GAS_PRICE}",
            )
        if not price * COMPUTATION_UNITS <= budget <= MAX_GAS_BUDGET:
            raise Rejected(
                Status.INVALID_ARGUMENT,
                f"gas budget {budget} outside [{price * COMPUTATION_UNITS}, {MAX_GAS_BUDGET}]",
            )
        if _addr(gas.Owner) != sender:
            raise Rejected(Status.INVALID_ARGUMENT, "sponsored transactions are not supported")
        if not gas.Payment:
            raise Rejected(Status.INVALID_ARGUMENT, "no gas payment")
        gas_rows = [self._check_ref(objs, ref, sender) for ref in gas.Payment]
        for row in gas_rows:
            if row.move_type != SUI_COIN:
                raise Rejected(Status.INVALID_ARGUMENT, f"gas object {row.id} is not a SUI coin")
        if len({r.id for r in gas_rows}) != len(gas_rows):
            raise Rejected(Status.INVALID_ARGUMENT, "a gas coin is given twice")
        total = sum(coin_value(r.contents) for r in gas_rows)
        if total < budget:
            raise Rejected(
                Status.INVALID_ARGUMENT,
                f"Balance of gas object {gas_rows[0].id} is lower than the needed amount: {budget}",
            )
        ptb = data.TransactionKind.value
        inputs = self._inputs(objs, list(ptb.Inputs), sender)
        input_rows = [i.row for i in inputs if i.row is not None]
        ids = [r.id for r in input_rows] + [r.id for r in gas_rows]
        if len(set(ids)) != len(ids):
            raise Rejected(Status.INVALID_ARGUMENT, "an object is given twice as an input")
        lamport = max(r.version for r in input_rows + gas_rows) + 1
        now = self.chain.now_ms()
        gas_coin = Coin(gas_rows[0].id, total - budget, sender)
        conn.execute("SAVEPOINT run")
        failure: Failure | None = None
        outcome = Outcome()
        writes: dict[str, tuple[Row | None, Row | None]] = {}
        try:
            run = _Run(self, conn, objs, sender, raw_digest.hex(), now, inputs, gas_coin)
            outcome = run.commands(list(ptb.Command))
            writes = run.finish(lamport, digest)
            needed = price * COMPUTATION_UNITS + sum(
                storage_cost(new) for _, new in writes.values() if new is not None
            )
            if needed + storage_cost(gas_rows[0]) > budget:  # the gas coin is rewritten too
                raise Failure(
                    Kind.INSUFFICIENT_GAS, f"InsufficientGas: {needed} MIST > budget {budget}"
                )
        except Failure as exc:
            conn.execute("ROLLBACK TO run")
            failure = exc
        conn.execute("RELEASE run")
        if failure is not None:  # mutable inputs still move to the new version, unchanged
            writes = {}
            for inp in inputs:
                if inp.row is not None and (inp.kind == "owned" or inp.mutable):
                    new = dataclasses.replace(inp.row, version=lamport, prev_tx=digest)
                    writes[inp.row.id] = (inp.row, new)
            gas_coin = Coin(gas_rows[0].id, total - budget, sender)
        # gas: computation, storage of what is written, rebates of what it replaces
        computation = price * COMPUTATION_UNITS
        for extra in gas_rows[1:]:  # smashed into the first
            writes[extra.id] = (extra, None)
        gas_new = dataclasses.replace(gas_rows[0], version=lamport, prev_tx=digest)
        writes[gas_rows[0].id] = (gas_rows[0], gas_new)
        storage = sum(storage_cost(new) for _, new in writes.values() if new is not None)
        old_rebates = sum(old.rebate for old, _ in writes.values() if old is not None)
        rebate = int(old_rebates * REBATE_SHARE)
        used = computation + storage - rebate
        if failure is not None and failure.kind == Kind.INSUFFICIENT_GAS:
            used = budget  # out of gas: the whole budget is spent (Sui)
            computation = budget - storage + rebate
        gas_new.contents = coin_contents(gas_new.id, gas_coin.value + budget - used)
        if gas_coin.owner != sender:
            gas_new.owner = gas_coin.owner
        changed, balances = self._write(objs, writes)
        for address in balances:
            self._mirror_balance(conn, objs, address)
        gas_summary = rpc.GasCostSummary(
            computation_cost=computation,
            storage_cost=storage,
            storage_rebate=rebate,
            non_refundable_storage_fee=old_rebates - rebate,
        )
        if failure is None and not simulate:
            devchain_digest = raw_digest.hex()
            conn.execute(
                "INSERT OR IGNORE INTO transactions (digest, sender, ts) VALUES (?, ?, ?)",
                (devchain_digest, sender, now),
            )
        return self._record(
            conn,
            tx_bytes,
            digest,
            sender,
            now,
            lamport,
            failure,
            gas_summary,
            changed,
            gas_rows[0].id,
            outcome,
            balances,
            simulate,
        )

    def _write(
        self, objs: Objects, writes: dict[str, tuple[Row | None, Row | None]]
    ) -> tuple[list[rpc.ChangedObject], dict[str, int]]:
        """Store the new rows; the effects' changed objects and per-address SUI changes."""
        changed: list[rpc.ChangedObject] = []
        balances: dict[str, int] = {}
        for oid, (old, new) in sorted(writes.items()):
            if old is None and new is None:
                continue  # created and wrapped or deleted in the same transaction
            unwrapped = old is None and objs.get(oid, live_only=False) is not None
            if new is not None:
                objs.put(new)
            else:
                objs.retire(oid)
            for row, sign in ((old, -1), (new, 1)):
                if row is not None and row.move_type == SUI_COIN and row.owner_kind == "address":
                    owner = row.owner or ""
                    balances[owner] = balances.get(owner, 0) + sign * coin_value(row.contents)
            ch = rpc.ChangedObject(
                object_id=oid,
                input_state=IN.EXISTS if old is not None else IN.DOES_NOT_EXIST,
                output_state=(
                    (OUT.PACKAGE_WRITE if new.move_type == PACKAGE else OUT.OBJECT_WRITE)
                    if new is not None
                    else OUT.DOES_NOT_EXIST
                ),
                id_operation=(
                    OP.NONE
                    if (old is not None and new is not None) or unwrapped
                    else OP.CREATED
                    if new is not None
                    else (OP.NONE if _wrapped(writes, oid) else OP.DELETED)
                ),
                object_type=(new or old).type_tag(),  # type: ignore[union-attr]
            )
            if old is not None:
                ch.input_version, ch.input_digest = old.version, old.digest
                ch.input_owner = owner_proto(old)
            if new is not None:
                ch.output_version, ch.output_digest = new.version, new.digest
                ch.output_owner = owner_proto(new)
            changed.append(ch)
        return changed, balances

    def _mirror_balance(self, conn: sqlite3.Connection, objs: Objects, address: str) -> None:
        """DevChain's balance row is the sum of the address's coins."""
        total, _ = objs.balance(address)
        conn.execute(
            "INSERT INTO balances (address, amount) VALUES (?, ?) "
            "ON CONFLICT(address) DO UPDATE SET amount = excluded.amount",
            (address, total),
        )

    def _record(
        self,
        conn: sqlite3.Connection,
        tx_bytes: bytes,
        digest: str,
        sender: str,
        now: int,
        lamport: int,
        failure: Failure | None,
        gas_summary: rpc.GasCostSummary,
        changed: list[rpc.ChangedObject],
        gas_id: str,
        outcome: Outcome,
        balances: dict[str, int],
        simulate: bool,
    ) -> rpc.ExecutedTransaction:
        status = rpc.ExecutionStatus(success=failure is None)
        if failure is not None:
            status.error = execution_error(failure)
        events = [] if failure else [self._event(e, p, m, sender) for e, p, m in outcome.events]
        gas_object = next((c for c in changed if c.object_id == gas_id), None)
        effects = rpc.TransactionEffects(
            version=2,
            status=status,
            epoch=0,
            gas_used=gas_summary,
            transaction_digest=digest,
            gas_object=gas_object,
            lamport_version=lamport,
            changed_objects=changed,
        )
        tx_events = rpc.TransactionEvents(events=events) if events else None
        if tx_events is not None:
            tx_events.digest = digest_text(
                hashlib.blake2b(b"TransactionEvents::" + bytes(tx_events), digest_size=32).digest()
            )
            effects.events_digest = tx_events.digest
        effects.digest = digest_text(
            hashlib.blake2b(b"TransactionEffects::" + bytes(effects), digest_size=32).digest()
        )
        executed = rpc.ExecutedTransaction(
            digest=digest,
            transaction=rpc.Transaction(
                bcs=rpc.Bcs(name="TransactionData", value=tx_bytes),
                digest=digest,
                version=1,
                sender=sender,
            ),
            effects=effects,
            events=tx_events,
            timestamp=datetime.datetime.fromtimestamp(now / 1000, datetime.UTC),
            balance_changes=[
                rpc.BalanceChange(address=a, coin_type=SUI_TYPE, amount=str(v))
                for a, v in sorted(balances.items())
                if v
            ],
        )
        if simulate:
            return executed
        seq = record_checkpoint(conn, now, digest)
        executed.checkpoint = seq
        executed.transaction_index = 0  # one transaction per checkpoint
        conn.execute(
            "INSERT INTO sui_transactions (digest, checkpoint, position, executed) VALUES (?, ?, 0, ?)",
            (digest, seq, bytes(executed)),
        )
        return executed

    def _event(self, event: Any, package: str, module: str, sender: str) -> rpc.Event:
        t = self.pkg.struct("events", event.NAME)
        fields = event.to_fields()
        value = {}
        for name, ft in self.pkg.layout(t):
            v = fields[name]
            value[name] = bytes.fromhex(v) if ft.name == "vector" and isinstance(v, str) else v
        return rpc.Event(
            package_id=package,
            module=module,
            sender=sender,
            event_type=t.tag(package),
            contents=rpc.Bcs(name=t.tag(package), value=encode(self.pkg, t, value)),
            json=_value(to_json(self.pkg, t, value)),
        )


def _wrapped(writes: dict[str, tuple[Row | None, Row | None]], oid: str) -> bool:
    """An object gone from the ledger whose id an object written in the same transaction now
    holds in its fields (a Storage in a Blob, a Blob in a SharedBlob): wrapped, not deleted."""
    needle = bytes.fromhex(oid[2:])
    return any(new is not None and needle in new.contents[32:] for _, new in writes.values())


def owner_proto(row: Row) -> rpc.Owner:
    """The `Owner` message of a row."""
    kinds = {
        "address": rpc.OwnerOwnerKind.ADDRESS,
        "object": rpc.OwnerOwnerKind.OBJECT,
        "shared": rpc.OwnerOwnerKind.SHARED,
        "immutable": rpc.OwnerOwnerKind.IMMUTABLE,
    }
    owner = rpc.Owner(kind=kinds[row.owner_kind])
    if row.owner_kind in ("address", "object"):
        owner.address = row.owner
    if row.owner_kind == "shared":
        owner.version = row.shared_version
    return owner


def execution_error(f: Failure) -> rpc.ExecutionError:
    """An ExecutionError as sui-rpc-api renders one (kind, command, Move abort location)."""
    err = rpc.ExecutionError(description=f.description, command=f.command, kind=f.kind)
    if f.abort is not None and f.call is not None:
        package, module, function = f.call
        err.abort = rpc.MoveAbort(
            abort_code=f.abort.code,
            location=rpc.MoveLocation(
                package=package,
                module=f.abort.module,
                function_name=function if f.abort.module == module else None,
            ),
        )
    return err


def record_checkpoint(conn: sqlite3.Connection, now: int, digest: str) -> int:
    """One checkpoint per transaction: its sequence number."""
    last = conn.execute("SELECT MAX(seq) FROM sui_checkpoints").fetchone()[0]
    seq = 0 if last is None else last + 1
    cp_digest = digest_text(hashlib.blake2b(f"{seq}:{digest}".encode(), digest_size=32).digest())
    conn.execute(
        "INSERT INTO sui_checkpoints (seq, timestamp_ms, digest) VALUES (?, ?, ?)",
        (seq, now, cp_digest),
    )
    return seq
