"""Buckets in the SDK: named, versioned trees of files, written and read by path.

A bucket's current version is a directory manifest (as `haulout store DIR` writes: small
files in quilts, each readable alone by its patch id, large ones chunked; versions written
before quilts hold packs and stay readable); the chain's Bucket object points at it. A commit
stores the changed files (small ones together in quilts: a few blobs per commit, not one per
file), builds the new manifest from the base version's plus the changes, stores it, and
moves the pointer only if the base version is still current. A version may reference at
most the relayer's `maxTreeMembers` blobs (one transaction extends them all): when many
small commits would pass that, the commit re-packs the small files of the emptiest quilts
into new ones (`compact`). When someone committed in
between, the commit re-reads the bucket: if none of its paths changed since the base, it
merges onto the new version and commits again; otherwise it raises `BucketConflict`. An
update is never lost silently.

    client.buckets.create("train")
    client.buckets.push("data/", "train", prefix="v1")
    client.buckets.pull("train@1", "out/")
"""

from __future__ import annotations

import builtins
import mimetypes
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from haulout.client import HauloutError, QuiltFile, _check
from haulout.manifest import (
    BATCH_BYTES,
    BATCH_QUILTS,
    DEFAULT_CHUNK,
    MAGIC,
    MIN_QUILT_PATCHES,
    PACK_LIMIT,
    SMALL_FILE,
    VERSION,
    Manifest,
    ManifestError,
    _store_chunks,
    _write_checked,
    group_for_quilts,
    iter_file,
    quilt_identifier,
    store_quilt_groups,
)
from haulout.protocol.buckets import BucketRef, check_bucket_name, parse_ref
from haulout.protocol.hashing import hasher
from haulout.protocol.params import primary_count

if TYPE_CHECKING:
    from haulout.client import HauloutClient

MAX_PATH = 1024
"""Longest path inside a bucket, in UTF-8 bytes."""
MAX_MERGES = 20
DEFAULT_TREE_LIMIT = 1000
"""A version's blobs at most (manifest included), when the relayer does not say."""
"""How often a commit re-reads and merges after losing a race before it gives up."""

Entry = dict[str, Any]
"""A file of a tree: size, content_type, blake2b and either `pack_id` + `offset` (packed)
or `chunks` (each a blob id and size)."""
Tree = dict[str, Entry]
"""path → entry."""


class BucketConflict(HauloutError):
    """Someone committed changes to the same paths after this commit's base version: nothing
    of this commit was applied. Re-read the bucket, decide, and commit again."""

    def __init__(self, name: str, base: int, current: int, paths: Iterable[str]) -> None:
        listed = sorted(paths)
        self.paths = listed
        self.base, self.current = base, current
        super().__init__(
            f"bucket {name!r} changed from version {base} to {current} and the new version "
            f"also changed {len(listed)} of this commit's paths (first: {listed[0]!r}); nothing "
            "was committed. Read the current version and commit again on it",
            409,
            "BUCKET_CONFLICT",
        )


def clean_path(path: str) -> str:
    """A path inside a bucket: POSIX, relative, no `.`/`..`/empty parts, ≤ 1024 bytes."""
    text = path.replace("\\", "/").strip("/")
    parts = text.split("/")
    if not text or any(p in ("", ".", "..") for p in parts) or len(text.encode()) > MAX_PATH:
        raise HauloutError(
            f"{path[:200]!r} is not a path inside a bucket: use a relative path of at most "
            f"{MAX_PATH} bytes without empty, '.' or '..' parts",
            400,
            "INVALID_PATH",
        )
    return text


def tree_of(doc: dict[str, Any] | None) -> Tree:
    """A directory manifest's files as a tree (quilt and pack indices resolved to blob ids)."""
    if doc is None:
        return {}
    if doc.get("kind") != "directory":
        raise ManifestError("a bucket's manifest must be a directory manifest")
    packs = doc.get("packs", [])
    quilts = doc.get("quilts", [])
    tree: Tree = {}
    for e in doc.get("files", []):
        entry = {k: v for k, v in e.items() if k not in ("path", "pack", "quilt")}
        if "pack" in e:
            entry["pack_id"] = packs[e["pack"]]
        if "quilt" in e:
            entry["quilt_id"] = quilts[e["quilt"]]
        tree[e["path"]] = entry
    return tree


