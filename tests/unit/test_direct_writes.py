"""A batch pack written past the page cache (`storage_node.direct_writes`) holds exactly the
bytes written, whatever their sizes and wherever a failed sliver is cut back to (inside the
staging buffer or in a block already on disk); where the file system refuses `O_DIRECT`, at
open or at the first write, the same bytes land through the page cache; and direct writes
are really used where the file system allows them (else the speed-up silently vanishes)."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import pytest

from storage_node import direct_writes
from storage_node.direct_writes import BLOCK, STAGE, Appender


def _o_direct_works(directory: Path) -> bool:
    probe = directory / "probe"
    probe.touch()
    try:
        os.close(os.open(probe, os.O_RDWR | os.O_DIRECT))
    except OSError:
        return False
    finally:
        probe.unlink()
    return True


def _exercise(path: Path, direct: bool, seed: int) -> tuple[bytes, bytes]:
    """Random appends (tiny to several staging buffers) and cut-backs; returns the file's
    bytes and what they must be."""
    rng = random.Random(seed)
    path.touch()
    out = Appender(path, direct)
    model = bytearray()
    try:
        for _ in range(60):
            if model and rng.random() < 0.25:  # a sliver failed: back to an earlier end
                size = rng.randrange(len(model) + 1)
                out.rewind(size)
                del model[size:]
            else:
                n = rng.choice(
                    [1, 7, BLOCK - 1, BLOCK, BLOCK + 3, STAGE - 5, STAGE, 2 * STAGE + 11]
                )
                piece = rng.randbytes(n)
                out.write(memoryview(piece))
                model += piece
            assert out.size == len(model)
        out.finish()
    finally:
        out.close()
    return path.read_bytes(), bytes(model)


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_file_holds_exactly_what_was_written_and_kept(
    tmp_path: Path, direct: bool, seed: int
) -> None:
    got, want = _exercise(tmp_path / "pack", direct, seed)
    assert len(got) == len(want) and got == want


def test_a_cut_back_into_a_block_already_on_disk_keeps_its_head(tmp_path: Path) -> None:
    path = tmp_path / "pack"
    path.touch()
    out = Appender(path)
    first, second = os.urandom(STAGE + 1000), os.urandom(5000)
    out.write(first)  # a staging buffer went to disk, 1,000 bytes wait in the buffer
    out.write(os.urandom(STAGE))  # a sliver that will fail, partly on disk
    out.rewind(BLOCK * 3 + 17)  # inside the fourth block of the file
    out.write(second)
    out.finish()
    out.close()
    assert path.read_bytes() == first[: BLOCK * 3 + 17] + second


def test_direct_writes_are_used_where_the_file_system_allows_them(tmp_path: Path) -> None:
    if not _o_direct_works(tmp_path):
        pytest.skip("this file system has no O_DIRECT")
    path = tmp_path / "pack"
    path.touch()
    out = Appender(path)
    try:
        assert out.direct
        out.write(os.urandom(3 * STAGE))  # the staging buffer went out three times, directly
        assert out.direct
    finally:
        out.close()


def test_a_file_system_refusing_o_direct_at_open_gets_page_cache_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def refusing(path: object, flags: int, *args: object) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(direct_writes.os, "open", refusing)
    path = tmp_path / "pack"
    path.touch()
    out = Appender(path)
    assert not out.direct
    data = os.urandom(STAGE + 123)
    out.write(data)
    out.finish()
    out.close()
    assert path.read_bytes() == data


def test_a_device_refusing_the_first_direct_write_gets_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not _o_direct_works(tmp_path):
        pytest.skip("this file system has no O_DIRECT")
    real_pwrite = os.pwrite
    refused: list[int] = []

    def pwrite(fd: int, data: memoryview, offset: int) -> int:
        if not refused:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(direct_writes.os, "pwrite", pwrite)
    path = tmp_path / "pack"
    path.touch()
    out = Appender(path)
    data = os.urandom(2 * STAGE + 999)
    out.write(data)
    out.finish()
    out.close()
    assert refused == [0] and not out.direct
    assert path.read_bytes() == data
