"""Parameter types of the package's public Move functions, read from `move/sources/*.move`.

The transaction cross-check decodes each pure argument with the type the Move function
declares for it, taken from the Move sources themselves rather than from the Python builder,
so a value encoded with the wrong width or shape is caught.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

SOURCES = Path(__file__).resolve().parents[2] / "move" / "sources"

_FUN = re.compile(r"^\s*(?:public\s+(?:entry\s+)?|entry\s+)fun\s+(\w+)(?:<[^>]*>)?\s*\(", re.M)


def _split_top(text: str) -> list[str]:
    """Split at commas outside `<...>`."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [p.strip() for p in out if p.strip()]


def _short(move_type: str) -> str:
    """`std::string::String` → `String`, `&mut sui::coin::Coin<SUI>` → `&mut Coin<SUI>`."""
    move_type = move_type.strip()
    ref = re.match(r"&(mut\s+)?", move_type)
    prefix = ("&mut " if ref.group(1) else "&") if ref else ""
    body = move_type[ref.end() :] if ref else move_type
    body = re.sub(r"\b(?:\w+::)+(\w+)", r"\1", body)
    return prefix + re.sub(r"\s+", "", body)


@cache
def public_functions() -> dict[str, list[str]]:
    """`module::function` → Move parameter types (TxContext left out: Sui passes it)."""
    table: dict[str, list[str]] = {}
    for path in sorted(SOURCES.glob("*.move")):
        source = re.sub(r"//[^\n]*", "", path.read_text())
        module = re.search(r"module\s+\w+::(\w+)", source)
        assert module, f"{path.name} declares no module"
        for m in _FUN.finditer(source):
            if source[: m.start()].rstrip().endswith("#[test_only]"):
                continue
            depth, i = 1, m.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(source[i], 0)
                i += 1
            params = [_short(p.split(":", 1)[1]) for p in _split_top(source[m.end() : i - 1])]
            table[f"{module.group(1)}::{m.group(1)}"] = [
                p for p in params if p not in ("&mut TxContext", "&TxContext")
            ]
    return table
