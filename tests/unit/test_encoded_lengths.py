"""Encoded lengths per encoding type are pinned (tests/vectors/encoded_lengths.json) and the
same in Python, in the chain adapters' rules and in Move (generated move/tests tests)."""

from __future__ import annotations

import json

import pytest

from haulout.chain.encoding_rules import MAX_SYSTEM_SHARDS, reservation_length, supports
from haulout.protocol.errors import InvalidParameters
from haulout.protocol.params import (
    ENCODING_RS,
    ENCODING_RS16,
    EncodingParams,
    check_shards,
    encoded_length,
)
from tests.vectors import lengths_gen

VECTORS = json.loads(lengths_gen.VECTORS.read_text())


def test_pinned_lengths_hold_for_both_types() -> None:
    cases = VECTORS["lengths"]
    assert {c["encoding_type"] for c in cases} == {ENCODING_RS, ENCODING_RS16}
    assert any(c["n_shards"] == 1000 for c in cases)
    for c in cases:
        p = EncodingParams(c["n_shards"], c["size"], c["encoding_type"])
        got = (p.block_size, p.sliver_len, p.encoded_length)
        assert got == (c["block_size"], c["sliver_len"], c["encoded_length"]), c
        assert encoded_length(c["n_shards"], c["size"], c["encoding_type"]) == c["encoded_length"]


def test_type_1_blocks_are_even_and_differ_from_type_0_only_by_that_rounding() -> None:
    by_key = {(c["encoding_type"], c["n_shards"], c["size"]): c for c in VECTORS["lengths"]}
    differ = 0
    for (t, n, size), c in by_key.items():
        if t != ENCODING_RS16:
            continue
        assert c["block_size"] % 2 == 0, c
        zero = by_key.get((ENCODING_RS, n, size))
        if zero is not None:
            assert c["block_size"] == zero["block_size"] + (zero["block_size"] & 1)
            differ += c["encoded_length"] != zero["encoded_length"]
    assert differ > 10  # the vectors do exercise the rounding


def test_supported_shard_counts_agree_with_check_shards() -> None:
    for c in VECTORS["supports"]:
        t, n = c["encoding_type"], c["n_shards"]
        assert supports(t, n) is c["supported"], c
        if c["supported"]:
            check_shards(n, t)
        else:
            with pytest.raises(InvalidParameters):
                check_shards(n, t)
    assert MAX_SYSTEM_SHARDS == 4096


def test_type_0_over_256_shards_is_a_typed_error_naming_the_limit() -> None:
    with pytest.raises(InvalidParameters, match="between 1 and 256 for encoding type 0"):
        EncodingParams(1000, 1 << 20, ENCODING_RS)
    with pytest.raises(InvalidParameters, match="unknown encoding type 2"):
        EncodingParams(10, 5, 2)


def test_reservation_is_the_encoded_length_or_one_byte_for_what_the_chain_refuses() -> None:
    assert reservation_length(1000, 9, ENCODING_RS16) == encoded_length(1000, 9, ENCODING_RS16)
    assert reservation_length(10, 9, ENCODING_RS) == 382
    assert reservation_length(10, 9, ENCODING_RS16) == 392
    assert reservation_length(1000, 9, ENCODING_RS) == 1
    assert reservation_length(10, 9, 7) == 1


def test_generated_move_length_tests_are_fresh() -> None:
    assert lengths_gen.TARGET.read_text() == lengths_gen.render(VECTORS), (
        "run `python -m tests.vectors.lengths_gen`"
    )
    assert lengths_gen.vectors() == VECTORS, "run `python -m tests.vectors.lengths_gen`"
