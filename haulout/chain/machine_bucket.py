"""DevChain's mirror of `move/sources/bucket.move`: the state machine functions (same checks in
the same order, same abort codes and events) and the DevChain port calls that run them.

Registered into `devchain.FUNCTIONS` by one hook there; the tests in tests/vectors
(bucket_scenarios.json) run against both this and the Move module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from haulout.protocol.blob_id import BlobId
from haulout.protocol.buckets import MAX_TAGS, is_bucket_name, is_tag

from .accounts import Account
from .errors import MoveAbort
from .events import BucketCommitted, BucketCreated, BucketDeleted, BucketExtended, BucketTagged
from .objects import BatchResult, BucketCommit, BucketObject

if TYPE_CHECKING:
    from .devchain import TxResult, _Ctx, _Obj

BUCKET = "bucket::Bucket"


class _Lazy:
    """`devchain`, imported on first use: it imports this module while it loads."""

    def __getattr__(self, name: str) -> Any:
        from . import devchain

        return getattr(devchain, name)


_dc = _Lazy()


def _abort(name: str, detail: str = "") -> MoveAbort:
    return MoveAbort.named("bucket", name, detail)


def fn_bucket_create(ctx: _Ctx, name: str) -> str:
    if not is_bucket_name(name):
        raise _abort("EInvalidName", repr(name[:80]))
    bucket = ctx.create(BUCKET, {"name": name, "version": 0, "manifest_blob_id": "0", "tags": {}})
    ctx.emit(BucketCreated(bucket.id, name))
    return bucket.id


def fn_bucket_commit(ctx: _Ctx, bucket: _Obj, system: _Obj, manifest: _Obj, base: int) -> None:
    d, b = bucket.data, manifest.data
    if base != d["version"]:
        raise _abort("EStaleVersion", f"base version {base}, current {d['version']}")
    if b["certified_epoch"] is None or system.data["epoch"] >= b["storage"]["end_epoch"]:
        raise _abort("EManifestNotLive", f"manifest object {manifest.id}")
    d["version"] += 1
    d["manifest_blob_id"] = b["blob_id"]
    ctx.emit(
        BucketCommitted(
            bucket.id, d["version"], base, BlobId.from_int(int(b["blob_id"])), manifest.id
        )
    )


def fn_bucket_tag(ctx: _Ctx, bucket: _Obj, tag: str, version: int) -> None:
    d = bucket.data
    if not is_tag(tag):
        raise _abort("EInvalidTag", repr(tag[:80]))
    if not 1 <= version <= d["version"]:
        raise _abort("EUnknownVersion", f"version {version}, current {d['version']}")
    if tag not in d["tags"] and len(d["tags"]) >= MAX_TAGS:
        raise _abort("ETooManyTags")
    d["tags"][tag] = version
    ctx.emit(BucketTagged(bucket.id, tag, version))


def fn_bucket_extend(
    ctx: _Ctx, bucket: _Obj, system: _Obj, manifest: _Obj, extended_epochs: int
) -> None:
    d = bucket.data
    if manifest.data["blob_id"] != d["manifest_blob_id"] or d["version"] == 0:
        raise _abort("EManifestMismatch", f"manifest object {manifest.id}")
    _dc.fn_extend_blob(ctx, system, manifest, extended_epochs)
    ctx.emit(
        BucketExtended(
            bucket.id,
            d["version"],
            BlobId.from_int(int(d["manifest_blob_id"])),
            manifest.data["storage"]["end_epoch"],
        )
    )


def fn_bucket_destroy(ctx: _Ctx, bucket: _Obj) -> None:
    ctx.emit(BucketDeleted(bucket.id, bucket.data["version"]))
    ctx.delete(bucket)


BUCKET_FUNCTIONS: dict[str, tuple[Callable[..., Any], list[str]]] = {
    "bucket::create": (fn_bucket_create, ["p"]),
    "bucket::commit": (fn_bucket_commit, [f"o:{BUCKET}", "o:system::System", "o:blob::Blob", "p"]),
    "bucket::tag": (fn_bucket_tag, [f"o:{BUCKET}", "p", "p"]),
    "bucket::extend": (
        fn_bucket_extend,
        [f"o:{BUCKET}", "o:system::System", "o:blob::Blob", "p"],
    ),
    "bucket::destroy": (fn_bucket_destroy, [f"o:{BUCKET}"]),
}


class DevBucketCalls:
    """The bucket calls of the chain port on DevChain (mixed into `DevChain`)."""

    @property
    def system_id(self) -> str:
        raise NotImplementedError  # pragma: no cover - DevChain's

    def submit(self, signer: Account, commands: list[dict[str, Any]]) -> TxResult:
        raise NotImplementedError  # pragma: no cover - DevChain's

    def _row(self, object_id: str, expect: str) -> tuple[str | None, dict[str, Any]]:
        raise NotImplementedError  # pragma: no cover - DevChain's

    def create_bucket(self, signer: Account, name: str) -> BucketObject:
        """A new empty bucket owned by the signer."""
        r = self.submit(signer, [_dc.call("bucket::create", _dc.pure(name))])
        return self.get_bucket(str(r.results[0]))

    def commit_bucket(
        self, signer: Account, bucket_id: str, manifest_object_id: str, base_version: int
    ) -> BucketCommit:
        """Point the bucket at a certified manifest if `base_version` is current."""
        r = self.submit(
            signer,
            [
                _dc.call(
                    "bucket::commit",
                    _dc.obj(bucket_id),
                    _dc.obj(self.system_id),
                    _dc.obj(manifest_object_id),
                    _dc.pure(base_version),
                )
            ],
        )
        return BucketCommit(self.get_bucket(bucket_id), r.digest)

    def tag_bucket(self, signer: Account, bucket_id: str, tag: str, version: int) -> BucketObject:
        """Name a version of the bucket."""
        self.submit(
            signer, [_dc.call("bucket::tag", _dc.obj(bucket_id), _dc.pure(tag), _dc.pure(version))]
        )
        return self.get_bucket(bucket_id)

    def extend_bucket(
        self,
        signer: Account,
        bucket_id: str,
        manifest_object_id: str,
        epochs: int,
        members: Sequence[tuple[str, int]] = (),
    ) -> BatchResult:
        """Extend the manifest by `epochs` and each member (object id, epochs), one PTB."""
        r = self.submit(
            signer,
            [
                *(
                    _dc.call(
                        "blob::extend_blob", _dc.obj(self.system_id), _dc.obj(oid), _dc.pure(n)
                    )
                    for oid, n in members
                ),
                _dc.call(
                    "bucket::extend",
                    _dc.obj(bucket_id),
                    _dc.obj(self.system_id),
                    _dc.obj(manifest_object_id),
                    _dc.pure(epochs),
                ),
            ],
        )
        return BatchResult(r.digest)

    def delete_bucket(
        self, signer: Account, bucket_id: str, delete_blobs: Sequence[str] = ()
    ) -> BatchResult:
        """Delete the bucket and, in the same transaction, the deletable blobs given."""
        r = self.submit(
            signer,
            [
                _dc.call("bucket::destroy", _dc.obj(bucket_id)),
                *(
                    _dc.call("blob::delete_blob", _dc.obj(self.system_id), _dc.obj(oid))
                    for oid in delete_blobs
                ),
            ],
        )
        return BatchResult(r.digest, tuple(str(s) for s in r.results[1:]))

    def get_bucket(self, bucket_id: str) -> BucketObject:
        """A live Bucket object."""
        owner, d = self._row(bucket_id, BUCKET)
        mid = int(d["manifest_blob_id"])
        return BucketObject(
            bucket_id,
            d["name"],
            d["version"],
            BlobId.from_int(mid) if d["version"] else None,
            dict(d["tags"]),
            owner or "",
        )
