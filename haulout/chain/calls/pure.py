"""BCS of the pure Move values the package takes, both ways, by Move type.

Python forms: integers for `u8`…`u256`, `bool`, `0x…` hex text for `address`/`ID` (64 hex
digits when decoded), `str` for `String`, `bytes` for `vector<u8>`, lists for other vectors.
SuiChain encodes with these; a Sui stand-in decodes a transaction's pure inputs with them.
"""

from __future__ import annotations

from typing import Any

from haulout.chain.sui_ids import uleb128

INT_BYTES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "u128": 16, "u256": 32}
SCALARS = {*INT_BYTES, "bool", "address", "ID", "String"}


class BcsError(ValueError):
    """Bytes that are not a BCS value of the expected Move type."""


def _inner(move_type: str) -> str | None:
    if move_type.startswith("vector<") and move_type.endswith(">"):
        return move_type[len("vector<") : -1]
    return None


def check_type(move_type: str) -> None:
    """Raise `ValueError` for a type this module cannot encode."""
    inner = _inner(move_type)
    if inner is not None:
        check_type(inner)
    elif move_type not in SCALARS:
        raise ValueError(f"unsupported pure Move type {move_type!r}")


def address_bytes(text: str) -> bytes:
    """32 bytes of a `0x…` address or id (short forms left-padded, as Sui does)."""
    return bytes.fromhex(text.removeprefix("0x").rjust(64, "0"))


def encode(move_type: str, value: Any) -> bytes:
    """BCS of `value` as `move_type`."""
    if move_type in INT_BYTES:
        n = int(value)
        if isinstance(value, bool) or not 0 <= n < 1 << (8 * INT_BYTES[move_type]):
            raise ValueError(f"{value!r} is not a {move_type}")
        return n.to_bytes(INT_BYTES[move_type], "little")
    if move_type == "bool":
        return b"\x01" if value else b"\x00"
    if move_type in ("address", "ID"):
        return address_bytes(str(value))
    if move_type == "String":
        raw = str(value).encode()
        return uleb128(len(raw)) + raw
    inner = _inner(move_type)
    if inner == "u8":
        data = bytes(value)
        return uleb128(len(data)) + data
    if inner is not None:
        items = list(value)
        return uleb128(len(items)) + b"".join(encode(inner, v) for v in items)
    raise ValueError(f"unsupported pure Move type {move_type!r}")


def _read_uleb(data: bytes, at: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise BcsError("truncated or overlong ULEB128 length")
        byte = data[at]
        at += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, at


def _decode(move_type: str, data: bytes, at: int) -> tuple[Any, int]:
    if move_type in INT_BYTES:
        end = at + INT_BYTES[move_type]
        if end > len(data):
            raise BcsError(f"truncated {move_type}")
        return int.from_bytes(data[at:end], "little"), end
    if move_type == "bool":
        if at >= len(data) or data[at] > 1:
            raise BcsError("a bool is one byte, 0 or 1")
        return data[at] == 1, at + 1
    if move_type in ("address", "ID"):
        if at + 32 > len(data):
            raise BcsError(f"truncated {move_type}")
        return "0x" + data[at : at + 32].hex(), at + 32
    inner = _inner(move_type)
    if move_type == "String" or inner == "u8":
        n, at = _read_uleb(data, at)
        if at + n > len(data):
            raise BcsError("vector longer than its bytes")
        raw = data[at : at + n]
        if move_type == "String":
            try:
                return raw.decode(), at + n
            except UnicodeDecodeError as exc:
                raise BcsError("a String is UTF-8") from exc
        return raw, at + n
    if inner is not None:
        n, at = _read_uleb(data, at)
        if n > len(data) - at:  # each element takes at least one byte: bounds the list
            raise BcsError("vector longer than its bytes")
        out = []
        for _ in range(n):
            v, at = _decode(inner, data, at)
            out.append(v)
        return out, at
    raise BcsError(f"unsupported pure Move type {move_type!r}")


def decode(move_type: str, data: bytes) -> Any:
    """The value `data` holds as `move_type`; `BcsError` when it is not exactly one."""
    value, end = _decode(move_type, data, 0)
    if end != len(data):
        raise BcsError(f"{len(data) - end} bytes left after a {move_type}")
    return value
