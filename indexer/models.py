"""SQLAlchemy 2.0 models of what the indexer mirrors; stable constraint names for Alembic."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .text import SafeString, SafeText

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING)


class Blob(Base):
    """Current state of one Blob object."""

    __tablename__ = "blobs"
    object_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    blob_id: Mapped[str] = mapped_column(String(43), index=True)
    owner: Mapped[str] = mapped_column(String(66), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    encoding_type: Mapped[int] = mapped_column(Integer)
    registered_epoch: Mapped[int] = mapped_column(Integer)
    certified_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    end_epoch: Mapped[int] = mapped_column(Integer, index=True)
    deletable: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # First 255 characters of the `content-type` attribute (whole in blob_attributes).
    content_type: Mapped[str | None] = mapped_column(SafeString(255), nullable=True, index=True)
    deleted_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    registered_cursor: Mapped[int] = mapped_column(BigInteger, unique=True)
    updated_cursor: Mapped[int] = mapped_column(BigInteger)
    # Chain clock (ms) of the registration, first certification and deletion: the wall-clock
    # axis of the dashboard's charts.
    registered_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    certified_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    deleted_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        Index("ix_blobs_status_cursor", "status", "registered_cursor"),
        Index("ix_blobs_content_type_cursor", "content_type", "registered_cursor"),
        Index("ix_blobs_owner_cursor", "owner", "registered_cursor"),
        Index("ix_blobs_deletable_cursor", "deletable", "registered_cursor"),
    )


class BlobAttribute(Base):
    """One attribute of a Blob object: key and value whole, whatever their length or bytes;
    the key and the value are identified by their SHA-256 (`key_hash`, `value_hash`) so the
    primary key and the search index stay small."""

    __tablename__ = "blob_attributes"
    object_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    key: Mapped[str] = mapped_column(SafeText())
    value: Mapped[str] = mapped_column(SafeText())
    # `text_hash` of the value: search by value (or key=value) is an index lookup on both
    # databases whatever the value's length (a B-tree cannot hold values of any length).
    value_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)

    # With `object_id` last, "the first n objects with key=value" is a range of this index
    # even when a quarter of a million rows match (a common content type).
    __table_args__ = (
        Index("ix_blob_attributes_value_key_object", "value_hash", "key_hash", "object_id"),
    )


class StorageReservation(Base):
    """A `StorageReserved` purchase."""

    __tablename__ = "storage_reservations"
    storage_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    owner: Mapped[str] = mapped_column(String(66))
    epoch: Mapped[int] = mapped_column(Integer)
    start_epoch: Mapped[int] = mapped_column(Integer)
    end_epoch: Mapped[int] = mapped_column(Integer)
    storage_size: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(BigInteger)


class ChainEventRow(Base):
    """Every raw event, in cursor order."""

    __tablename__ = "events"
    cursor: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tx_digest: Mapped[str] = mapped_column(String(80))
    sender: Mapped[str] = mapped_column(String(66))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(40), index=True)
    blob_id: Mapped[str | None] = mapped_column(String(43), nullable=True, index=True)
    object_id: Mapped[str | None] = mapped_column(String(66), nullable=True)
    fields: Mapped[str] = mapped_column(Text)

    # A blob page's events, oldest first, are one range of this index (with `object_id` alone
    # PostgreSQL may walk the whole table in cursor order, filtering, for a LIMIT).
    __table_args__ = (Index("ix_events_object_id_cursor", "object_id", "cursor"),)


class Epoch(Base):
    """Epoch starts."""

    __tablename__ = "epochs"
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    start_ms: Mapped[int] = mapped_column(BigInteger)


class Node(Base):
    """Registered storage nodes."""

    __tablename__ = "nodes"
    node_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    name: Mapped[str] = mapped_column(SafeText())
    url: Mapped[str] = mapped_column(SafeText())
    public_key: Mapped[str] = mapped_column(String(96))


class CommitteeMember(Base):
    """Committee membership per change (epoch, position)."""

    __tablename__ = "committee_members"
    cursor: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[str] = mapped_column(String(66))
    n_shards: Mapped[int] = mapped_column(Integer)


class Price(Base):
    """Price history."""

    __tablename__ = "prices"
    cursor: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(Integer)
    storage_price: Mapped[int] = mapped_column(BigInteger)
    write_price: Mapped[int] = mapped_column(BigInteger)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)


class InvalidBlob(Base):
    """Blob ids voted invalid."""

    __tablename__ = "invalid_blobs"
    blob_id: Mapped[str] = mapped_column(String(43), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer)


class DeadLetter(Base):
    """An event the pipeline could not store (it failed the same way twice), kept with the
    reason so an operator can see it and replay it; the pipeline moved on past it."""

    __tablename__ = "dead_letters"
    cursor: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tx_digest: Mapped[str] = mapped_column(SafeText())
    type: Mapped[str] = mapped_column(SafeText())
    error: Mapped[str] = mapped_column(SafeText())
    fields: Mapped[str] = mapped_column(SafeText())
    recorded_ms: Mapped[int] = mapped_column(BigInteger)


class Cursor(Base):
    """Where each pipeline stopped; written in the same transaction as its rows."""

    __tablename__ = "cursors"
    pipeline: Mapped[str] = mapped_column(String(40), primary_key=True)
    cursor: Mapped[int] = mapped_column(BigInteger)


class ReadCount(Base):
    """What one relayer process (`instance`, new at each start) served in one clock hour: its
    counts are cumulative within the hour, so each poll replaces the row."""

    __tablename__ = "read_counts"
    relayer: Mapped[str] = mapped_column(String(255), primary_key=True)
    instance: Mapped[str] = mapped_column(String(32), primary_key=True)
    hour_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    bytes: Mapped[int] = mapped_column(BigInteger)
    blobs: Mapped[int] = mapped_column(BigInteger)


class BlobReads(Base):
    """Hits and bytes one relayer process served for one blob id (its most read blobs)."""

    __tablename__ = "blob_reads"
    relayer: Mapped[str] = mapped_column(String(255), primary_key=True)
    instance: Mapped[str] = mapped_column(String(32), primary_key=True)
    blob_id: Mapped[str] = mapped_column(String(43), primary_key=True, index=True)
    hits: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)


class Bucket(Base):
    """Current state of one Bucket object (from its events): name, owner, version, the
    current tree manifest, and the end epoch its last extension reached."""

    __tablename__ = "buckets"
    bucket_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    name: Mapped[str] = mapped_column(SafeString(64), index=True)
    owner: Mapped[str] = mapped_column(String(66), index=True)
    version: Mapped[int] = mapped_column(BigInteger)
    manifest_blob_id: Mapped[str | None] = mapped_column(String(43), nullable=True)
    end_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean)
    created_cursor: Mapped[int] = mapped_column(BigInteger, unique=True)
    updated_cursor: Mapped[int] = mapped_column(BigInteger)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class BucketVersion(Base):
    """One commit of a bucket: its manifest and the transaction that made it."""

    __tablename__ = "bucket_versions"
    bucket_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    base_version: Mapped[int] = mapped_column(BigInteger)
    manifest_blob_id: Mapped[str] = mapped_column(String(43), index=True)
    manifest_object_id: Mapped[str] = mapped_column(String(66))
    tx_digest: Mapped[str] = mapped_column(String(100))
    cursor: Mapped[int] = mapped_column(BigInteger, unique=True)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)


class BucketTag(Base):
    """A tag of a bucket and the version it names."""

    __tablename__ = "bucket_tags"
    bucket_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    tag: Mapped[str] = mapped_column(SafeString(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    updated_cursor: Mapped[int] = mapped_column(BigInteger)


class BucketManifest(Base):
    """Whether a bucket version's manifest has been read for its paths: `indexed`, `failed`
    (retried from `next_try_ms`) or `refused` (not a bounded directory manifest; never
    retried). Manifests are read through a relayer, apart from the event pipeline."""

    __tablename__ = "bucket_manifests"
    manifest_blob_id: Mapped[str] = mapped_column(String(43), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_try_ms: Mapped[int] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(SafeString(255), nullable=True)
    paths: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)
    """Entries of the manifest that were not valid files (not listed)."""
    checked_ms: Mapped[int] = mapped_column(BigInteger)


class BucketPath(Base):
    """One file of a manifest, in path order (`seq`): where its bytes are (a quilt patch, a
    pack and offset, or chunks), its size and content type."""

    __tablename__ = "bucket_paths"
    manifest_blob_id: Mapped[str] = mapped_column(String(43), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    path: Mapped[str] = mapped_column(SafeText())
    blob_id: Mapped[str | None] = mapped_column(String(43), nullable=True)
    patch_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    offset: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    chunks: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str | None] = mapped_column(SafeString(255), nullable=True)


class EpochNode(Base):
    """What each member of an epoch's committee held and earned (`RewardsDistributed`, at
    the end of that epoch): shards, its share of the epoch's fees, its pool's stake after."""

    __tablename__ = "epoch_nodes"
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    node_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    shards: Mapped[int] = mapped_column(Integer)
    reward: Mapped[int] = mapped_column(BigInteger)
    stake: Mapped[int] = mapped_column(BigInteger)


class StakeChange(Base):
    """Stake put into (`deposit`, positive) or taken out of (`withdraw`, negative, when
    requested) a node's pool."""

    __tablename__ = "stake_changes"
    cursor: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[str] = mapped_column(String(66), index=True)
    staked_id: Mapped[str] = mapped_column(String(66))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)


class EpochChange(Base):
    """One epoch change: shards moved, when it started and completed (`done_ms` null while
    in progress)."""

    __tablename__ = "epoch_changes"
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    shards_moved: Mapped[int] = mapped_column(Integer)
    started_ms: Mapped[int] = mapped_column(BigInteger)
    done_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ShardReport(Base):
    """A member's `shards_received` report in an epoch change."""

    __tablename__ = "shard_reports"
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    node_id: Mapped[str] = mapped_column(String(66), primary_key=True)
    shards: Mapped[int] = mapped_column(Integer)
    """How many shards it gained (and now holds) in that change."""
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
