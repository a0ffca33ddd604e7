"""A batch pack written past the page cache (`storage_node.direct_writes`) holds exactly the
bytes written, whatever their sizes and wherever a failed sliver is cut back to (inside the
staging buffer or in a block already on disk); where the file system refuses `O_DIRECT`, at
open or at the first write, the same bytes land through the page cache; and direct writes
are really used where the file system allows them (else the speed-up silently vanishes)."""

from __future__ import annotations

import errno
import fcntl
import os
import random
from pathlib import Path

import pytest

from haulout.protocol.blob_id import BlobId
from storage_node import direct_writes, pack
from storage_node.direct_writes import BLOCK, BUFFER, STAGE, Appender, AppenderFailed
from storage_node.store import BATCH_PREFIX, SliverStore


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


@pytest.mark.parametrize(
    "cut",
    [0, BLOCK, 3 * BLOCK, STAGE, STAGE + BLOCK, 2 * STAGE - 1, 2 * STAGE],
    ids=["to-0", "one-block", "aligned", "stage", "stage+block", "just-before-disk", "all-on-disk"],
)
def test_cut_backs_at_every_kind_of_boundary(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "pack"
    path.touch()
    out = Appender(path)
    head, tail = os.urandom(2 * STAGE), os.urandom(BLOCK + 5)
    out.write(head[:STAGE])
    out.drain()
    out.write(head[STAGE:])
    out.drain()  # 2 MiB on disk, the buffer empty
    assert out.fill == 0 and out.size == 2 * STAGE
    out.rewind(cut)
    out.write(tail)
    out.finish()
    out.close()
    assert path.read_bytes() == head[:cut] + tail


def test_a_buffer_filled_exactly_without_drains_goes_out_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "pack"
    path.touch()
    out = Appender(path)
    data = os.urandom(2 * BUFFER)
    out.write(data[:BUFFER])
    assert out.fill == 0 and out.flushed == BUFFER  # written when full, nothing waited
    out.write(data[BUFFER:])
    out.finish()
    out.close()
    assert path.read_bytes() == data


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
    assert refused == [0] and not out.direct
    assert not fcntl.fcntl(out.fd, fcntl.F_GETFL) & os.O_DIRECT  # the file's flag, not ours
    out.close()
    assert path.read_bytes() == data


def test_a_failed_write_or_read_back_is_never_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> int:
        raise OSError(errno.EIO, "Input/output error")

    for fail in ("pwrite", "preadv"):
        path = tmp_path / f"pack-{fail}"
        path.touch()
        out = Appender(path)
        out.write(os.urandom(STAGE + 100))
        if fail == "pwrite":
            with monkeypatch.context() as m:
                m.setattr(direct_writes.os, "pwrite", broken)
                with pytest.raises(OSError):
                    out.drain()
        else:
            out.drain()
            with monkeypatch.context() as m:
                m.setattr(direct_writes.os, "preadv", broken)
                with pytest.raises(OSError):
                    out.rewind(BLOCK + 7)  # reads block 1 back
        with pytest.raises(AppenderFailed):
            out.rewind(0)
        with pytest.raises(AppenderFailed):
            out.finish()
        out.close()


def test_a_batch_whose_disk_write_failed_keeps_no_sliver_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SliverStore(tmp_path / "slivers")
    blob = BlobId(os.urandom(32))
    pending = store.pending_pack(blob)
    pending.write(os.urandom(900_000))
    pending.keep(4)  # verified, still in the staging buffer
    pending.write(os.urandom(900_000))  # the next sliver's first bytes make a write due
    assert pending.due

    def full(*args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(direct_writes.os, "pwrite", full)
    with pytest.raises(OSError):
        pending.drain()
    monkeypatch.undo()
    with pytest.raises(AppenderFailed):
        store.commit_pack(pending)  # sliver 4 is not claimed from a file with a hole
    assert store.has_slivers(blob, [4]) == [4]  # still missing: it will be sent again
    assert not [p for p in (store.root / str(blob)).iterdir()]


def test_a_large_batch_pack_reads_back_every_kept_sliver(tmp_path: Path) -> None:
    store = SliverStore(tmp_path / "slivers")
    blob = BlobId(os.urandom(32))
    pending = store.pending_pack(blob)
    slivers = {i: os.urandom(700_001 + i) for i in range(6)}
    for i, data in slivers.items():
        for at in range(0, len(data), 64 << 10):  # socket-sized pieces
            pending.write(data[at : at + (64 << 10)])
            if pending.due:
                pending.drain()
        if i == 3:
            pending.drop()  # failed its hash: cut back across a block already on disk
        else:
            pending.keep(i)
    assert store.commit_pack(pending) == [0, 1, 2, 4, 5]
    (path,) = (store.root / str(blob)).glob(f"{BATCH_PREFIX}*.pack")
    assert pack.read_all(str(path)) == {i: slivers[i] for i in (0, 1, 2, 4, 5)}
