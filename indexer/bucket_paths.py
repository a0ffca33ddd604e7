"""Bucket paths in the indexer: each bucket version's files, read from its manifest blob.

Paths are not in events: a version's event names only its manifest blob. `ManifestReader`
runs in its own thread, apart from the event pipeline: it picks versions whose manifest has
not been read (or whose last read failed and is due again), fetches the manifest through a
relayer, and stores its files in path order. A failed fetch (relayer down, blob not yet
readable, timeout) is retried later with a growing delay; it never stops or slows indexing.
A manifest is hostile input: its size, the time to read it and its number of entries are
bounded (past them it is `refused`, never retried: a blob id names fixed content), and each
entry is checked field by field (a bad one is skipped and counted). Paths of any characters
are stored losslessly (`SafeText`).

`GET /v1/buckets/{id}/paths?version=&prefix=&cursor=&limit=` lists them.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, String, delete, func, literal, select

from haulout.http_errors import ApiError

from .models import Bucket, BucketManifest, BucketPath, BucketVersion
from .text import escape

log = logging.getLogger("haulout.indexer.paths")

MAX_PATH_BYTES = 4096
"""Longest path listed (UTF-8 bytes); the SDK writes at most 1024, a longer entry is skipped."""
MAX_PAGE = 1000
I64 = 2**63 - 1
_BLOB_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")
_PATCH_ID = re.compile(r"^[A-Za-z0-9_-]{43,64}$")
BATCH = 2000


class ManifestUnusable(Exception):
    """The manifest can never be listed (too large, too many entries, not a directory)."""


class FetchFailed(Exception):
    """No relayer gave the manifest this time; try again later."""


@dataclass(frozen=True)
class Limits:
    """Bounds on reading one manifest."""

    max_bytes: int = 32 << 20
    max_paths: int = 100_000
    timeout: float = 10.0
    """Seconds one fetch may take in all (connect, wait and body)."""
    retry: float = 30.0
    """Delay before the first retry of a failed fetch; it doubles per failure, up to 1 h."""


def _int(value: Any, high: int = I64) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        return None
    return value


def _blob_id(listed: Any, index: Any) -> str | None:
    i = _int(index)
    if not isinstance(listed, list) or i is None or i >= len(listed):
        return None
    bid = listed[i]
    return bid if isinstance(bid, str) and _BLOB_ID.match(bid) else None


def _row(e: Any, quilts: Any, packs: Any) -> dict[str, Any] | None:
    """One checked entry as a row (without manifest and seq), or None to skip it."""
    if not isinstance(e, dict):
        return None
    path, size = e.get("path"), _int(e.get("size"))
    if not isinstance(path, str) or not path or size is None:
        return None
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        return None
    ctype = e.get("content_type")
    row: dict[str, Any] = {
        "path": path,
        "size": size,
        "content_type": ctype[:255] if isinstance(ctype, str) else None,
        "blob_id": None,
        "patch_id": None,
        "offset": None,
        "chunks": 0,
    }
    if "patch" in e:
        patch = e["patch"]
        if not isinstance(patch, str) or not _PATCH_ID.match(patch):
            return None
        row["patch_id"] = patch
        row["blob_id"] = _blob_id(quilts, e.get("quilt"))
    elif "pack" in e:
        row["blob_id"], row["offset"] = _blob_id(packs, e.get("pack")), _int(e.get("offset"))
        if row["blob_id"] is None or row["offset"] is None:
            return None
    else:
        chunks = e.get("chunks")
        if not isinstance(chunks, list) or not chunks:
            return None
        ids = [c.get("blob_id") if isinstance(c, dict) else None for c in chunks]
        if not all(isinstance(b, str) and _BLOB_ID.match(b) for b in ids):
            return None
        row["chunks"] = len(chunks)
        row["blob_id"] = ids[0] if len(ids) == 1 else None
    return row


def parse_paths(data: bytes, max_paths: int) -> tuple[list[dict[str, Any]], int]:
    """The files of a directory manifest, in path order, and how many entries were skipped
    (malformed, duplicate path, over-long path). `ManifestUnusable` when it is none."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise ManifestUnusable("not JSON") from None
    if not isinstance(doc, dict) or doc.get("kind") != "directory":
        raise ManifestUnusable("not a directory manifest")
    files = doc.get("files")
    if not isinstance(files, list):
        raise ManifestUnusable("its files are not a list")
    if len(files) > max_paths:
        raise ManifestUnusable(f"{len(files)} entries, more than {max_paths}")
    rows: dict[str, dict[str, Any]] = {}
    skipped = 0
    for e in files:
        row = _row(e, doc.get("quilts"), doc.get("packs"))
        if row is None or row["path"] in rows:
            skipped += 1
            continue
        rows[row["path"]] = row
    return [rows[p] for p in sorted(rows)], skipped


