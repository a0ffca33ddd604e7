"""The relayer's resource bounds (relayer.limits): slots, body pacing, spool sweep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from haulout.http_errors import ApiError
from relayer.limits import BodyTimeout, BodyTooSlow, UploadSlots, first_piece, paced, sweep_spool


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


def test_uploads_past_the_memory_budget_are_encoded_through_files(tmp_path: Path) -> None:
    """Many concurrent small uploads used to hold their slivers in memory all at once (605 MiB
    of relayer RSS at 32 concurrent 4 MiB stores); past the budget they go through files."""
    from relayer.controller import StoreController
    from relayer.limits import EncodeMemory

    budget = EncodeMemory(30 << 20)
    ctl = StoreController(
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        tmp_path,
        1 << 30,
        None,  # type: ignore[arg-type]
        memory_limit=32 << 20,
        encoding_type=1,
        encode_memory=budget,
    )
    first = ctl.reserve_memory(4 << 20, 100, 1)
    second = ctl.reserve_memory(4 << 20, 100, 1)
    third = ctl.reserve_memory(4 << 20, 100, 1)
    assert first > 4 << 20 and second == first  # n/k ≈ 3x the blob, in memory
    assert third == 0 and budget.through_files == 1  # the budget is held: through files
    budget.give_back(first)
    assert ctl.reserve_memory(4 << 20, 100, 1) == first  # given back: memory again
    assert ctl.reserve_memory(40 << 20, 100, 1) == 0  # over memory_limit: always files


def test_encode_memory_never_goes_negative() -> None:
    from relayer.limits import EncodeMemory

    budget = EncodeMemory(10)
    assert budget.take(6) and not budget.take(6)
    budget.give_back(0)
    budget.give_back(100)
    assert budget.held == 0 and budget.take(10)


async def _trickle(pieces: int, every: float) -> AsyncIterator[bytes]:
    for _ in range(pieces):
        await asyncio.sleep(every)
        yield b"x" * 8


def test_a_trickling_body_is_refused_as_too_slow() -> None:
    """8 bytes at a time never pause long enough for the body timeout: before the rate bound
    such a client held its upload slot for as long as it liked (a slowloris)."""
    slots = UploadSlots(1)

    async def run() -> None:
        with pytest.raises(BodyTooSlow) as err:
            async for _ in paced(_trickle(1000, 0.01), 5.0, slots.stats, 1000.0, 0.2):
                pass
        assert err.value.status == 408 and err.value.reason == "BODY_TOO_SLOW"

    asyncio.run(run())
    assert slots.stats.uploads_too_slow == 1 and slots.stats.uploads_timed_out == 0


def test_time_the_relayer_spends_on_a_piece_is_not_the_clients() -> None:
    """A fast client whose pieces the relayer handles slowly (busy nodes) is not too slow."""

    async def fast() -> AsyncIterator[bytes]:
        for _ in range(6):
            yield b"x" * 4096

    async def run() -> int:
        n = 0
        async for chunk in paced(fast(), 5.0, None, 1000.0, 0.05):
            await asyncio.sleep(0.02)  # the consumer's own work
            n += len(chunk)
        return n

    assert asyncio.run(run()) == 6 * 4096


def test_first_piece_gives_every_byte_back_in_order() -> None:
    async def body() -> AsyncIterator[bytes]:
        for i in range(10):
            yield bytes([i]) * 100

    async def run(nbytes: int) -> bytes:
        it = await first_piece(body(), nbytes)
        return b"".join([c async for c in it])

    want = b"".join(bytes([i]) * 100 for i in range(10))
    assert asyncio.run(run(250)) == want  # mid-body
    assert asyncio.run(run(10_000)) == want  # past the end


def test_uploads_still_sending_their_first_piece_hold_no_encoder() -> None:
    """One encoding slot; an upload that never finishes its first piece does not take it, so
    a complete upload behind it is encoded at once."""
    slots = UploadSlots(4, encoding=1)

    async def upload(body: AsyncIterator[bytes], done: list[str], name: str) -> None:
        with slots.hold():
            it = await first_piece(body, 1024)
            async with slots.encoding():
                async for _ in it:
                    pass
                done.append(name)

    async def run() -> list[str]:
        done: list[str] = []
        stuck = asyncio.create_task(upload(_stalling(1), done, "trickler"))
        await asyncio.sleep(0.01)
        await asyncio.wait_for(upload(_trickle(2, 0.0), done, "honest"), 2.0)
        assert slots.stats.uploads_in_flight == 1 and slots.stats.uploads_encoding == 0
        stuck.cancel()
        return done

    assert asyncio.run(run()) == ["honest"]
    assert slots.stats.uploads_in_flight == 0 and slots.stats.uploads_waiting_to_encode == 0
