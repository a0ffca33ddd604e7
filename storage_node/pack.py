"""One file per blob part: the slivers a small upload brings to this node, in one file with an
index (`<blob id>/slivers.pack`), instead of one file per sliver; and one file per large batch
(`<blob id>/batch-*.pack`, below).

A small store gave each node ~25 sliver files to create, rename and later stat; those file
creations were the node's largest cost per store. A pack is created once, whole (temporary
name, rename), by the first small upload of a blob part, and made durable like the sliver
files it replaces (the journal's record, then a checkpoint's `syncfs`). It is never
rewritten in place: slivers arriving later (another upload, recovery, shard sync) go to
per-sliver files beside it, and a handover that lets go of some of its slivers replaces it
durably (fsync) with a smaller pack.

Layout: `magic ‖ count u32 ‖ count × (index u16 ‖ length u32) ‖ crc32 of the data u32 ‖
crc32 of everything before u32 ‖ slivers`, in index order. The header checksum guards the
index on every read; the data checksum lets journal replay tell an intact pack from one a
crash cut (slivers themselves are checked against the metadata by whoever reads them).

A batch pack (`batch-*.pack`, see `storage_node.store.PendingPack`) holds the slivers of one
large batch, written as they arrive, so its index comes last: `slivers ‖ count × (index u16 ‖
length u32) ‖ count u32 ‖ crc32 of the index and count u32 ‖ "HPK2"`, slivers in arrival
order. It is made durable by one fsync before its rename; it has no data checksum (nothing
replays it: a crash before the rename leaves only a temporary file). Readers tell the two
layouts apart by the trailer's magic and checksum.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Mapping
from typing import NamedTuple

PACK_NAME = "slivers.pack"
"""A blob directory's pack file."""

MAGIC = b"HPK1"
BATCH_MAGIC = b"HPK2"
_TRAILER = struct.Struct("<II4s")
_HEAD = struct.Struct("<4sI")
_ENTRY = struct.Struct("<HI")
_CRCS = struct.Struct("<II")
_FIRST_READ = 8192
"""Bytes read at once for the index: covers 1,300 slivers, more than a node holds of a blob."""


class CorruptPack(ValueError):
    """A pack whose index or data does not check out (a write a crash cut short)."""


class SliverRef(NamedTuple):
    """Where one stored sliver's bytes are: a file, an offset in it, a length."""

    path: str
    offset: int
    size: int


def encode(slivers: Mapping[int, bytes]) -> list[bytes]:
    """A pack holding `slivers`, as pieces to write one after another."""
    order = sorted(slivers)
    data_crc = 0
    for i in order:
        data_crc = zlib.crc32(slivers[i], data_crc)
    head = _HEAD.pack(MAGIC, len(order)) + b"".join(_ENTRY.pack(i, len(slivers[i])) for i in order)
    head += struct.pack("<I", data_crc)
    return [head + struct.pack("<I", zlib.crc32(head)), *(slivers[i] for i in order)]


def header_size(count: int) -> int:
    """Bytes before the first sliver of a pack of `count` slivers."""
    return _HEAD.size + count * _ENTRY.size + _CRCS.size


def batch_trailer(entries: list[tuple[int, int]]) -> bytes:
    """The index that ends a batch pack whose slivers are `entries` (index, length), in the
    order they were written from offset 0."""
    index = b"".join(_ENTRY.pack(i, n) for i, n in entries) + struct.pack("<I", len(entries))
    return index + _TRAILER.pack(len(entries), zlib.crc32(index), BATCH_MAGIC)[4:]


def _parse_batch(fd: int, size: int) -> dict[int, tuple[int, int]] | None:
    """(index → (offset, length)) of an open batch pack, or None when the file does not end
    with a batch pack's trailer (it may be the other layout)."""
    if size < _TRAILER.size:
        return None
    count, crc, magic = _TRAILER.unpack(os.pread(fd, _TRAILER.size, size - _TRAILER.size))
    if magic != BATCH_MAGIC or size < _TRAILER.size + count * _ENTRY.size:
        return None
    start = size - _TRAILER.size - count * _ENTRY.size
    index = os.pread(fd, count * _ENTRY.size + 4, start)
    if len(index) != count * _ENTRY.size + 4 or zlib.crc32(index) != crc:
        return None
    entries, offset = {}, 0
    for k in range(count):
        i, length = _ENTRY.unpack_from(index, k * _ENTRY.size)
        entries[i] = (offset, length)
        offset += length
    if offset != start:
        raise CorruptPack(f"batch pack holds {start} bytes of slivers; its index says {offset}")
    return entries


def _parse(fd: int, size: int) -> tuple[dict[int, tuple[int, int]], int | None]:
    """(index → (offset, length), data crc or None for a batch pack) of an open pack of
    `size` bytes."""
    batch = _parse_batch(fd, size)
    if batch is not None:
        return batch, None
    head = os.pread(fd, _FIRST_READ, 0)
    if len(head) < _HEAD.size:
        raise CorruptPack("pack shorter than its header")
    magic, count = _HEAD.unpack_from(head)
    if magic != MAGIC:
        raise CorruptPack("not a sliver pack")
    need = header_size(count)
    if len(head) < need:
        head += os.pread(fd, need - len(head), len(head))
        if len(head) < need:
            raise CorruptPack("pack cut inside its index")
    data_crc, head_crc = _CRCS.unpack_from(head, need - _CRCS.size)
    if zlib.crc32(head[: need - 4]) != head_crc:
        raise CorruptPack("pack index checksum mismatch")
    entries, offset = {}, need
    for k in range(count):
        index, length = _ENTRY.unpack_from(head, _HEAD.size + k * _ENTRY.size)
        entries[index] = (offset, length)
        offset += length
    if offset != size:
        raise CorruptPack(f"pack holds {size} bytes; its index says {offset}")
    return entries, data_crc


def read_index(path: str) -> dict[int, SliverRef]:
    """The slivers in the pack at `path` ({} when there is none); CorruptPack when damaged."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return {}
    try:
        entries, _ = _parse(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    return {i: SliverRef(path, off, n) for i, (off, n) in entries.items()}


def read_all(path: str, check: bool = False) -> dict[int, bytes]:
    """Every sliver of the pack at `path` ({} when there is none). With `check`, the data
    checksum is verified too (CorruptPack when it fails)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return {}
    try:
        size = os.fstat(fd).st_size
        entries, data_crc = _parse(fd, size)
        start = min((off for off, _ in entries.values()), default=size)
        end = max((off + n for off, n in entries.values()), default=size)
        body = os.pread(fd, end - start, start)
    finally:
        os.close(fd)
    if len(body) != end - start:
        raise CorruptPack("pack shorter than its index says")
    if check and data_crc is not None and zlib.crc32(body) != data_crc:
        raise CorruptPack("pack data checksum mismatch")
    view = memoryview(body)
    return {i: bytes(view[off - start : off - start + n]) for i, (off, n) in entries.items()}


def intact(path: str) -> bool:
    """Whether the pack at `path` exists and passes both checksums."""
    try:
        return bool(read_all(path, check=True)) or os.path.exists(path)
    except CorruptPack:
        return False


def read_ref(ref: SliverRef) -> bytes | None:
    """The bytes `ref` points at, or None when the file is gone (or shorter: replaced)."""
    try:
        fd = os.open(ref.path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        data = os.pread(fd, ref.size, ref.offset)
    finally:
        os.close(fd)
    return data if len(data) == ref.size else None