def manifest_of(name: str, tree: Tree) -> Manifest:
    """The directory manifest of a tree (quilts and packs listed once each, in order of first
    use)."""
    lists: dict[str, list[str]] = {"pack": [], "quilt": []}
    index: dict[tuple[str, str], int] = {}
    files = []
    for path in sorted(tree):
        e = dict(tree[path])
        out: dict[str, Any] = {"path": path}
        for kind in ("pack", "quilt"):
            bid = e.pop(f"{kind}_id", None)
            if bid is not None:
                if (kind, bid) not in index:
                    index[(kind, bid)] = len(lists[kind])
                    lists[kind].append(bid)
                out[kind] = index[(kind, bid)]
        out.update(e)
        files.append(out)
    doc = {
        MAGIC: VERSION,
        "kind": "directory",
        "name": name,
        "size": sum(int(e["size"]) for e in tree.values()),
        "packs": lists["pack"],
        "quilts": lists["quilt"],
        "files": files,
    }
    return Manifest(doc)


def container_of(entry: Entry) -> str | None:
    """The quilt or pack blob a small file lives in (None for a chunked file)."""
    bid = entry.get("quilt_id", entry.get("pack_id"))
    return None if bid is None else str(bid)


def tree_members(tree: Tree) -> set[str]:
    """Every blob a tree references (its quilts, packs and chunks; not the manifest)."""
    out: set[str] = set()
    for e in tree.values():
        box = container_of(e)
        if box is not None:
            out.add(box)
        out.update(str(c["blob_id"]) for c in e.get("chunks", []))
    return out


def changed_paths(before: Tree, after: Tree) -> set[str]:
    """Paths added, removed or changed between two trees."""
    keys = set(before) | set(after)
    return {p for p in keys if before.get(p) != after.get(p)}


@dataclass
class Changes:
    """What one commit does: paths to write (a local file, bytes, or an entry of a stored
    tree, reused without uploading) and paths to delete."""

    writes: dict[str, Path | bytes | Entry] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)

    def put(self, path: str, source: Path | bytes | Entry) -> None:
        """Write `source` at `path` (a later write of the same path wins)."""
        p = clean_path(path)
        self.deletes.discard(p)
        self.writes[p] = source

    def delete(self, path: str) -> None:
        """Delete `path` (a write staged for it is dropped)."""
        p = clean_path(path)
        self.writes.pop(p, None)
        self.deletes.add(p)

    def paths(self) -> set[str]:
        """Every path this commit touches."""
        return set(self.writes) | self.deletes

    def __bool__(self) -> bool:
        return bool(self.writes or self.deletes)


@dataclass(frozen=True)
class CommitResult:
    """A commit's outcome: the new version, its manifest, and how often it merged."""

    name: str
    version: int
    manifest_blob_id: str
    merged: int
    """Commits by others it was merged on top of (0 when its base was still current)."""
    raw: dict[str, Any]
    repacked: int = 0
    """Quilts or packs whose files this commit moved into new quilts to stay within the
    relayer's `maxTreeMembers` (0: none)."""


