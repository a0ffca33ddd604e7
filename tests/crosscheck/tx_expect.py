"""What a transaction is meant to do, and the differences between that and what Mysten's
TypeScript SDK reads in its bytes (`sui_sdk.decode_all`).

A meant transaction names its commands, each argument as the object it is (owned ref, shared
object with initial version and mutability), the gas coin, an earlier result, or a plain Python
value; the value is compared with the SDK's decoding under the Move parameter's type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Owned:
    """An owned or immutable object input at a version."""

    object_id: str
    version: int
    digest: str


@dataclass(frozen=True)
class Shared:
    """A shared object input."""

    object_id: str
    initial_version: int
    mutable: bool


@dataclass(frozen=True)
class GasCoin:
    """The gas coin as an argument."""


GAS = GasCoin()


@dataclass(frozen=True)
class Res:
    """The result of command `index`."""

    index: int


@dataclass(frozen=True)
class Nested:
    """Result `sub` of command `index`."""

    index: int
    sub: int


@dataclass(frozen=True)
class Call:
    """A Move call `module::function` of the package with its arguments."""

    target: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Transfer:
    """`TransferObjects`."""

    objects: tuple[Any, ...]
    recipient: str


@dataclass(frozen=True)
class Split:
    """`SplitCoins` of `coin` into `amounts` MIST."""

    coin: Any
    amounts: tuple[int, ...]


@dataclass(frozen=True)
class Publish:
    """`Publish` of module bytecode with dependencies."""

    modules: tuple[bytes, ...]
    dependencies: tuple[str, ...]


@dataclass(frozen=True)
class Meant:
    """The whole transaction as meant."""

    package: str
    sender: str
    gas: Owned
    gas_price: int
    gas_budget: int
    commands: tuple[Any, ...]
    free_inputs: int = 0
    """Leading pure inputs no command uses, on purpose (an upload relay's auth package)."""


CLOCK = Shared("0x6", 1, False)
"""Sui's Clock: object 0x6, shared since version 1, only ever read (`&Clock`)."""


def address(text: str) -> str:
    """`0x` + 64 lowercase hex digits."""
    return "0x" + text.removeprefix("0x").lower().rjust(64, "0")


def plain(move_type: str, value: Any) -> Any:
    """`value` in the form the SDK checker reports values of `move_type`."""
    t = move_type.strip()
    if t in ("address", "ID"):
        return address(value)
    if t in ("bool", "String"):
        return value
    if t == "vector<u8>":
        return "0x" + bytes(value).hex()
    if t.startswith("vector<"):
        return [plain(t[7:-1], v) for v in value]
    if t.startswith("Option<"):
        return None if value is None else plain(t[7:-1], value)
    return str(int(value))


def _argument(where: str, meant: Any, seen: dict[str, Any], param: str | None) -> list[str]:
    if "error" in seen and "pure" not in seen:
        return [f"{where}: {seen['error']}"]
    if isinstance(meant, GasCoin):
        out = [] if seen.get("gas") else [f"{where}: meant the gas coin, SDK reads {seen}"]
        if param is not None and param != "&mut Coin<SUI>":
            out.append(f"{where}: the gas coin passed where Move takes {param}")
        return out
    if isinstance(meant, Res):
        return (
            []
            if seen.get("result") == meant.index
            else [f"{where}: meant {meant}, SDK reads {seen}"]
        )
    if isinstance(meant, Nested):
        ok = seen.get("nested") == [meant.index, meant.sub]
        return [] if ok else [f"{where}: meant {meant}, SDK reads {seen}"]
    if isinstance(meant, Owned):
        want = {
            "owned": address(meant.object_id),
            "version": str(meant.version),
            "digest": meant.digest,
        }
        return [] if seen.get("object") == want else [f"{where}: meant {want}, SDK reads {seen}"]
    if isinstance(meant, Shared):
        want_s = {
            "shared": address(meant.object_id),
            "initial_version": str(meant.initial_version),
            "mutable": meant.mutable,
        }
        out = [] if seen.get("object") == want_s else [f"{where}: meant {want_s}, SDK reads {seen}"]
        if param is not None and param.startswith("&mut ") and not meant.mutable:
            out.append(f"{where}: a shared object passed read-only where Move takes {param}")
        if param is not None and not param.startswith("&"):
            out.append(f"{where}: a shared object passed by value where Move takes {param}")
        return out
    # a pure value
    pure = seen.get("pure")
    if pure is None:
        return [f"{where}: meant the value {meant!r}, SDK reads {seen}"]
    if "error" in pure:
        return [f"{where}: {pure['error']}"]
    want_v = plain(pure["type"], meant)
    return (
        []
        if pure["value"] == want_v
        else [f"{where}: meant {want_v!r}, SDK reads {pure['value']!r}"]
    )


def differences(meant: Meant, seen: dict[str, Any], signer: str | None = None) -> list[str]:
    """Every way the SDK's reading of the bytes differs from what was meant (empty: none)."""
    if "error" in seen:
        return [f"SDK: {seen['error']}"]
    out: list[str] = []
    if not seen["roundtrip"]:
        out.append(
            "the SDK's BCS re-encoding differs from the bytes (trailing or non-canonical bytes)"
        )
    if not seen["sdk_roundtrip"]:
        out.append(
            f"Transaction.from(bytes).build() differs: {seen.get('sdk_error', 'other bytes')}"
        )
    if seen["sender"] != address(meant.sender):
        out.append(f"sender {seen['sender']}, meant {address(meant.sender)}")
    gas = {
        "payment": [
            {
                "owned": address(meant.gas.object_id),
                "version": str(meant.gas.version),
                "digest": meant.gas.digest,
            }
        ],
        "owner": address(meant.sender),
        "price": str(meant.gas_price),
        "budget": str(meant.gas_budget),
    }
    if seen["gas"] != gas:
        out.append(f"gas data {seen['gas']}, meant {gas}")
    if seen["expiration"] is not None:
        out.append(f"expiration {seen['expiration']}, meant none")
    if seen["unused_inputs"] != list(range(meant.free_inputs)):
        out.append(
            f"inputs {seen['unused_inputs']} are used by no command, "
            f"meant {list(range(meant.free_inputs))}"
        )
    commands = seen["commands"]
    if len(commands) != len(meant.commands):
        out.append(f"{len(commands)} commands, meant {len(meant.commands)}")
    inputs_of: dict[str, set[int]] = {}
    for i, (want, got) in enumerate(zip(meant.commands, commands, strict=False)):
        where = f"command {i}"
        for arg in _args(got):
            obj = arg.get("object")
            if obj:
                oid = obj.get("owned") or obj.get("shared") or obj.get("receiving")
                inputs_of.setdefault(oid, set()).add(arg["input"])
        if isinstance(want, Call):
            out += _call(where, meant.package, want, got)
        elif isinstance(want, Transfer):
            if got["kind"] != "TransferObjects":
                out.append(f"{where}: meant TransferObjects, SDK reads {got['kind']}")
                continue
            out += _list(where, want.objects, got["objects"], None)
            out += _argument(f"{where} recipient", want.recipient, got["address"], "address")
        elif isinstance(want, Split):
            if got["kind"] != "SplitCoins":
                out.append(f"{where}: meant SplitCoins, SDK reads {got['kind']}")
                continue
            out += _argument(f"{where} coin", want.coin, got["coin"], None)
            out += _list(where, want.amounts, got["amounts"], None)
        elif isinstance(want, Publish):
            if got["kind"] != "Publish":
                out.append(f"{where}: meant Publish, SDK reads {got['kind']}")
                continue
            if got["modules"] != ["0x" + m.hex() for m in want.modules]:
                out.append(f"{where}: module bytecode differs")
            if got["dependencies"] != [address(d) for d in want.dependencies]:
                out.append(
                    f"{where}: dependencies {got['dependencies']}, meant {want.dependencies}"
                )
    for oid, indices in inputs_of.items():
        if len(indices) > 1:
            out.append(f"object {oid} is given as {len(indices)} inputs; Sui rejects that")
    if signer is not None and seen.get("signer") != address(signer):
        out.append(
            f"signature: {seen.get('signature_error') or seen.get('signer')}, meant {signer}"
        )
    return out


def _args(command: dict[str, Any]) -> list[dict[str, Any]]:
    if command["kind"] == "MoveCall":
        return list(command["arguments"])
    if command["kind"] == "TransferObjects":
        return [*command["objects"], command["address"]]
    if command["kind"] == "SplitCoins":
        return [command["coin"], *command["amounts"]]
    return []


def _list(
    where: str, meant: tuple[Any, ...], seen: list[Any], params: list[str] | None
) -> list[str]:
    if len(meant) != len(seen):
        return [f"{where}: {len(seen)} arguments, meant {len(meant)}"]
    return [
        d
        for j, (m, s) in enumerate(zip(meant, seen, strict=True))
        for d in _argument(f"{where} argument {j}", m, s, params[j] if params else None)
    ]


def _call(where: str, package: str, want: Call, got: dict[str, Any]) -> list[str]:
    if got["kind"] != "MoveCall":
        return [f"{where}: meant a MoveCall {want.target}, SDK reads {got['kind']}"]
    target = f"{got['module']}::{got['function']}"
    out = []
    if got["package"] != address(package):
        out.append(f"{where}: package {got['package']}, meant {address(package)}")
    if target != want.target:
        return [*out, f"{where}: calls {target}, meant {want.target}"]
    if got["type_arguments"]:
        out.append(f"{where}: type arguments {got['type_arguments']}, meant none")
    params = got["params"]
    if params is None:
        return [*out, f"{where}: {target} is no public function of the Move package"]
    if len(params) != len(got["arguments"]):
        out.append(
            f"{where}: {target} takes {len(params)} arguments, the call passes {len(got['arguments'])}"
        )
    return out + _list(f"{where} ({target})", want.args, got["arguments"], params)
