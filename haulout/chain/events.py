"""One typed class per Move event of `move/sources/events.move`, parsed in one place.

Field names and order equal the Move structs (a test checks this). u256 blob ids are
`BlobId`, object ids `0x…` strings, `members` a list of object ids.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, get_type_hints

from haulout.protocol.blob_id import BlobId

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """A class's resolved field types, once per class: `get_type_hints` evaluates every
    annotation string again on each call, which was the relayer's event follower's main cost."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    return hints


@dataclass(frozen=True)
class Event:
    """Base of the typed event mirrors."""

    NAME: ClassVar[str] = ""

    def to_fields(self) -> dict[str, Any]:
        """JSON fields as Sui's parsed JSON would show them (u256 as decimal text)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = str(int(v)) if isinstance(v, BlobId) else v
        return out

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Event:
        """Parse JSON fields into the typed event."""
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            v = fields[f.name]
            t = hints[f.name]
            if t is BlobId:
                v = BlobId.from_int(int(v))
            elif t is int:
                v = int(v)
            elif t is bool:
                v = bool(v)
            elif t is str:
                v = str(v)
            elif t == list[int]:
                v = [int(x) for x in v]
            kwargs[f.name] = v
        return cls(**kwargs)


@dataclass(frozen=True)
class BlobRegistered(Event):
    """A blob object was registered (not yet certified)."""

    NAME: ClassVar[str] = "BlobRegistered"
    epoch: int
    blob_id: BlobId
    size: int
    encoding_type: int
    end_epoch: int
    deletable: bool
    object_id: str


@dataclass(frozen=True)
class BlobCertified(Event):
    """A blob was certified, or a certified blob's lifetime was extended."""

    NAME: ClassVar[str] = "BlobCertified"
    epoch: int
    blob_id: BlobId
    end_epoch: int
    deletable: bool
    object_id: str
    is_extension: bool


@dataclass(frozen=True)
class BlobDeleted(Event):
    """A deletable blob was deleted; its storage returned to the owner."""

    NAME: ClassVar[str] = "BlobDeleted"
    epoch: int
    blob_id: BlobId
    end_epoch: int
    object_id: str
    was_certified: bool


@dataclass(frozen=True)
class BlobAttributeSet(Event):
    """An attribute of a blob object was set."""

    NAME: ClassVar[str] = "BlobAttributeSet"
    blob_id: BlobId
    object_id: str
    key: str
    value: str


@dataclass(frozen=True)
class BlobAttributeRemoved(Event):
    """An attribute of a blob object was removed."""

    NAME: ClassVar[str] = "BlobAttributeRemoved"
    blob_id: BlobId
    object_id: str
    key: str


@dataclass(frozen=True)
class InvalidBlobID(Event):
    """f+1 weight of nodes voted a blob id invalid (inconsistent encoding)."""

    NAME: ClassVar[str] = "InvalidBlobID"
    epoch: int
    blob_id: BlobId


@dataclass(frozen=True)
class StorageReserved(Event):
    """Storage was bought."""

    NAME: ClassVar[str] = "StorageReserved"
    epoch: int
    storage_id: str
    start_epoch: int
    end_epoch: int
    storage_size: int
    paid: int


@dataclass(frozen=True)
class EpochAdvanced(Event):
    """A new epoch started."""

    NAME: ClassVar[str] = "EpochAdvanced"
    epoch: int
    start_ms: int


@dataclass(frozen=True)
class NodeRegistered(Event):
    """A storage node registered its BLS key (with proof of possession)."""

    NAME: ClassVar[str] = "NodeRegistered"
    node_id: str
    name: str
    url: str
    public_key: str


@dataclass(frozen=True)
class CommitteeChanged(Event):
    """The committee was set: members in order (shards are on the System object)."""

    NAME: ClassVar[str] = "CommitteeChanged"
    epoch: int
    members: list[str]
    n_shards: int


@dataclass(frozen=True)
class PricesUpdated(Event):
    """Storage and write prices changed."""

    NAME: ClassVar[str] = "PricesUpdated"
    epoch: int
    storage_price: int
    write_price: int


@dataclass(frozen=True)
class SharedBlobCreated(Event):
    """A certified Blob was wrapped in a SharedBlob (with `funds` MIST already in it)."""

    NAME: ClassVar[str] = "SharedBlobCreated"
    shared_blob_id: str
    blob_id: BlobId
    object_id: str
    funds: int


@dataclass(frozen=True)
class SharedBlobFunded(Event):
    """Someone added `amount` MIST to a SharedBlob; `funds` is its balance afterwards."""

    NAME: ClassVar[str] = "SharedBlobFunded"
    shared_blob_id: str
    amount: int
    funds: int


@dataclass(frozen=True)
class BucketCreated(Event):
    """A bucket was created (version 0, no files yet); the sender owns it."""

    NAME: ClassVar[str] = "BucketCreated"
    bucket_id: str
    name: str


