"""Execute a signed Sui `TransactionData` on DevChain's state machine, answering as a node.

Before execution (a rejection, no effects, as a node's transaction checks): BCS decoding, the
intent signature (Ed25519 over blake2b-256(intent ‖ tx bytes), scheme flag 0x00) by the
sender, the gas price and budget, the gas coins (owned by the sender, at the referenced
version and digest, worth the budget), every owned input at its current version and digest
and owned by the sender, shared inputs at their initial shared version.

Execution (a failure has effects and still pays gas, as on Sui): the programmable
transaction's commands in order — MoveCall (Pure arguments decoded by the called function's
Move parameter types, objects, Result/NestedResult from earlier commands, the gas coin as
`&mut Coin<SUI>` payment), SplitCoins, MergeCoins, TransferObjects, Publish — with Sui's
rules that a value without `drop` must be used, an object by value is used once, an
immutable shared input cannot be passed by `&mut`. Move aborts keep their module and code.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import pysui.sui.sui_grpc.suimsgs.google.protobuf as gproto
import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as rpc
from grpclib.const import Status
from pysui.sui.sui_bcs import bcs

from haulout.chain import machine
from haulout.chain.accounts import verify_transaction
from haulout.chain.errors import InvalidTransaction, MoveAbort, ObjectNotFound, ObjectNotOwned
from haulout.chain.ledger import Ledger
from haulout.chain.sui_ids import attributes_field_id
from haulout.chain.txcontext import TxContext

from . import render
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
from .move_types import MoveType, Package, parse_type
from .values import BcsError, canonical_address, decode, encode, to_json

CLOCK = canonical_address("0x6")
SUI_TYPE = parse_type("0x2::sui::SUI").tag("")
"""`0x…02::sui::SUI`: Sui prints type tags with full 64-hex addresses."""
REFERENCE_GAS_PRICE = 1000
MAX_GAS_BUDGET = 50_000_000_000
COMPUTATION_UNITS = 1000
"""Computation units charged per transaction (Sui's smallest computation bucket)."""
REBATE_SHARE = 0.99
"""Share of an object's storage cost returned when it is rewritten or deleted (Sui: 99%)."""

Kind = rpc.ExecutionErrorExecutionErrorKind
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


class Failure(Exception):
    """Execution failed: recorded in effects, gas charged, no other change kept."""

    def __init__(
        self,
        kind: Any,
        description: str,
        command: int | None = None,
        abort: MoveAbort | None = None,
        call: tuple[str, str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.kind, self.description, self.command, self.abort, self.call = (
            kind,
            description,
            command,
            abort,
            call,
        )


@dataclass
class Coin:
    """A SUI coin in play: its id, value, owner once transferred, whether it is new."""

    id: str
    value: int
    owner: str
    created: bool = False
    consumed: bool = False  # merged into another coin
    transferred: bool = False


@dataclass
class Value:
    """One command result: an object (DevChain id and Move type), a coin, or a plain value."""

    kind: str  # "object" | "coin" | "plain" | "cap"
    data: Any
    type: MoveType | None = None
    consumed: bool = False


@dataclass
class Input:
    """A checked transaction input."""

    kind: str  # "pure" | "owned" | "shared"
    pure: bytes = b""
    row: Row | None = None
    mutable: bool = True
    consumed: bool = False


@dataclass
class Outcome:
    """What a run produced before effects are written."""

    events: list[tuple[Any, str, str]] = field(default_factory=list)  # (event, package, module)
    packages: list[tuple[str, str]] = field(default_factory=list)  # (package id, cap id)


def _addr(a: Any) -> str:
    return canonical_address(a.to_address_str())


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


class _Run:
    """The commands of one programmable transaction over a DevChain `_Ctx`."""

    def __init__(
        self,
        ex: Executor,
        conn: sqlite3.Connection,
        objs: Objects,
        sender: str,
        digest_hex: str,
        now: int,
        inputs: list[Input],
        gas: Coin,
    ) -> None:
        self.ex, self.pkg, self.conn, self.objs = ex, ex.pkg, conn, objs
        self.sender, self.inputs, self.gas = sender, inputs, gas
        self.ctx = TxContext(conn, sender, digest_hex, now)
        self.results: list[list[Value]] = []
        self.coins: dict[str, Coin] = {gas.id: gas}
        self.outcome = Outcome()
        self.packages: dict[str, str] = {}
        self.caps: dict[str, str] = {}  # UpgradeCap id → package id
        self.cap_owner: dict[str, str] = {}
        self.created_package: dict[str, str] = {}  # DevChain object → the package that made it

    # arguments
    def _value(self, arg: Any, cmd: int) -> Value | Input | Coin:
        if arg.index == 0:  # GasCoin
            return self.gas
        if arg.index == 1:
            i = int(arg.value)
            if i >= len(self.inputs):
                raise Failure(Kind.COMMAND_ARGUMENT_ERROR, f"input {i} out of bounds", cmd)
            inp = self.inputs[i]
            if inp.row is not None and inp.row.move_type == SUI_COIN:
                coin = self.coins.setdefault(
                    inp.row.id, Coin(inp.row.id, coin_value(inp.row.contents), self.sender)
                )
                return coin
            return inp
        r, j = (int(arg.value), 0) if arg.index == 2 else (int(arg.value[0]), int(arg.value[1]))
        if r >= len(self.results) or j >= len(self.results[r]):
            raise Failure(Kind.COMMAND_ARGUMENT_ERROR, f"result {r}.{j} out of bounds", cmd)
        if arg.index == 2 and len(self.results[r]) != 1:
            raise Failure(Kind.COMMAND_ARGUMENT_ERROR, f"result {r} is not a single value", cmd)
        v = self.results[r][j]
        if v.kind == "coin":
            return v.data  # type: ignore[no-any-return]
        return v

    def _consume(self, v: Value | Input | Coin, cmd: int) -> None:
        if v.consumed:
            raise Failure(Kind.COMMAND_ARGUMENT_ERROR, "a value was used after it was moved", cmd)
        v.consumed = True

    def _pure(self, v: Value | Input | Coin, t: MoveType, cmd: int) -> Any:
        if isinstance(v, Input) and v.kind == "pure":
            try:
                return decode(self.pkg, t, v.pure)
            except BcsError as exc:
                raise Failure(
                    Kind.COMMAND_ARGUMENT_ERROR, f"invalid BCS bytes for {t}: {exc}", cmd
                ) from exc
        if isinstance(v, Value) and v.kind == "plain":
            return v.data
        raise Failure(Kind.COMMAND_ARGUMENT_ERROR, f"type mismatch: expected a {t}", cmd)

    # commands
    def commands(self, commands: list[Any]) -> Outcome:
        for i, command in enumerate(commands):
            handler = {
                0: self._move_call,
                1: self._transfer,
                2: self._split,
                3: self._merge,
                4: self._publish,
            }.get(command.index)
            if handler is None:
                raise Failure(
                    Kind.FEATURE_NOT_YET_SUPPORTED,
                    f"command {command.enum_name} is not run here",
                    i,
                )
            self.results.append(handler(command.value, i))
        for r, values in enumerate(self.results):
            for v in values:
                if v.kind == "coin":
                    unused = not (v.data.consumed or v.data.transferred)
                else:
                    unused = v.kind in ("object", "cap") and not v.consumed
                if unused:
                    raise Failure(
                        Kind.UNUSED_VALUE_WITHOUT_DROP,
                        f"UnusedValueWithoutDrop {{ result_idx: {r} }}",
                        r,
                    )
        return self.outcome

    def _move_call(self, call: Any, cmd: int) -> list[Value]:
        package = _addr(call.Package)
        module, function = str(call.Module), str(call.Function)
        pkg_row = self.objs.get(package)
        if (pkg_row is None or pkg_row.move_type != PACKAGE) and package not in self.packages:
            raise Failure(Kind.FUNCTION_NOT_FOUND, f"package {package} does not exist", cmd)
        fn = self.pkg.functions.get(f"{module}::{function}")
        if fn is None:
            raise Failure(Kind.FUNCTION_NOT_FOUND, f"{module}::{function} is not public", cmd)
        if call.Type_Arguments:
            raise Failure(Kind.TYPE_ARITY_MISMATCH, f"{module}::{function} is not generic", cmd)
        params = [p for p in fn.params if p.name != "0x2::tx_context::TxContext"]
        args = list(call.Arguments)
        if len(args) != len(params):
            raise Failure(
                Kind.ARITY_MISMATCH,
                f"{module}::{function} takes {len(params)} arguments, got {len(args)}",
                cmd,
            )
        target = f"{module}::{function}"
        if target not in machine.FUNCTIONS:
            raise Failure(
                Kind.FEATURE_NOT_YET_SUPPORTED, f"the stand-in does not run {target}", cmd
            )
        dev_args: list[dict[str, Any]] = []
        payment: Coin | None = None
        for a, t in zip(args, params, strict=True):
            v = self._value(a, cmd)
            if t.name == "0x2::clock::Clock":
                if not (isinstance(v, Input) and v.row is not None and v.row.id == CLOCK):
                    raise Failure(Kind.COMMAND_ARGUMENT_ERROR, "expected the Clock 0x6", cmd)
            elif t.name == "0x2::coin::Coin":
                if not isinstance(v, Coin) or t.ref == "&":
                    raise Failure(Kind.COMMAND_ARGUMENT_ERROR, f"expected a {t}", cmd)
                payment = v
                if not t.ref:  # by value: the coin's whole value goes into the call
                    if v is self.gas:
                        raise Failure(
                            Kind.COMMAND_ARGUMENT_ERROR,
                            "the gas coin can be taken by value only by TransferObjects",
                            cmd,
                        )
                    self._consume(v, cmd)
                    dev_args.append({"pure": v.value})
            elif t.is_struct and t.name in self.pkg.structs:
                dev_args.append({"object": self._object_arg(v, t, cmd)})
            else:
                value = self._pure(v, MoveType(t.name, t.args), cmd)
                if t.name == "vector" and t.args[0].name == "u8":
                    dev_args.append({"bytes": base64.b64encode(value).decode()})
                else:
                    dev_args.append({"pure": value})
        balance = payment.value if payment is not None else 0
        self.conn.execute(
            "INSERT INTO balances (address, amount) VALUES (?, ?) ON CONFLICT(address) "
            "DO UPDATE SET amount = excluded.amount",
            (self.sender, balance),
        )
        events_before = len(self.ctx.events)
        try:
            result = machine.run(self.ctx, [{"call": target, "args": dev_args}])[0]
        except MoveAbort as exc:
            fn_name = f'Some("{function}")' if exc.module == module else "None"
            raise Failure(
                Kind.MOVE_ABORT,
                f"MoveAbort(MoveLocation {{ module: ModuleId {{ address: {package[2:]}, "
                f'name: Identifier("{exc.module}") }}, function_name: {fn_name} }}, '
                f"{exc.code}) in command {cmd}",
                cmd,
                exc,
                (package, module, function),
            ) from exc
        except (InvalidTransaction, ObjectNotFound, ObjectNotOwned) as exc:
            raise Failure(Kind.COMMAND_ARGUMENT_ERROR, str(exc), cmd) from exc
        if payment is not None:
            left = self.conn.execute(
                "SELECT amount FROM balances WHERE address = ?", (self.sender,)
            ).fetchone()[0]
            payment.value = left
        for oid, obj in self.ctx.objects.items():
            if obj.created:
                self.created_package.setdefault(oid, package)
        for ev in self.ctx.events[events_before:]:
            self.outcome.events.append((ev, package, module))
        out = []
        for rt in fn.returns:
            if rt.is_struct and "key" in self.pkg.abilities.get(rt.name, set()):
                out.append(Value("object", str(result), rt))
            else:
                out.append(Value("plain", result, rt))
        return out

    def _object_arg(self, v: Value | Input | Coin, t: MoveType, cmd: int) -> str:
        if isinstance(v, Input) and v.row is not None:
            if v.row.move_type != t.name:
                raise Failure(
                    Kind.COMMAND_ARGUMENT_ERROR,
                    f"type mismatch: {v.row.id} is a {v.row.move_type}, expected {t.name}",
                    cmd,
                )
            if v.kind == "shared" and t.ref == "&mut" and not v.mutable:
                raise Failure(
                    Kind.COMMAND_ARGUMENT_ERROR,
                    f"InvalidObjectByMutRef: {v.row.id} is an immutable shared input",
                    cmd,
                )
            if not t.ref:
                if v.kind == "shared":
                    raise Failure(
                        Kind.COMMAND_ARGUMENT_ERROR, f"shared object {v.row.id} by value", cmd
                    )
                self._consume(v, cmd)
            elif v.consumed:
                raise Failure(
                    Kind.COMMAND_ARGUMENT_ERROR, "a value was used after it was moved", cmd
                )
            return v.row.id
        if isinstance(v, Value) and v.kind == "object" and v.type is not None:
            if v.type.name != t.name:
                raise Failure(
                    Kind.COMMAND_ARGUMENT_ERROR, f"type mismatch: a {v.type}, expected {t}", cmd
                )
            if not t.ref:
                self._consume(v, cmd)
            elif v.consumed:
                raise Failure(
                    Kind.COMMAND_ARGUMENT_ERROR, "a value was used after it was moved", cmd
                )
            return str(v.data)
        raise Failure(Kind.COMMAND_ARGUMENT_ERROR, f"type mismatch: expected a {t}", cmd)

    def _transfer(self, tr: Any, cmd: int) -> list[Value]:
        to = self._value(tr.Address, cmd)
        recipient = canonical_address(self._pure(to, MoveType("address"), cmd))
        for a in tr.Objects:
            v = self._value(a, cmd)
            if isinstance(v, Coin):
                if v.consumed or v.transferred:
                    raise Failure(
                        Kind.COMMAND_ARGUMENT_ERROR, "a coin was used after it moved", cmd
                    )
                v.owner, v.transferred = recipient, v is not self.gas
                continue
            if isinstance(v, Value) and v.kind == "cap":
                self._consume(v, cmd)
                self.cap_owner[str(v.data)] = recipient
                continue
            if isinstance(v, Input) and (v.row is None or v.kind == "shared"):
                raise Failure(
                    Kind.COMMAND_ARGUMENT_ERROR, "only owned objects are transferred", cmd
                )
            if isinstance(v, Value) and v.kind != "object":
                raise Failure(Kind.COMMAND_ARGUMENT_ERROR, "transfer of a non-object", cmd)
            oid = v.row.id if isinstance(v, Input) and v.row else str(v.data)  # type: ignore[union-attr]
            self._consume(v, cmd)
            machine.run(
                self.ctx, [{"call": "transfer", "args": [{"object": oid}, {"pure": recipient}]}]
            )
        return []

    def _split(self, sp: Any, cmd: int) -> list[Value]:
        source = self._value(sp.FromCoin, cmd)
        if not isinstance(source, Coin):
            raise Failure(Kind.COMMAND_ARGUMENT_ERROR, "SplitCoins takes a coin", cmd)
        out = []
        for a in sp.Amount:
            amount = int(self._pure(self._value(a, cmd), MoveType("u64"), cmd))
            if amount > source.value:
                raise Failure(
                    Kind.INSUFFICIENT_COIN_BALANCE,
                    f"InsufficientCoinBalance in command {cmd}: {source.value} < {amount}",
                    cmd,
                )
            source.value -= amount
            coin = Coin(self.ctx.fresh_id(), amount, "", created=True)
            self.coins[coin.id] = coin
            out.append(Value("coin", coin))
        return out

    def _merge(self, mg: Any, cmd: int) -> list[Value]:
        target = self._value(mg.ToCoin, cmd)
        if not isinstance(target, Coin):
            raise Failure(Kind.COMMAND_ARGUMENT_ERROR, "MergeCoins takes coins", cmd)
        for a in mg.FromCoins:
            src = self._value(a, cmd)
            if not isinstance(src, Coin) or src is target or src is self.gas:
                raise Failure(Kind.COMMAND_ARGUMENT_ERROR, "MergeCoins takes distinct coins", cmd)
            self._consume(src, cmd)
            target.value += src.value
            src.value = 0
        return []

    def _publish(self, pb: Any, cmd: int) -> list[Value]:
        package = self.ctx.fresh_id()
        cap = self.ctx.fresh_id()
        self.packages[package] = hashlib.blake2b(
            b"".join(bytes(m) for m in pb.Modules), digest_size=32
        ).hexdigest()
        self.caps[cap] = package
        admin = self.ctx.create("system::AdminCap", {})  # the package's `init`
        self.outcome.packages.append((package, cap))
        self.created_package[admin.id] = package
        return [Value("cap", cap)]

    # effects
    def finish(self, lamport: int, digest: str) -> dict[str, tuple[Row | None, Row | None]]:
        """Flush DevChain's changes and return (old row, new row) per changed object."""
        ctx, objs = self.ctx, self.objs
        writes: dict[str, tuple[Row | None, Row | None]] = {}
        mutable_inputs = {
            i.row.id: i.row
            for i in self.inputs
            if i.row is not None and (i.kind == "owned" or i.mutable)
        }
        ctx.flush()
        for oid in sorted(ctx.deleted):
            writes[oid] = (objs.get(oid), None)
            field = objs.get(attributes_field_id(oid))
            if field is not None:
                writes[field.id] = (field, None)
        for oid, obj in list(ctx.objects.items()):
            old = objs.get(oid)
            if not obj.created and oid not in mutable_inputs:
                continue  # read through an immutable reference, or loaded through a wrapper
            holder = ctx.objects.get(obj.owner or "")
            if holder is not None:  # wrapped into another object (a SharedBlob)
                writes[oid] = (old, None)
                continue
            wrapped = None
            if obj.type == "shared_blob::SharedBlob":
                wrapped = ctx.load(obj.data["blob"], wrapper=oid).data
            mt = render.DEVCHAIN_TYPES[obj.type]
            value = render.move_value(obj.type, oid, obj.data, wrapped)
            prior = old or objs.get(oid, live_only=False)
            package = prior.package if prior else self.created_package.get(oid, "")
            shared_version = old.shared_version if old else None
            kind = "shared" if obj.owner is None else "address"
            if kind == "shared" and shared_version is None:
                shared_version = lamport
            new = Row(
                oid,
                mt,
                package,
                kind,
                obj.owner,
                shared_version,
                lamport,
                "",
                digest,
                0,
                encode(self.pkg, parse_type(mt), value),
            )
            writes[oid] = (old, new)
            if obj.type == "blob::Blob":
                self._attributes(writes, oid, obj.data["attributes"], package, lamport, digest)
        for oid, row in mutable_inputs.items():  # taken mutably: a new version even if unchanged
            if oid not in writes and row.move_type != SUI_COIN:
                writes[oid] = (row, dataclasses.replace(row, version=lamport, prev_tx=digest))
        for coin in self.coins.values():
            if coin is self.gas:
                continue
            old = objs.get(coin.id)
            if coin.consumed:
                writes[coin.id] = (old, None)
                continue
            owner = coin.owner or self.sender
            new = Row(
                coin.id,
                SUI_COIN,
                "0x2",
                "address",
                owner,
                None,
                lamport,
                "",
                digest,
                0,
                coin_contents(coin.id, coin.value),
            )
            writes[coin.id] = (old, new)
        for package, module_hash in self.packages.items():
            writes[package] = (
                None,
                Row(
                    package,
                    PACKAGE,
                    package,
                    "immutable",
                    None,
                    None,
                    1,
                    "",
                    digest,
                    0,
                    bytes.fromhex(module_hash),
                ),
            )
        for cap, package in self.caps.items():
            contents = encode(
                self.pkg,
                parse_type("0x2::package::UpgradeCap"),
                {"id": cap, "package": package, "version": 1, "policy": 0},
            )
            owner = self.cap_owner.get(cap, self.sender)
            writes[cap] = (
                None,
                Row(
                    cap,
                    "0x2::package::UpgradeCap",
                    "0x2",
                    "address",
                    owner,
                    None,
                    lamport,
                    "",
                    digest,
                    0,
                    contents,
                ),
            )
        return writes

    def _attributes(
        self,
        writes: dict[str, tuple[Row | None, Row | None]],
        blob_id: str,
        attributes: dict[str, str],
        package: str,
        lamport: int,
        digest: str,
    ) -> None:
        """The Blob's `b"attributes"` dynamic field: added on the first set, kept after."""
        fid = attributes_field_id(blob_id)
        old = self.objs.get(fid)
        if old is None and not attributes:
            return
        if old is not None and decode(self.pkg, parse_type(render.ATTRIBUTES_TYPE), old.contents)[
            "value"
        ]["contents"] == [{"key": k, "value": v} for k, v in attributes.items()]:
            return
        contents = encode(
            self.pkg, parse_type(render.ATTRIBUTES_TYPE), render.attributes_value(fid, attributes)
        )
        new = Row(
            fid,
            render.ATTRIBUTES_TYPE,
            package,
            "object",
            blob_id,
            None,
            lamport,
            "",
            digest,
            0,
            contents,
        )
        writes[fid] = (old, new)
