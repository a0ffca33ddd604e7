"""Quilts: many small files (patches) in one blob, each readable from the slivers that hold it.

The byte format is Walrus's QuiltV1 (`walrus-core` `quilt_encoding.rs`): the quilt is a matrix
of columns; column 0 (and at most 9 more) holds the index — version byte `0x01`, the index's
length as u32 LE, then the BCS of `Vec<(end_index u16, identifier String, tags
BTreeMap<String, String>)>` — and every patch occupies whole consecutive columns, sorted by
identifier: a 6-byte header (`0x01`, length u32 LE of what follows, mask: bit 0 = has tags),
the identifier (u16 LE length, then its BCS), the tags if any (u16 LE length, then their BCS),
then the bytes.

What differs is how columns map to slivers. Walrus's RedStuff has `n - f` secondary slivers
as columns. Haulout's codes are one-dimensional and systematic (DESIGN §4): the blob is cut
into `S` stripes of `k·B` bytes and sliver `i < k` is block `i` of every stripe, i.e. the data
bytes `[s·k·B + i·B, s·k·B + (i+1)·B)` for each stripe `s`. So a quilt is laid out as a matrix
of `S` rows by `k` columns of `B`-byte cells, written column by column, and its size is
exactly `S·k·B` (zero-padded). The encoder then derives the same `B` and `S` from that size:
either one stripe (`S = 1`, `B = column size ≤ 64 KiB`) or full blocks (`B = 64 KiB`, column
size a multiple of it). Column `c` is then *exactly* sliver `c`: reading a patch fetches and
verifies only slivers `start..end` and decodes nothing. A quilt holds at most `k - 1` patches
(Walrus: `n - f - 1`), because there are `k` columns and the index takes at least one.

Patch ids are Walrus's: URL-safe base64 without padding of `quilt blob id (32 B) ‖ 0x01 ‖
start u16 LE ‖ end u16 LE` (50 characters).
"""

from __future__ import annotations

import base64
import binascii
import struct
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from .blob_id import BlobId
from .errors import ProtocolError
from .params import MAX_BLOCK_SIZE, primary_count

QUILT_VERSION = 1
"""QuiltV1: the only version Walrus (and Haulout) write."""

BLOB_HEADER_SIZE = 6
INDEX_PREFIX_SIZE = 5
"""Version byte and the index's u32 length, before the index's BCS."""

MAX_INDEX_COLUMNS = 10
"""Columns the index may span (Walrus's `MAX_NUM_SLIVERS_FOR_QUILT_INDEX`)."""

MAX_IDENTIFIER_BYTES = 65534
"""Longest identifier, as its BCS (length prefix included) must stay below 2^16 - 1."""

MAX_TAGS_BYTES = 65535
"""Most bytes the BCS of one patch's tags may take (a u16 length, as Walrus's)."""

MAX_PATCH_BYTES = (1 << 32) - 1
"""Largest serialized patch (its header's length is a u32): about 4 GiB."""

RESERVED_PREFIX = "_"
"""Identifiers an upload may not use: Walrus reserves `_metadata` and the `_` names."""

MIN_COLUMN = 8
"""Smallest column: the index's 5-byte prefix is always read from column 0 alone."""

PATCH_ID_BYTES = 32 + 5
PATCH_ID_CHARS = 50


class QuiltError(ProtocolError):
    """A quilt, a patch, an identifier or tags break the QuiltV1 rules."""

    reason = "INVALID_QUILT"


class InvalidIdentifier(QuiltError):
    """An identifier is empty, too long, ends in whitespace, holds control characters, or
    (in an upload) starts with `_`."""

    reason = "INVALID_IDENTIFIER"


class DuplicateIdentifier(QuiltError):
    """Two patches of one quilt have the same identifier; identifiers must be unique."""

    reason = "DUPLICATE_IDENTIFIER"


class InvalidTags(QuiltError):
    """A patch's tags are not strings, or take more than 64 KiB as BCS."""

    reason = "INVALID_TAGS"


class TooManyPatches(QuiltError):
    """More patches than the committee's quilts have columns for (`k - 1`)."""

    reason = "TOO_MANY_PATCHES"