@dataclass(frozen=True)
class BucketCommitted(Event):
    """A bucket moved from `base_version` to `version`, whose tree is `manifest_blob_id`."""

    NAME: ClassVar[str] = "BucketCommitted"
    bucket_id: str
    version: int
    base_version: int
    manifest_blob_id: BlobId
    manifest_object_id: str


@dataclass(frozen=True)
class BucketTagged(Event):
    """`tag` now names `version` of a bucket."""

    NAME: ClassVar[str] = "BucketTagged"
    bucket_id: str
    tag: str
    version: int


@dataclass(frozen=True)
class BucketExtended(Event):
    """A bucket's current tree was extended; its manifest now ends at `end_epoch`."""

    NAME: ClassVar[str] = "BucketExtended"
    bucket_id: str
    version: int
    manifest_blob_id: BlobId
    end_epoch: int


@dataclass(frozen=True)
class BucketDeleted(Event):
    """A bucket object was deleted at `version`."""

    NAME: ClassVar[str] = "BucketDeleted"
    bucket_id: str
    version: int


@dataclass(frozen=True)
class EpochChangeStart(Event):
    """The committee of `epoch` is fixed (from stake); `shards_moved` shards change owner,
    and the change runs until owners of a quorum of shards report them received (none
    moved: `EpochChangeDone` follows at once)."""

    NAME: ClassVar[str] = "EpochChangeStart"
    epoch: int
    members: list[str]
    shards_moved: int


@dataclass(frozen=True)
class ShardsReceived(Event):
    """A member of the new committee holds every shard it gained (`shards`) in this change."""

    NAME: ClassVar[str] = "ShardsReceived"
    epoch: int
    node_id: str
    shards: list[int]


@dataclass(frozen=True)
class EpochChangeDone(Event):
    """Owners of a quorum of shards hold them: previous owners may let go of what they lost."""

    NAME: ClassVar[str] = "EpochChangeDone"
    epoch: int


@dataclass(frozen=True)
class RewardsDistributed(Event):
    """At the end of `epoch`, a member's share of that epoch's fees (by `shards` held) went
    into its pool (`reward`, 0 when nobody stakes to it); `stake` is the pool after."""

    NAME: ClassVar[str] = "RewardsDistributed"
    epoch: int
    node_id: str
    shards: int
    reward: int
    stake: int


@dataclass(frozen=True)
class StakeDeposited(Event):
    """SUI staked to a node's pool; the receipt `staked_id` holds `shares` of it."""

    NAME: ClassVar[str] = "StakeDeposited"
    epoch: int
    node_id: str
    staked_id: str
    amount: int
    shares: int


@dataclass(frozen=True)
class StakeWithdrawRequested(Event):
    """A stake stops counting; `amount` (principal and rewards) is withdrawable from
    `withdraw_epoch`."""

    NAME: ClassVar[str] = "StakeWithdrawRequested"
    epoch: int
    node_id: str
    staked_id: str
    amount: int
    withdraw_epoch: int


@dataclass(frozen=True)
class StakeWithdrawn(Event):
    """A stake was paid out to its holder."""

    NAME: ClassVar[str] = "StakeWithdrawn"
    epoch: int
    node_id: str
    staked_id: str
    amount: int


@dataclass(frozen=True)
class NodeLeaving(Event):
    """A node withdrew: no shards for it from the next epoch change on."""

    NAME: ClassVar[str] = "NodeLeaving"
    epoch: int
    node_id: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.NAME: cls
    for cls in (
        BlobRegistered,
        BlobCertified,
        BlobDeleted,
        BlobAttributeSet,
        BlobAttributeRemoved,
        InvalidBlobID,
        StorageReserved,
        EpochAdvanced,
        NodeRegistered,
        CommitteeChanged,
        PricesUpdated,
        SharedBlobCreated,
        SharedBlobFunded,
        BucketCreated,
        BucketCommitted,
        BucketTagged,
        BucketExtended,
        BucketDeleted,
        EpochChangeStart,
        ShardsReceived,
        EpochChangeDone,
        RewardsDistributed,
        StakeDeposited,
        StakeWithdrawRequested,
        StakeWithdrawn,
        NodeLeaving,
    )
}


def parse_event(name: str, fields: dict[str, Any]) -> Event:
    """The one place where raw event JSON becomes a typed event."""
    try:
        cls = EVENT_TYPES[name]
    except KeyError as exc:
        raise ValueError(f"unknown Haulout event type {name!r}") from exc
    return cls.from_fields(fields)


@dataclass(frozen=True)
class ChainEvent:
    """An event with where it came from: cursor, transaction, sender and time."""

    cursor: int
    tx_digest: str
    sender: str
    timestamp_ms: int
    event: Event
