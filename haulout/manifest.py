"""Large files and directories as chunks plus one manifest blob.

A file manifest lists chunk blob ids and sizes, the content type and a blake2b-256 of the
whole; reading the manifest's id streams the original back and checks that hash. A
directory manifest lists every file: small files go into quilts (`haulout.protocol.quilt`,
each readable alone by its patch id), large ones are chunked. Manifests written before quilts
packed small files into plain blobs (`packs`, with offsets); those stay readable.
"""

from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from haulout.client import HauloutClient, HauloutError, QuiltFile, StoredBlob, StoredQuilt
from haulout.protocol import quilt
from haulout.protocol.hashing import hasher
from haulout.protocol.params import primary_count

MAGIC = "haulout-manifest"
VERSION = 1
DEFAULT_CHUNK = 32 << 20
PACK_LIMIT = 16 << 20
"""Largest quilt a directory store builds (and, in old manifests, the largest pack)."""
SMALL_FILE = 1 << 20
"""Files up to this size go into quilts; larger ones are chunked blobs of their own."""
MIN_QUILT_PATCHES = 8
"""Fewest files a quilt must be able to hold (`k - 1`, so at least 25 shards) for a directory
store to use quilts; below that a quilt would cost nearly a store per file, and small files
are packed into plain blobs as before quilts."""
QUILT_SLACK = 64 << 10
"""Padding a quilt may carry beyond twice its files' bytes before a new quilt is started
(patches take whole columns, so mixing very different sizes wastes space)."""
PREFIX = b'{"haulout-manifest":1,'
Progress = Callable[[int, int], None]


class ManifestError(HauloutError):
    """A manifest is malformed, or restored data does not match it."""


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest document."""

    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        """`file` or `directory`."""
        return str(self.doc["kind"])

    def to_bytes(self) -> bytes:
        """The stored form; always starts with `PREFIX`."""
        body = {MAGIC: VERSION, **{k: v for k, v in self.doc.items() if k != MAGIC}}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def parse(cls, data: bytes) -> Manifest | None:
        """A manifest if `data` is one, else None."""
        if not data.startswith(PREFIX):
            return None
        try:
            doc = json.loads(data)
        except ValueError:
            return None
        if doc.get(MAGIC) != VERSION or doc.get("kind") not in ("file", "directory"):
            return None
        return cls(doc)


def member_blob_ids(manifest: Manifest) -> list[tuple[str, str]]:
    """(blob id, role) of every blob a manifest references, once each, in order: the packs
    and chunks that live and die with it (its tree)."""
    seen: dict[str, str] = {}
    doc = manifest.doc
    try:
        for pid in doc.get("packs", []):
            seen.setdefault(str(pid), "pack")
        for qid in doc.get("quilts", []):
            seen.setdefault(str(qid), "quilt")
        entries = doc.get("files", []) if manifest.kind == "directory" else [doc]
        for entry in entries:
            for c in entry.get("chunks", []):
                seen.setdefault(str(c["blob_id"]), "chunk")
    except (AttributeError, KeyError, TypeError) as exc:
        raise ManifestError(f"the manifest's list of blobs is malformed ({exc!r})") from None
    return list(seen.items())


PIECE = 1 << 20


def _chunk_stream(
    fh: IO[bytes], length: int, h: Any, done: list[int], total: int, progress: Progress | None
) -> Iterator[bytes]:
    """Stream `length` bytes of `fh` in 1 MiB pieces, hashing as they go (bounded memory)."""
    left = length
    while left:
        data = fh.read(min(PIECE, left))
        if not data:
            raise ManifestError("the file shrank while it was being stored")
        h.update(data)
        left -= len(data)
        done[0] += len(data)
        if progress:
            progress(done[0], total)
        yield data


def _store_chunks(
    client: HauloutClient,
    fh: IO[bytes],
    total: int,
    chunk_size: int,
    epochs: int,
    progress: Progress | None,
    done: list[int],
    deletable: bool = False,
) -> tuple[list[dict[str, Any]], str]:
    """Store an open file as chunks of `chunk_size`; each chunk is streamed, never held whole."""
    h = hasher()
    chunks = []
    size = os.fstat(fh.fileno()).st_size
    offset = 0
    while offset < size:
        n = min(chunk_size, size - offset)
        stored = client.store(
            _chunk_stream(fh, n, h, done, total, progress),
            epochs=epochs,
            size=n,
            deletable=deletable,
        )
        chunks.append({"blob_id": stored.blob_id, "size": n})
        offset += n
    return chunks, h.hexdigest()


def store_file_chunked(
    client: HauloutClient,
    path: str | Path,
    chunk_size: int = DEFAULT_CHUNK,
    epochs: int = 1,
    progress: Progress | None = None,
    deletable: bool = False,
) -> StoredBlob:
    """Store a file as chunks of `chunk_size` plus a manifest; returns the manifest blob.
    `epochs` and `deletable` apply to every chunk and to the manifest (one tree)."""
    p = Path(path)
    size = p.stat().st_size
    if chunk_size <= 0:
        raise ManifestError("chunk size must be positive")
    with p.open("rb") as fh:
        chunks, digest = _store_chunks(
            client, fh, size, chunk_size, epochs, progress, [0], deletable
        )
    doc = {
        MAGIC: VERSION,
        "kind": "file",
        "name": p.name,
        "size": size,
        "blake2b": digest,
        "content_type": mimetypes.guess_type(p.name)[0] or "application/octet-stream",
        "chunks": chunks,
    }
    return client.store(Manifest(doc).to_bytes(), epochs=epochs, deletable=deletable)


def store_file_auto(
    client: HauloutClient,
    path: str | Path,
    epochs: int = 1,
    progress: Progress | None = None,
    deletable: bool = False,
) -> StoredBlob:
    """Store a file whole, or chunked when it exceeds the relayer's maximum blob size."""
    p = Path(path)
    limit = int(client.health().get("maxBlobSize", 0))
    if limit and p.stat().st_size > limit:
        return store_file_chunked(
            client, p, min(DEFAULT_CHUNK, limit), epochs, progress, deletable=deletable
        )
    return client.store_file(p, epochs=epochs, progress=progress, deletable=deletable)