class ManifestReader:
    """Reads bucket manifests through relayers into `bucket_paths` (see the module)."""

    def __init__(
        self,
        engine: Engine,
        relayers: Sequence[str],
        limits: Limits = Limits(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine, self.limits, self.clock = engine, limits, clock
        self.relayers = [r.rstrip("/") for r in relayers if r.strip()]
        self.client = httpx.Client(timeout=limits.timeout, follow_redirects=False)
        self.indexed = self.failed = self.refused = 0

    def due(self, limit: int = 20) -> list[str]:
        """Manifests of versions not read yet, or whose failed read is due; newest first."""
        now = int(self.clock() * 1000)
        m = BucketManifest.__table__
        q = (
            select(BucketVersion.manifest_blob_id, func.max(BucketVersion.cursor).label("c"))
            .outerjoin(m, m.c.manifest_blob_id == BucketVersion.manifest_blob_id)
            .where(
                (m.c.manifest_blob_id.is_(None))
                | ((m.c.state == "failed") & (m.c.next_try_ms <= now))
            )
            .group_by(BucketVersion.manifest_blob_id)
            .order_by(func.max(BucketVersion.cursor).desc())
            .limit(limit)
        )
        with self.engine.connect() as c:
            return [r[0] for r in c.execute(q)]

    def fetch(self, blob_id: str) -> bytes:
        """The manifest's bytes from the first relayer that serves them, bounded in size and
        time; `ManifestUnusable` when it is larger than allowed."""
        if not _BLOB_ID.match(blob_id):
            raise ManifestUnusable("not a blob id")
        errors = []
        for relayer in self.relayers:
            deadline = time.monotonic() + self.limits.timeout
            try:
                with self.client.stream("GET", f"{relayer}/v1/blobs/{blob_id}") as r:
                    if r.status_code != 200:
                        errors.append(f"HTTP {r.status_code}")
                        continue
                    declared = r.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > self.limits.max_bytes:
                        raise ManifestUnusable(f"{declared} bytes, more than allowed")
                    body = bytearray()
                    for piece in r.iter_bytes():
                        body += piece
                        if len(body) > self.limits.max_bytes:
                            raise ManifestUnusable("more bytes than allowed")
                        if time.monotonic() > deadline:
                            raise httpx.ReadTimeout("the manifest took too long")
                    return bytes(body)
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
        raise FetchFailed(", ".join(errors) or "no relayer configured")

    def read_one(self, blob_id: str) -> str:
        """Fetch, parse and store one manifest's paths; returns the state recorded."""
        now = int(self.clock() * 1000)
        with self.engine.connect() as c:
            before = c.execute(
                select(BucketManifest.attempts).where(BucketManifest.manifest_blob_id == blob_id)
            ).scalar()
        attempts = (before or 0) + 1
        record: dict[str, Any] = {
            "manifest_blob_id": blob_id,
            "attempts": attempts,
            "next_try_ms": 0,
            "error": None,
            "paths": 0,
            "skipped": 0,
            "checked_ms": now,
        }
        rows: list[dict[str, Any]] = []
        try:
            rows, skipped = parse_paths(self.fetch(blob_id), self.limits.max_paths)
            record.update(state="indexed", paths=len(rows), skipped=skipped)
        except ManifestUnusable as exc:
            record.update(state="refused", error=str(exc)[:255])
        except FetchFailed as exc:
            delay = min(self.limits.retry * 2 ** min(attempts - 1, 20), 3600.0)
            record.update(state="failed", error=str(exc)[:255], next_try_ms=now + int(delay * 1000))
        from .pipeline import _t, _upsert

        with self.engine.begin() as c:
            c.execute(delete(BucketPath).where(BucketPath.manifest_blob_id == blob_id))
            for start in range(0, len(rows), BATCH):
                c.execute(
                    _t(BucketPath).insert(),
                    [
                        {"manifest_blob_id": blob_id, "seq": start + i, **row}
                        for i, row in enumerate(rows[start : start + BATCH])
                    ],
                )
            _upsert(c, _t(BucketManifest), [record], ["manifest_blob_id"])
        state = str(record["state"])
        setattr(self, state, getattr(self, state) + 1)
        log.debug(
            "bucket manifest read",
            extra={"fields": {"manifest": blob_id, "state": state, "paths": len(rows)}},
        )
        return state

    def run_once(self) -> int:
        """Read every due manifest (a bounded batch); returns how many were tried."""
        due = self.due()
        for blob_id in due:
            self.read_one(blob_id)
        return len(due)

    def run(self, interval: float, stop: threading.Event) -> None:
        """Read due manifests every `interval` seconds until `stop`; a failed round is
        logged and the next one tries again."""
        while not stop.is_set():
            try:
                if self.run_once():
                    continue
            except Exception:
                log.exception("bucket manifest round failed; trying again next round")
            stop.wait(interval)


def download_url(relayer: str, p: Any) -> str | None:
    """Where the relayer serves this file alone: its quilt patch, its byte range of a pack,
    or its one chunk (None for a file of several chunks, or without a relayer)."""
    if not relayer:
        return None
    if p.patch_id:
        return f"{relayer}/v1/blobs/by-quilt-patch-id/{p.patch_id}"
    if p.blob_id and p.offset is not None:
        if p.size == 0:
            return None
        return f"{relayer}/v1/blobs/{p.blob_id}/byte-range?start={p.offset}&length={p.size}"
    if p.blob_id and p.chunks == 1:
        return f"{relayer}/v1/blobs/{p.blob_id}"
    return None


def _path_json(p: Any, relayer: str) -> dict[str, Any]:
    return {
        "path": p.path,
        "blobId": p.blob_id,
        "patchId": p.patch_id,
        "offset": p.offset,
        "chunks": p.chunks,
        "size": p.size,
        "contentType": p.content_type,
        "downloadUrl": download_url(relayer, p),
    }


class PathQueries:
    """Read side of `bucket_paths`."""

    def __init__(self, engine: Engine, relayer: str = "") -> None:
        self.engine, self.relayer = engine, relayer.rstrip("/")
        """The relayer download links go through ("": no links)."""

    def paths(
        self, bucket_id: str, version: int | None, prefix: str, cursor: int, limit: int
    ) -> dict[str, Any]:
        """A page of a version's paths (the current version unless given), in path order."""
        with self.engine.connect() as c:
            b = c.execute(select(Bucket).where(Bucket.bucket_id == bucket_id)).first()
            if b is None:
                raise ApiError(404, "BUCKET_NOT_FOUND", f"no bucket {bucket_id} has been indexed")
            version = b.version if version is None else version
            out: dict[str, Any] = {
                "bucketId": bucket_id,
                "version": version,
                "manifestBlobId": None,
                "state": "empty",
                "error": None,
                "skipped": 0,
                "paths": [],
                "nextCursor": None,
            }
            if version == 0:
                return out
            v = c.execute(
                select(BucketVersion.manifest_blob_id).where(
                    (BucketVersion.bucket_id == bucket_id) & (BucketVersion.version == version)
                )
            ).scalar()
            if v is None:
                raise ApiError(
                    404,
                    "BUCKET_VERSION_NOT_FOUND",
                    f"bucket {bucket_id} has versions 1 to {b.version}, not {version}",
                )
            out["manifestBlobId"] = v
            m = c.execute(
                select(BucketManifest).where(BucketManifest.manifest_blob_id == v)
            ).first()
            out["state"] = m.state if m else "pending"
            if m is None or m.state != "indexed":
                out["error"] = m.error if m else None
                return out
            out["skipped"] = m.skipped
            q = (
                select(BucketPath)
                .where((BucketPath.manifest_blob_id == v) & (BucketPath.seq >= cursor))
                .order_by(BucketPath.seq)
                .limit(limit + 1)
            )
            if prefix:
                esc = escape(prefix)
                q = q.where(
                    func.substr(BucketPath.__table__.c.path, 1, len(esc)) == literal(esc, String())
                )
            rows = list(c.execute(q).all())
        out["paths"] = [_path_json(p, self.relayer) for p in rows[:limit]]
        if len(rows) > limit:
            out["nextCursor"] = str(rows[limit].seq)
        return out


def install_path_routes(
    app: FastAPI, queries: PathQueries, canonical: Callable[[str], str]
) -> None:
    """`GET /v1/buckets/{id}/paths`."""

    @app.get("/v1/buckets/{bucket_id}/paths")
    async def bucket_paths(
        bucket_id: str,
        version: int | None = Query(None, ge=0, le=I64),
        prefix: str = Query("", max_length=1024),
        cursor: str | None = Query(None, max_length=12, pattern="^[0-9]{1,10}$"),
        limit: int = Query(200, ge=1, le=MAX_PAGE),
    ) -> JSONResponse:
        start = int(cursor) if cursor else 0
        if start > 2**31 - 1:
            raise ApiError(400, "INVALID_CURSOR", "use the nextCursor of the previous page")
        return JSONResponse(queries.paths(canonical(bucket_id), version, prefix, start, limit))
