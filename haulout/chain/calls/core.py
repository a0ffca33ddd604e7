"""Move calls as pure descriptions: what a function takes (its parameters, with Move types) and
what a transaction does (commands, their arguments, results passed between them, transfers).

Nothing here does I/O. DevChain runs these descriptions in its ledger; SuiChain encodes the same
descriptions to BCS (`sui_tx.encode_transaction`); a Sui stand-in decodes BCS back with the
parameter types. So each Move call is written once, as a `MoveFunction`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# -- parameters (what a Move function declares) --------------------------------------------------


@dataclass(frozen=True)
class ObjectParam:
    """An object parameter: `&T` (`ref`), `&mut T` (`mut`) or `T` by value (`value`)."""

    type: str  # "module::Struct" of the haulout package
    mode: str = "mut"

    @property
    def mutable(self) -> bool:
        """Whether a shared input used here must be passed mutably."""
        return self.mode != "ref"


@dataclass(frozen=True)
class PureParam:
    """A pure value with its Move type (see `calls.pure.MOVE_TYPES`)."""

    type: str


@dataclass(frozen=True)
class PaymentParam:
    """`payment: &mut Coin<SUI>`: fees are split off the sender's gas coin. Implicit: callers
    pass nothing; DevChain debits the sender's balance instead."""


@dataclass(frozen=True)
class CoinParam:
    """`Coin<SUI>` by value: the caller gives an amount of MIST, split off the gas coin on Sui
    (`SplitCoins`), taken from the sender's balance on DevChain."""


@dataclass(frozen=True)
class ClockParam:
    """`clock: &Clock`, the shared `0x6`. Implicit; DevChain uses the ledger clock."""


Param = ObjectParam | PureParam | PaymentParam | CoinParam | ClockParam

IMPLICIT = (PaymentParam, ClockParam)
"""Parameters the caller never passes: filled in by the chain."""


# -- arguments (what a command passes) ------------------------------------------------------------


@dataclass(frozen=True)
class Object:
    """An input object, by id (the chain resolves version, digest, shared-ness)."""

    id: str


@dataclass(frozen=True)
class Result:
    """The (single) result of an earlier command of the same transaction."""

    index: int


@dataclass(frozen=True)
class Pure:
    """A pure input with its Move type."""

    value: Any
    type: str


@dataclass(frozen=True)
class GasCoin:
    """The gas coin, as `&mut Coin<SUI>` for a payment."""


@dataclass(frozen=True)
class Coin:
    """A `Coin<SUI>` of `amount` MIST split off the gas coin."""

    amount: int


@dataclass(frozen=True)
class Clock:
    """The shared Clock object `0x6`."""


Arg = Object | Result | Pure | GasCoin | Coin | Clock


# -- functions and commands -------------------------------------------------------------------------


@dataclass(frozen=True)
class MoveFunction:
    """One public function of the `haulout` package: its parameters (TxContext left out)
    and the type it returns (None for none). Calling it binds arguments into a `MoveCall`."""

    module: str
    name: str
    params: tuple[Param, ...]
    returns: str | None = None

    @property
    def target(self) -> str:
        """`module::function`, the name DevChain's command dicts and the mirrors use."""
        return f"{self.module}::{self.name}"

    @property
    def explicit(self) -> tuple[Param, ...]:
        """The parameters a caller passes (payments and the clock are filled in)."""
        return tuple(p for p in self.params if not isinstance(p, IMPLICIT))

    def __call__(self, *args: Any) -> MoveCall:
        """Bind `args` (object ids or `Result`s for objects, Python values for pure
        parameters, MIST amounts for coins) to the explicit parameters, in order."""
        explicit = self.explicit
        if len(args) != len(explicit):
            raise TypeError(f"{self.target} takes {len(explicit)} arguments, got {len(args)}")
        given = iter(args)
        bound: list[Arg] = []
        for p in self.params:
            if isinstance(p, PaymentParam):
                bound.append(GasCoin())
            elif isinstance(p, ClockParam):
                bound.append(Clock())
            else:
                bound.append(_bind(p, next(given)))
        return MoveCall(self, tuple(bound))


def _bind(param: Param, value: Any) -> Arg:
    if isinstance(param, ObjectParam):
        if isinstance(value, Result | Object):
            return value
        if isinstance(value, str):
            return Object(value)
        raise TypeError(f"an object argument is an id or a Result, not {value!r}")
    if isinstance(param, CoinParam):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a coin argument is an amount of MIST, not {value!r}")
        return Coin(value)
    assert isinstance(param, PureParam)
    return Pure(value, param.type)


@dataclass(frozen=True)
class MoveCall:
    """A bound call: the function and one argument per parameter (implicit ones included)."""

    function: MoveFunction
    args: tuple[Arg, ...]

    def with_params(self) -> list[tuple[Param, Arg]]:
        """Each parameter beside its argument."""
        return list(zip(self.function.params, self.args, strict=True))


@dataclass(frozen=True)
class TransferObjects:
    """`TransferObjects`: hand objects (inputs or results) to `recipient`."""

    objects: tuple[Object | Result, ...]
    recipient: str


Command = MoveCall | TransferObjects


@dataclass
class Transaction:
    """A programmable transaction: commands in order; `add` returns the new command's
    `Result` so later commands can take it."""

    commands: list[Command] = field(default_factory=list)

    def add(self, command: Command) -> Result:
        """Append a command; its result."""
        self.commands.append(command)
        return Result(len(self.commands) - 1)

    def transfer(self, objects: Sequence[Object | Result | str], recipient: str) -> None:
        """Hand `objects` to `recipient` (a Move function's returned objects must go somewhere
        on Sui; DevChain gives new objects to the sender already, so there it is a no-op
        unless the recipient is someone else)."""
        if objects:
            items = tuple(Object(o) if isinstance(o, str) else o for o in objects)
            self.add(TransferObjects(items, recipient))

    def object_ids(self) -> list[str]:
        """Every input object, in first-use order, each once."""
        seen: dict[str, None] = {}
        for cmd in self.commands:
            args = cmd.args if isinstance(cmd, MoveCall) else cmd.objects
            for a in args:
                if isinstance(a, Object):
                    seen.setdefault(a.id, None)
        return list(seen)


def single(call: MoveCall) -> Transaction:
    """A transaction of one call."""
    tx = Transaction()
    tx.add(call)
    return tx


# -- constructors used by the per-module declarations ---------------------------------------------

REGISTRY: dict[str, MoveFunction] = {}
"""Every declared Move function by `module::name` (the stand-in and DevChain look here)."""


def move_function(
    module: str, name: str, *params: Param, returns: str | None = None
) -> MoveFunction:
    """Declare a public Move function of the package (and register it)."""
    fn = MoveFunction(module, name, tuple(params), returns)
    if fn.target in REGISTRY:
        raise ValueError(f"{fn.target} is declared twice")
    REGISTRY[fn.target] = fn
    return fn


def ref(type_: str) -> ObjectParam:
    """`&T`."""
    return ObjectParam(type_, "ref")


def mut(type_: str) -> ObjectParam:
    """`&mut T`."""
    return ObjectParam(type_, "mut")


def value(type_: str) -> ObjectParam:
    """`T` by value (consumed)."""
    return ObjectParam(type_, "value")


def pure(move_type: str) -> PureParam:
    """A pure parameter of `move_type`."""
    return PureParam(move_type)


PAYMENT = PaymentParam()
COIN = CoinParam()
CLOCK = ClockParam()
