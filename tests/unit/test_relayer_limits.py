"""The relayer's resource bounds (relayer.limits): slots, body pacing, spool sweep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from haulout.http_errors import ApiError
from relayer.limits import BodyTimeout, UploadSlots, paced, sweep_spool


def test_slots_refuse_past_the_limit_with_retry_after_and_free_on_exit() -> None:
    slots = UploadSlots(2, retry_after=3)
    with slots.hold(), slots.hold():
        with pytest.raises(ApiError) as err, slots.hold():
            pass
        assert err.value.status == 503 and err.value.headers == {"retry-after": "3"}
        assert err.value.reason == "UPLOADS_BUSY"
    assert slots.stats.uploads_in_flight == 0 and slots.stats.uploads_refused_busy == 1
    with pytest.raises(RuntimeError), slots.hold():  # a failing upload frees its slot too
        raise RuntimeError
    assert slots.stats.uploads_in_flight == 0


async def _stalling(pieces: int) -> AsyncIterator[bytes]:
    for _ in range(pieces):
        yield b"x"
    await asyncio.sleep(3600)
    yield b"never"


def test_a_stalled_body_times_out() -> None:
    slots = UploadSlots(1)

    async def run() -> list[bytes]:
        got = []
        with pytest.raises(BodyTimeout) as err:
            async for chunk in paced(_stalling(3), 0.05, slots.stats):
                got.append(chunk)
        assert err.value.status == 408 and err.value.reason == "BODY_TIMEOUT"
        return got

    assert asyncio.run(run()) == [b"x"] * 3
    assert slots.stats.uploads_timed_out == 1


def test_a_steady_body_passes_whole() -> None:
    async def steady() -> AsyncIterator[bytes]:
        for i in range(5):
            await asyncio.sleep(0.01)
            yield bytes([i])

    async def run() -> bytes:
        return b"".join([c async for c in paced(steady(), 0.5)])

    assert asyncio.run(run()) == bytes(range(5))


def test_sweep_removes_only_work_directories(tmp_path: Path) -> None:
    for name in ("upload-abc", "read-xyz"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "0.sliver").write_bytes(b"x" * 1000)
    (tmp_path / "upload-note.txt").write_text("a file, not a work directory")
    (tmp_path / "other").mkdir()
    assert sweep_spool(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "upload-note.txt"]
    assert sweep_spool(tmp_path / "missing") == 0
