"""DevChain's dispatch: which mirror runs which Move function, and the command dicts DevChain's
transactions carry (`call`, `obj`, `res`, `pure`, `pure_bytes`, `transfer_cmd`).

A mirror registers with one line above it, `@mirrors(calls.<module>.<NAME>)`; the argument
kinds it receives follow from the call's declared parameters (objects are loaded and checked,
`vector<u8>` arrives as bytes, payments and the clock are the ledger's own).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, TypeVar

from ..calls import MoveFunction, ObjectParam, PureParam
from ..calls.core import CoinParam
from ..errors import InvalidTransaction
from ..txcontext import TxContext

F = TypeVar("F", bound=Callable[..., Any])

FUNCTIONS: dict[str, tuple[Callable[..., Any], list[str]]] = {}
"""`module::function` → (mirror, argument kinds): `o:<Type>` an object of that type, `b` bytes,
`p` a pure value (a coin is its amount)."""


def kinds_of(function: MoveFunction) -> list[str]:
    """The argument kinds DevChain's command dicts carry for `function`."""
    kinds = []
    for p in function.params:
        if isinstance(p, ObjectParam):
            kinds.append(f"o:{p.type}")
        elif isinstance(p, PureParam):
            kinds.append("b" if p.type == "vector<u8>" else "p")
        elif isinstance(p, CoinParam):
            kinds.append("p")
    return kinds


def mirrors(function: MoveFunction) -> Callable[[F], F]:
    """Register the decorated function as DevChain's mirror of the Move `function`."""

    def register(fn: F) -> F:
        if function.target in FUNCTIONS:
            raise ValueError(f"{function.target} has two mirrors")
        FUNCTIONS[function.target] = (fn, kinds_of(function))
        return fn

    return register


# -- the command-dict format --------------------------------------------------------------------


def obj(object_id: str) -> dict[str, Any]:
    """Transaction argument: an object by id."""
    return {"object": object_id}


def res(index: int) -> dict[str, Any]:
    """Transaction argument: the result of an earlier command."""
    return {"result": index}


def pure(value: Any) -> dict[str, Any]:
    """Transaction argument: a pure value (bytes are passed as `pure_bytes`)."""
    return {"pure": value}


def pure_bytes(value: bytes) -> dict[str, Any]:
    """Transaction argument: a byte vector."""
    return {"bytes": base64.b64encode(value).decode()}


def call(target: str, *args: dict[str, Any]) -> dict[str, Any]:
    """A Move call command."""
    return {"call": target, "args": list(args)}


def transfer_cmd(result_index: int, recipient: str) -> dict[str, Any]:
    """`transfer::public_transfer` of an earlier result to `recipient`."""
    return {"call": "transfer", "args": [res(result_index), pure(recipient)]}


# -- running ------------------------------------------------------------------------------------


def run(ctx: TxContext, commands: list[dict[str, Any]]) -> list[Any]:
    """Run `commands` in `ctx`, each mirror with its loaded arguments; the results in order.
    A `transfer` takes one or more objects and the recipient last."""
    results: list[Any] = []
    for cmd in commands:
        if not isinstance(cmd, dict):
            raise InvalidTransaction(f"malformed command {cmd!r}")
        target, args = cmd.get("call"), cmd.get("args", [])
        if not isinstance(args, list):
            raise InvalidTransaction(f"malformed arguments of {target!r}")
        if target == "transfer":
            if len(args) < 2 or "pure" not in args[-1]:
                raise InvalidTransaction("transfer takes objects and then a recipient")
            recipient = args[-1]["pure"]
            for a in args[:-1]:
                ctx.load(str(_arg(ctx, results, a, "raw"))).owner = recipient
            results.append(None)
            continue
        if target not in FUNCTIONS:
            raise InvalidTransaction(f"unknown function {target!r}")
        fn, kinds = FUNCTIONS[target]
        if len(args) != len(kinds):
            raise InvalidTransaction(f"{target} takes {len(kinds)} arguments, got {len(args)}")
        values = [_arg(ctx, results, a, k) for a, k in zip(args, kinds, strict=True)]
        results.append(fn(ctx, *values))
    return results


def _arg(ctx: TxContext, results: list[Any], arg: Any, kind: str) -> Any:
    if not isinstance(arg, dict):
        raise InvalidTransaction(f"malformed argument {arg!r}")
    if "result" in arg:
        index = arg["result"]
        if not isinstance(index, int) or not 0 <= index < len(results):
            raise InvalidTransaction(f"result {index!r} is not of an earlier command")
        value = results[index]
    elif "object" in arg:
        value = arg["object"]
    elif "bytes" in arg:
        return base64.b64decode(arg["bytes"])
    elif "pure" in arg:
        return arg["pure"]
    else:
        raise InvalidTransaction(f"malformed argument {arg!r}")
    if kind == "raw":
        return value
    if kind.startswith("o:"):
        return ctx.load(str(value), kind[2:])
    return value
