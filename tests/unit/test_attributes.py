"""Attribute limits and the header allow-list (haulout.protocol.attributes)."""

from __future__ import annotations

import pytest

from haulout.protocol.attributes import (
    HEADER_ALLOW_LIST,
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    InvalidAttribute,
    check_lengths,
    check_servable,
    is_header_name,
    is_header_value,
    served_headers,
)


def test_limits_count_utf8_bytes_not_characters() -> None:
    check_lengths("k" * MAX_KEY_BYTES, "v" * MAX_VALUE_BYTES)
    with pytest.raises(InvalidAttribute, match="key is longer"):
        check_lengths("k" * (MAX_KEY_BYTES + 1))
    with pytest.raises(InvalidAttribute, match="value is longer"):
        check_lengths("k", "€" * (MAX_VALUE_BYTES // 3 + 1))  # 3 bytes each
    with pytest.raises(InvalidAttribute, match="empty"):
        check_lengths("")


@pytest.mark.parametrize("key", ["content-type", "x-note", "A_b.c~1", "link"])
def test_header_names(key: str) -> None:
    assert is_header_name(key)
    check_servable(key, "ok")


@pytest.mark.parametrize("key", ["bad key", "x:y", "a\r\nb", "日本", "é", "x\x00", "(x)", ""])
def test_keys_that_are_not_tokens_are_refused(key: str) -> None:
    with pytest.raises(InvalidAttribute):
        check_servable(key, "ok")


@pytest.mark.parametrize(
    "value", ["text/plain", 'attachment; filename="a b.txt"', "", "a\tb", "<https://x>; rel=x"]
)
def test_valid_header_values(value: str) -> None:
    assert is_header_value(value)
    check_servable("x-note", value)


@pytest.mark.parametrize(
    "value",
    ["日本", "€", "é", "a\r\nb", "a\nSet-Cookie: x=1", "a\rb", "x\x00", "\x7f", " lead", "tail\t"],
)
def test_values_that_cannot_be_headers_are_refused_saying_why(value: str) -> None:
    assert not is_header_value(value)
    with pytest.raises(InvalidAttribute, match="HTTP header"):
        check_servable("x-note", value)


def test_served_headers_keep_only_the_allow_list_with_valid_values() -> None:
    hostile = {
        "transfer-encoding": "chunked",
        "Connection": "close",
        "location": "https://evil.example",
        "cache-control": "no-store",
        "access-control-allow-origin": "*",
        "content-length": "1",
        "set-cookie": "a=b",
        "content-language": "日本",
        "content-location": "a\r\nb",
        "x-note": "hello",
    }
    good = {
        "Content-Type": "text/plain",
        "content-disposition": 'attachment; filename="a.txt"',
        "content-encoding": "gzip",
        "link": "<https://x>; rel=preload",
    }
    served = served_headers({**hostile, **good})
    assert served == {k.lower(): v for k, v in good.items()}
    assert set(served) <= HEADER_ALLOW_LIST
