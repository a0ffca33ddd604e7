"""The chain port: every service talks to Sui (or DevChain) through this interface."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from haulout.protocol.blob_id import BlobId
from haulout.protocol.certificate import Certificate

from .accounts import Account
from .events import ChainEvent
from .objects import (
    BatchRegistration,
    BatchResult,
    BlobObject,
    BlobSpec,
    BucketCommit,
    BucketObject,
    ExecutedTransaction,
    PaidRegistration,
    SharedBlobView,
    StakedView,
    StorageResource,
    SystemState,
)


class ChainPort(Protocol):
    """Reserve, register, certify, extend, delete, burn, attributes, reads and events."""

    def system(self) -> SystemState:
        """The shared System object: epoch, committee, prices, parameters."""
        ...

    def get_blob(self, object_id: str) -> BlobObject:
        """A live Blob object (raises `ObjectNotFound`)."""
        ...

    def get_storage(self, object_id: str) -> StorageResource:
        """A live Storage object (raises `ObjectNotFound`)."""
        ...

    def reserve_space(
        self, signer: Account, storage_size: int, epochs_ahead: int
    ) -> StorageResource:
        """Buy `storage_size` encoded bytes from now for `epochs_ahead` epochs."""
        ...

    def register_blob(
        self,
        signer: Account,
        storage_id: str,
        blob_id: BlobId,
        root: bytes,
        size: int,
        encoding_type: int,
        deletable: bool,
    ) -> BlobObject:
        """Register a blob into an owned Storage object."""
        ...

    def reserve_and_register(
        self,
        signer: Account,
        blob_id: BlobId,
        root: bytes,
        size: int,
        encoding_type: int,
        epochs_ahead: int,
        deletable: bool,
    ) -> BlobObject:
        """Reserve exactly the needed storage and register, in one transaction."""
        ...

    def reserve_and_register_paid(
        self,
        signer: Account,
        blob_id: BlobId,
        root: bytes,
        size: int,
        encoding_type: int,
        epochs_ahead: int,
        deletable: bool,
        attributes: Mapping[str, str] | None = None,
    ) -> PaidRegistration:
        """`reserve_and_register`, also saying what that transaction paid (from its effects),
        so a store reports its own cost however many others run at the same time.
        `attributes` (e.g. `content-type`) are set in the same transaction."""
        ...

    def register_for_upload_relay(
        self,
        signer: Account,
        blob_id: BlobId,
        root: bytes,
        size: int,
        encoding_type: int,
        epochs_ahead: int,
        deletable: bool,
        auth_package: bytes,
        tip: tuple[str, int] | None = None,
    ) -> PaidRegistration:
        """Reserve and register with the signer's own account in one transaction whose first
        input is an upload relay's auth package and that pays `tip` (address, MIST) to the
        relay, so the relay can check both by the transaction's digest."""
        ...

    def register_blobs(self, signer: Account, specs: Sequence[BlobSpec]) -> BatchRegistration:
        """Reserve exactly the needed storage for and register every spec in ONE transaction:
        all or none (many small members of one commit pay one transaction, not one each).
        The caller keeps a batch within a PTB's 1024 commands (`relayer.batch_store` sends
        at most 200 a transaction)."""
        ...

    def transaction(self, digest: str) -> ExecutedTransaction:
        """An executed transaction by digest (raises `ObjectNotFound` if there is none)."""
        ...

    def certify_blob(self, signer: Account, object_id: str, certificate: Certificate) -> BlobObject:
        """Certify a registered blob with a quorum certificate of the current epoch."""
        ...

    def certify_blobs(
        self, signer: Account, certificates: Sequence[tuple[str, Certificate]]
    ) -> BatchResult:
        """Certify several registered blobs (object id, certificate) in ONE transaction: all
        or none."""
        ...

    def extend_blob(self, signer: Account, object_id: str, epochs: int) -> BlobObject:
        """Pay for `epochs` more epochs of a certified blob."""
        ...

    def extend_blobs(self, signer: Account, extensions: Sequence[tuple[str, int]]) -> BatchResult:
        """Extend several blobs (object id, epochs) in one transaction: all or none."""
        ...

    def delete_blobs(self, signer: Account, object_ids: Sequence[str]) -> BatchResult:
        """Delete several deletable blobs in one transaction: all or none."""
        ...

    def burn_blobs(self, signer: Account, object_ids: Sequence[str]) -> BatchResult:
        """Burn several Blob objects in one transaction: all or none."""
        ...

    def share_blob(self, signer: Account, object_id: str, funds: int = 0) -> str:
        """Wrap the signer's certified Blob in a new SharedBlob (with `funds` MIST from the
        signer); returns the SharedBlob's id."""
        ...

    def fund_shared_blob(self, signer: Account, shared_blob_id: str, amount: int) -> SharedBlobView:
        """Add `amount` MIST of the signer's to a SharedBlob (any account may)."""
        ...

    def extend_shared_blob(
        self, signer: Account, shared_blob_id: str, epochs: int
    ) -> SharedBlobView:
        """Extend a SharedBlob's Blob by `epochs`, paid from its funds (any account may)."""
        ...

    def get_shared_blob(self, shared_blob_id: str) -> SharedBlobView:
        """A SharedBlob with its Blob and funds."""
        ...

    def delete_blob(self, signer: Account, object_id: str) -> StorageResource:
        """Delete a deletable blob; its Storage goes back to the owner."""
        ...

    def burn(self, signer: Account, object_id: str) -> None:
        """Destroy a Blob object (the blob stays stored until its end epoch)."""
        ...

    def set_attribute(self, signer: Account, object_id: str, key: str, value: str) -> None:
        """Set a string attribute (e.g. `content-type`) on a Blob object."""
        ...

    def remove_attribute(self, signer: Account, object_id: str, key: str) -> None:
        """Remove an attribute from a Blob object."""
        ...

    def invalidate_blob_id(self, signer: Account, certificate: Certificate) -> BlobId:
        """Record a blob id as invalid, with an f+1 certificate."""
        ...

    def transfer(self, signer: Account, object_id: str, recipient: str) -> None:
        """Transfer an owned object to another address."""
        ...

    def events(self, after: int | None = None, limit: int = 1000) -> Sequence[ChainEvent]:
        """Events with cursor greater than `after`, oldest first."""
        ...

    def advance_epoch(self, signer: Account) -> int:
        """Start the next epoch once the current one has run its duration."""
        ...

    def force_advance_epoch(self, admin: Account) -> int:
        """Admin call (needs the AdminCap): start the next epoch now."""
        ...

    def split_storage_by_epoch(
        self, signer: Account, storage_id: str, epoch: int
    ) -> StorageResource:
        """Split a Storage at `epoch`; the new one (returned) covers `[epoch, end)`."""
        ...

    def split_storage_by_size(self, signer: Account, storage_id: str, size: int) -> StorageResource:
        """Split `size` bytes off a Storage into a new one (returned)."""
        ...

    def fuse_storage(self, signer: Account, first: str, second: str) -> StorageResource:
        """Merge `second` into `first` (same epochs, or adjacent epochs and same size)."""
        ...

    def create_bucket(self, signer: Account, name: str) -> BucketObject:
        """A new empty Bucket (version 0) owned by the signer."""
        ...

    def commit_bucket(
        self, signer: Account, bucket_id: str, manifest_object_id: str, base_version: int
    ) -> BucketCommit:
        """Point a bucket at a certified manifest Blob, if `base_version` is still current
        (else `MoveAbort` bucket::EStaleVersion: someone committed first)."""
        ...

    def tag_bucket(self, signer: Account, bucket_id: str, tag: str, version: int) -> BucketObject:
        """Name an existing version of a bucket (an existing tag moves)."""
        ...

    def extend_bucket(
        self,
        signer: Account,
        bucket_id: str,
        manifest_object_id: str,
        epochs: int,
        members: Sequence[tuple[str, int]] = (),
    ) -> BatchResult:
        """Extend a bucket's manifest by `epochs` and each member Blob (object id, epochs) in
        one transaction: all or none."""
        ...

    def delete_bucket(
        self, signer: Account, bucket_id: str, delete_blobs: Sequence[str] = ()
    ) -> BatchResult:
        """Delete a Bucket and, in the same transaction, the deletable Blobs given."""
        ...

    def get_bucket(self, bucket_id: str) -> BucketObject:
        """A live Bucket object (raises `ObjectNotFound`)."""
        ...

    def register_candidate(
        self, signer: Account, name: str, url: str, public_key: bytes, pop: bytes
    ) -> str:
        """Register a node without the AdminCap (the signer's address becomes the node's
        account; `pop` binds the BLS key to it); it gets shards once stake backs it."""
        ...

    def leave_committee(self, signer: Account, node_id: str) -> None:
        """The node's own account withdraws it: no shards for it from the next change on."""
        ...

    def shards_received(
        self, signer: Account, node_id: str, epoch: int, shards: Sequence[int]
    ) -> None:
        """The node's own account reports it holds every shard it gained in this change."""
        ...

    def stake(self, signer: Account, node_id: str, amount: int) -> StakedView:
        """Stake `amount` MIST of the signer's to the pool of `node_id`; returns the receipt."""
        ...

    def request_withdraw_stake(self, signer: Account, staked_id: str) -> StakedView:
        """Stop a stake counting for the next committee; withdrawable from the next epoch."""
        ...

    def withdraw_stake(self, signer: Account, staked_id: str) -> int:
        """Pay out a stake whose withdrawal was requested earlier; returns the MIST paid."""
        ...

    def get_staked(self, object_id: str) -> StakedView:
        """A stake receipt (raises `ObjectNotFound`)."""
        ...

    def balance(self, address: str) -> int:
        """SUI balance of an address, in MIST."""
        ...
