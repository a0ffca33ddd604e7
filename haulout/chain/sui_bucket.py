"""SuiChain's bucket calls (`move/sources/bucket.move`), mixed into `SuiChain`: the PTBs are
built by `bucket_*` below (tested offline in tests/unit/test_bucket_sui_tx.py), objects read
from the fullnode's JSON view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pysui.sui.sui_bcs import bcs

from haulout.protocol.blob_id import BlobId

from .accounts import Account
from .errors import ObjectNotFound
from .objects import BatchResult, BucketCommit, BucketObject
from .sui_tx import HauloutTransaction, OwnedRef, Pure, SharedRef


def bucket_create(tx: HauloutTransaction, name: str) -> bcs.Argument:
    """`bucket::create(name)`: returns the new Bucket (transfer it to the owner)."""
    result: bcs.Argument = tx.call("bucket", "create", [tx.pure(Pure.string(name))])
    return result


def bucket_commit(
    tx: HauloutTransaction, bucket: OwnedRef, system: SharedRef, manifest: OwnedRef, base: int
) -> None:
    """`bucket::commit(bucket, system, manifest, base_version)`."""
    tx.call(
        "bucket",
        "commit",
        [tx.obj(bucket), tx.obj(system), tx.obj(manifest), tx.pure(Pure.u64(base))],
    )


def bucket_tag(tx: HauloutTransaction, bucket: OwnedRef, tag: str, version: int) -> None:
    """`bucket::tag(bucket, tag, version)`."""
    tx.call(
        "bucket",
        "tag",
        [tx.obj(bucket), tx.pure(Pure.string(tag)), tx.pure(Pure.u64(version))],
    )


def bucket_extend(
    tx: HauloutTransaction, bucket: OwnedRef, system: SharedRef, manifest: OwnedRef, epochs: int
) -> None:
    """`bucket::extend(bucket, system, manifest, epochs, payment)`, paid from the gas coin."""
    tx.call(
        "bucket",
        "extend",
        [tx.obj(bucket), tx.obj(system), tx.obj(manifest), tx.pure(Pure.u32(epochs)), tx.gas],
    )


def bucket_destroy(tx: HauloutTransaction, bucket: OwnedRef) -> None:
    """`bucket::destroy(bucket)`."""
    tx.call("bucket", "destroy", [tx.obj(bucket)])


class SuiBucketCalls:
    """The bucket calls of the chain port on Sui (mixed into `SuiChain`)."""

    def _tx(self) -> HauloutTransaction:
        raise NotImplementedError  # pragma: no cover - SuiChain's

    @property
    def _sys(self) -> SharedRef:
        raise NotImplementedError  # pragma: no cover - SuiChain's

    def _owned(self, object_id: str) -> OwnedRef:
        raise NotImplementedError  # pragma: no cover - SuiChain's

    def _execute(self, signer: Account, tx: HauloutTransaction) -> Any:
        raise NotImplementedError  # pragma: no cover - SuiChain's

    def _created(self, executed: Any, type_suffix: str) -> str:
        raise NotImplementedError  # pragma: no cover - SuiChain's

    def _object(self, object_id: str) -> Any:
        raise NotImplementedError  # pragma: no cover - SuiChain's

    def create_bucket(self, signer: Account, name: str) -> BucketObject:
        """A new empty bucket owned by the signer."""
        tx = self._tx()
        tx.transfer([bucket_create(tx, name)], signer.address)
        return self.get_bucket(self._created(self._execute(signer, tx), "::bucket::Bucket"))

    def commit_bucket(
        self, signer: Account, bucket_id: str, manifest_object_id: str, base_version: int
    ) -> BucketCommit:
        """Point the bucket at a certified manifest if `base_version` is current."""
        tx = self._tx()
        bucket_commit(
            tx, self._owned(bucket_id), self._sys, self._owned(manifest_object_id), base_version
        )
        executed = self._execute(signer, tx)
        return BucketCommit(self.get_bucket(bucket_id), str(executed.digest or ""))

    def tag_bucket(self, signer: Account, bucket_id: str, tag: str, version: int) -> BucketObject:
        """Name a version of the bucket."""
        tx = self._tx()
        bucket_tag(tx, self._owned(bucket_id), tag, version)
        self._execute(signer, tx)
        return self.get_bucket(bucket_id)

    def extend_bucket(
        self,
        signer: Account,
        bucket_id: str,
        manifest_object_id: str,
        epochs: int,
        members: Sequence[tuple[str, int]] = (),
    ) -> BatchResult:
        """One PTB: `extend_blob` for each member, then `bucket::extend` for the manifest."""
        tx = self._tx()
        for oid, n in members:
            tx.extend_blob(self._sys, self._owned(oid), n)
        bucket_extend(
            tx, self._owned(bucket_id), self._sys, self._owned(manifest_object_id), epochs
        )
        return BatchResult(str(self._execute(signer, tx).digest or ""))

    def delete_bucket(
        self, signer: Account, bucket_id: str, delete_blobs: Sequence[str] = ()
    ) -> BatchResult:
        """One PTB: destroy the bucket, delete the given blobs, return their Storage."""
        tx = self._tx()
        bucket_destroy(tx, self._owned(bucket_id))
        storages = [tx.delete_blob(self._sys, self._owned(oid)) for oid in delete_blobs]
        if storages:
            tx.transfer(storages, signer.address)
        return BatchResult(str(self._execute(signer, tx).digest or ""))

    def get_bucket(self, bucket_id: str) -> BucketObject:
        """A Bucket from the fullnode's JSON view."""
        from .sui import _to_py

        o = self._object(bucket_id)
        if not str(o.object_type).endswith("::bucket::Bucket"):
            raise ObjectNotFound(f"{bucket_id} is not a Bucket")
        d = _to_py(o.json)
        version = int(d["version"])
        tags = {str(e["key"]): int(e["value"]) for e in (d["tags"].get("contents") or [])}
        owner = getattr(getattr(o, "owner", None), "address", "") or ""
        return BucketObject(
            bucket_id,
            str(d["name"]),
            version,
            BlobId.from_int(int(d["manifest_blob_id"])) if version else None,
            tags,
            str(owner),
        )
