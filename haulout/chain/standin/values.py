"""Move values by type: BCS encoding and decoding, and the JSON view a Sui node renders.

The JSON view follows Sui's `sui_types::proto_value::ProtoVisitor` (crates/sui-types/src/
proto_value.rs, used by crates/sui-rpc-api for `Object.json` and `Event.json`): u8/u16/u32 and
bool as JSON numbers/booleans; u64, u128, u256 as decimal strings; addresses, `UID` and `ID`
as `0x` + 64 hex digits; `vector<u8>` as standard Base64; `String` as text; `Option<T>` as
the value or null; `Balance<T>` as its value (a decimal string); other structs as objects.

Python forms (what `encode` takes and `decode` gives): ints, bools, `0x…` strings for
addresses and ids, `bytes` for vector<u8>, `str` for String, None/value for Option, lists for
vectors, dicts for structs.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from .move_types import MoveType, Package

INT_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "u128": 16, "u256": 32}
ADDRESS_LIKE = {"address", "signer", "0x2::object::ID", "0x2::object::UID"}


class BcsError(ValueError):
    """Bytes that do not decode as the expected Move type (Sui: InvalidBCSBytes)."""


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def canonical_address(value: str | bytes) -> str:
    """`0x` + 64 lowercase hex digits."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return "0x" + value.removeprefix("0x").lower().rjust(64, "0")


def encode(pkg: Package, t: MoveType, value: Any) -> bytes:
    """BCS of `value` as a `t`."""
    name = t.name
    if name in INT_SIZES:
        return int(value).to_bytes(INT_SIZES[name], "little")
    if name == "bool":
        return b"\x01" if value else b"\x00"
    if name in ADDRESS_LIKE:
        return bytes.fromhex(canonical_address(value)[2:])
    if name == "vector":
        if t.args[0].name == "u8":
            raw = value if isinstance(value, bytes) else bytes.fromhex(str(value))
            return _uleb(len(raw)) + raw
        return _uleb(len(value)) + b"".join(encode(pkg, t.args[0], v) for v in value)
    if name == "0x1::string::String":
        raw = str(value).encode()
        return _uleb(len(raw)) + raw
    if name == "0x1::option::Option":
        return b"\x00" if value is None else b"\x01" + encode(pkg, t.args[0], value)
    if name == "0x2::balance::Balance":
        return struct.pack("<Q", int(value))
    return b"".join(encode(pkg, ft, value[fn]) for fn, ft in pkg.layout(t))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise BcsError("unexpected end of BCS bytes")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uleb(self) -> int:
        shift = result = 0
        while True:
            byte = self.take(1)[0]
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise BcsError("ULEB128 length too long")


def decode(pkg: Package, t: MoveType, data: bytes) -> Any:
    """The value `data` holds as a `t`; BcsError when it does not fit exactly."""
    r = _Reader(data)
    value = _read(pkg, t, r)
    if r.pos != len(data):
        raise BcsError(f"{len(data) - r.pos} trailing bytes after a {t}")
    return value


def _read(pkg: Package, t: MoveType, r: _Reader) -> Any:
    name = t.name
    if name in INT_SIZES:
        return int.from_bytes(r.take(INT_SIZES[name]), "little")
    if name == "bool":
        b = r.take(1)[0]
        if b > 1:
            raise BcsError(f"bool byte {b}")
        return b == 1
    if name in ADDRESS_LIKE:
        return "0x" + r.take(32).hex()
    if name == "vector":
        n = r.uleb()
        if t.args[0].name == "u8":
            return r.take(n)
        return [_read(pkg, t.args[0], r) for _ in range(n)]
    if name == "0x1::string::String":
        try:
            return r.take(r.uleb()).decode()
        except UnicodeDecodeError as exc:
            raise BcsError("String is not UTF-8") from exc
    if name == "0x1::option::Option":
        tag = r.uleb()
        if tag > 1:
            raise BcsError(f"Option with {tag} elements")
        return _read(pkg, t.args[0], r) if tag else None
    if name == "0x2::balance::Balance":
        return int.from_bytes(r.take(8), "little")
    return {fn: _read(pkg, ft, r) for fn, ft in pkg.layout(t)}


def to_json(pkg: Package, t: MoveType, value: Any) -> Any:
    """The JSON view of `value` (see the module docstring for the rules)."""
    name = t.name
    if name in ("u8", "u16", "u32"):
        return int(value)
    if name in ("u64", "u128", "u256", "0x2::balance::Balance"):
        return str(int(value))
    if name == "bool":
        return bool(value)
    if name in ADDRESS_LIKE:
        return canonical_address(value)
    if name == "vector":
        if t.args[0].name == "u8":
            raw = value if isinstance(value, bytes) else bytes.fromhex(str(value))
            return base64.b64encode(raw).decode()
        return [to_json(pkg, t.args[0], v) for v in value]
    if name == "0x1::string::String":
        return str(value)
    if name == "0x1::option::Option":
        return None if value is None else to_json(pkg, t.args[0], value)
    return {fn: to_json(pkg, ft, value[fn]) for fn, ft in pkg.layout(t)}
