"""Mirror of `bucket.move`: an owned Bucket points at its tree manifest with a version (a
commit only on the current base version), tags, extension of the manifest, destroy. Same
checks in the same order, abort codes and events as the Move module (tests/vectors/
bucket_scenarios.json runs against both)."""

from __future__ import annotations

from haulout.protocol.blob_id import BlobId
from haulout.protocol.buckets import MAX_TAGS, is_bucket_name, is_tag

from .. import calls
from ..events import BucketCommitted, BucketCreated, BucketDeleted, BucketExtended, BucketTagged
from ..txcontext import MoveObj, TxContext, abort
from .blob import fn_extend_blob
from .registry import mirrors


@mirrors(calls.bucket.CREATE)
def fn_bucket_create(ctx: TxContext, name: str) -> str:
    if not is_bucket_name(name):
        raise abort("bucket", "EInvalidName", repr(name[:80]))
    bucket = ctx.create(
        calls.bucket.BUCKET, {"name": name, "version": 0, "manifest_blob_id": "0", "tags": {}}
    )
    ctx.emit(BucketCreated(bucket.id, name))
    return bucket.id


@mirrors(calls.bucket.COMMIT)
def fn_bucket_commit(
    ctx: TxContext, bucket: MoveObj, system: MoveObj, manifest: MoveObj, base: int
) -> None:
    d, b = bucket.data, manifest.data
    if base != d["version"]:
        raise abort("bucket", "EStaleVersion", f"base version {base}, current {d['version']}")
    if b["certified_epoch"] is None or system.data["epoch"] >= b["storage"]["end_epoch"]:
        raise abort("bucket", "EManifestNotLive", f"manifest object {manifest.id}")
    d["version"] += 1
    d["manifest_blob_id"] = b["blob_id"]
    ctx.emit(
        BucketCommitted(
            bucket.id, d["version"], base, BlobId.from_int(int(b["blob_id"])), manifest.id
        )
    )


@mirrors(calls.bucket.TAG)
def fn_bucket_tag(ctx: TxContext, bucket: MoveObj, tag: str, version: int) -> None:
    d = bucket.data
    if not is_tag(tag):
        raise abort("bucket", "EInvalidTag", repr(tag[:80]))
    if not 1 <= version <= d["version"]:
        raise abort("bucket", "EUnknownVersion", f"version {version}, current {d['version']}")
    if tag not in d["tags"] and len(d["tags"]) >= MAX_TAGS:
        raise abort("bucket", "ETooManyTags")
    d["tags"][tag] = version
    ctx.emit(BucketTagged(bucket.id, tag, version))


@mirrors(calls.bucket.EXTEND)
def fn_bucket_extend(
    ctx: TxContext, bucket: MoveObj, system: MoveObj, manifest: MoveObj, extended_epochs: int
) -> None:
    d = bucket.data
    if manifest.data["blob_id"] != d["manifest_blob_id"] or d["version"] == 0:
        raise abort("bucket", "EManifestMismatch", f"manifest object {manifest.id}")
    fn_extend_blob(ctx, system, manifest, extended_epochs)
    ctx.emit(
        BucketExtended(
            bucket.id,
            d["version"],
            BlobId.from_int(int(d["manifest_blob_id"])),
            manifest.data["storage"]["end_epoch"],
        )
    )


@mirrors(calls.bucket.DESTROY)
def fn_bucket_destroy(ctx: TxContext, bucket: MoveObj) -> None:
    ctx.emit(BucketDeleted(bucket.id, bucket.data["version"]))
    ctx.delete(bucket)
