"""A large read is served from its file through mapped windows: any range comes back exactly,
across window edges, and the file is gone once served."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayer import reader
from relayer.reader import ReadBlob

PAGE = mmap.ALLOCATIONGRANULARITY
DATA = os.urandom(5 * 2 * PAGE + 123)  # five windows of two pages, and a partial one


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(DATA)), st.integers(0, len(DATA)), st.integers(1, 3 * PAGE))
def test_any_range_comes_back_exactly(
    tmp_path_factory: pytest.TempPathFactory, a: int, b: int, piece: int
) -> None:
    start, end = min(a, b), max(a, b)
    workdir = tmp_path_factory.mktemp("read-")
    (workdir / "blob").write_bytes(DATA)
    blob = ReadBlob(len(DATA), path=workdir / "blob", workdir=workdir)
    old = reader.MAP_WINDOW
    reader.MAP_WINDOW = 2 * PAGE
    try:
        pieces = list(blob.chunks(start, end, piece))
    finally:
        reader.MAP_WINDOW = old
    assert b"".join(pieces) == DATA[start:end]
    assert all(0 < len(p) <= piece for p in pieces)
    assert not workdir.exists()


def test_a_piece_outlives_the_file(tmp_path: Path) -> None:
    """The socket may still hold a piece when the file is removed: its bytes stay valid."""
    (tmp_path / "blob").write_bytes(DATA)
    blob = ReadBlob(len(DATA), path=tmp_path / "blob", workdir=tmp_path)
    chunks = blob.chunks(0, len(DATA), piece=PAGE)
    first = next(chunks)
    rest = list(chunks)
    assert not tmp_path.exists()
    assert bytes(first) + b"".join(rest) == DATA