def quilt_identifier(rel: str) -> str | None:
    """The identifier a file of a directory gets in its quilt: its relative path, or `./path`
    when the path starts with `_` (reserved in quilt uploads); None when the path can never be
    an identifier (trailing whitespace, control characters), so the file is stored alone."""
    ident = "./" + rel if rel.startswith(quilt.RESERVED_PREFIX) else rel
    try:
        return quilt.check_identifier(ident, upload=True)
    except quilt.QuiltError:
        return None


def group_for_quilts(
    files: list[tuple[str, int, dict[str, str]]], n_shards: int, limit: int = PACK_LIMIT
) -> list[list[int]]:
    """Split `(identifier, size, tags)` files into quilts: similar sizes together (each patch
    takes whole columns), at most `k - 1` per quilt, each quilt within `limit` bytes and at
    most about twice its files' bytes. Returns lists of positions in `files`."""
    k = primary_count(n_shards)
    cap = max(1, k - 1)
    order = sorted(range(len(files)), key=lambda i: (files[i][1], files[i][0]))
    groups: list[list[int]] = []
    current: list[int] = []
    sizes: list[int] = []
    entries = raw = column = 0
    for i in order:
        ident, size, tags = files[i]
        patch = quilt.Patch(ident, size, tags).serialized_size
        entry = quilt.index_entry_size(ident, tags)
        ok = len(current) < cap
        if ok and current:
            index = quilt.index_size(entries + entry, len(current) + 1)
            grown = quilt.column_size_for([*sizes, patch], index, k, at_least=column)
            padded = quilt.QuiltShape.for_column(k, grown).size
            ok = padded <= limit and padded <= 2 * (raw + size) + QUILT_SLACK
            column = grown if ok else column
        if not ok:
            groups.append(current)
            current, sizes, entries, raw, column = [], [], 0, 0, 0
        current.append(i)
        sizes.append(patch)
        entries += entry
        raw += size
    if current:
        groups.append(current)
    return groups


