"""Buckets on the relayer: named, versioned trees owned by the relayer's account.

The chain holds one Bucket object per bucket (name, version, current manifest blob id,
tags); `BucketBook` keeps, from the event stream, which names the relayer owns and every
version's manifest, so any version can be read back. Committing is the SDK's work (store the
changed files and the new manifest), this module checks and sends the one transaction that
moves the pointer, refusing a stale base version with a 409 the SDK merges on. Extending a
bucket extends its manifest and every member blob in one transaction; deleting it can
delete the current tree's deletable blobs in the same transaction.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import Body, FastAPI, Path, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from haulout.chain.errors import MoveAbort, ObjectNotFound
from haulout.chain.events import (
    BucketCommitted,
    BucketCreated,
    BucketDeleted,
    BucketTagged,
    ChainEvent,
)
from haulout.chain.objects import BucketObject
from haulout.http_errors import ApiError
from haulout.logs import event
from haulout.protocol.blob_id import BlobId
from haulout.protocol.buckets import BucketRef, check_bucket_name, check_tag, parse_ref

from .index import BlobIndex
from .trees import Trees, member_blob_ids

log = logging.getLogger("haulout.relayer.buckets")

MAX_LISTED = 1000
"""Most buckets or versions one answer lists (newest versions first)."""


@dataclass
class Version:
    """One commit of a bucket, as its event said."""

    version: int
    manifest_blob_id: str
    manifest_object_id: str
    tx_digest: str
    timestamp_ms: int


@dataclass
class BookEntry:
    """What the event stream says about one bucket."""

    bucket_id: str
    name: str
    owner: str
    versions: dict[int, Version] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)
    deleted: bool = False


class BucketBook:
    """Bucket names → ids for one owner, and every version's manifest, from events."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.by_id: dict[str, BookEntry] = {}
        self.by_name: dict[str, str] = {}
        self._lock = threading.Lock()

    def attach(self, index: BlobIndex) -> None:
        """Replay the events the index has read already, then follow it."""
        with index._lock:
            after = 0
            while after < index.cursor:
                batch = [ce for ce in index.chain.events(after=after) if ce.cursor <= index.cursor]
                if not batch:
                    break
                for ce in batch:
                    self.on_event(ce)
                after = batch[-1].cursor
            index.listeners.append(self.on_event)

    def on_event(self, ce: ChainEvent) -> None:
        """Apply one event (only the owner's buckets are named)."""
        ev = ce.event
        with self._lock:
            if isinstance(ev, BucketCreated):
                entry = BookEntry(ev.bucket_id, ev.name, ce.sender)
                self.by_id[ev.bucket_id] = entry
                if ce.sender == self.owner:
                    self.by_name[ev.name] = ev.bucket_id
            elif isinstance(ev, BucketCommitted) and ev.bucket_id in self.by_id:
                self.by_id[ev.bucket_id].versions[ev.version] = Version(
                    ev.version,
                    str(ev.manifest_blob_id),
                    ev.manifest_object_id,
                    ce.tx_digest,
                    ce.timestamp_ms,
                )
            elif isinstance(ev, BucketTagged) and ev.bucket_id in self.by_id:
                self.by_id[ev.bucket_id].tags[ev.tag] = ev.version
            elif isinstance(ev, BucketDeleted) and ev.bucket_id in self.by_id:
                entry = self.by_id[ev.bucket_id]
                entry.deleted = True
                if self.by_name.get(entry.name) == ev.bucket_id:
                    del self.by_name[entry.name]

    def find(self, name: str) -> BookEntry | None:
        """The owner's live bucket called `name`."""
        with self._lock:
            bid = self.by_name.get(name)
            return self.by_id.get(bid) if bid else None

    def names(self) -> list[BookEntry]:
        """The owner's live buckets, by name."""
        with self._lock:
            return [self.by_id[bid] for _, bid in sorted(self.by_name.items())]


def _not_found(name: str) -> ApiError:
    return ApiError(
        404,
        "BUCKET_NOT_FOUND",
        f"this relayer has no bucket called {name!r}; create it with `haulout bucket create "
        f"{name}` (or POST /v1/buckets)",
    )


