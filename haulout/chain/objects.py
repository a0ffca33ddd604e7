"""Read-only views of on-chain objects: System (with committee), Storage and Blob."""

from __future__ import annotations

from dataclasses import dataclass, field

from haulout.protocol.blob_id import BlobId
from haulout.protocol.committee import Committee

from .events import ChainEvent


@dataclass(frozen=True)
class StorageResource:
    """Reserved encoded bytes for epochs `[start_epoch, end_epoch)`."""

    id: str
    start_epoch: int
    end_epoch: int
    storage_size: int


@dataclass(frozen=True)
class BlobObject:
    """A registered blob, as on chain."""

    id: str
    registered_epoch: int
    blob_id: BlobId
    size: int
    encoding_type: int
    certified_epoch: int | None
    storage: StorageResource
    deletable: bool
    owner: str = ""
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def end_epoch(self) -> int:
        """First epoch in which the blob is no longer stored."""
        return self.storage.end_epoch

    def to_walrus_json(self) -> dict[str, object]:
        """The `blobObject` shape of Walrus's publisher responses."""
        return {
            "id": self.id,
            "registeredEpoch": self.registered_epoch,
            "blobId": str(self.blob_id),
            "size": self.size,
            "encodingType": self.encoding_type,
            "certifiedEpoch": self.certified_epoch,
            "storage": {
                "id": self.storage.id,
                "startEpoch": self.storage.start_epoch,
                "endEpoch": self.storage.end_epoch,
                "storageSize": self.storage.storage_size,
            },
            "deletable": self.deletable,
        }


@dataclass(frozen=True)
class SharedBlobView:
    """A `shared_blob::SharedBlob`: a certified Blob that anyone funds and extends, so a
    public dataset outlives its uploader; `funds` (MIST) pays the extensions."""

    id: str
    blob: BlobObject
    funds: int

    def to_walrus_json(self) -> dict[str, object]:
        """The shape Walrus's clients print for a shared blob (camelCase)."""
        return {"id": self.id, "blob": self.blob.to_walrus_json(), "funds": self.funds}


@dataclass(frozen=True)
class PaidRegistration:
    """A new registration and what its transaction cost the signer, read from that
    transaction's own effects (a balance difference would count concurrent spending too)."""

    blob: BlobObject
    cost: int
    """MIST paid: storage and write fees, plus gas where the chain charges it."""
    tx_digest: str


@dataclass(frozen=True)
class BlobSpec:
    """One blob to reserve storage for and register, as a member of `register_blobs`."""

    blob_id: BlobId
    root: bytes
    size: int
    encoding_type: int
    epochs_ahead: int
    deletable: bool
    attributes: tuple[tuple[str, str], ...] = ()
    """Attributes (e.g. `content-type`) set on the new Blob in the same transaction."""


@dataclass(frozen=True)
class BatchRegistration:
    """Several blobs registered in ONE transaction (all or none) and what it cost the signer:
    a tree's or bucket commit's members pay one transaction, not one each."""

    blobs: tuple[BlobObject, ...]
    """The new Blob objects, in the order of the specs."""
    cost: int
    """MIST the one transaction paid, for all of them."""
    tx_digest: str


@dataclass(frozen=True)
class ExecutedTransaction:
    """An executed transaction as an upload relay reads it back by digest (Sui's
    `getTransactionBlock` with raw input, balance changes and events)."""

    digest: str
    sender: str
    timestamp_ms: int
    inputs: tuple[bytes, ...]
    """Pure inputs the transaction carried, in order; the first is an upload relay's auth
    package (DevChain keeps those no command uses; Sui gives those before the first object
    input, and none when an object comes first)."""
    balance_changes: dict[str, int]
    """MIST gained (negative: paid) per address in this transaction."""
    events: tuple[ChainEvent, ...]


@dataclass(frozen=True)
class BatchResult:
    """One transaction that acted on several Blob objects at once (a tree's members): all of
    them changed, or none did."""

    tx_digest: str
    storage_ids: tuple[str, ...] = ()
    """Storage objects it gave back (a delete's), in the order of the Blob objects."""


@dataclass(frozen=True)
class NodeInfo:
    """A registered storage node."""

    node_id: str
    name: str
    url: str
    public_key: bytes
    address: str


@dataclass(frozen=True)
class PoolInfo:
    """A node's staking pool: SUI staked to it with its rewards, the stakers' shares of it,
    and whether the node still takes shards (false once it asked to leave)."""

    node_id: str
    stake: int
    shares: int
    active: bool


@dataclass(frozen=True)
class StakedView:
    """A stake receipt (`staking::StakedSui`): shares of one node's pool; once a withdrawal
    is requested, `withdraw_amount` pays out from `withdraw_epoch`."""

    id: str
    node_id: str
    shares: int
    principal: int
    withdrawing: bool
    withdraw_epoch: int
    withdraw_amount: int


@dataclass(frozen=True)
class SystemState:
    """The shared System object: epoch, committee, capacity, prices, parameters."""

    id: str
    version: int
    epoch: int
    epoch_start_ms: int
    epoch_duration_ms: int
    n_shards: int
    committee: Committee | None
    total_capacity: int
    used_capacity: int
    storage_price: int
    write_price: int
    max_epochs_ahead: int
    nodes: tuple[NodeInfo, ...] = ()
    previous_committee: Committee | None = None
    """The committee before the last change (None before the first; SuiChain reads it from
    the System as DevChain does): a shard's previous owner serves it until its new owner
    has it."""
    change_epoch: int = 0
    """The epoch whose start last moved shards: its members report `shards_received`."""
    changing: bool = False
    """An epoch change is in progress: shards moved and owners of a quorum of shards have
    not yet reported them received."""
    received: tuple[str, ...] = ()
    """Members that reported `shards_received` in the change in progress (or the last one)."""
    pools: tuple[PoolInfo, ...] = ()
    """One staking pool per registered node, in registration order."""

    def pool_of(self, node_id: str) -> PoolInfo | None:
        """The staking pool of `node_id` (None when not registered)."""
        return next((p for p in self.pools if p.node_id == node_id), None)

    def require_committee(self) -> Committee:
        """The committee, or an error saying the deployment has none yet."""
        if self.committee is None:
            from .errors import NotDeployed

            raise NotDeployed("the System has no committee yet; run `haulout deploy`")
        return self.committee


@dataclass(frozen=True)
class BucketObject:
    """A bucket, as on chain: its name, version, current tree manifest and tags."""

    id: str
    name: str
    version: int
    manifest_blob_id: BlobId | None
    """None before the first commit (version 0)."""
    tags: dict[str, int] = field(default_factory=dict)
    owner: str = ""


@dataclass(frozen=True)
class BucketCommit:
    """What a commit did: the bucket afterwards and the transaction's digest."""

    bucket: BucketObject
    tx_digest: str
