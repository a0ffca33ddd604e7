"""An fsspec filesystem for `haulout://` URLs, so pandas, pyarrow, numpy, PyTorch and Hugging
Face `datasets` write and read blobs and buckets by path, with range reads and fsspec's
block cache; writes go through the relayer.

    haulout://<bucket>/<path>             a file of a bucket (read and write)
    haulout://<bucket>@<version>/<path>   the same file at a past version (read-only)
    haulout://<bucket>@<tag>/<path>       ... at the version a tag names (read-only)
    haulout://<blob id>                   a blob, or the file a file manifest describes
    haulout://<manifest id>/<path>        a file inside a stored directory
    haulout://<quilt id>/<identifier>     a file (patch) of a quilt, read from its own slivers

A bucket name is 3-40 characters of a-z, 0-9 and '-' (haulout/protocol/buckets.py); a blob
id is 43 characters, so the first part of a path is a bucket exactly when it is a valid
bucket name. Every write to a bucket is a commit (one new version): `open(..., "wb")` on
close, `pipe`, `put` (a whole folder in one commit), `rm`, `mv`; inside
`with fs.transaction:` all of them become one commit at the end, and nothing if the block
raises. A write that raises inside `with fs.open(...)` commits nothing.
`haulout://new` (or `pipe`/`put` to it) still stores a plain new blob; its id is in
`fs.last_stored`.

Options: `relayer_url` (default `HAULOUT_RELAYER_URL` or the local relayer), `token`, `epochs`
(default: the relayer's for blobs; a bucket's new files last as long as its current tree),
`deletable`.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from fsspec.transaction import Transaction

from haulout.buckets import Changes, clean_path, tree_of
from haulout.client import DEFAULT_RELAYER, BlobNotFound, HauloutClient, HauloutError, StoredBlob
from haulout.manifest import PREFIX, Manifest, store_file_auto
from haulout.protocol.buckets import looks_like_bucket, parse_ref

NEW_BLOB_PATHS = frozenset({"", "new"})
"""`haulout://new` (or `haulout://`) stores a new plain blob whose id the write returns."""

REF_TTL = 1.0
"""Seconds a bucket's current version is reused before it is asked again (a version number
is reused for ever: it never changes)."""

EMPTY = Manifest({"kind": "directory", "packs": [], "files": []})


class NamedPathWrite(NotImplementedError):
    """A write to a path that is neither a bucket nor `haulout://new`: blobs are named by
    their content, so such a path means nothing."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"cannot write to haulout://{path}: a path is written inside a bucket "
            "(haulout://<bucket>/<path>, the bucket made with `haulout bucket create`), and a "
            "plain blob is written to 'haulout://new' (its id is in fs.last_stored)"
        )


class BucketTransaction(Transaction):  # type: ignore[misc]
    """`with fs.transaction:` every write, rm, put and mv to a bucket inside the block is one
    commit per bucket at its end; nothing is committed if the block raises."""

    def complete(self, commit: bool = True) -> None:
        """Commit (or drop) everything staged, then end the transaction."""
        fs: HauloutFileSystem = self.fs
        try:
            if commit:
                for f in list(self.files):
                    if isinstance(f, BucketWriter):
                        f.stage(fs._staged_changes(f.bucket))
                    else:
                        f.commit()
                for name, changes in list(fs._staged.items()):
                    if changes:
                        fs._commit(name, changes)
        finally:
            fs._staged.clear()
            for f in list(self.files):
                f.discard()
            self.files.clear()
            super().complete(commit=False)