def store_directory(
    client: HauloutClient,
    root: str | Path,
    epochs: int = 1,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
    deletable: bool = False,
) -> StoredBlob:
    """Store a directory as one manifest; small files go into quilts (on a committee whose
    quilts hold fewer than `MIN_QUILT_PATCHES` files, into packs as before), large ones are
    chunked. `epochs` and `deletable` apply to every quilt, pack, chunk and the manifest (one
    tree)."""
    base = Path(root)
    files = sorted(p for p in base.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    done = [0]
    sizes = {p: p.stat().st_size for p in files}
    quilted = False
    if any(size <= SMALL_FILE for size in sizes.values()):
        n_shards = int(client.health()["nShards"])
        quilted = primary_count(n_shards) - 1 >= MIN_QUILT_PATCHES
    entries: list[dict[str, Any]] = []
    small: list[tuple[dict[str, Any], Path]] = []
    for p in files:
        rel = p.relative_to(base).as_posix()
        content_type = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        entry: dict[str, Any] = {"path": rel, "size": sizes[p], "content_type": content_type}
        entries.append(entry)
        if sizes[p] <= SMALL_FILE:
            ident = quilt_identifier(rel) if quilted else None
            if ident is not None or not quilted:
                if ident is not None:
                    entry["identifier"] = ident
                small.append((entry, p))
                continue
        with p.open("rb") as fh:
            entry["chunks"], entry["blake2b"] = _store_chunks(
                client, fh, total, chunk_size, epochs, progress, done, deletable
            )
    quilts: list[str] = []
    packs: list[str] = []
    if quilted:
        quilts = _store_quilts(client, small, n_shards, epochs, deletable, done, total, progress)
    elif small:
        packs = _store_packs(client, small, epochs, deletable, done, total, progress)
    if progress:
        progress(total, total)
    doc = {
        MAGIC: VERSION,
        "kind": "directory",
        "name": base.name,
        "size": total,
        "packs": packs,
        "quilts": quilts,
        "files": entries,
    }
    return client.store(Manifest(doc).to_bytes(), epochs=epochs, deletable=deletable)


def _read_small(entry: dict[str, Any], path: Path) -> bytes:
    """A small file's bytes, its hash recorded in its entry."""
    data = path.read_bytes()
    if len(data) != entry["size"]:
        raise ManifestError(f"{entry['path']} changed while it was being stored")
    h = hasher()
    h.update(data)
    entry["blake2b"] = h.hexdigest()
    return data


def _store_quilts(
    client: HauloutClient,
    small: list[tuple[dict[str, Any], Path]],
    n_shards: int,
    epochs: int,
    deletable: bool,
    done: list[int],
    total: int,
    progress: Progress | None,
) -> list[str]:
    """Store small files in quilts; each entry gets its quilt's position and its patch id."""
    specs = [
        (e["identifier"], int(e["size"]), {"content-type": e["content_type"]}) for e, _ in small
    ]
    quilts: list[str] = []
    batch: list[list[int]] = []
    held = 0

    def flush() -> None:
        files: list[list[QuiltFile]] = [
            [(specs[i][0], _read_small(*small[i]), specs[i][2]) for i in g] for g in batch
        ]
        for group, stored in zip(
            batch, store_quilt_groups(client, files, epochs, deletable), strict=True
        ):
            for i in group:
                entry = small[i][0]
                entry["quilt"] = len(quilts)
                entry["patch"] = stored.patches[entry["identifier"]]
                done[0] += entry["size"]
            quilts.append(stored.quilt_id)
        if progress:
            progress(done[0], total)

    for group in group_for_quilts(specs, n_shards):
        size = sum(specs[i][1] for i in group)
        if batch and (len(batch) >= BATCH_QUILTS or held + size > BATCH_BYTES):
            flush()
            batch, held = [], 0
        batch.append(group)
        held += size
    if batch:
        flush()
    return quilts


BATCH_QUILTS = 200
"""Quilts sent in one batch upload: as many as the relayer registers in one transaction."""

BATCH_BYTES = 64 << 20
"""Small files' bytes held in memory for one batch upload."""


def store_quilt_groups(
    client: HauloutClient,
    quilts: list[list[QuiltFile]],
    epochs: int | None,
    deletable: bool,
) -> list[StoredQuilt]:
    """Store quilts in one batch upload (one registration and one certification transaction
    for all, instead of two each); a quilt the batch did not store is stored alone, and a
    relayer from before batch uploads (404/405) gets one quilt per request."""
    results: list[StoredQuilt | HauloutError]
    if len(quilts) < 2:
        results = [HauloutError("alone")] * len(quilts)
    else:
        try:
            results = client.store_quilt_batch(quilts, epochs=epochs, deletable=deletable)
        except HauloutError as exc:
            if exc.status not in (404, 405):
                raise
            results = [exc] * len(quilts)
    return [
        r
        if isinstance(r, StoredQuilt)
        else client.store_quilt(f, epochs=epochs, deletable=deletable)
        for f, r in zip(quilts, results, strict=True)
    ]


def _store_packs(
    client: HauloutClient,
    small: list[tuple[dict[str, Any], Path]],
    epochs: int,
    deletable: bool,
    done: list[int],
    total: int,
    progress: Progress | None,
) -> list[str]:
    """Pack small files into plain blobs of up to `PACK_LIMIT` (each entry gets its pack and
    offset): for committees too small for useful quilts."""
    packs: list[str] = []
    pack = bytearray()
    for n, (entry, path) in enumerate(small):
        entry.update({"offset": len(pack), "pack": len(packs)})
        pack += _read_small(entry, path)
        done[0] += entry["size"]
        if progress:
            progress(done[0], total)
        if len(pack) >= PACK_LIMIT or n == len(small) - 1:
            packs.append(client.store(bytes(pack), epochs=epochs, deletable=deletable).blob_id)
            pack = bytearray()
    return packs


def _quilt_patch(
    client: HauloutClient, patch_id: str, identifier: str, cache: dict[str, Any] | None
) -> bytes:
    """A quilt patch's bytes: from the whole quilt read once into `cache` (a restore reads
    every patch), else by its patch id (the relayer fetches only that patch's slivers)."""
    if cache is None:
        return client.read_quilt_patch(patch_id)[0]
    try:
        pid = quilt.QuiltPatchId.parse(patch_id)
    except quilt.QuiltError as exc:
        raise ManifestError(f"the manifest holds a malformed patch id: {exc}") from None
    key = f"quilt:{pid.quilt_id}"
    if key not in cache:
        cache.clear()  # one quilt at a time: bounded memory
        data = client.read(str(pid.quilt_id))
        try:
            n_shards = int(client.health()["nShards"])
            _, entries = quilt.read_index(data, n_shards)
            cache[key] = (data, {(e.start, e.end): e for e in entries}, n_shards)
        except (quilt.QuiltError, KeyError, ValueError):
            cache[key] = None  # another committee size: read patch by patch
    held = cache[key]
    entry = held[1].get((pid.start, pid.end)) if held else None
    if held is None or entry is None or entry.identifier != identifier:
        return client.read_quilt_patch(patch_id)[0]
    return quilt.read_patch(held[0], held[2], entry).data


def iter_file(
    client: HauloutClient,
    entry: dict[str, Any],
    packs: list[str] | None = None,
    cache: dict[str, Any] | None = None,
) -> Iterator[bytes]:
    """Stream one file of a manifest (chunked, in a quilt, or in an old pack), checking its
    hash at the end. `cache` holds the last quilt or pack read (pass one dict to a series of
    calls, e.g. a restore)."""
    h = hasher()
    if "patch" in entry:
        piece = _quilt_patch(client, entry["patch"], entry.get("identifier", ""), cache)
        if len(piece) != entry["size"]:
            raise ManifestError(
                f"{entry.get('path', 'file')} has {len(piece)} bytes in its quilt, the "
                f"manifest says {entry['size']}"
            )
        h.update(piece)
        yield piece
    elif "chunks" in entry:
        for c in entry["chunks"]:
            got = 0
            for piece in client.read_stream(c["blob_id"], chunk=PIECE):
                got += len(piece)
                h.update(piece)
                yield piece
            if got != c["size"]:
                raise ManifestError(
                    f"chunk {c['blob_id']} has {got} bytes, the manifest says {c['size']}"
                )
    else:
        assert packs is not None
        pid = packs[entry["pack"]]
        if cache is not None and pid in cache:
            data = cache[pid]
        else:
            data = client.read(pid)
            if cache is not None:
                cache.clear()
                cache[pid] = data
        piece = data[entry["offset"] : entry["offset"] + entry["size"]]
        h.update(piece)
        yield piece
    if h.hexdigest() != entry["blake2b"]:
        raise ManifestError(
            f"{entry.get('path', entry.get('name', 'file'))} does not match its hash in the manifest"
        )


def _safe_join(root: Path, rel: str) -> Path:
    parts = PurePosixPath(rel).parts
    if PurePosixPath(rel).is_absolute() or ".." in parts:
        raise ManifestError(
            f"manifest path {rel!r} escapes the target directory; refusing to restore it"
        )
    return root.joinpath(*parts)


def restore(client: HauloutClient, blob_id: str, out: Path) -> int:
    """Write a blob to `out`: plain blobs as they are, manifests as their file or directory."""
    tmp = out.with_name(out.name + ".part") if not out.is_dir() else out / ".haulout.part"
    written = 0
    with open(tmp, "wb") as fh:
        for piece in client.read_stream(blob_id):
            fh.write(piece)
            written += len(piece)
    with open(tmp, "rb") as fh:
        looks_like_manifest = fh.read(len(PREFIX)) == PREFIX
    head = tmp.read_bytes() if looks_like_manifest and written <= (256 << 20) else b""
    manifest = Manifest.parse(head) if head else None
    kind = "directory" if manifest is not None and manifest.kind != "file" else "file"
    if out.is_dir() != (kind == "directory") and out.exists():
        tmp.unlink()
        what = "an existing directory" if out.is_dir() else "an existing file"
        raise ManifestError(
            f"blob {blob_id} is a {kind} but {out} is {what}; give -o a new path"
            + (" or a directory" if kind == "directory" else " or a file")
        )
    if manifest is None:
        os.replace(tmp, out)
        return written
    tmp.unlink()
    if manifest.kind == "file":
        return _write_checked(out, iter_file(client, manifest.doc))
    out.mkdir(parents=True, exist_ok=True)
    cache: dict[str, Any] = {}
    total = 0
    by_blob = sorted(  # the files of one quilt (or pack) one after another: each read once
        manifest.doc["files"], key=lambda e: (e.get("quilt", -1), e.get("pack", -1))
    )
    for entry in by_blob:
        target = _safe_join(out, entry["path"])
        target.parent.mkdir(parents=True, exist_ok=True)
        total += _write_checked(target, iter_file(client, entry, manifest.doc["packs"], cache))
    return total


def _write_checked(target: Path, pieces: Iterator[bytes]) -> int:
    """Write to `target.part` and rename only when every piece (and the hash) checked out."""
    part = target.with_name(target.name + ".part")
    written = 0
    try:
        with open(part, "wb") as fh:
            for piece in pieces:
                fh.write(piece)
                written += len(piece)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, target)
    return written
