"""The chain port's methods, written once over a `Backend` (DevChain's ledger or a Sui node).

Each method composes the Move calls declared in `calls/` into one programmable transaction,
hands it to the backend, and reads its answer from what every chain reports alike: the
transaction's events (the ids of new Storage, Blob, node and SharedBlob objects, the epoch),
its created objects by type, its digest and what it cost the signer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from haulout.protocol.blob_id import BlobId
from haulout.protocol.certificate import Certificate

from . import calls
from .accounts import Account
from .calls import Transaction, single
from .calls.storage_resource import STORAGE
from .calls.system import SYSTEM
from .encoding_rules import reservation_length
from .errors import ChainError
from .events import (
    BlobRegistered,
    BucketCreated,
    ChainEvent,
    EpochAdvanced,
    Event,
    InvalidBlobID,
    NodeRegistered,
    SharedBlobCreated,
    StakeDeposited,
    StakeWithdrawn,
    StorageReserved,
)
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

E = TypeVar("E", bound=Event)


@dataclass
class Executed:
    """What a chain reports of one executed transaction."""

    digest: str
    created: dict[str, str] = field(default_factory=dict)
    """New (or unwrapped) objects: id → `module::Struct`, in no particular order."""
    events: list[Event] = field(default_factory=list)
    """The package's events, in emission order."""
    paid: int = 0
    """MIST the transaction took from the signer (fees, and gas where charged)."""

    def event(self, kind: type[E]) -> E:
        """The first event of `kind` (raises `ChainError` when there is none)."""
        for ev in self.events:
            if isinstance(ev, kind):
                return ev
        raise ChainError(f"transaction {self.digest} emitted no {kind.__name__}")

    def created_one(self, type_: str) -> str:
        """The id of the one new object of `type_`."""
        ids = [oid for oid, t in self.created.items() if t == type_]
        if len(ids) != 1:
            raise ChainError(f"transaction {self.digest} created {len(ids)} {type_}, expected 1")
        return ids[0]


class Backend(Protocol):
    """The few primitives a chain supplies; everything else is written once in `ChainClient`."""

    @property
    def system_id(self) -> str:
        """The shared System's id (raises `NotDeployed` before `adopt_system`)."""
        ...

    @property
    def admin_cap_id(self) -> str:
        """The AdminCap's id (raises `NotDeployed` before `publish`)."""
        ...

    def execute(self, signer: Account, tx: Transaction) -> Executed:
        """Sign and run `tx` for `signer`, all or nothing; aborts raise `MoveAbort`."""
        ...

    def system(self) -> SystemState:
        """Read the System object."""
        ...

    def get_blob(self, object_id: str) -> BlobObject:
        """Read a Blob (raises `ObjectNotFound`)."""
        ...

    def get_storage(self, object_id: str) -> StorageResource:
        """Read a Storage (raises `ObjectNotFound`)."""
        ...

    def get_shared_blob(self, shared_blob_id: str) -> SharedBlobView:
        """Read a SharedBlob with its Blob (raises `ObjectNotFound`)."""
        ...

    def get_bucket(self, bucket_id: str) -> BucketObject:
        """Read a Bucket (raises `ObjectNotFound`)."""
        ...

    def get_staked(self, object_id: str) -> StakedView:
        """Read a stake receipt (raises `ObjectNotFound`)."""
        ...

    def events(self, after: int | None, limit: int) -> Sequence[ChainEvent]:
        """The package's events with cursor > `after`, oldest first."""
        ...

    def balance(self, address: str) -> int:
        """SUI of `address`, in MIST."""
        ...

    def publish(self, admin: Account) -> str:
        """Publish the package as `admin` (its `init` gives them the AdminCap); the cap's id."""
        ...

    def adopt_system(self, system_id: str) -> None:
        """Use `system_id` as the System from now on (after `create_system`)."""
        ...

    def transaction(self, digest: str) -> ExecutedTransaction:
        """An executed transaction by digest (raises `ObjectNotFound`)."""
        ...


