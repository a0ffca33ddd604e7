"""Described transactions (`calls.Transaction`) encoded to Sui's BCS `TransactionData`, offline,
with pysui's BCS types, so tests and the Sui stand-in can decode and check them.

Pure arguments are BCS-encoded with the Move type their parameter declares (`calls.pure`);
a payment (`&mut Coin<SUI>`) is the gas coin; a `Coin<SUI>` by value is split off the gas coin
(`SplitCoins`, one command before the call); the clock is the shared `0x6`, immutable. Object
inputs are given once each; a shared one is mutable when any command takes it `&mut` or by
value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pysui.sui.sui_bcs import bcs

from .calls import (
    Clock,
    Coin,
    GasCoin,
    MoveCall,
    Object,
    ObjectParam,
    Pay,
    Pure,
    Result,
    Transaction,
    TransferObjects,
)
from .calls.pure import address_bytes, encode

CLOCK_ID = "0x6"
CLOCK_INITIAL_VERSION = 1


@dataclass(frozen=True)
class OwnedRef:
    """An owned (or immutable) object at a version."""

    object_id: str
    version: int
    digest: str  # base58
    owner: str = ""  # the owning address when known (checked before sending; not in the BCS)


@dataclass(frozen=True)
class SharedRef:
    """A shared object: id, initial shared version, mutability."""

    object_id: str
    initial_version: int
    mutable: bool = True


ObjectInput = OwnedRef | SharedRef
Resolver = Callable[[str], ObjectInput]
"""Looks an object id up on the chain: its current reference (owned) or shared version."""


def _object_arg(ref: ObjectInput) -> bcs.ObjectArg:
    addr = bcs.Address.from_str(ref.object_id)
    if isinstance(ref, SharedRef):
        return bcs.ObjectArg(
            "SharedObject", bcs.SharedObjectReference(addr, ref.initial_version, ref.mutable)
        )
    return bcs.ObjectArg(
        "ImmOrOwnedObject",
        bcs.ObjectReference(addr, ref.version, bcs.Digest.from_str(ref.digest)),
    )


def _pure_input(data: bytes) -> bcs.CallArg:
    return bcs.CallArg("Pure", list(data))


def shared_mutability(tx: Transaction) -> dict[str, bool]:
    """For each input object, whether a command takes it `&mut` or by value."""
    out: dict[str, bool] = {}
    for cmd in tx.commands:
        if isinstance(cmd, MoveCall):
            for param, arg in cmd.with_params():
                if isinstance(arg, Object) and isinstance(param, ObjectParam):
                    out[arg.id] = out.get(arg.id, False) or param.mutable
        elif isinstance(cmd, TransferObjects):
            for o in cmd.objects:
                if isinstance(o, Object):
                    out[o.id] = True
    return out


class _Encoder:
    def __init__(self, package_id: str, resolve: Resolver, mutability: dict[str, bool]) -> None:
        self.package = bcs.Address.from_str(package_id)
        self.resolve, self.mutability = resolve, mutability
        self.inputs: list[bcs.CallArg] = []
        self.commands: list[bcs.Command] = []
        self.objects: dict[str, bcs.Argument] = {}
        self.results: list[bcs.Argument] = []  # description index → PTB result
        self.owned: list[OwnedRef] = []

    def pure(self, data: bytes) -> bcs.Argument:
        self.inputs.append(_pure_input(data))
        return bcs.Argument("Input", len(self.inputs) - 1)

    def obj(self, ref: ObjectInput) -> bcs.Argument:
        if ref.object_id not in self.objects:
            self.inputs.append(bcs.CallArg("Object", _object_arg(ref)))
            self.objects[ref.object_id] = bcs.Argument("Input", len(self.inputs) - 1)
            if isinstance(ref, OwnedRef):
                self.owned.append(ref)
        return self.objects[ref.object_id]

    def command(self, command: bcs.Command) -> bcs.Argument:
        self.commands.append(command)
        return bcs.Argument("Result", len(self.commands) - 1)

    def arg(self, arg: Any) -> bcs.Argument:
        if isinstance(arg, Object):
            ref = self.resolve(arg.id)
            if isinstance(ref, SharedRef):
                ref = SharedRef(ref.object_id, ref.initial_version, self.mutability[arg.id])
            return self.obj(ref)
        if isinstance(arg, Result):
            if not 0 <= arg.index < len(self.results):
                raise ValueError(f"result {arg.index} is not of an earlier command")
            return self.results[arg.index]
        if isinstance(arg, Pure):
            return self.pure(encode(arg.type, arg.value))
        if isinstance(arg, GasCoin):
            return bcs.Argument("GasCoin", None)
        if isinstance(arg, Coin):
            amount = self.pure(encode("u64", arg.amount))
            return self.command(
                bcs.Command("SplitCoin", bcs.SplitCoin(bcs.Argument("GasCoin", None), [amount]))
            )
        if isinstance(arg, Clock):
            return self.obj(SharedRef(CLOCK_ID, CLOCK_INITIAL_VERSION, False))
        raise TypeError(f"cannot encode argument {arg!r}")

    def add(self, cmd: MoveCall | TransferObjects | Pay) -> None:
        if isinstance(cmd, Pay):  # SplitCoins(GasCoin, [amount]) + TransferObjects
            split = self.arg(Coin(cmd.amount))
            recipient = self.pure(address_bytes(cmd.recipient))
            self.results.append(
                self.command(
                    bcs.Command("TransferObjects", bcs.TransferObjects([split], recipient))
                )
            )
            return
        if isinstance(cmd, TransferObjects):
            objects = [self.arg(o) for o in cmd.objects]
            recipient = self.pure(address_bytes(cmd.recipient))
            self.results.append(
                self.command(
                    bcs.Command("TransferObjects", bcs.TransferObjects(objects, recipient))
                )
            )
            return
        args = [self.arg(a) for a in cmd.args]
        fn = cmd.function
        call = bcs.ProgrammableMoveCall(self.package, fn.module, fn.name, [], args)
        self.results.append(self.command(bcs.Command("MoveCall", call)))


@dataclass(frozen=True)
class Encoded:
    """A transaction's `TransactionKind` and the owned objects it takes (their owners are
    checked before paying for a refusal)."""

    kind: bcs.TransactionKind
    owned: tuple[OwnedRef, ...]


def encode_kind(tx: Transaction, package_id: str, resolve: Resolver) -> Encoded:
    """The programmable transaction of `tx` against `package_id`."""
    enc = _Encoder(package_id, resolve, shared_mutability(tx))
    for data in tx.inputs:  # unused pure inputs first: an upload relay's auth package
        enc.pure(data)
    for cmd in tx.commands:
        enc.add(cmd)
    kind = bcs.TransactionKind(
        "ProgrammableTransaction", bcs.ProgrammableTransaction(enc.inputs, enc.commands)
    )
    return Encoded(kind, tuple(enc.owned))


def transaction_data(
    kind: bcs.TransactionKind,
    sender: str,
    gas: Sequence[OwnedRef],
    gas_price: int,
    gas_budget: int,
) -> bytes:
    """BCS `TransactionData::V1` ready to sign."""
    owner = bcs.Address.from_str(sender)
    payment = [_object_arg(g).value for g in gas]
    data = bcs.TransactionData(
        "V1",
        bcs.TransactionDataV1(
            kind,
            owner,
            bcs.GasData(payment, owner, gas_price, gas_budget),
            bcs.TransactionExpiration("None", None),
        ),
    )
    return bytes(data.serialize())


def encode_transaction(
    tx: Transaction,
    package_id: str,
    resolve: Resolver,
    sender: str,
    gas: Sequence[OwnedRef],
    gas_price: int,
    gas_budget: int,
) -> bytes:
    """`tx` as signed-ready BCS `TransactionData`, paid with `gas`."""
    return transaction_data(
        encode_kind(tx, package_id, resolve).kind, sender, gas, gas_price, gas_budget
    )


def publish_kind(modules: list[bytes], dependencies: list[str], sender: str) -> bcs.TransactionKind:
    """Publish the package and send the UpgradeCap to the sender."""
    publish = bcs.Publish(
        [list(m) for m in modules], [bcs.Address.from_str(d) for d in dependencies]
    )
    commands = [
        bcs.Command("Publish", publish),
        bcs.Command(
            "TransferObjects",
            bcs.TransferObjects([bcs.Argument("Result", 0)], bcs.Argument("Input", 0)),
        ),
    ]
    return bcs.TransactionKind(
        "ProgrammableTransaction",
        bcs.ProgrammableTransaction([_pure_input(address_bytes(sender))], commands),
    )


def publish_transaction(
    modules: list[bytes],
    dependencies: list[str],
    sender: str,
    gas: OwnedRef,
    gas_price: int,
    gas_budget: int,
) -> bytes:
    """BCS `TransactionData` publishing the package (UpgradeCap to the sender)."""
    return transaction_data(
        publish_kind(modules, dependencies, sender), sender, [gas], gas_price, gas_budget
    )


def decode(tx_bytes: bytes) -> Any:
    """Parse BCS `TransactionData` (for checks and logs)."""
    return bcs.TransactionData.deserialize(tx_bytes)


def leading_pure_inputs(tx_bytes: bytes) -> tuple[bytes, ...]:
    """The pure inputs of a programmable `TransactionData` before its first object input, in
    order: the first is an upload relay's auth package (`encode_kind` puts the inputs no
    command uses first). Empty for unreadable bytes, another kind, or an object first."""
    try:
        kind = decode(tx_bytes).value.TransactionKind
    except Exception:
        return ()
    if kind.index != 0:  # not a ProgrammableTransaction
        return ()
    out = []
    for arg in kind.value.Inputs:
        if arg.index != 0:  # Pure is CallArg's variant 0
            break
        out.append(bytes(arg.value))
    return tuple(out)


def split_coins_kind(sender: str, amounts: Sequence[int]) -> bcs.TransactionKind:
    """Split `amounts` off the gas coin into new coins of the sender's (`SplitCoins` then
    `TransferObjects`): how an account gets one gas coin per concurrent transaction."""
    inputs = [_pure_input(encode("u64", a)) for a in amounts]
    inputs.append(_pure_input(address_bytes(sender)))
    split = bcs.SplitCoin(
        bcs.Argument("GasCoin", None), [bcs.Argument("Input", i) for i in range(len(amounts))]
    )
    coins = [bcs.Argument("NestedResult", (0, i)) for i in range(len(amounts))]
    commands = [
        bcs.Command("SplitCoin", split),
        bcs.Command(
            "TransferObjects",
            bcs.TransferObjects(coins, bcs.Argument("Input", len(amounts))),
        ),
    ]
    return bcs.TransactionKind(
        "ProgrammableTransaction", bcs.ProgrammableTransaction(inputs, commands)
    )
