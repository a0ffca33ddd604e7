"""Buckets in the indexer: the bucket events of a batch become rows of `buckets`,
`bucket_versions` and `bucket_tags` (on the batch's transaction, idempotent on replay), and
the REST routes list an owner's buckets, one bucket, and its versions."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Engine, select

from haulout.chain.events import (
    BucketCommitted,
    BucketCreated,
    BucketDeleted,
    BucketExtended,
    BucketTagged,
    ChainEvent,
)
from haulout.http_errors import ApiError
from haulout.protocol.blob_id import format_object_id, parse_object_id

from .bucket_paths import PathQueries, install_path_routes
from .models import Bucket, BucketTag, BucketVersion
from .offload import lookup_runner

BUCKET_EVENTS = (BucketCreated, BucketCommitted, BucketTagged, BucketExtended, BucketDeleted)
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{1,64}$")
MAX_PAGE = 500


def write_buckets(conn: Connection, events: list[ChainEvent]) -> None:
    """Apply a batch's bucket events, in order, on top of the stored rows. A replayed event
    (its cursor already reflected) changes nothing."""
    if not events:
        return
    ids = sorted({ce.event.bucket_id for ce in events})  # type: ignore[attr-defined]
    rows: dict[str, dict[str, Any]] = {
        r["bucket_id"]: dict(r)
        for r in conn.execute(select(Bucket.__table__).where(Bucket.bucket_id.in_(ids)))
        .mappings()
        .all()
    }
    versions: list[dict[str, Any]] = []
    tags: dict[tuple[str, str], dict[str, Any]] = {}
    for ce in events:
        ev = ce.event
        row = rows.get(ev.bucket_id)  # type: ignore[attr-defined]
        if isinstance(ev, BucketCreated):
            if row is None:
                rows[ev.bucket_id] = {
                    "bucket_id": ev.bucket_id,
                    "name": ev.name,
                    "owner": ce.sender,
                    "version": 0,
                    "manifest_blob_id": None,
                    "end_epoch": None,
                    "deleted": False,
                    "created_cursor": ce.cursor,
                    "updated_cursor": ce.cursor,
                    "created_ms": ce.timestamp_ms,
                }
            continue
        if row is None or ce.cursor <= row["updated_cursor"]:
            continue
        row["updated_cursor"] = ce.cursor
        if isinstance(ev, BucketCommitted):
            row["version"], row["manifest_blob_id"] = ev.version, str(ev.manifest_blob_id)
            versions.append(
                {
                    "bucket_id": ev.bucket_id,
                    "version": ev.version,
                    "base_version": ev.base_version,
                    "manifest_blob_id": str(ev.manifest_blob_id),
                    "manifest_object_id": ev.manifest_object_id,
                    "tx_digest": ce.tx_digest,
                    "cursor": ce.cursor,
                    "timestamp_ms": ce.timestamp_ms,
                }
            )
        elif isinstance(ev, BucketTagged):
            tags[(ev.bucket_id, ev.tag)] = {
                "bucket_id": ev.bucket_id,
                "tag": ev.tag,
                "version": ev.version,
                "updated_cursor": ce.cursor,
            }
        elif isinstance(ev, BucketExtended):
            row["end_epoch"] = ev.end_epoch
        elif isinstance(ev, BucketDeleted):
            row["deleted"] = True
    from .pipeline import _t, _upsert

    _upsert(conn, _t(Bucket), list(rows.values()), ["bucket_id"])
    _upsert(conn, _t(BucketVersion), versions, ["bucket_id", "version"], update=False)
    _upsert(conn, _t(BucketTag), list(tags.values()), ["bucket_id", "tag"])


def _bucket_json(b: Any, tags: dict[str, int]) -> dict[str, Any]:
    return {
        "bucketId": b.bucket_id,
        "name": b.name,
        "owner": b.owner,
        "version": b.version,
        "manifestBlobId": b.manifest_blob_id,
        "endEpoch": b.end_epoch,
        "deleted": b.deleted,
        "createdMs": b.created_ms,
        "tags": tags,
    }


class BucketQueries:
    """Read side of the bucket tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _tags(self, c: Connection, bucket_ids: list[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {b: {} for b in bucket_ids}
        if bucket_ids:
            q = select(BucketTag).where(BucketTag.bucket_id.in_(bucket_ids))
            for t in c.execute(q):
                out[t.bucket_id][t.tag] = t.version
        return out

    def list(self, owner: str | None, include_deleted: bool, limit: int) -> dict[str, Any]:
        """Buckets (an owner's, when given), by name."""
        q = select(Bucket).order_by(Bucket.name, Bucket.created_cursor).limit(limit)
        if owner is not None:
            if not ADDRESS.match(owner):
                raise ApiError(400, "INVALID_ADDRESS", "owner must be 0x and 1-64 hex digits")
            q = q.where(Bucket.owner == format_object_id(parse_object_id(owner)))
        if not include_deleted:
            q = q.where(Bucket.deleted.is_(False))
        with self.engine.connect() as c:
            rows = list(c.execute(q).all())
            tags = self._tags(c, [b.bucket_id for b in rows])
        return {"buckets": [_bucket_json(b, tags[b.bucket_id]) for b in rows]}

    def get(self, bucket_id: str) -> dict[str, Any]:
        """One bucket."""
        with self.engine.connect() as c:
            b = c.execute(select(Bucket).where(Bucket.bucket_id == bucket_id)).first()
            if b is None:
                raise ApiError(404, "BUCKET_NOT_FOUND", f"no bucket {bucket_id} has been indexed")
            return _bucket_json(b, self._tags(c, [bucket_id])[bucket_id])

    def versions(self, bucket_id: str, limit: int) -> dict[str, Any]:
        """A bucket's commits, newest first."""
        self.get(bucket_id)
        q = (
            select(BucketVersion)
            .where(BucketVersion.bucket_id == bucket_id)
            .order_by(BucketVersion.version.desc())
            .limit(limit)
        )
        with self.engine.connect() as c:
            rows = list(c.execute(q).all())
        return {
            "bucketId": bucket_id,
            "versions": [
                {
                    "version": v.version,
                    "baseVersion": v.base_version,
                    "manifestBlobId": v.manifest_blob_id,
                    "manifestObjectId": v.manifest_object_id,
                    "txDigest": v.tx_digest,
                    "timestampMs": v.timestamp_ms,
                }
                for v in rows
            ],
        }


BUCKET_ID = Path(json_schema_extra={"pattern": "^0x[0-9a-fA-F]{1,64}$"})


def install_bucket_routes(app: FastAPI, queries: BucketQueries, download_url: str = "") -> None:
    """`GET /v1/buckets?owner=`, `/v1/buckets/{id}`, `/v1/buckets/{id}/versions`,
    `/v1/buckets/{id}/paths` (`indexer.bucket_paths`; its download links go through the relayer
    at `download_url`)."""

    run = lookup_runner(queries.engine)

    def canonical(bucket_id: str) -> str:
        if not ADDRESS.match(bucket_id):
            raise ApiError(400, "INVALID_OBJECT_ID", "a bucket id is 0x and 1-64 hex digits")
        return format_object_id(parse_object_id(bucket_id))

    @app.get("/v1/buckets")
    async def list_buckets(
        owner: str | None = Query(None, max_length=66),
        include_deleted: bool = False,
        limit: int = Query(100, ge=1, le=MAX_PAGE),
    ) -> JSONResponse:
        return JSONResponse(await run(queries.list, owner, include_deleted, limit))

    @app.get("/v1/buckets/{bucket_id}")
    async def get_bucket(bucket_id: str = BUCKET_ID) -> JSONResponse:
        return JSONResponse(await run(queries.get, canonical(bucket_id)))

    install_path_routes(app, PathQueries(queries.engine, download_url), canonical)

    @app.get("/v1/buckets/{bucket_id}/versions")
    async def bucket_versions(
        bucket_id: str = BUCKET_ID, limit: int = Query(100, ge=1, le=MAX_PAGE)
    ) -> JSONResponse:
        return JSONResponse(await run(queries.versions, canonical(bucket_id), limit))