class QuiltTooLarge(QuiltError):
    """The quilt (or one patch) exceeds the size limit."""

    reason = "QUILT_OVERSIZE"


class NotAQuilt(QuiltError):
    """The blob is not a quilt: its size or its index does not follow QuiltV1."""

    reason = "NOT_A_QUILT"


class InvalidPatchId(QuiltError):
    """A quilt patch id is not 50 URL-safe base64 characters of a QuiltV1 patch id."""

    reason = "INVALID_QUILT_PATCH_ID"


class PatchNotFound(QuiltError):
    """The quilt has no patch with that identifier or column range."""

    reason = "QUILT_PATCH_NOT_FOUND"


# -- BCS --------------------------------------------------------------------------------------


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _bcs_str(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _uleb(len(raw)) + raw


def _bcs_tags(tags: Mapping[str, str]) -> bytes:
    out = bytearray(_uleb(len(tags)))
    for key in sorted(tags):  # BTreeMap order: code points sort as UTF-8 bytes do
        out += _bcs_str(key) + _bcs_str(tags[key])
    return bytes(out)


class _Reader:
    """Reads BCS from untrusted bytes; any overrun is `NotAQuilt`."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise NotAQuilt(f"the {self.what} is truncated; this blob is not a valid quilt")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uleb(self) -> int:
        value = shift = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 28:
                raise NotAQuilt(f"the {self.what} holds a malformed length")

    def string(self) -> str:
        try:
            return self.take(self.uleb()).decode("utf-8")
        except UnicodeDecodeError:
            raise NotAQuilt(f"the {self.what} holds text that is not UTF-8") from None

    def tags(self) -> dict[str, str]:
        count = self.uleb()
        if count > len(self.data):
            raise NotAQuilt(f"the {self.what} claims {count} tags")
        return {self.string(): self.string() for _ in range(count)}


# -- rules ------------------------------------------------------------------------------------


def _shown(text: str, limit: int = 60) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[:limit] + f"… ({len(text)} chars)"


def check_identifier(identifier: object, upload: bool = False) -> str:
    """Walrus's identifier rules: a non-empty string of at most ~64 KiB (UTF-8), no trailing
    whitespace, no control characters; an upload's identifier also cannot start with `_`
    (reserved for `_metadata`). Returns it, or raises `InvalidIdentifier`."""
    if not isinstance(identifier, str) or not identifier:
        raise InvalidIdentifier("a quilt patch identifier must be a non-empty string")
    try:
        size = len(_bcs_str(identifier))
    except UnicodeEncodeError:
        raise InvalidIdentifier("a quilt patch identifier must be valid Unicode text") from None
    if size > MAX_IDENTIFIER_BYTES:
        raise InvalidIdentifier(
            f"identifier {_shown(identifier)} is too long: at most {MAX_IDENTIFIER_BYTES} bytes"
        )
    if identifier.rstrip() != identifier:
        raise InvalidIdentifier(f"identifier {_shown(identifier)} ends in whitespace")
    if any(unicodedata.category(c) == "Cc" for c in identifier):
        raise InvalidIdentifier(f"identifier {_shown(identifier)} contains control characters")
    if upload and identifier.startswith(RESERVED_PREFIX):
        raise InvalidIdentifier(
            f"identifier {_shown(identifier)} starts with '_', which is reserved "
            "(the '_metadata' field carries identifiers' tags); rename the file"
        )
    return identifier


def check_tags(tags: object, identifier: str = "") -> dict[str, str]:
    """Tags are a string-to-string map whose BCS takes at most 64 KiB (Walrus's u16)."""
    if not isinstance(tags, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise InvalidTags(f"the tags of {_shown(identifier)} must map strings to strings")
    try:
        size = len(_bcs_tags(tags))
    except UnicodeEncodeError:
        raise InvalidTags(f"the tags of {_shown(identifier)} are not valid Unicode") from None
    if size > MAX_TAGS_BYTES:
        raise InvalidTags(
            f"the tags of {_shown(identifier)} take {size} bytes; at most {MAX_TAGS_BYTES} "
            "bytes of tags per patch"
        )
    return dict(tags)


# -- patches and layout -----------------------------------------------------------------------


@dataclass(frozen=True)
class Patch:
    """One file to put in a quilt: its identifier, size, tags and a way to read its bytes."""

    identifier: str
    size: int
    tags: Mapping[str, str] = field(default_factory=dict)
    read: Callable[[int, int], bytes] | None = field(default=None, compare=False, repr=False)
    """`read(offset, length)` → bytes of the file (for files spooled to disk)."""

    @classmethod
    def of(cls, identifier: str, data: bytes, tags: Mapping[str, str] | None = None) -> Patch:
        """A patch whose bytes are in memory."""
        view = bytes(data)
        return cls(identifier, len(view), dict(tags or {}), lambda o, n: view[o : o + n])

    def prefix(self) -> bytes:
        """Header, identifier and tags: what precedes the bytes in the quilt."""
        ident = _bcs_str(self.identifier)
        body = struct.pack("<H", len(ident)) + ident
        mask = 0
        if self.tags:
            tags = _bcs_tags(self.tags)
            body += struct.pack("<H", len(tags)) + tags
            mask = 1
        length = len(body) + self.size
        if length > MAX_PATCH_BYTES:
            raise QuiltTooLarge(
                f"patch {_shown(self.identifier)} takes {length} bytes; a patch holds at most "
                f"{MAX_PATCH_BYTES} (store it as a blob of its own)"
            )
        return struct.pack("<BIB", QUILT_VERSION, length, mask) + body

    @property
    def serialized_size(self) -> int:
        """Bytes the patch takes in the quilt (header included)."""
        return len(self.prefix()) + self.size


@dataclass(frozen=True)
class PatchEntry:
    """One patch as the index lists it: identifier, tags, and its columns `[start, end)`."""

    identifier: str
    tags: dict[str, str]
    start: int
    end: int

    @property
    def slivers(self) -> range:
        """The sliver indices that hold this patch (systematic: column `c` is sliver `c`)."""
        return range(self.start, self.end)


@dataclass(frozen=True)
class QuiltShape:
    """A quilt's matrix: `k` columns of `stripes` cells of `block` bytes."""

    k: int
    block: int
    stripes: int

    @property
    def column_size(self) -> int:
        """Bytes in one column, which is one sliver."""
        return self.block * self.stripes

    @property
    def size(self) -> int:
        """The quilt blob's size: every cell, zero-padded."""
        return self.stripes * self.k * self.block

    @classmethod
    def of_blob(cls, size: int, n_shards: int) -> QuiltShape:
        """The shape of a stored blob of `size` bytes over `n_shards`; `NotAQuilt` unless its
        size is exactly `S·k·B` (as every quilt's is)."""
        k = primary_count(n_shards)
        block = min(MAX_BLOCK_SIZE, -(-max(size, 1) // k))
        stripes = -(-max(size, 1) // (k * block))
        shape = cls(k, block, stripes)
        if size == 0 or shape.size != size:
            raise NotAQuilt(
                f"a blob of {size} bytes over {n_shards} shards is not a quilt (a quilt's size "
                "is whole columns); read it as a blob"
            )
        return shape

    @classmethod
    def for_column(cls, k: int, column: int) -> QuiltShape:
        """The smallest shape whose columns hold `column` bytes: one stripe of an even block
        (both codecs accept it) up to 64 KiB, else stripes of 64 KiB blocks."""
        if column <= MAX_BLOCK_SIZE:
            return cls(k, max(2, column + (column & 1)), 1)
        return cls(k, MAX_BLOCK_SIZE, -(-column // MAX_BLOCK_SIZE))


def _columns(size: int, column: int) -> int:
    return max(1, -(-size // column))


def _index_bytes(entries: Sequence[tuple[str, Mapping[str, str], int]]) -> bytes:
    body = bytearray(_uleb(len(entries)))
    for identifier, tags, end in entries:
        body += struct.pack("<H", end) + _bcs_str(identifier) + _bcs_tags(tags)
    return struct.pack("<BI", QUILT_VERSION, len(body)) + bytes(body)


@dataclass(frozen=True)
class QuiltLayout:
    """Where everything goes: the shape, the index bytes and each patch's columns."""

    shape: QuiltShape
    index: bytes
    patches: tuple[Patch, ...]
    entries: tuple[PatchEntry, ...]

    def blocks(self) -> Iterator[bytes]:
        """The quilt's bytes, in blob order (stripe by stripe, column by column), one block
        at a time; each patch is read piece by piece, so memory stays at a block."""
        shape = self.shape
        owner: list[tuple[int, int] | None] = [None] * shape.k  # column → (patch, its column)
        for p, e in enumerate(self.entries):
            for c in e.slivers:
                owner[c] = (p, c - e.start)
        prefixes = [p.prefix() for p in self.patches]
        zero = bytes(shape.block)
        index_cols = self.entries[0].start
        for s in range(shape.stripes):
            for c in range(shape.k):
                lo = s * shape.block
                if c < index_cols:
                    at = c * shape.column_size + lo
                    piece = self.index[at : at + shape.block]
                elif (own := owner[c]) is None:
                    yield zero
                    continue
                else:
                    p, col = own
                    piece = _serialized(
                        prefixes[p], self.patches[p], col * shape.column_size + lo, shape.block
                    )
                yield piece + zero[len(piece) :] if len(piece) < shape.block else piece

    def to_bytes(self) -> bytes:
        """The whole quilt in memory (tests and small quilts)."""
        return b"".join(self.blocks())


def _serialized(prefix: bytes, patch: Patch, at: int, length: int) -> bytes:
    """Bytes `[at, at + length)` of a serialized patch (prefix then data), clipped at its end."""
    out = b""
    if at < len(prefix):
        out = prefix[at : at + length]
    if len(out) < length:
        start = max(0, at - len(prefix))
        want = min(length - len(out), patch.size - start)
        if want > 0:
            assert patch.read is not None
            got = patch.read(start, want)
            if len(got) != want:
                raise QuiltError(f"patch {_shown(patch.identifier)} changed while it was read")
            out += got
    return out


def index_entry_size(identifier: str, tags: Mapping[str, str]) -> int:
    """Bytes one patch adds to the index (its end column, identifier and tags)."""
    return 2 + len(_bcs_str(identifier)) + len(_bcs_tags(tags))


def index_size(entry_sizes: int, count: int) -> int:
    """Bytes of an index of `count` patches whose entries take `entry_sizes` bytes."""
    return INDEX_PREFIX_SIZE + len(_uleb(count)) + entry_sizes


def column_size_for(sizes: Sequence[int], index_bytes: int, k: int, at_least: int = 0) -> int:
    """The smallest column size that fits an index of `index_bytes` (in at most 10 columns)
    and patches of serialized `sizes` (each in whole columns) into `k` columns. `at_least`:
    a size known not to be too large (adding a patch never shrinks the answer, so a caller
    growing a quilt passes the previous one and usually pays a single check)."""

    def fits(column: int) -> bool:
        index_cols = _columns(index_bytes, column)
        used = index_cols + sum(_columns(s, column) for s in sizes)
        return index_cols <= MAX_INDEX_COLUMNS and used <= k

    lo, hi = MIN_COLUMN, max([*sizes, index_bytes, MIN_COLUMN])
    if MIN_COLUMN < at_least <= hi:
        if fits(at_least):
            return at_least
        lo = at_least + 1
    while lo < hi:  # fits() is monotone in the column size
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def layout(patches: Sequence[Patch], n_shards: int, limit: int | None = None) -> QuiltLayout:
    """Lay patches out as a QuiltV1 over `n_shards` shards: sorted by identifier, each in whole
    columns, with the smallest column size that fits everything into the `k` columns.

    Raises `InvalidIdentifier`, `DuplicateIdentifier`, `InvalidTags`, `TooManyPatches` or
    `QuiltTooLarge` (over `limit` bytes)."""
    if not patches:
        raise QuiltError("a quilt needs at least one patch")
    k = primary_count(n_shards)
    ordered = sorted(patches, key=lambda p: p.identifier.encode("utf-8", "surrogatepass"))
    for p in ordered:
        check_identifier(p.identifier)
        check_tags(p.tags, p.identifier)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.identifier == b.identifier:
            raise DuplicateIdentifier(
                f"identifier {_shown(a.identifier)} appears twice; identifiers in a quilt "
                "must be unique"
            )
    if len(ordered) > k - 1:
        raise TooManyPatches(
            f"{len(ordered)} patches do not fit in one quilt: over {n_shards} shards a quilt "
            f"has {k} columns, one for the index, so at most {k - 1} patches; store them as "
            "several quilts"
        )
    sizes = [p.serialized_size for p in ordered]
    # The index's size does not depend on where patches go (their end columns are u16s).
    index = _index_bytes([(p.identifier, p.tags, 0) for p in ordered])
    shape = QuiltShape.for_column(k, column_size_for(sizes, len(index), k))
    if limit is not None and shape.size > limit:
        raise QuiltTooLarge(
            f"the quilt would take {shape.size} bytes, over the limit of {limit}; store fewer "
            "or smaller files per quilt"
        )
    column = shape.column_size
    start = _columns(len(index), column)
    entries = []
    for p, size in zip(ordered, sizes, strict=True):
        end = start + _columns(size, column)
        entries.append(PatchEntry(p.identifier, dict(p.tags), start, end))
        start = end
    index = _index_bytes([(e.identifier, e.tags, e.end) for e in entries])
    return QuiltLayout(shape, index, tuple(ordered), tuple(entries))


def build(
    files: Sequence[tuple[str, bytes] | tuple[str, bytes, Mapping[str, str]]], n_shards: int
) -> tuple[bytes, tuple[PatchEntry, ...]]:
    """An in-memory quilt of `(identifier, bytes[, tags])` files and its index."""
    patches = [Patch.of(f[0], f[1], f[2] if len(f) > 2 else None) for f in files]  # type: ignore[misc]
    plan = layout(patches, n_shards)
    return plan.to_bytes(), plan.entries


# -- reading ----------------------------------------------------------------------------------


def index_columns(first_column: bytes, column_size: int) -> int:
    """How many columns the index spans, from the start of column 0 (`NotAQuilt` if the
    prefix is not QuiltV1's)."""
    if len(first_column) < INDEX_PREFIX_SIZE or first_column[0] != QUILT_VERSION:
        raise NotAQuilt("the blob does not start with a QuiltV1 index; read it as a blob")
    (size,) = struct.unpack_from("<I", first_column, 1)
    if size > column_size * MAX_INDEX_COLUMNS - INDEX_PREFIX_SIZE:
        raise NotAQuilt(f"the quilt index claims {size} bytes, more than its columns hold")
    return _columns(INDEX_PREFIX_SIZE + size, column_size)


def parse_index(columns: bytes, shape: QuiltShape) -> tuple[PatchEntry, ...]:
    """The index from the concatenated bytes of its columns; every range must lie inside the
    quilt, in order, with valid, unique identifiers (else `NotAQuilt`)."""
    cols = index_columns(columns, shape.column_size)
    (size,) = struct.unpack_from("<I", columns, 1)
    reader = _Reader(columns[INDEX_PREFIX_SIZE : INDEX_PREFIX_SIZE + size], "quilt index")
    if len(reader.data) != size:
        raise NotAQuilt("the quilt index is truncated")
    count = reader.uleb()
    if count > shape.k:
        raise NotAQuilt(f"the quilt index lists {count} patches, more than its {shape.k} columns")
    entries: list[PatchEntry] = []
    start, seen = cols, set()
    for _ in range(count):
        (end,) = struct.unpack("<H", reader.take(2))
        identifier, tags = reader.string(), reader.tags()
        if not start < end <= shape.k:
            raise NotAQuilt(f"a quilt index entry spans columns {start}..{end} of {shape.k}")
        try:
            check_identifier(identifier)
        except InvalidIdentifier as exc:
            raise NotAQuilt(f"the quilt index holds an invalid identifier: {exc}") from None
        if identifier in seen:
            raise NotAQuilt(f"the quilt index lists {_shown(identifier)} twice")
        seen.add(identifier)
        entries.append(PatchEntry(identifier, tags, start, end))
        start = end
    if reader.pos != len(reader.data):
        raise NotAQuilt("the quilt index has trailing bytes")
    return tuple(entries)


@dataclass(frozen=True)
class PatchData:
    """A patch read back: identifier, tags and bytes."""

    identifier: str
    tags: dict[str, str]
    data: bytes


def decode_patch(columns: bytes) -> PatchData:
    """A patch from the concatenated bytes of its columns (`NotAQuilt` if they do not start
    with a QuiltV1 patch header)."""
    head = _Reader(columns, "quilt patch")
    version, length, mask = struct.unpack("<BIB", head.take(BLOB_HEADER_SIZE))
    if version != QUILT_VERSION or length > len(columns) - BLOB_HEADER_SIZE:
        raise NotAQuilt("these columns do not start with a QuiltV1 patch")
    body = _Reader(head.take(length), "quilt patch")
    (ident_len,) = struct.unpack("<H", body.take(2))
    identifier = _Reader(body.take(ident_len), "patch identifier").string()
    tags: dict[str, str] = {}
    if mask & 1:
        (tags_len,) = struct.unpack("<H", body.take(2))
        tags = _Reader(body.take(tags_len), "patch tags").tags()
    return PatchData(identifier, tags, body.data[body.pos :])


def column(blob: bytes | memoryview, shape: QuiltShape, c: int) -> bytes:
    """Column `c` of a whole quilt blob (what sliver `c` holds)."""
    step, b = shape.k * shape.block, shape.block
    return b"".join(
        bytes(blob[s * step + c * b : s * step + (c + 1) * b]) for s in range(shape.stripes)
    )


def read_index(
    blob: bytes | memoryview, n_shards: int
) -> tuple[QuiltShape, tuple[PatchEntry, ...]]:
    """The shape and index of a whole quilt blob held in memory."""
    shape = QuiltShape.of_blob(len(blob), n_shards)
    cols = index_columns(column(blob, shape, 0), shape.column_size)
    return shape, parse_index(b"".join(column(blob, shape, c) for c in range(cols)), shape)


def read_patch(blob: bytes | memoryview, n_shards: int, entry: PatchEntry) -> PatchData:
    """One patch of a whole quilt blob held in memory."""
    shape = QuiltShape.of_blob(len(blob), n_shards)
    return decode_patch(b"".join(column(blob, shape, c) for c in entry.slivers))


def find(entries: Sequence[PatchEntry], identifier: str) -> PatchEntry:
    """The entry with this identifier (`PatchNotFound` if none)."""
    for e in entries:
        if e.identifier == identifier:
            return e
    raise PatchNotFound(f"the quilt has no patch named {_shown(identifier)}")


# -- patch ids --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuiltPatchId:
    """Walrus's `QuiltPatchId`: the quilt's blob id and a V1 patch's column range."""

    quilt_id: BlobId
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= 0xFFFF:
            raise InvalidPatchId(
                f"a patch spans columns start < end ≤ 65535; got {self.start}..{self.end}"
            )

    def to_bytes(self) -> bytes:
        """quilt id ‖ 0x01 ‖ start u16 LE ‖ end u16 LE."""
        return self.quilt_id.raw + struct.pack("<BHH", QUILT_VERSION, self.start, self.end)

    def __str__(self) -> str:
        return base64.urlsafe_b64encode(self.to_bytes()).rstrip(b"=").decode()

    @classmethod
    def parse(cls, text: str) -> QuiltPatchId:
        """Parse the 50-character text form; anything else is `InvalidPatchId`."""
        ok = isinstance(text, str) and len(text) == PATCH_ID_CHARS and text.isascii()
        try:
            raw = base64.urlsafe_b64decode(text + "==") if ok else b""
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != PATCH_ID_BYTES or raw[32] != QUILT_VERSION:
            raise InvalidPatchId(
                f"malformed quilt patch id {_shown(str(text))}: expected 50 URL-safe base64 "
                "characters (a quilt id, version 1 and a column range), as store-quilt returns"
            )
        start, end = struct.unpack_from("<HH", raw, 33)
        pid = cls(BlobId(raw[:32]), start, end)
        if str(pid) != text:
            raise InvalidPatchId(f"non-canonical quilt patch id {_shown(text)}; use {pid}")
        return pid

    @classmethod
    def of(cls, quilt_id: BlobId, entry: PatchEntry) -> QuiltPatchId:
        """The id of one patch of a quilt."""
        return cls(quilt_id, entry.start, entry.end)