def _content_type(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


class _Packer:
    """Packs small files into plain blobs of up to `PACK_LIMIT` bytes: for committees too
    small for useful quilts (as `store DIR` does)."""

    def __init__(self, client: HauloutClient, epochs: int | None, deletable: bool) -> None:
        self.client, self.epochs, self.deletable = client, epochs, deletable
        self.buf = bytearray()
        self.pending: list[Entry] = []

    def add(self, data: bytes, entry: Entry) -> None:
        """Append one file; a full pack is stored."""
        entry.update({"offset": len(self.buf), "blake2b": _digest(data)})
        self.buf += data
        self.pending.append(entry)
        if len(self.buf) >= PACK_LIMIT:
            self.flush()

    def flush(self) -> None:
        """Store what is pending as one pack."""
        if not self.pending:
            return
        stored = self.client.store(
            bytes(self.buf),
            epochs=self.epochs,
            deletable=self.deletable,
            content_type="application/octet-stream",
        )
        for e in self.pending:
            e["pack_id"] = stored.blob_id
        self.buf, self.pending = bytearray(), []


def _digest(data: bytes) -> str:
    h = hasher()
    h.update(data)
    return h.hexdigest()


Small = tuple[str, Entry, Callable[[], bytes]]
"""A small file to store: its path, its entry (filled in), and how to get its bytes."""


def store_small(
    client: HauloutClient,
    small: list[Small],
    n_shards: int | None,
    epochs: int | None,
    deletable: bool,
) -> None:
    """Store small files: in quilts (each file readable alone by its patch id) when the
    committee's quilts hold at least `MIN_QUILT_PATCHES` files, else packed; each entry gets
    its quilt and patch id (or pack and offset) and its hash. Bytes are read one quilt at a
    time."""
    if n_shards is None or primary_count(n_shards) - 1 < MIN_QUILT_PATCHES:
        packer = _Packer(client, epochs, deletable)
        for _, entry, read in small:
            packer.add(read(), entry)
        packer.flush()
        return
    specs = [(ident, int(e["size"]), {"content-type": e["content_type"]}) for ident, e, _ in small]
    batch: list[list[int]] = []
    held = 0
    for group in group_for_quilts(specs, n_shards):
        size = sum(specs[i][1] for i in group)
        if batch and (len(batch) >= BATCH_QUILTS or held + size > BATCH_BYTES):
            _store_quilts(client, small, specs, batch, epochs, deletable)
            batch, held = [], 0
        batch.append(group)
        held += size
    if batch:
        _store_quilts(client, small, specs, batch, epochs, deletable)


def _store_quilts(
    client: HauloutClient,
    small: list[Small],
    specs: list[tuple[str, int, dict[str, str]]],
    groups: list[list[int]],
    epochs: int | None,
    deletable: bool,
) -> None:
    """Store `groups` of small files as quilts in one batch upload (`store_quilt_groups`);
    each entry gets its quilt, patch id, identifier and hash."""
    quilts = []
    for group in groups:
        files: list[QuiltFile] = []
        for i in group:
            data = small[i][2]()
            if len(data) != small[i][1]["size"]:
                raise ManifestError(f"{small[i][0]} changed while it was being stored")
            small[i][1]["blake2b"] = _digest(data)
            files.append((specs[i][0], data, specs[i][2]))
        quilts.append(files)
    for group, stored in zip(
        groups, store_quilt_groups(client, quilts, epochs, deletable), strict=True
    ):
        for i in group:
            entry = small[i][1]
            entry["quilt_id"] = stored.quilt_id
            entry["patch"] = stored.patches[specs[i][0]]
            entry["identifier"] = specs[i][0]


def _reader(source: Path | bytes) -> Callable[[], bytes]:
    if isinstance(source, bytes):
        return lambda: source
    return lambda: Path(source).read_bytes()


def store_writes(
    client: HauloutClient,
    writes: dict[str, Path | bytes | Entry],
    epochs: int | None,
    deletable: bool,
    chunk_size: int = DEFAULT_CHUNK,
    n_shards: int | None = None,
) -> Tree:
    """Store every written file (small ones in quilts, or packed on a committee of fewer than
    25 shards or when `n_shards` is None; large ones chunked); entries given as stored entries
    are reused as they are."""
    out: Tree = {}
    small: list[Small] = []
    for path, source in sorted(writes.items()):
        if isinstance(source, dict):
            out[path] = dict(source)
            continue
        size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
        entry: Entry = {"size": size, "content_type": _content_type(path)}
        out[path] = entry
        quilted = n_shards is not None and primary_count(n_shards) - 1 >= MIN_QUILT_PATCHES
        ident = quilt_identifier(path) if quilted else path
        if size <= SMALL_FILE and ident is not None:
            small.append((ident, entry, _reader(source)))
        elif isinstance(source, bytes):
            entry["chunks"], entry["blake2b"] = _store_bytes_chunked(
                client, source, chunk_size, epochs, deletable
            )
        else:
            with Path(source).open("rb") as fh:
                entry["chunks"], entry["blake2b"] = _store_chunks(
                    client,
                    fh,
                    size,
                    chunk_size,
                    epochs,  # type: ignore[arg-type]  # None: the relayer's default
                    None,
                    [0],
                    deletable,
                )
    store_small(client, small, n_shards, epochs, deletable)
    return out


KEEP_FREE = 4
"""A compaction leaves the tree at most `limit - limit // KEEP_FREE` blobs, so the next few
small commits do not compact again."""


def compact(
    client: HauloutClient,
    tree: Tree,
    limit: int,
    n_shards: int | None,
    epochs: int | None,
    deletable: bool,
) -> tuple[Tree, int]:
    """Keep a tree (plus its manifest) within `limit` blobs: when it would pass it, the small
    files of its emptiest quilts and packs are read and stored again in new, full quilts (or,
    when even full quilts would be too many, in 16 MiB packs). Returns the tree and how many quilts/packs were re-packed (0: nothing to do).
    A tree whose chunks alone pass the limit cannot be fixed this way (413)."""
    members = len(tree_members(tree)) + 1
    if members <= limit:
        return tree, 0
    boxes: dict[str, list[str]] = {}
    for path, e in tree.items():
        box = container_of(e)
        if box is not None:
            boxes.setdefault(box, []).append(path)
    target = max(2, limit - limit // KEEP_FREE)
    quilted = n_shards is not None and primary_count(n_shards) - 1 >= MIN_QUILT_PATCHES
    chosen: list[str] = []
    if quilted and n_shards is not None:
        movable = [b for b in boxes if all(quilt_identifier(p) for p in boxes[b])]
        chosen = _choose(boxes, movable, members, primary_count(n_shards) - 1, target, limit)
    if not chosen:  # full quilts cannot get under the limit: 16 MiB packs hold more files
        quilted = False
        sizes = [int(tree[p]["size"]) for paths in boxes.values() for p in paths]
        per_pack = max(1, PACK_LIMIT // max(1, sum(sizes) // max(1, len(sizes))))
        chosen = _choose(boxes, list(boxes), members, per_pack, target, limit)
    if not chosen:
        raise HauloutError(
            f"this version would reference {members} blobs, more than the relayer's "
            f"{limit}, and re-packing its small files cannot bring it under: store large "
            "files with a larger chunk size, or split the bucket",
            413,
            "TREE_TOO_LARGE",
        )
    new = dict(tree)
    cache: dict[str, Any] = {}
    small: list[Small] = []
    paths = [p for box in chosen for p in sorted(boxes[box])]
    for path in paths:
        old = tree[path]
        entry: Entry = {"size": old["size"], "content_type": old.get("content_type")}
        if entry["content_type"] is None:
            entry["content_type"] = _content_type(path)
        ident = quilt_identifier(path) if quilted else path
        small.append((ident or path, entry, _stored_reader(client, old, path, cache)))
        new[path] = entry
    store_small(client, small, n_shards if quilted else None, epochs, deletable)
    return new, len(chosen)


def _choose(
    boxes: dict[str, list[str]],
    movable: list[str],
    members: int,
    per_box: int,
    target: int,
    limit: int,
) -> list[str]:
    """The emptiest boxes whose files, `per_box` to a new box, bring `members` to `target`
    (or at least within `limit`); [] when that cannot be done."""
    chosen: list[str] = []
    files = 0
    for box in sorted(movable, key=lambda b: (len(boxes[b]), b)):
        chosen.append(box)
        files += len(boxes[box])
        if members - len(chosen) + -(-files // per_box) <= target:
            break
    ok = len(chosen) >= 2 and members - len(chosen) + -(-files // per_box) <= limit
    return chosen if ok else []


def _stored_reader(
    client: HauloutClient, entry: Entry, path: str, cache: dict[str, Any]
) -> Callable[[], bytes]:
    """Reads a stored file when its new quilt is built (one quilt's files in memory at a
    time): a quilt patch by its patch id (only its slivers), an old pack through `cache`."""
    return lambda: b"".join(
        _iter_tree_entry(client, entry, path, cache if "pack_id" in entry else None)
    )


def _iter_tree_entry(
    client: HauloutClient, entry: Entry, path: str, cache: dict[str, Any] | None = None
) -> Iterator[bytes]:
    """A tree entry's bytes, hash-checked (a quilt patch reads only its own slivers unless
    `cache` asks for whole quilts, each read once)."""
    doc_entry = {k: v for k, v in entry.items() if k not in ("pack_id", "quilt_id")}
    doc_entry["path"] = path
    packs = None
    if "pack_id" in entry:
        doc_entry["pack"], packs = 0, [entry["pack_id"]]
    yield from iter_file(client, doc_entry, packs, cache)


def _store_bytes_chunked(
    client: HauloutClient, data: bytes, chunk_size: int, epochs: int | None, deletable: bool
) -> tuple[list[Entry], str]:
    h = hasher()
    h.update(data)
    chunks = []
    for start in range(0, len(data), chunk_size):
        piece = data[start : start + chunk_size]
        stored = client.store(piece, epochs=epochs, deletable=deletable)
        chunks.append({"blob_id": stored.blob_id, "size": len(piece)})
    return chunks, h.hexdigest()


@dataclass(frozen=True)
class BucketState:
    """A bucket as the relayer reports it; `manifest_blob_id` is the version asked for
    (the current one unless the ref named a version or tag)."""

    id: str
    name: str
    version: int
    """The version read: the current one, or the one a ref pinned."""
    current_version: int
    manifest_blob_id: str | None
    tags: dict[str, int]
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> BucketState:
        """Parse the relayer's answer."""
        req = body.get("requested")
        return cls(
            body["bucketId"],
            body["name"],
            req["version"] if req else body["version"],
            body["version"],
            req["manifestBlobId"] if req else body["manifestBlobId"],
            dict(body.get("tags", {})),
            body,
        )


class Buckets:
    """Bucket calls of a `HauloutClient` (`client.buckets`)."""

    def __init__(self, client: HauloutClient) -> None:
        self.client = client
        self._manifests: dict[str, dict[str, Any]] = {}

    # -- the relayer's routes -----------------------------------------------------------------

    def create(self, name: str) -> BucketState:
        """A new empty bucket (version 0) owned by the relayer's account."""
        check_bucket_name(name)
        resp = self.client.http.post("/v1/buckets", json={"name": name})
        return BucketState.from_json(_check(resp).json())

    def list(self) -> list[BucketState]:
        """The relayer's buckets."""
        body = _check(self.client.http.get("/v1/buckets")).json()
        return [BucketState.from_json(b) for b in body["buckets"]]

    def get(self, ref: str | BucketRef) -> BucketState:
        """A bucket: `name` (current), `name@<version>` or `name@<tag>`."""
        text = str(ref if isinstance(ref, BucketRef) else parse_ref(ref))
        return BucketState.from_json(_check(self.client.http.get(f"/v1/buckets/{text}")).json())

    def log(self, name: str, limit: int = 100) -> dict[str, Any]:
        """Versions (newest first: manifest, transaction, time) and tags."""
        check_bucket_name(name)
        resp = self.client.http.get(f"/v1/buckets/{name}/versions", params={"limit": limit})
        result: dict[str, Any] = _check(resp).json()
        return result

    def tag(self, name: str, tag: str, version: int) -> BucketState:
        """Name `version` `tag` (an existing tag moves)."""
        check_bucket_name(name)
        resp = self.client.http.put(f"/v1/buckets/{name}/tags/{tag}", params={"version": version})
        return BucketState.from_json(_check(resp).json())

    def extend(self, name: str, epochs: int, all_versions: bool = False) -> dict[str, Any]:
        """Extend the current tree (manifest and every blob it references) by `epochs`, in
        one transaction. With `all_versions`, every earlier version still alive is then
        brought to the same end epoch, one transaction per version (its manifest and every
        blob it references; blobs it shares with the current tree are there already).
        `olderVersions` in the answer says what happened to each: `extended`, `current`
        (its manifest is the current tree's), `at-target`, `expired` or `members-missing` (some
        of its blobs are gone: nothing of it changed)."""
        check_bucket_name(name)
        resp = self.client.http.post(f"/v1/buckets/{name}/extend", params={"epochs": epochs})
        result: dict[str, Any] = _check(resp).json()
        if all_versions:
            result["olderVersions"] = self._extend_older(name, int(result["endEpoch"]))
        return result

    def _extend_older(self, name: str, target: int) -> builtins.list[dict[str, Any]]:
        current = self.get(name).manifest_blob_id
        done: dict[str, str] = {}
        out: builtins.list[dict[str, Any]] = []
        for v in self.log(name, limit=1000)["versions"]:
            manifest, oid = v["manifestBlobId"], v["manifestObjectId"]
            if manifest == current:
                out.append({"version": v["version"], "result": "current"})
                continue
            if oid not in done:
                done[oid] = self._extend_version(manifest, oid, target)
            out.append({"version": v["version"], "result": done[oid]})
        return out

    def _extend_version(self, manifest: str, object_id: str, target: int) -> str:
        status = self.client.status(manifest)
        ends = [
            o["endEpoch"]
            for o in status.get("objects", [])
            if o.get("objectId") == object_id and not o.get("deleted") and not o.get("expired")
        ]
        if not ends:
            return "expired"
        if ends[0] >= target:
            return "at-target"
        try:
            self.client.extend_tree(object_id, target - ends[0])
        except HauloutError as exc:
            if exc.status != 409:
                raise
            return "members-missing"  # some blob of it expired or was deleted: left as it is
        return "extended"

    def delete(self, name: str, keep_data: bool = False) -> dict[str, Any]:
        """Delete the bucket and (unless `keep_data`) its current tree's deletable blobs."""
        check_bucket_name(name)
        params = {"keep_data": "true"} if keep_data else {}
        result: dict[str, Any] = _check(
            self.client.http.delete(f"/v1/buckets/{name}", params=params)
        ).json()
        return result

    # -- trees --------------------------------------------------------------------------------

    def manifest(self, blob_id: str | None) -> dict[str, Any] | None:
        """A manifest document by blob id (cached: content-addressed, never changes)."""
        if blob_id is None:
            return None
        if blob_id not in self._manifests:
            m = Manifest.parse(self.client.read(blob_id))
            if m is None or m.kind != "directory":
                raise ManifestError(f"blob {blob_id} is not a directory manifest")
            self._manifests[blob_id] = m.doc
        return self._manifests[blob_id]

    def tree(self, ref: str | BucketRef) -> tuple[BucketState, Tree]:
        """The bucket (at the ref's version) and its files."""
        state = self.get(ref)
        return state, tree_of(self.manifest(state.manifest_blob_id))

    def _tree_at(self, name: str, version: int) -> Tree:
        if version == 0:
            return {}
        return self.tree(BucketRef(name, version=version))[1]

    def _default_epochs(self, state: BucketState) -> int | None:
        """New blobs live as long as the bucket's current tree (its manifest's end epoch)."""
        if state.manifest_blob_id is None:
            return None
        try:
            status = self.client.status(state.manifest_blob_id)
        except HauloutError:
            return None
        ends = [
            o["endEpoch"]
            for o in status.get("objects", [])
            if o.get("certified") and not o.get("deleted") and not o.get("expired")
        ]
        left = max(ends, default=0) - int(status.get("epoch", 0))
        return left if left >= 1 else None

    def commit(
        self,
        name: str,
        changes: Changes,
        base_version: int | None = None,
        epochs: int | None = None,
        deletable: bool = True,
        quilts: bool | None = None,
    ) -> CommitResult:
        """Apply `changes` as one new version. `base_version` is the version the changes
        were made against (default: the current one); if others committed since, their
        changes are kept and these are applied on top, unless the same paths changed, which
        raises `BucketConflict` (nothing committed). New blobs last as long as the bucket's
        current tree unless `epochs` says otherwise. Small files go into quilts (each read
        alone by its patch: `k - 1` files a quilt, two transactions each) unless `quilts` is
        False, or None and the quilts would pass the relayer's `maxTreeMembers`: then into
        16 MiB packs (fewer blobs and transactions; a file is read by byte range)."""
        check_bucket_name(name)
        state = self.get(name)
        base = state.current_version if base_version is None else base_version
        if epochs is None:
            epochs = self._default_epochs(state)
        health = self.client.health()
        n_shards = int(health["nShards"]) if "nShards" in health else None
        limit = int(health.get("maxTreeMembers", DEFAULT_TREE_LIMIT))
        if quilts is None and n_shards is not None:
            quilts = self._quilts_fit(name, base, changes, n_shards, limit)
        layout = n_shards if quilts is not False else None  # None: packs
        stored = store_writes(self.client, changes.writes, epochs, deletable, n_shards=layout)
        mine = changes.paths()
        base_tree = self._tree_at(name, base)
        for _ in range(MAX_MERGES):
            current = state.current_version
            tree = base_tree if current == base else self._tree_at(name, current)
            if current != base:
                if current < base:
                    raise HauloutError(
                        f"bucket {name!r} is at version {current}, below the base {base}",
                        409,
                        "BUCKET_CONFLICT",
                    )
                clash = changed_paths(base_tree, tree) & mine
                if clash:
                    raise BucketConflict(name, base, current, clash)
            new = dict(tree)
            for p in changes.deletes:
                new.pop(p, None)
            new.update(stored)
            new, repacked = compact(self.client, new, limit, n_shards, epochs, deletable)
            manifest = self.client.store(
                manifest_of(name, new).to_bytes(),
                epochs=epochs,
                deletable=deletable,
                content_type="application/json",
            )
            self._manifests.pop(manifest.blob_id, None)
            resp = self.client.http.post(
                f"/v1/buckets/{name}/commit",
                params={"base_version": current, "manifest": manifest.blob_id},
            )
            if resp.status_code == 409 and b"BUCKET_CONFLICT" in resp.content[:4096]:
                state = self.get(name)  # lost a race: merge on the newer version
                continue
            body = _check(resp).json()
            return CommitResult(
                name, body["version"], manifest.blob_id, current - base, body, repacked
            )
        raise HauloutError(
            f"bucket {name!r}: gave up after {MAX_MERGES} commits by others in a row; retry",
            409,
            "BUCKET_CONFLICT",
        )

    def _quilts_fit(
        self, name: str, base: int, changes: Changes, n_shards: int, limit: int
    ) -> bool:
        """Whether this commit's small files in quilts keep the version within `limit` blobs
        (counting the base version's, a full quilt per `k - 1` files)."""
        small = 0
        for source in changes.writes.values():
            if isinstance(source, bytes):
                small += len(source) <= SMALL_FILE
            elif isinstance(source, Path):
                small += source.stat().st_size <= SMALL_FILE
        if not small:
            return True
        per_quilt = max(1, primary_count(n_shards) - 1)
        before = len(tree_members(self._tree_at(name, base))) + 1
        return before + -(-small // per_quilt) <= limit

    # -- whole folders ------------------------------------------------------------------------

    def push(
        self,
        directory: str | Path,
        name: str,
        prefix: str = "",
        epochs: int | None = None,
        deletable: bool = True,
        quilts: bool | None = None,
    ) -> CommitResult:
        """Write every file under `directory` to `name/prefix/...` in one commit (files
        not in the folder stay as they are); `quilts` as for `commit`."""
        root = Path(directory)
        if not root.is_dir():
            raise HauloutError(f"{root} is not a directory", 400, "INVALID_ARGUMENT")
        changes = Changes()
        base = clean_path(prefix) + "/" if prefix.strip("/") else ""
        for p in sorted(root.rglob("*")):
            if p.is_file():
                changes.put(base + p.relative_to(root).as_posix(), p)
        return self.commit(name, changes, epochs=epochs, deletable=deletable, quilts=quilts)

    def read(self, ref: str, path: str) -> bytes:
        """One file of a bucket (at the ref's version)."""
        state, tree = self.tree(ref)
        p = clean_path(path)
        if p not in tree:
            raise HauloutError(f"{ref}: no file {p!r}", 404, "BUCKET_PATH_NOT_FOUND")
        return b"".join(self.iter_entry(tree[p], p))

    def iter_entry(self, entry: Entry, path: str) -> Iterator[bytes]:
        """A file's bytes, hash-checked; a file in a quilt reads only its patch's slivers."""
        yield from _iter_tree_entry(self.client, entry, path)

    def pull(self, ref: str, directory: str | Path, prefix: str = "") -> int:
        """Write the bucket's files (at the ref's version; under `prefix` only if given) into
        `directory`; returns the bytes written. The files of one quilt or pack are written
        one after another, so each is read once."""
        _, tree = self.tree(ref)
        out = Path(directory)
        base = clean_path(prefix) + "/" if prefix.strip("/") else ""
        cache: dict[str, Any] = {}
        total = 0
        chosen = [p for p in tree if p.startswith(base)]
        for path in sorted(chosen, key=lambda p: (container_of(tree[p]) or "", p)):
            rel = PurePosixPath(path[len(base) :])
            target = out.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            total += _write_checked(target, _iter_tree_entry(self.client, tree[path], path, cache))
        return total