class HauloutFileSystem(AbstractFileSystem):
    """Read-mostly filesystem over blob ids and manifests."""

    protocol = "haulout"
    root_marker = ""

    def __init__(
        self,
        relayer_url: str = DEFAULT_RELAYER,
        token: str = "",
        epochs: int = 1,
        deletable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.client = HauloutClient(relayer_url, token=token)
        self.epochs, self.deletable = epochs, deletable
        self.last_stored: StoredBlob | None = None
        self._manifests: dict[str, Manifest | None] = {}
        self._sizes: dict[str, int] = {}
        self._refs: dict[str, tuple[float, str | None]] = {}
        self._staged: dict[str, Changes] = {}
        self._quilts: dict[str, dict[str, str]] = {}
        self._patch: tuple[str, bytes] | None = None  # the last patch read (fsspec reads blocks)

    transaction_type = BucketTransaction

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        if isinstance(path, list):  # pragma: no cover - fsspec passes lists sometimes
            return [cls._strip_protocol(p) for p in path]  # type: ignore[return-value]
        return path.removeprefix("haulout://").strip("/")

    # -- lookups ------------------------------------------------------------------------------

    def _blob_size(self, blob_id: str) -> int:
        if blob_id not in self._sizes:
            resp = self.client.http.head(f"/v1/blobs/{blob_id}")
            if resp.status_code == 404:
                raise FileNotFoundError(f"haulout://{blob_id} is not stored")
            if resp.status_code >= 400:
                raise OSError(f"haulout://{blob_id}: HTTP {resp.status_code}")
            self._sizes[blob_id] = int(resp.headers["content-length"])
        return self._sizes[blob_id]

    def manifest(self, blob_id: str) -> Manifest | None:
        """The manifest stored as `blob_id`, or None for a plain blob."""
        if blob_id not in self._manifests:
            try:
                head = (
                    self.client.read(blob_id, 0, len(PREFIX))
                    if self._blob_size(blob_id) >= len(PREFIX)
                    else b""
                )
            except BlobNotFound as exc:
                raise FileNotFoundError(f"haulout://{blob_id} is not stored") from exc
            self._manifests[blob_id] = (
                Manifest.parse(self.client.read(blob_id)) if head == PREFIX else None
            )
        return self._manifests[blob_id]

    def _bucket_manifest(self, root: str) -> Manifest:
        """The manifest of a bucket ref's version (an empty one before the first commit)."""
        now = time.monotonic()
        hit = self._refs.get(root)
        if hit is None or (hit[0] < now and "@" not in root):
            try:
                state = self.client.buckets.get(root)
            except HauloutError as exc:
                if exc.status == 404:
                    raise FileNotFoundError(f"haulout://{root}: {exc}") from exc
                raise
            hit = (now + REF_TTL, state.manifest_blob_id)
            self._refs[root] = hit
        mid = hit[1]
        if mid is None:
            return EMPTY
        manifest = self.manifest(mid)
        assert manifest is not None
        return manifest

    def _entry(self, path: str) -> tuple[str, dict[str, Any] | None, Manifest | None]:
        """(root blob id or bucket ref, file entry or None, manifest) for a stripped path."""
        root, _, rest = path.partition("/")
        manifest = self._bucket_manifest(root) if looks_like_bucket(root) else self.manifest(root)
        if not rest:
            if manifest is not None and manifest.kind == "file":
                return root, manifest.doc, manifest
            return root, None, manifest
        if manifest is None:
            return root, self._quilt_entry(root, rest), None
        if manifest.kind != "directory":
            raise FileNotFoundError(f"haulout://{path}: {root} is not a stored directory")
        for e in manifest.doc["files"]:
            if e["path"] == rest:
                return root, e, manifest
        return root, None, manifest

    def _quilt_entry(self, quilt_id: str, identifier: str) -> dict[str, Any]:
        """The patch `identifier` of quilt `quilt_id` as a file entry (its size from a HEAD)."""
        if quilt_id not in self._quilts:
            try:
                listed = self.client.list_quilt_patches(quilt_id)
            except HauloutError as exc:
                if exc.status in (400, 404):
                    raise FileNotFoundError(
                        f"haulout://{quilt_id}/{identifier}: {quilt_id} is neither a stored "
                        "directory nor a quilt"
                    ) from exc
                raise
            self._quilts[quilt_id] = {p["identifier"]: p["patch_id"] for p in listed}
        patch_id = self._quilts[quilt_id].get(identifier)
        if patch_id is None:
            raise FileNotFoundError(f"quilt {quilt_id} has no patch {identifier!r}")
        if patch_id not in self._sizes:
            resp = self.client.http.head(f"/v1/blobs/by-quilt-patch-id/{patch_id}")
            if resp.status_code >= 400:
                raise OSError(f"haulout://{quilt_id}/{identifier}: HTTP {resp.status_code}")
            self._sizes[patch_id] = int(resp.headers["content-length"])
        return {"path": identifier, "patch": patch_id, "size": self._sizes[patch_id]}

    def _patch_bytes(self, patch_id: str) -> bytes:
        if self._patch is None or self._patch[0] != patch_id:
            self._patch = (patch_id, self.client.read_quilt_patch(patch_id)[0])
        return self._patch[1]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """Size and type of a blob, a manifest's file, or a directory inside a manifest."""
        path = self._strip_protocol(path)
        root, entry, manifest = self._entry(path)
        if entry is not None:
            return {
                "name": path,
                "size": entry["size"],
                "type": "file",
                "content_type": entry.get("content_type"),
            }
        if manifest is None:
            return {"name": path, "size": self._blob_size(root), "type": "file"}
        prefix = path.partition("/")[2]
        if manifest.kind == "directory" and (
            not prefix or any(e["path"].startswith(prefix + "/") for e in manifest.doc["files"])
        ):
            return {"name": path, "size": 0, "type": "directory"}
        raise FileNotFoundError(f"haulout://{path} does not exist")

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """Children of a directory inside a manifest (a plain blob lists as itself)."""
        path = self._strip_protocol(path)
        info = self.info(path)
        if info["type"] == "file":
            return [info] if detail else [path]
        root, _, prefix = path.partition("/")
        manifest = self._entry(path)[2]
        assert manifest is not None
        base = prefix + "/" if prefix else ""
        children: dict[str, dict[str, Any]] = {}
        for e in manifest.doc["files"]:
            if not e["path"].startswith(base):
                continue
            head, sep, _ = e["path"][len(base) :].partition("/")
            name = f"{root}/{base}{head}"
            if sep:
                children.setdefault(name, {"name": name, "size": 0, "type": "directory"})
            else:
                children[name] = {"name": name, "size": e["size"], "type": "file"}
        out = sorted(children.values(), key=lambda d: d["name"])
        return out if detail else [d["name"] for d in out]

    # -- reading ------------------------------------------------------------------------------

    def read_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of a file, mapped onto blobs, chunks or packs."""
        path = self._strip_protocol(path)
        root, entry, manifest = self._entry(path)
        if end <= start:
            return b""
        if entry is None:
            if manifest is not None:
                raise IsADirectoryError(f"haulout://{path} is a directory")
            return self.client.read(root, start, end)
        end = min(end, entry["size"])
        if "patch" in entry:  # a quilt's patch: only its own slivers are read
            return self._patch_bytes(entry["patch"])[start:end]
        if "chunks" in entry:
            out, offset = bytearray(), 0
            for c in entry["chunks"]:
                lo, hi = max(start, offset), min(end, offset + c["size"])
                if lo < hi:
                    out += self.client.read(c["blob_id"], lo - offset, hi - offset)
                offset += c["size"]
            return bytes(out)
        assert manifest is not None
        pack = manifest.doc["packs"][entry["pack"]]
        return self.client.read(pack, entry["offset"] + start, entry["offset"] + end)

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        if "r" in mode:
            return HauloutFile(
                self,
                path,
                mode,
                block_size=block_size or (4 << 20),
                cache_options=cache_options,
                **kwargs,
            )
        if "w" in mode:
            stripped = self._strip_protocol(path)
            if stripped in NEW_BLOB_PATHS:
                return HauloutWriter(self)
            name, rel = self._bucket_path(stripped)
            return BucketWriter(self, name, rel, autocommit)
        raise ValueError(f"mode {mode!r} is not supported; use 'rb' or 'wb'")

    # -- buckets ------------------------------------------------------------------------------

    def _bucket_path(self, stripped: str) -> tuple[str, str]:
        """(bucket name, path inside) of a writable bucket path, or why it is not one."""
        root, _, rest = stripped.partition("/")
        if not looks_like_bucket(root):
            raise NamedPathWrite(stripped)
        ref = parse_ref(root)
        if ref.pinned:
            raise PermissionError(
                f"haulout://{stripped} is a past version ({root}) and cannot change; write to "
                f"haulout://{ref.name}/{rest}"
            )
        if not rest:
            raise IsADirectoryError(f"haulout://{stripped} is the bucket itself; add a path")
        return ref.name, clean_path(rest)

    def _staged_changes(self, name: str) -> Changes:
        return self._staged.setdefault(name, Changes())

    def _apply(self, name: str, changes: Changes) -> None:
        """Commit now, or stage until the transaction ends."""
        if self._intrans:
            staged = self._staged_changes(name)
            for p in sorted(changes.deletes):
                staged.delete(p)
            for p, src in changes.writes.items():
                staged.put(p, src)
        else:
            self._commit(name, changes)

    def _commit(self, name: str, changes: Changes) -> None:
        self.client.buckets.commit(name, changes, epochs=self.epochs, deletable=self.deletable)
        for key in [k for k in self._refs if k == name or k.startswith(name + "@")]:
            del self._refs[key]
        self.invalidate_cache()

    def _files_under(self, stripped: str, recursive: bool) -> list[tuple[str, dict[str, Any]]]:
        """(path, tree entry) of a bucket file, or of every file under a folder."""
        root, _, rest = stripped.partition("/")
        manifest = self._bucket_manifest(root)
        tree = tree_of(manifest.doc)
        if rest in tree:
            return [(rest, tree[rest])]
        base = rest + "/" if rest else ""
        found = [(p, e) for p, e in sorted(tree.items()) if p.startswith(base)]
        if not found:
            raise FileNotFoundError(f"haulout://{stripped} does not exist")
        if not recursive:
            raise IsADirectoryError(f"haulout://{stripped} is a folder; pass recursive=True")
        return found

    def put(self, lpath: Any, rpath: Any, recursive: bool = False, **kwargs: Any) -> None:
        """Upload local files; to a bucket, all of them in one commit."""
        if not isinstance(lpath, (str, os.PathLike)) or not isinstance(rpath, str):
            return super().put(lpath, rpath, recursive=recursive, **kwargs)  # type: ignore[no-any-return]
        stripped = self._strip_protocol(rpath)
        root = stripped.partition("/")[0]
        if not looks_like_bucket(root):
            return super().put(lpath, rpath, recursive=recursive, **kwargs)  # type: ignore[no-any-return]
        local = Path(lpath)
        changes = Changes()
        if local.is_dir():
            if not recursive:
                raise IsADirectoryError(f"{local} is a folder; pass recursive=True")
            name, prefix = self._bucket_dir(stripped)
            for p in sorted(local.rglob("*")):
                if p.is_file():
                    changes.put(prefix + p.relative_to(local).as_posix(), p)
        else:
            if rpath.endswith("/") or "/" not in stripped:
                name, prefix = self._bucket_dir(stripped)
                changes.put(prefix + local.name, local)
            else:
                name, rel = self._bucket_path(stripped)
                changes.put(rel, local)
        self._apply(name, changes)
        return None

    def _bucket_dir(self, stripped: str) -> tuple[str, str]:
        """(bucket name, folder prefix ending in '/' or empty) of a writable bucket folder."""
        root, _, rest = stripped.partition("/")
        if not rest:
            name = self._bucket_path(root + "/x")[0]
            return name, ""
        name, rel = self._bucket_path(stripped)
        return name, rel + "/"

    def mv(self, path1: Any, path2: Any, recursive: bool = False, **kwargs: Any) -> None:
        """Move inside buckets without copying data (the new paths reuse the stored
        blobs): one commit when both are in the same bucket."""
        self._copy(path1, path2, recursive, move=True)

    def copy(self, path1: Any, path2: Any, recursive: bool = False, **kwargs: Any) -> None:
        """Copy inside buckets without copying data (the new paths reuse the stored blobs)."""
        self._copy(path1, path2, recursive, move=False)

    def _copy(self, path1: Any, path2: Any, recursive: bool, move: bool) -> None:
        src, dst = self._strip_protocol(path1), self._strip_protocol(path2)
        if not (
            looks_like_bucket(src.partition("/")[0]) and looks_like_bucket(dst.partition("/")[0])
        ):
            raise NotImplementedError(
                "mv and copy work between bucket paths (haulout://<bucket>/<path>); to copy a "
                "stored blob into a bucket, read it and write it"
            )
        files = self._files_under(src, recursive)
        single = len(files) == 1 and files[0][0] == src.partition("/")[2]
        target_name, _ = (
            self._bucket_path(dst) if single and not dst.endswith("/") else self._bucket_dir(dst)
        )
        add, remove = Changes(), Changes()
        if single:
            dst_rel = (
                self._bucket_path(dst)[1]
                if not dst.endswith("/")
                else (self._bucket_dir(dst)[1] + files[0][0].rsplit("/", 1)[-1])
            )
            add.put(dst_rel, files[0][1])
        else:
            prefix = self._bucket_dir(dst)[1]
            base = src.partition("/")[2]
            cut = len(base) + 1 if base else 0
            for p, e in files:
                add.put(prefix + p[cut:], e)
        src_name = parse_ref(src.partition("/")[0]).name
        if move:
            if parse_ref(src.partition("/")[0]).pinned:
                raise PermissionError(f"haulout://{src} is a past version and cannot change")
            for p, _ in files:
                if not (src_name == target_name and p in add.writes):
                    remove.delete(p)
        if move and src_name == target_name:
            for p in sorted(remove.deletes):
                add.delete(p)
            self._apply(target_name, add)
            return
        self._apply(target_name, add)
        if move and remove:
            self._apply(src_name, remove)

    def invalidate_cache(self, path: str | None = None) -> None:
        """Forget bucket versions read (the next read asks the relayer again)."""
        self._refs.clear()
        super().invalidate_cache(path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Remove bucket files (all paths of one bucket in one commit), or delete blobs (or
        trees, by their manifest) the relayer owns; see `rm_file`."""
        by_bucket: dict[str, Changes] = {}
        for p in path if isinstance(path, list) else [path]:
            stripped = self._strip_protocol(p)
            if looks_like_bucket(stripped.partition("/")[0]):
                if "/" not in stripped:
                    raise PermissionError(
                        f"haulout://{stripped} is a whole bucket; remove it with `haulout "
                        "bucket rm` (or remove its files with a path inside it)"
                    )
                name = self._bucket_path(stripped)[0]
                changes = by_bucket.setdefault(name, Changes())
                for rel, _ in self._files_under(stripped, recursive):
                    changes.delete(rel)
            else:
                self.rm_file(p)
        for name, changes in by_bucket.items():
            self._apply(name, changes)

    def rm_file(self, path: str) -> None:
        """Delete a deletable blob, or a tree by its manifest's blob id or object id, that the
        relayer owns (every member in one transaction); otherwise say why not."""
        path = self._strip_protocol(path)
        if looks_like_bucket(path.partition("/")[0]):
            self.rm(path)
            return
        if "/" in path:
            raise PermissionError(
                f"cannot remove haulout://{path}: a file inside a stored directory cannot be "
                "removed alone (the manifest is immutable); remove the whole directory by its "
                "manifest id"
            )
        if path.startswith("0x"):
            candidates = [path]
        else:
            try:
                status = self.client.status(path)
            except HauloutError as exc:
                raise FileNotFoundError(f"haulout://{path}: {exc}") from exc
            live = [
                o
                for o in status.get("objects", [])
                if o["certified"] and not o["deleted"] and not o["expired"]
            ]
            if not live:
                raise FileNotFoundError(f"haulout://{path} is not stored")
            candidates = [o["objectId"] for o in live if o["deletable"]]
            if not candidates:
                raise PermissionError(
                    f"cannot remove haulout://{path}: it is stored as permanent, so it cannot "
                    "be deleted; it expires at its end epoch (store with deletable=True to be "
                    "able to remove it)"
                )
        refusals = []
        for oid in candidates:
            try:
                self.client.delete_tree(oid)
            except HauloutError as exc:
                if exc.status in (403, 404, 409):
                    refusals.append(str(exc))
                    continue
                raise
            self._manifests.pop(path, None)
            self._sizes.pop(path, None)
            return
        raise PermissionError(
            f"cannot remove haulout://{path}: no deletable Blob object of it can be deleted by "
            f"this relayer ({'; '.join(refusals)[:500]})"
        )

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        """Whole file or a range."""
        size = self.info(path)["size"]
        s = 0 if start is None else (start if start >= 0 else size + start)
        e = size if end is None else (end if end >= 0 else size + end)
        return self.read_range(path, s, e)


class HauloutFile(AbstractBufferedFile):
    """Read-only buffered file; fsspec's cache turns reads into ranged blob reads."""

    def _fetch_range(self, start: int, end: int) -> bytes:
        fs: HauloutFileSystem = self.fs
        return fs.read_range(self.path, start, end)


class HauloutWriter:
    """Spools writes to a temporary file and stores it on close (chunked if needed); a write
    that raises inside `with` stores (and pays for) nothing."""

    def __init__(self, fs: HauloutFileSystem) -> None:
        self.fs = fs
        self.tmp = tempfile.NamedTemporaryFile(prefix="haulout-write-", delete=False)  # noqa: SIM115
        self.closed = False
        self.stored: StoredBlob | None = None
        """What close stored (its blob id and object id)."""

    def write(self, data: bytes) -> int:
        """Append bytes."""
        return self.tmp.write(data)

    def close(self) -> None:
        """Store the spooled bytes; the blob id is in `fs.last_stored`."""
        if self.closed:
            return
        self.tmp.close()
        try:
            self.stored = store_file_auto(
                self.fs.client, self.tmp.name, epochs=self.fs.epochs, deletable=self.fs.deletable
            )
            self.fs.last_stored = self.stored
        finally:
            os.unlink(self.tmp.name)
            self.closed = True

    def discard(self) -> None:
        """Drop what was written; nothing is stored."""
        if self.closed:
            return
        self.tmp.close()
        os.unlink(self.tmp.name)
        self.closed = True

    def commit(self) -> None:
        """Store now (fsspec's transaction calls this at its end)."""
        self.close()

    def __enter__(self) -> HauloutWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()

    def flush(self) -> None:
        """Flush the spool."""
        self.tmp.flush()

    def tell(self) -> int:
        """Bytes written so far."""
        return self.tmp.tell()

    def seekable(self) -> bool:
        """Writers are sequential."""
        return False

    def writable(self) -> bool:
        """Yes."""
        return True

    def readable(self) -> bool:
        """No."""
        return False


class BucketWriter(HauloutWriter):
    """Spools writes to a bucket path; closing commits them as one new version (inside
    `fs.transaction`, at the transaction's end). A write that raises inside `with` commits
    nothing."""

    def __init__(self, fs: HauloutFileSystem, bucket: str, path: str, autocommit: bool) -> None:
        super().__init__(fs)
        self.bucket, self.path, self.autocommit = bucket, path, autocommit
        self.spooled = False

    def _spool_done(self) -> None:
        if not self.spooled:
            self.tmp.close()
            self.spooled = True

    def close(self) -> None:
        """Commit the file (in a transaction: keep it for the transaction's commit)."""
        if self.closed:
            return
        if self.autocommit:
            self.commit()
        else:
            self._spool_done()

    def stage(self, changes: Changes) -> None:
        """Add this file to a transaction's changes (its spool stays until `discard`)."""
        self._spool_done()
        changes.put(self.path, Path(self.tmp.name))

    def commit(self) -> None:
        """Commit this file alone, as one new version."""
        if self.closed:
            return
        self._spool_done()
        try:
            changes = Changes()
            changes.put(self.path, Path(self.tmp.name))
            self.fs._commit(self.bucket, changes)
        finally:
            os.unlink(self.tmp.name)
            self.closed = True

    def discard(self) -> None:
        """Drop the spool; nothing is committed."""
        if self.closed:
            return
        self._spool_done()
        os.unlink(self.tmp.name)
        self.closed = True
