"""The published package as the stand-in sees it: struct layouts and public function
signatures parsed from `move/sources/*.move`, plus the few framework types they use.

A Sui node takes a pure argument's type from the called function's signature and an
object's JSON layout from its struct definition; the stand-in does the same from the
sources (the compiled modules a transaction publishes are not interpreted).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

SOURCES = Path(__file__).resolve().parents[3] / "move" / "sources"

PRIMITIVES = {"u8", "u16", "u32", "u64", "u128", "u256", "bool", "address", "signer"}

FRAMEWORK_ALIASES = {
    # Always in scope in Sui Move 2024 (std::option, sui::object, sui::tx_context, ...).
    "Option": "0x1::option::Option",
    "UID": "0x2::object::UID",
    "ID": "0x2::object::ID",
    "TxContext": "0x2::tx_context::TxContext",
}

FRAMEWORK_STRUCTS: dict[str, list[tuple[str, str]]] = {
    "0x1::string::String": [("bytes", "vector<u8>")],
    "0x1::option::Option": [("vec", "vector<T0>")],
    "0x2::object::UID": [("id", "0x2::object::ID")],
    "0x2::object::ID": [("bytes", "address")],
    "0x2::balance::Balance": [("value", "u64")],
    "0x2::coin::Coin": [("id", "0x2::object::UID"), ("balance", "0x2::balance::Balance<T0>")],
    "0x2::vec_map::VecMap": [("contents", "vector<0x2::vec_map::Entry<T0, T1>>")],
    "0x2::vec_map::Entry": [("key", "T0"), ("value", "T1")],
    "0x2::table::Table": [("id", "0x2::object::UID"), ("size", "u64")],
    "0x2::dynamic_field::Field": [("id", "0x2::object::UID"), ("name", "T0"), ("value", "T1")],
    "0x2::clock::Clock": [("id", "0x2::object::UID"), ("timestamp_ms", "u64")],
    "0x2::package::UpgradeCap": [
        ("id", "0x2::object::UID"),
        ("package", "0x2::object::ID"),
        ("version", "u64"),
        ("policy", "u8"),
    ],
}
"""Field layouts of the framework structs Haulout's objects contain (from the Sui framework
sources); type parameters are T0, T1."""

PACKAGE_ADDRESS = "haulout"
"""Named address of the package in its sources; replaced by the published id."""


@dataclass(frozen=True)
class MoveType:
    """A Move type: a primitive, `vector<T>`, a type parameter `T0`, or a struct
    `addr::module::Name<args>`; `ref` is "", "&" or "&mut" for parameters."""

    name: str
    args: tuple[MoveType, ...] = ()
    ref: str = ""

    def __str__(self) -> str:
        inner = f"<{', '.join(str(a) for a in self.args)}>" if self.args else ""
        return f"{self.ref + ' ' if self.ref else ''}{self.name}{inner}".replace("& ", "&")

    @property
    def is_struct(self) -> bool:
        """True for `addr::module::Name` types."""
        return "::" in self.name

    def tag(self, package: str) -> str:
        """The type as Sui writes it (`0x…::module::Name<…>`), the package's named
        address replaced by its id and addresses in full 64-hex form."""
        if not self.is_struct:
            inner = f"<{self.args[0].tag(package)}>" if self.name == "vector" else ""
            return self.name + inner
        addr, module, name = self.name.split("::")
        addr = package if addr == PACKAGE_ADDRESS else addr
        full = "0x" + addr.removeprefix("0x").rjust(64, "0")
        inner = f"<{', '.join(a.tag(package) for a in self.args)}>" if self.args else ""
        return f"{full}::{module}::{name}{inner}"

    def substitute(self, params: tuple[MoveType, ...]) -> MoveType:
        """Replace T0, T1… by `params`."""
        if re.fullmatch(r"T\d+", self.name):
            return params[int(self.name[1:])]
        return MoveType(self.name, tuple(a.substitute(params) for a in self.args), self.ref)


def parse_type(text: str, resolve: dict[str, str] | None = None) -> MoveType:
    """Parse `&mut Coin<SUI>`, `vector<vector<u16>>`, … resolving short names."""
    tokens = re.findall(r"&mut|&|[A-Za-z0-9_:]+|<|>|,", text)
    pos = 0

    def one() -> MoveType:
        nonlocal pos
        ref = ""
        if tokens[pos] in ("&", "&mut"):
            ref, pos = tokens[pos], pos + 1
        name = tokens[pos]
        pos += 1
        args: list[MoveType] = []
        if pos < len(tokens) and tokens[pos] == "<":
            pos += 1
            while True:
                args.append(one())
                if tokens[pos] == ",":
                    pos += 1
                    continue
                pos += 1  # ">"
                break
        if name not in PRIMITIVES and name != "vector" and not re.fullmatch(r"T\d+", name):
            name = (resolve or {}).get(name, name)
        return MoveType(name, tuple(args), ref)

    return one()


@dataclass(frozen=True)
class Function:
    """A public function: module, name, parameter types, return types."""

    module: str
    name: str
    params: tuple[MoveType, ...]
    returns: tuple[MoveType, ...]


@dataclass
class Package:
    """Struct layouts (`haulout::module::Name` → fields) and public functions."""

    structs: dict[str, list[tuple[str, MoveType]]] = field(default_factory=dict)
    abilities: dict[str, set[str]] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)

    def layout(self, t: MoveType) -> list[tuple[str, MoveType]]:
        """The fields of a struct type with its type arguments substituted."""
        if t.name in self.structs:
            fields = self.structs[t.name]
        elif t.name in FRAMEWORK_STRUCTS:
            fields = [(n, parse_type(s)) for n, s in FRAMEWORK_STRUCTS[t.name]]
        else:
            raise KeyError(f"no layout for {t.name}")
        return [(n, ft.substitute(t.args)) for n, ft in fields]

    def struct(self, module: str, name: str) -> MoveType:
        """The type `haulout::module::Name`."""
        return MoveType(f"{PACKAGE_ADDRESS}::{module}::{name}")


def _split_top(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return [x.strip() for x in out if x.strip()]


def _aliases(module: str, src: str, local: set[str]) -> dict[str, str]:
    named = {"std": "0x1", "sui": "0x2", PACKAGE_ADDRESS: PACKAGE_ADDRESS}
    out = dict(FRAMEWORK_ALIASES)
    for m in re.finditer(r"^use\s+(\w+)::(\w+)(?:::(\{[^}]*\}|\w+))?(?:\s+as\s+\w+)?;", src, re.M):
        addr, mod, items = named.get(m.group(1), m.group(1)), m.group(2), m.group(3) or ""
        for item in re.findall(r"\w+", items):
            if item != "Self":
                out[item] = f"{addr}::{mod}::{item}"
    for name in local:
        out[name] = f"{PACKAGE_ADDRESS}::{module}::{name}"
    return out


def _strip_comments(src: str) -> str:
    return re.sub(r"//[^\n]*", "", src)


@functools.cache
def load(sources: Path = SOURCES) -> Package:
    """Parse every module of the package (once per process; treat the result as read-only)."""
    pkg = Package()
    for path in sorted(sources.glob("*.move")):
        src = _strip_comments(path.read_text())
        module = re.search(r"^module\s+\w+::(\w+);", src, re.M)
        if module is None:
            continue
        mod = module.group(1)
        struct_re = re.compile(
            r"public struct (\w+)(?:<[^>]*>)?\s+has\s+([\w, ]+?)\s*\{([^}]*)\}", re.S
        )
        local = {m.group(1) for m in struct_re.finditer(src)}
        resolve = _aliases(mod, src, local)
        for m in struct_re.finditer(src):
            fields = [
                (f.split(":", 1)[0].strip(), parse_type(f.split(":", 1)[1], resolve))
                for f in _split_top(m.group(3))
            ]
            key = f"{PACKAGE_ADDRESS}::{mod}::{m.group(1)}"
            pkg.structs[key] = fields
            pkg.abilities[key] = {a.strip() for a in m.group(2).split(",")}
        for m in re.finditer(
            r"^public fun (\w+)\s*(?:<[^>]*>)?\s*\(([^)]*)\)\s*(?::\s*([^{]+?))?\s*\{", src, re.M
        ):
            if src[: m.start()].rstrip().endswith("#[test_only]"):
                continue
            params = tuple(parse_type(p.split(":", 1)[1], resolve) for p in _split_top(m.group(2)))
            ret = (m.group(3) or "").strip()
            if ret.startswith("(") and ret.endswith(")"):
                ret = ret[1:-1]
            returns = tuple(parse_type(r, resolve) for r in _split_top(ret)) if ret else ()
            pkg.functions[f"{mod}::{m.group(1)}"] = Function(mod, m.group(1), params, returns)
    return pkg