class Buckets:
    """The relayer's bucket operations (each a chain transaction signed by the relayer)."""

    def __init__(self, trees: Trees, book: BucketBook) -> None:
        self.trees, self.book = trees, book
        self.chain = trees.chain
        self._create_lock = threading.Lock()

    @property
    def index(self) -> BlobIndex:
        """The relayer's event follower (blobs and buckets)."""
        return self.trees.reader.index

    def _entry(self, name: str) -> BookEntry:
        check_bucket_name(name)
        entry = self.book.find(name)
        if entry is None:
            self.index.catch_up()
            entry = self.book.find(name)
        if entry is None:
            raise _not_found(name)
        return entry

    def _object(self, entry: BookEntry) -> BucketObject:
        try:
            return self.chain.get_bucket(entry.bucket_id)
        except ObjectNotFound:
            raise _not_found(entry.name) from None

    def create(self, name: str) -> dict[str, Any]:
        """A new empty bucket; a name the relayer holds already is a 409."""
        check_bucket_name(name)
        with self._create_lock:
            self.index.catch_up()
            if self.book.find(name) is not None:
                raise ApiError(
                    409,
                    "BUCKET_EXISTS",
                    f"a bucket called {name!r} exists already; use it, or remove it first",
                )
            bucket = self.chain.create_bucket(self.trees.controller.account, name)
            self.index.catch_up()
        event(log, "bucket created", name=name, bucket_id=bucket.id)
        return self.view(bucket)

    def view(self, bucket: BucketObject, ref: BucketRef | None = None) -> dict[str, Any]:
        """A bucket's JSON: its current state and, for a pinned ref, the version asked for."""
        out: dict[str, Any] = {
            "bucketId": bucket.id,
            "name": bucket.name,
            "owner": bucket.owner,
            "version": bucket.version,
            "manifestBlobId": str(bucket.manifest_blob_id) if bucket.manifest_blob_id else None,
            "tags": dict(sorted(bucket.tags.items())),
        }
        if ref is not None and ref.pinned:
            version = ref.version if ref.version is not None else bucket.tags.get(ref.tag or "")
            if version is None:
                raise ApiError(
                    404, "BUCKET_TAG_NOT_FOUND", f"bucket {bucket.name!r} has no tag {ref.tag!r}"
                )
            if not 1 <= version <= bucket.version:
                raise ApiError(
                    404,
                    "BUCKET_VERSION_NOT_FOUND",
                    f"bucket {bucket.name!r} has versions 1 to {bucket.version}, not {version}",
                )
            entry = self.book.find(bucket.name)
            known = entry.versions.get(version) if entry else None
            if known is None:
                self.index.catch_up()
                entry = self.book.find(bucket.name)
                known = entry.versions.get(version) if entry else None
            if known is None:  # pragma: no cover - the event stream holds every commit
                raise ApiError(503, "BUCKET_HISTORY_BEHIND", "retry in a few seconds")
            out["requested"] = {"version": version, "manifestBlobId": known.manifest_blob_id}
        return out

    def get(self, text: str) -> dict[str, Any]:
        """`name`, `name@<version>` or `name@<tag>`."""
        ref = parse_ref(text)
        return self.view(self._object(self._entry(ref.name)), ref)

    def all(self) -> list[dict[str, Any]]:
        """The relayer's buckets with their current state."""
        self.index.catch_up()
        out = []
        for entry in self.book.names()[:MAX_LISTED]:
            try:
                out.append(self.view(self.chain.get_bucket(entry.bucket_id)))
            except ObjectNotFound:
                continue
        return out

    def versions(self, name: str, limit: int) -> dict[str, Any]:
        """A bucket's commits, newest first, with its tags."""
        entry = self._entry(name)
        self.index.catch_up()
        rows = sorted(entry.versions.values(), key=lambda v: -v.version)[:limit]
        return {
            "bucketId": entry.bucket_id,
            "name": entry.name,
            "tags": dict(sorted(entry.tags.items())),
            "versions": [
                {
                    "version": v.version,
                    "manifestBlobId": v.manifest_blob_id,
                    "manifestObjectId": v.manifest_object_id,
                    "txDigest": v.tx_digest,
                    "timestampMs": v.timestamp_ms,
                }
                for v in rows
            ],
        }

    def commit(self, name: str, base_version: int, manifest: BlobId) -> dict[str, Any]:
        """Point the bucket at `manifest` (stored and certified by this relayer) if
        `base_version` is current; else 409 BUCKET_CONFLICT (nothing changed)."""
        entry = self._entry(name)
        self.index.catch_up()
        blob = self.trees.owned_object(manifest)
        if blob is None:
            raise ApiError(
                409,
                "MANIFEST_NOT_STORED",
                f"manifest {manifest} has no live certified Blob object of this relayer's; "
                "store it through this relayer first",
            )
        try:
            done = self.chain.commit_bucket(
                self.trees.controller.account, entry.bucket_id, blob.id, base_version
            )
        except MoveAbort as exc:
            if (exc.module, exc.name) == ("bucket", "EStaleVersion"):
                current = self._object(entry).version
                raise ApiError(
                    409,
                    "BUCKET_CONFLICT",
                    f"bucket {name!r} is at version {current}, not {base_version}: someone "
                    "committed first. Read the current version, merge, and commit on it",
                ) from None
            raise
        self.index.catch_up()
        event(log, "bucket committed", name=name, version=done.bucket.version)
        return {**self.view(done.bucket), "txDigest": done.tx_digest}

    async def check_manifest(self, manifest: BlobId) -> None:
        """A commit's manifest must be a directory manifest of at most `Trees.max_members`
        blobs (so the bucket can always be extended in one transaction); else 422/413."""
        await run_in_threadpool(self.index.catch_up)
        live = self.index.live(manifest)
        if not live:
            raise ApiError(
                409,
                "MANIFEST_NOT_STORED",
                f"manifest {manifest} is not stored (certified and live); store it first",
            )
        doc = await self.trees.manifest_of(manifest, live[0].size)
        if doc is None or doc.kind != "directory":
            raise ApiError(
                422,
                "INVALID_MANIFEST",
                f"blob {manifest} is not a directory manifest; a bucket's versions are trees "
                "(the SDK's Buckets.commit builds them)",
            )
        members = member_blob_ids(doc)
        limit = self.trees.max_members
        if len(members) + 1 > limit:
            raise ApiError(
                413,
                "TREE_TOO_LARGE",
                f"this tree references {len(members) + 1} blobs; a bucket's tree may reference "
                f"at most {limit} (one transaction extends them all). The SDK's commit "
                "re-packs small files into fewer quilts; use it, or a larger chunk size",
            )

    def tag(self, name: str, tag: str, version: int) -> dict[str, Any]:
        """Name a version (an existing tag moves)."""
        check_tag(tag)
        entry = self._entry(name)
        bucket = self._object(entry)
        if not 1 <= version <= bucket.version:
            raise ApiError(
                404,
                "BUCKET_VERSION_NOT_FOUND",
                f"bucket {name!r} has versions 1 to {bucket.version}, not {version}",
            )
        bucket = self.chain.tag_bucket(self.trees.controller.account, entry.bucket_id, tag, version)
        self.index.catch_up()
        return self.view(bucket)

    async def _current_tree(self, name: str) -> tuple[BookEntry, BucketObject, list[Any]]:
        entry = await run_in_threadpool(self._entry, name)
        bucket = await run_in_threadpool(self._object, entry)
        if bucket.manifest_blob_id is None:
            return entry, bucket, []
        await run_in_threadpool(self.index.catch_up)
        manifest = await run_in_threadpool(self.trees.owned_object, bucket.manifest_blob_id)
        if manifest is None:
            raise ApiError(
                409,
                "TREE_MEMBER_MISSING",
                f"bucket {name!r}: its manifest {bucket.manifest_blob_id} has no live Blob "
                "object of this relayer's (expired or deleted)",
            )
        _, members = await self.trees.members(manifest.id)
        return entry, bucket, members

    async def extend(self, name: str, epochs: int) -> dict[str, Any]:
        """Extend the current manifest by `epochs` and bring every member to its new end
        epoch, in one transaction."""
        entry, bucket, members = await self._current_tree(name)
        if not members:
            raise ApiError(409, "BUCKET_EMPTY", f"bucket {name!r} has no commit to extend yet")
        blobs = self.trees.require_all(members, "extend")
        root = blobs[0]
        target = root.end_epoch + epochs
        extensions = [(b.id, target - b.end_epoch) for b in blobs[1:] if b.end_epoch < target]
        result = await run_in_threadpool(
            self.chain.extend_bucket,
            self.trees.controller.account,
            entry.bucket_id,
            root.id,
            epochs,
            extensions,
        )
        await run_in_threadpool(self.index.catch_up)
        event(log, "bucket extended", name=name, members=len(members), end_epoch=target)
        return {
            "txDigest": result.tx_digest,
            "name": name,
            "version": bucket.version,
            "endEpoch": target,
            "members": [
                {"blobId": m.blob_id, "role": m.role, "objectId": m.blob.id if m.blob else None}
                for m in members
            ],
        }

    async def delete(self, name: str, keep_data: bool) -> dict[str, Any]:
        """Delete the bucket and, unless `keep_data`, the deletable Blob objects of its
        current tree, in one transaction (permanent ones stay until they expire)."""
        entry, bucket, members = await self._current_tree(name)
        doomed: list[str] = []
        if not keep_data:
            seen: set[str] = set()
            for m in members:
                if m.blob is not None and m.blob.deletable and m.blob.id not in seen:
                    seen.add(m.blob.id)
                    doomed.append(m.blob.id)
        if len(doomed) + 1 > self.trees.max_members:
            raise ApiError(413, "TREE_TOO_LARGE", "delete with keep_data=true, then its blobs")
        result = await run_in_threadpool(
            self.chain.delete_bucket, self.trees.controller.account, entry.bucket_id, doomed
        )
        await self.trees._forget([m.blob for m in members if m.blob and m.blob.id in doomed])
        event(log, "bucket deleted", name=name, blobs=len(doomed))
        return {"txDigest": result.tx_digest, "name": name, "deletedBlobObjects": doomed}


