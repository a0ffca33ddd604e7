"""An fsspec filesystem for `haulout://` URLs, so pandas, pyarrow, numpy and PyTorch data
loaders read blobs directly, with range reads and fsspec's block cache; writes go through
the relayer.

    haulout://<blob id>                 a blob, or the file a file manifest describes
    haulout://<manifest id>/<path>      a file inside a stored directory

Options: `relayer_url` (default `HAULOUT_RELAYER_URL` or the local relayer), `token`, `epochs`.
"""

from __future__ import annotations

import tempfile
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from haulout.client import DEFAULT_RELAYER, BlobNotFound, HauloutClient, StoredBlob
from haulout.manifest import PREFIX, Manifest, store_file_auto


class HauloutFileSystem(AbstractFileSystem):
    """Read-mostly filesystem over blob ids and manifests."""

    protocol = "haulout"
    root_marker = ""

    def __init__(
        self, relayer_url: str = DEFAULT_RELAYER, token: str = "", epochs: int = 1, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.client = HauloutClient(relayer_url, token=token)
        self.epochs = epochs
        self.last_stored: StoredBlob | None = None
        self._manifests: dict[str, Manifest | None] = {}
        self._sizes: dict[str, int] = {}

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
        if manifest is None or manifest.kind != "directory":
            raise FileNotFoundError(f"haulout://{path}: {root} is not a stored directory")
        for e in manifest.doc["files"]:
            if e["path"] == rest:
                return root, e, manifest
        return root, None, manifest

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
            return HauloutWriter(self)
        raise ValueError(f"mode {mode!r} is not supported; use 'rb' or 'wb'")

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
    """Spools writes to a temporary file and stores it on close (chunked if needed)."""

    def __init__(self, fs: HauloutFileSystem) -> None:
        self.fs = fs
        self.tmp = tempfile.NamedTemporaryFile(prefix="haulout-write-", delete=False)  # noqa: SIM115
        self.closed = False

    def write(self, data: bytes) -> int:
        """Append bytes."""
        return self.tmp.write(data)

    def close(self) -> None:
        """Store the spooled bytes; the blob id is in `fs.last_stored`."""
        if self.closed:
            return
        self.tmp.close()
        self.fs.last_stored = store_file_auto(self.fs.client, self.tmp.name, epochs=self.fs.epochs)
        import os

        os.unlink(self.tmp.name)
        self.closed = True

    def __enter__(self) -> HauloutWriter:
        return self

    def __exit__(self, *exc: object) -> None:
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
