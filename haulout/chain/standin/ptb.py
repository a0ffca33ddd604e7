"""The commands of one programmable transaction, run over DevChain's state machine
(`haulout.chain.machine`) in a `TxContext`: MoveCall (Pure arguments decoded by the called
function's Move parameter types, objects, Result/NestedResult from earlier commands, coins as
payment or by value), SplitCoins, MergeCoins, TransferObjects and Publish, with Sui's rules
(a value without `drop` must be used, an object by value is used once, an immutable shared
input is not passed by `&mut`). `_Run.finish` turns what changed into Sui object records.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as rpc

from haulout.chain import machine
from haulout.chain.errors import InvalidTransaction, MoveAbort, ObjectNotFound, ObjectNotOwned
from haulout.chain.sui_ids import attributes_field_id
from haulout.chain.txcontext import TxContext

from . import render
from .ledger import PACKAGE, SUI_COIN, Objects, Row, coin_contents, coin_value
from .move_types import MoveType, parse_type
from .values import BcsError, canonical_address, decode, encode

if TYPE_CHECKING:
    from .executor import Executor

CLOCK = canonical_address("0x6")
Kind = rpc.ExecutionErrorExecutionErrorKind


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
        left = self.conn.execute(
            "SELECT amount FROM balances WHERE address = ?", (self.sender,)
        ).fetchone()[0]
        if payment is not None:
            payment.value = left
        for oid, obj in self.ctx.objects.items():
            if obj.created:
                self.created_package.setdefault(oid, package)
        for ev in self.ctx.events[events_before:]:
            self.outcome.events.append((ev, package, module))
        out: list[Value] = []
        for rt in fn.returns:
            if rt.name == "0x2::coin::Coin":
                out.append(self._returned_coin(left if payment is None else None, target, cmd))
            elif rt.is_struct and "key" in self.pkg.abilities.get(rt.name, set()):
                out.append(Value("object", str(result), rt))
            else:
                out.append(Value("plain", result, rt))
        return out

    def _returned_coin(self, value: int | None, target: str, cmd: int) -> Value:
        """The `Coin<SUI>` a call returns (`withdraw_stake`): DevChain's mirror pays it into
        the sender's balance, which held nothing before the call when no coin was passed in,
        so what is there now is the new coin's value; it is a new coin object of this
        transaction, to be transferred like a split one (unused, it fails the transaction)."""
        if value is None:  # a coin in and a coin out would share the one balance
            raise Failure(
                Kind.FEATURE_NOT_YET_SUPPORTED,
                f"the stand-in does not run {target}: it both takes and returns a coin",
                cmd,
            )
        coin = Coin(self.ctx.fresh_id(), value, "", created=True)
        self.coins[coin.id] = coin
        return Value("coin", coin)

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