BUCKET_NAME = Path(
    description="a bucket name: 3-40 of a-z 0-9 '-'",
    json_schema_extra={"pattern": "^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$"},
)
BUCKET_REF = Path(
    description="a bucket name, optionally @version or @tag",
    json_schema_extra={"pattern": "^[a-z0-9][a-z0-9-]{1,38}[a-z0-9](@[A-Za-z0-9._-]{1,64})?$"},
)


def install_bucket_routes(app: FastAPI, buckets: Buckets) -> None:
    """`/v1/buckets/...`: create, list, read, versions, commit, tag, extend, delete."""

    @app.post("/v1/buckets", status_code=201)
    async def create_bucket(body: dict[str, Any] = Body(...)) -> JSONResponse:
        name = body.get("name")
        if not isinstance(name, str):
            raise ApiError(400, "INVALID_ARGUMENT", 'send {"name": "<bucket name>"}')
        return JSONResponse(await run_in_threadpool(buckets.create, name), status_code=201)

    @app.get("/v1/buckets")
    async def list_buckets() -> JSONResponse:
        return JSONResponse({"buckets": await run_in_threadpool(buckets.all)})

    @app.get("/v1/buckets/{ref}")
    async def get_bucket(ref: str = BUCKET_REF) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(buckets.get, ref))

    @app.get("/v1/buckets/{name}/versions")
    async def bucket_versions(
        name: str = BUCKET_NAME, limit: int = Query(100, ge=1, le=MAX_LISTED)
    ) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(buckets.versions, name, limit))

    @app.post("/v1/buckets/{name}/commit")
    async def commit_bucket(
        name: str = BUCKET_NAME,
        base_version: int = Query(..., ge=0, le=2**63),
        manifest: str = Query(..., pattern="^[A-Za-z0-9_-]{43}$"),
    ) -> JSONResponse:
        blob_id = BlobId.parse(manifest)
        await buckets.check_manifest(blob_id)
        return JSONResponse(await run_in_threadpool(buckets.commit, name, base_version, blob_id))

    @app.put("/v1/buckets/{name}/tags/{tag}")
    async def tag_bucket(
        name: str = BUCKET_NAME,
        tag: str = Path(..., max_length=64),
        version: int = Query(..., ge=1, le=2**63),
    ) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(buckets.tag, name, tag, version))

    @app.post("/v1/buckets/{name}/extend")
    async def extend_bucket(
        name: str = BUCKET_NAME, epochs: int = Query(..., ge=1, le=1000)
    ) -> JSONResponse:
        return JSONResponse(await buckets.extend(name, epochs))

    @app.delete("/v1/buckets/{name}")
    async def delete_bucket(name: str = BUCKET_NAME, keep_data: bool = False) -> JSONResponse:
        return JSONResponse(await buckets.delete(name, keep_data))
