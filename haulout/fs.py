"""An fsspec filesystem for `haulout://` URLs, so pandas, pyarrow, numpy and PyTorch data
loaders read blobs directly, with range reads and fsspec's block cache; writes go through
the relayer.

    haulout://<blob id>                 a blob, or the file a file manifest describes
    haulout://<manifest id>/<path>      a file inside a stored directory
    haulout://<quilt id>/<identifier>   a file (patch) of a quilt, read from its own slivers

Writes: `fs.open("haulout://new", "wb")` (or `pipe`/`put` to it) stores a new blob;
its id is in `fs.last_stored` and the writer's `stored`. Named paths need buckets, which are
not there yet: writing to one raises `NamedPathWrite`. A write that raises inside `with`
stores nothing. `rm` deletes a deletable blob (or tree) the relayer owns.

Options: `relayer_url` (default `HAULOUT_RELAYER_URL` or the local relayer), `token`, `epochs`
(default 1), `deletable`.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from haulout.client import DEFAULT_RELAYER, BlobNotFound, HauloutClient, HauloutError, StoredBlob
from haulout.manifest import PREFIX, Manifest, store_file_auto

NEW_BLOB_PATHS = frozenset({"", "new"})
"""Where a write goes while there are no buckets: `haulout://new` (or `haulout://`) stores a
new blob whose id the write returns."""


class NamedPathWrite(NotImplementedError):
    """A write to a named path: blobs are named by their content, so a path means nothing
    until buckets exist."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"cannot write to haulout://{path}: blobs are named by their content and named "
            "paths (buckets) are not supported yet. Write to 'haulout://new' and use the id it "
            "returns (fs.last_stored.blob_id, or the writer's .stored), or HauloutClient.store"
        )


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
        self._quilts: dict[str, dict[str, str]] = {}
        self._patch: tuple[str, bytes] | None = None  # the last patch read (fsspec reads blocks)

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

    def _entry(self, path: str) -> tuple[str, dict[str, Any] | None, Manifest | None]:
        """(root blob id, file entry or None, manifest) for a stripped path."""
        root, _, rest = path.partition("/")
        manifest = self.manifest(root)
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
        manifest = self.manifest(root)
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
            if stripped not in NEW_BLOB_PATHS:
                raise NamedPathWrite(stripped)
            return HauloutWriter(self)
        raise ValueError(f"mode {mode!r} is not supported; use 'rb' or 'wb'")

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete blobs (or trees, by their manifest) the relayer owns; see `rm_file`."""
        for p in path if isinstance(path, list) else [path]:
            self.rm_file(p)

    def rm_file(self, path: str) -> None:
        """Delete a deletable blob, or a tree by its manifest's blob id or object id, that the
        relayer owns (every member in one transaction); otherwise say why not."""
        path = self._strip_protocol(path)
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