class ChainClient:
    """Every `ChainPort` method (and the admin calls a deployment needs) over a backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @property
    def system_id(self) -> str:
        """The shared System object's id."""
        return self.backend.system_id

    @property
    def admin_cap_id(self) -> str:
        """The AdminCap's id (owned by the deployer)."""
        return self.backend.admin_cap_id

    def _run(self, signer: Account, tx: Transaction) -> Executed:
        return self.backend.execute(signer, tx)

    # -- reads ------------------------------------------------------------------------------

    def system(self) -> SystemState:
        """The shared System object: epoch, committee, prices, parameters."""
        return self.backend.system()

    def get_blob(self, object_id: str) -> BlobObject:
        """A live Blob object (raises `ObjectNotFound`)."""
        return self.backend.get_blob(object_id)

    def get_storage(self, object_id: str) -> StorageResource:
        """A live Storage object (raises `ObjectNotFound`)."""
        return self.backend.get_storage(object_id)

    def get_shared_blob(self, shared_blob_id: str) -> SharedBlobView:
        """A SharedBlob with its Blob and funds."""
        return self.backend.get_shared_blob(shared_blob_id)

    def get_bucket(self, bucket_id: str) -> BucketObject:
        """A live Bucket: name, version, current manifest, tags (raises `ObjectNotFound`)."""
        return self.backend.get_bucket(bucket_id)

    def events(self, after: int | None = None, limit: int = 1000) -> list[ChainEvent]:
        """Events with cursor greater than `after`, oldest first."""
        return list(self.backend.events(after, limit))

    def balance(self, address: str) -> int:
        """SUI balance of an address, in MIST."""
        return self.backend.balance(address)

    # -- deployment and admin ---------------------------------------------------------------

    def publish(self, admin: Account) -> str:
        """Publish the package: `init` gives the AdminCap to the publisher. Returns the cap id."""
        return self.backend.publish(admin)

    def create_system(
        self,
        admin: Account,
        n_shards: int,
        epoch_duration_ms: int,
        storage_price: int,
        write_price: int,
        total_capacity: int,
        max_epochs_ahead: int,
    ) -> str:
        """Create and share the System object, and use it from now on; its id."""
        e = self._run(
            admin,
            single(
                calls.system.CREATE_SYSTEM(
                    self.admin_cap_id,
                    n_shards,
                    epoch_duration_ms,
                    storage_price,
                    write_price,
                    total_capacity,
                    max_epochs_ahead,
                )
            ),
        )
        system_id = e.created_one(SYSTEM)
        self.backend.adopt_system(system_id)
        return system_id

    def register_node(
        self, admin: Account, name: str, url: str, public_key: bytes, pop: bytes, node_address: str
    ) -> str:
        """Register a storage node with a proof of possession of its BLS key; its node id."""
        e = self._run(
            admin,
            single(
                calls.system.REGISTER_NODE(
                    self.system_id, self.admin_cap_id, name, url, public_key, pop, node_address
                )
            ),
        )
        return e.event(NodeRegistered).node_id

    def set_committee(
        self, admin: Account, node_ids: Sequence[str], shards: Sequence[Sequence[int]]
    ) -> None:
        """Set the committee: members in order with their shards."""
        self._run(
            admin,
            single(
                calls.system.SET_COMMITTEE(
                    self.system_id,
                    self.admin_cap_id,
                    list(node_ids),
                    [list(s) for s in shards],
                )
            ),
        )

    def set_prices(self, admin: Account, storage_price: int, write_price: int) -> None:
        """Set storage price (per unit per epoch) and write price (per unit)."""
        self._run(
            admin,
            single(
                calls.system.SET_PRICES(
                    self.system_id, self.admin_cap_id, storage_price, write_price
                )
            ),
        )

    def set_capacity(self, admin: Account, total_capacity: int) -> None:
        """Set the total capacity in bytes."""
        self._run(
            admin,
            single(calls.system.SET_CAPACITY(self.system_id, self.admin_cap_id, total_capacity)),
        )

    def advance_epoch(self, signer: Account) -> int:
        """Start the next epoch once the current one has run its duration."""
        e = self._run(signer, single(calls.system.ADVANCE_EPOCH(self.system_id)))
        return e.event(EpochAdvanced).epoch

    def force_advance_epoch(self, admin: Account) -> int:
        """Admin call (needs the AdminCap): start the next epoch now."""
        e = self._run(
            admin, single(calls.system.FORCE_ADVANCE_EPOCH(self.system_id, self.admin_cap_id))
        )
        return e.event(EpochAdvanced).epoch

    # -- storage ----------------------------------------------------------------------------

    def reserve_space(
        self, signer: Account, storage_size: int, epochs_ahead: int
    ) -> StorageResource:
        """Buy `storage_size` encoded bytes from now for `epochs_ahead` epochs."""
        tx = Transaction()
        storage = tx.add(calls.system.RESERVE_SPACE(self.system_id, storage_size, epochs_ahead))
        tx.transfer([storage], signer.address)
        return self.get_storage(self._run(signer, tx).event(StorageReserved).storage_id)

    def split_storage_by_epoch(
        self, signer: Account, storage_id: str, epoch: int
    ) -> StorageResource:
        """Split a Storage at `epoch`; the new one (returned) covers `[epoch, end)`."""
        tx = Transaction()
        tx.transfer(
            [tx.add(calls.storage_resource.SPLIT_BY_EPOCH(storage_id, epoch))], signer.address
        )
        return self.get_storage(self._run(signer, tx).created_one(STORAGE))

    def split_storage_by_size(self, signer: Account, storage_id: str, size: int) -> StorageResource:
        """Split `size` bytes off a Storage into a new one (returned)."""
        tx = Transaction()
        tx.transfer(
            [tx.add(calls.storage_resource.SPLIT_BY_SIZE(storage_id, size))], signer.address
        )
        return self.get_storage(self._run(signer, tx).created_one(STORAGE))

    def fuse_storage(self, signer: Account, first: str, second: str) -> StorageResource:
        """Merge `second` into `first` (same epochs, or adjacent epochs and same size)."""
        self._run(signer, single(calls.storage_resource.FUSE(first, second)))
        return self.get_storage(first)

    # -- blobs ------------------------------------------------------------------------------

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
        tx = Transaction()
        blob = tx.add(
            calls.blob.REGISTER_BLOB(
                self.system_id,
                storage_id,
                int(blob_id),
                int.from_bytes(root, "little"),
                size,
                encoding_type,
                deletable,
            )
        )
        tx.transfer([blob], signer.address)
        return self.get_blob(self._run(signer, tx).event(BlobRegistered).object_id)

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
        return self.reserve_and_register_paid(
            signer, blob_id, root, size, encoding_type, epochs_ahead, deletable
        ).blob

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
        """`reserve_and_register`, with what that one transaction paid (from its effects);
        `attributes` are set on the new Blob in the same transaction."""
        needed = reservation_length(self.system().n_shards, size, encoding_type)
        tx = Transaction()
        storage = tx.add(calls.system.RESERVE_SPACE(self.system_id, needed, epochs_ahead))
        blob = tx.add(
            calls.blob.REGISTER_BLOB(
                self.system_id,
                storage,
                int(blob_id),
                int.from_bytes(root, "little"),
                size,
                encoding_type,
                deletable,
            )
        )
        for key, value in (attributes or {}).items():
            tx.add(calls.blob.SET_ATTRIBUTE(blob, key, value))
        tx.transfer([blob], signer.address)
        e = self._run(signer, tx)
        return PaidRegistration(self.get_blob(e.event(BlobRegistered).object_id), e.paid, e.digest)

    def register_blobs(self, signer: Account, specs: Sequence[BlobSpec]) -> BatchRegistration:
        """Reserve and register every spec in ONE transaction (all or none); the Blob objects
        come back in the order of `specs`, read from the transaction's `BlobRegistered`
        events (one per registration, in command order)."""
        if not specs:
            raise ValueError("register_blobs needs at least one blob")
        n_shards = self.system().n_shards
        tx = Transaction()
        blobs = []
        for spec in specs:
            needed = reservation_length(n_shards, spec.size, spec.encoding_type)
            storage = tx.add(calls.system.RESERVE_SPACE(self.system_id, needed, spec.epochs_ahead))
            blob = tx.add(
                calls.blob.REGISTER_BLOB(
                    self.system_id,
                    storage,
                    int(spec.blob_id),
                    int.from_bytes(spec.root, "little"),
                    spec.size,
                    spec.encoding_type,
                    spec.deletable,
                )
            )
            for key, value in spec.attributes:
                tx.add(calls.blob.SET_ATTRIBUTE(blob, key, value))
            blobs.append(blob)
        tx.transfer(blobs, signer.address)
        e = self._run(signer, tx)
        ids = [ev.object_id for ev in e.events if isinstance(ev, BlobRegistered)]
        if len(ids) != len(specs):
            raise ChainError(
                f"transaction {e.digest} registered {len(ids)} blobs, expected {len(specs)}"
            )
        return BatchRegistration(tuple(self.get_blob(oid) for oid in ids), e.paid, e.digest)

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
        """One transaction that carries `auth_package` as its first input, pays `tip`
        (address, MIST) to an upload relay, reserves and registers: what the relay then reads
        back by digest to accept the blob's bytes."""
        needed = reservation_length(self.system().n_shards, size, encoding_type)
        tx = Transaction(inputs=[auth_package])
        if tip is not None and tip[1] > 0:
            tx.add(calls.Pay(tip[1], tip[0]))
        storage = tx.add(calls.system.RESERVE_SPACE(self.system_id, needed, epochs_ahead))
        blob = tx.add(
            calls.blob.REGISTER_BLOB(
                self.system_id,
                storage,
                int(blob_id),
                int.from_bytes(root, "little"),
                size,
                encoding_type,
                deletable,
            )
        )
        tx.transfer([blob], signer.address)
        e = self._run(signer, tx)
        return PaidRegistration(self.get_blob(e.event(BlobRegistered).object_id), e.paid, e.digest)

    def transaction(self, digest: str) -> ExecutedTransaction:
        """An executed transaction by digest (raises `ObjectNotFound` if there is none)."""
        return self.backend.transaction(digest)

    def certify_blob(self, signer: Account, object_id: str, certificate: Certificate) -> BlobObject:
        """Certify a registered blob with a quorum certificate of the current epoch."""
        self._run(
            signer,
            single(
                calls.blob.CERTIFY_BLOB(
                    self.system_id,
                    object_id,
                    certificate.signature,
                    certificate.signers,
                    certificate.message,
                )
            ),
        )
        return self.get_blob(object_id)

    def certify_blobs(
        self, signer: Account, certificates: Sequence[tuple[str, Certificate]]
    ) -> BatchResult:
        """Certify several registered blobs (object id, certificate) in ONE transaction: all
        or none."""
        if not certificates:
            raise ValueError("certify_blobs needs at least one blob")
        tx = Transaction()
        for oid, cert in certificates:
            tx.add(
                calls.blob.CERTIFY_BLOB(
                    self.system_id, oid, cert.signature, cert.signers, cert.message
                )
            )
        return BatchResult(self._run(signer, tx).digest)

    def extend_blob(self, signer: Account, object_id: str, epochs: int) -> BlobObject:
        """Pay for `epochs` more epochs of a certified blob."""
        self._run(signer, single(calls.blob.EXTEND_BLOB(self.system_id, object_id, epochs)))
        return self.get_blob(object_id)

    def extend_blobs(self, signer: Account, extensions: Sequence[tuple[str, int]]) -> BatchResult:
        """Extend several blobs (object id, epochs) in one transaction: all or none."""
        tx = Transaction()
        for oid, epochs in extensions:
            tx.add(calls.blob.EXTEND_BLOB(self.system_id, oid, epochs))
        return BatchResult(self._run(signer, tx).digest)

    def delete_blob(self, signer: Account, object_id: str) -> StorageResource:
        """Delete a deletable blob; its Storage goes back to the owner."""
        (storage_id,) = self.delete_blobs(signer, [object_id]).storage_ids
        return self.get_storage(storage_id)

    def delete_blobs(self, signer: Account, object_ids: Sequence[str]) -> BatchResult:
        """Delete several deletable blobs in one transaction: all or none. The freed Storage
        objects (each keeps the id it had inside its Blob) go back to the signer."""
        storage_ids = tuple(self.get_blob(oid).storage.id for oid in object_ids)
        tx = Transaction()
        freed = [tx.add(calls.blob.DELETE_BLOB(self.system_id, oid)) for oid in object_ids]
        tx.transfer(freed, signer.address)
        return BatchResult(self._run(signer, tx).digest, storage_ids)

    def burn(self, signer: Account, object_id: str) -> None:
        """Destroy a Blob object (the blob stays stored until its end epoch)."""
        self.burn_blobs(signer, [object_id])

    def burn_blobs(self, signer: Account, object_ids: Sequence[str]) -> BatchResult:
        """Burn several Blob objects in one transaction: all or none."""
        tx = Transaction()
        for oid in object_ids:
            tx.add(calls.blob.BURN(oid))
        return BatchResult(self._run(signer, tx).digest)

    def set_attribute(self, signer: Account, object_id: str, key: str, value: str) -> None:
        """Set a string attribute (e.g. `content-type`) on a Blob object."""
        self._run(signer, single(calls.blob.SET_ATTRIBUTE(object_id, key, value)))

    def remove_attribute(self, signer: Account, object_id: str, key: str) -> None:
        """Remove an attribute from a Blob object."""
        self._run(signer, single(calls.blob.REMOVE_ATTRIBUTE(object_id, key)))

    def invalidate_blob_id(self, signer: Account, certificate: Certificate) -> BlobId:
        """Record a blob id as invalid, with an f+1 certificate."""
        e = self._run(
            signer,
            single(
                calls.system.INVALIDATE_BLOB_ID(
                    self.system_id, certificate.signature, certificate.signers, certificate.message
                )
            ),
        )
        return e.event(InvalidBlobID).blob_id

    def transfer(self, signer: Account, object_id: str, recipient: str) -> None:
        """Transfer an owned object to another address."""
        tx = Transaction()
        tx.transfer([object_id], recipient)
        self._run(signer, tx)

    # -- shared blobs -----------------------------------------------------------------------

    def share_blob(self, signer: Account, object_id: str, funds: int = 0) -> str:
        """Wrap the signer's certified Blob in a new SharedBlob (with `funds` MIST from the
        signer); returns the SharedBlob's id."""
        call = (
            calls.shared_blob.NEW_FUNDED(object_id, funds)
            if funds
            else calls.shared_blob.NEW(object_id)
        )
        return self._run(signer, single(call)).event(SharedBlobCreated).shared_blob_id

    def fund_shared_blob(self, signer: Account, shared_blob_id: str, amount: int) -> SharedBlobView:
        """Add `amount` MIST of the signer's to a SharedBlob (any account may)."""
        self._run(signer, single(calls.shared_blob.FUND(shared_blob_id, amount)))
        return self.get_shared_blob(shared_blob_id)

    def extend_shared_blob(
        self, signer: Account, shared_blob_id: str, epochs: int
    ) -> SharedBlobView:
        """Extend a SharedBlob's Blob by `epochs`, paid from its funds (any account may)."""
        self._run(signer, single(calls.shared_blob.EXTEND(shared_blob_id, self.system_id, epochs)))
        return self.get_shared_blob(shared_blob_id)

    # -- buckets (move/sources/bucket.move) ---------------------------------------------------

    def create_bucket(self, signer: Account, name: str) -> BucketObject:
        """A new empty Bucket (version 0) owned by the signer."""
        tx = Transaction()
        tx.transfer([tx.add(calls.bucket.CREATE(name))], signer.address)
        return self.get_bucket(self._run(signer, tx).event(BucketCreated).bucket_id)

    def commit_bucket(
        self, signer: Account, bucket_id: str, manifest_object_id: str, base_version: int
    ) -> BucketCommit:
        """Point a bucket at a certified manifest Blob if `base_version` is still current
        (else `MoveAbort` bucket::EStaleVersion: someone committed first)."""
        call = calls.bucket.COMMIT(bucket_id, self.system_id, manifest_object_id, base_version)
        e = self._run(signer, single(call))
        return BucketCommit(self.get_bucket(bucket_id), e.digest)

    def tag_bucket(self, signer: Account, bucket_id: str, tag: str, version: int) -> BucketObject:
        """Name an existing version of a bucket (an existing tag moves)."""
        self._run(signer, single(calls.bucket.TAG(bucket_id, tag, version)))
        return self.get_bucket(bucket_id)

    def extend_bucket(
        self,
        signer: Account,
        bucket_id: str,
        manifest_object_id: str,
        epochs: int,
        members: Sequence[tuple[str, int]] = (),
    ) -> BatchResult:
        """One transaction: `blob::extend_blob` for each member (object id, epochs), then
        `bucket::extend` of the manifest by `epochs`; all or none."""
        tx = Transaction()
        for oid, n in members:
            tx.add(calls.blob.EXTEND_BLOB(self.system_id, oid, n))
        tx.add(calls.bucket.EXTEND(bucket_id, self.system_id, manifest_object_id, epochs))
        return BatchResult(self._run(signer, tx).digest)

    def delete_bucket(
        self, signer: Account, bucket_id: str, delete_blobs: Sequence[str] = ()
    ) -> BatchResult:
        """One transaction: destroy the Bucket and delete the given deletable Blobs (their
        Storage goes back to the signer)."""
        tx = Transaction()
        tx.add(calls.bucket.DESTROY(bucket_id))
        storages = [tx.add(calls.blob.DELETE_BLOB(self.system_id, oid)) for oid in delete_blobs]
        if storages:
            tx.transfer(storages, signer.address)
        return BatchResult(self._run(signer, tx).digest)

    # -- the epoch change and staking ---------------------------------------------------------

    def get_staked(self, object_id: str) -> StakedView:
        """A stake receipt (raises `ObjectNotFound`)."""
        return self.backend.get_staked(object_id)

    def register_candidate(
        self, signer: Account, name: str, url: str, public_key: bytes, pop: bytes
    ) -> str:
        """Register a node without the AdminCap (the signer's address becomes the node's
        account; `pop` binds the BLS key to it); it gets shards once stake backs it."""
        e = self._run(
            signer,
            single(calls.system.REGISTER_CANDIDATE(self.system_id, name, url, public_key, pop)),
        )
        return e.event(NodeRegistered).node_id

    def leave_committee(self, signer: Account, node_id: str) -> None:
        """The node's own account withdraws it: no shards for it from the next change on."""
        self._run(signer, single(calls.system.LEAVE_COMMITTEE(self.system_id, node_id)))

    def shards_received(
        self, signer: Account, node_id: str, epoch: int, shards: Sequence[int]
    ) -> None:
        """The node's own account reports it holds every shard it gained in this change."""
        self._run(
            signer,
            single(
                calls.system.SHARDS_RECEIVED(
                    self.system_id, node_id, epoch, sorted(int(s) for s in shards)
                )
            ),
        )

    def stake(self, signer: Account, node_id: str, amount: int) -> StakedView:
        """Stake `amount` MIST of the signer's to the pool of `node_id`; the receipt."""
        tx = Transaction()
        staked = tx.add(calls.system.STAKE(self.system_id, node_id, amount))
        tx.transfer([staked], signer.address)
        return self.get_staked(self._run(signer, tx).event(StakeDeposited).staked_id)

    def request_withdraw_stake(self, signer: Account, staked_id: str) -> StakedView:
        """Stop a stake counting for the next committee; withdrawable from the next epoch."""
        self._run(signer, single(calls.system.REQUEST_WITHDRAW_STAKE(self.system_id, staked_id)))
        return self.get_staked(staked_id)

    def withdraw_stake(self, signer: Account, staked_id: str) -> int:
        """Pay out a stake whose withdrawal was requested earlier; the MIST paid."""
        tx = Transaction()
        coin = tx.add(calls.system.WITHDRAW_STAKE(self.system_id, staked_id))
        tx.transfer([coin], signer.address)
        return self._run(signer, tx).event(StakeWithdrawn).amount


__all__ = ["Backend", "ChainClient", "Executed"]
