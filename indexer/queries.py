"""Read side of the indexer: blob listing with filters and opaque cursors, lookups, stats."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Engine, Integer, Select, and_, bindparam, func, or_, select

from haulout.http_errors import ApiError
from haulout.protocol.blob_id import format_object_id, parse_object_id

from . import stats as dashboard
from .db import read_engine
from .models import (
    Blob,
    BlobAttribute,
    BlobReads,
    ChainEventRow,
    CommitteeMember,
    DeadLetter,
    Epoch,
    InvalidBlob,
    Node,
)
from .pipeline import dead_letter_count, stored_cursor
from .text import text_hash

BLOB_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{1,64}$")
STATUSES = ("registered", "certified", "deleted", "expired", "invalid")
MAX_CURSOR = 2**63 - 1
"""Largest event cursor: the cursor columns are signed 64-bit integers."""
MAX_EPOCH = 2**31 - 1
"""Largest epoch the epoch columns (signed 32-bit) hold; a filter past it must not reach SQL."""
MAX_DEAD_LETTERS = 100
MAX_ATTRIBUTES = 1000
"""Attributes shown on a blob's page (the chain bounds them; this bounds a hostile history)."""
CURRENT_EPOCH = select(func.coalesce(func.max(Epoch.epoch), 0)).scalar_subquery()
"""The latest epoch seen, as a subquery: a lookup carries it instead of a round trip of its own
(an expired blob is a certified one whose end epoch has been reached)."""


def _with_epoch(*extra: Any) -> Select[Any]:
    """`SELECT blobs.*, <current epoch> AS current_epoch, *extra`."""
    return select(*Blob.__table__.c, CURRENT_EPOCH.label("current_epoch"), *extra)


def encode_cursor(value: int) -> str:
    """Opaque page cursor."""
    return (
        base64.urlsafe_b64encode(json.dumps({"v": 1, "before": value}).encode())
        .decode()
        .rstrip("=")
    )


def decode_cursor(text: str) -> int:
    """Parse a page cursor; 400 when it was not produced by this API (malformed, or a position
    no database integer can hold)."""
    try:
        doc = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        before = doc.get("before")
        if (
            doc.get("v") != 1
            or not isinstance(before, int)
            or isinstance(before, bool)
            or not 0 <= before <= MAX_CURSOR
        ):
            raise ValueError
        return before
    except (ValueError, binascii.Error, AttributeError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(
            400,
            "INVALID_CURSOR",
            "the page cursor is malformed; pass the next_cursor of a previous page",
        ) from exc


class PageShape(NamedTuple):
    """Which filters a blob page has (their values are the statement's parameters)."""

    owner: bool
    status: str | None
    deletable: bool
    expiring: bool | None
    """None: no `expiring_before`; False: one past every end epoch an epoch column holds."""
    content_type: bool
    min_size: bool
    max_size: bool
    cursor: bool


@functools.lru_cache(maxsize=1024)
def _blob_page(shape: PageShape) -> Select[Any]:
    """The statement of a blob page with these filters, built once per shape (a few hundred
    at most) with the values as parameters: a request then pays neither building it nor
    SQLAlchemy's cache key over it."""
    epoch = CURRENT_EPOCH
    conds: list[Any] = []
    if shape.owner:
        conds.append(Blob.owner == bindparam("owner"))
    if shape.status == "expired":
        conds.append(and_(Blob.status == "certified", Blob.end_epoch <= epoch))
    elif shape.status == "certified":
        conds.append(and_(Blob.status == "certified", Blob.end_epoch > epoch))
    elif shape.status == "invalid":
        conds.append(Blob.blob_id.in_(select(InvalidBlob.blob_id)))
    elif shape.status:
        conds.append(Blob.status == shape.status)
    if shape.deletable:
        conds.append(Blob.deletable == bindparam("deletable"))
    if shape.expiring is not None:
        conds.append(Blob.status != "deleted")
        if shape.expiring:
            conds.append(Blob.end_epoch < bindparam("expiring_before"))
    if shape.content_type:
        conds.append(Blob.content_type == bindparam("content_type"))
    if shape.min_size:
        conds.append(Blob.size >= bindparam("min_size"))
    if shape.max_size:
        conds.append(Blob.size <= bindparam("max_size"))
    if shape.cursor:
        conds.append(Blob.registered_cursor < bindparam("before"))
    return (
        _with_epoch()
        .where(*conds)
        .order_by(Blob.registered_cursor.desc())
        .limit(bindparam("limit", type_=Integer))
    )


def _search(kind: str) -> Select[Any]:
    """The search statement of one kind of query, newest registration first."""
    if kind == "blob id":
        cond = Blob.blob_id == bindparam("text")
    elif kind == "object id or owner":
        cond = or_(Blob.object_id == bindparam("text"), Blob.owner == bindparam("text"))
    else:
        attr = select(BlobAttribute.object_id).where(BlobAttribute.value_hash == bindparam("value"))
        if kind == "attribute":
            attr = attr.where(BlobAttribute.key_hash == bindparam("key")).order_by(
                BlobAttribute.object_id
            )
        cond = Blob.object_id.in_(attr.limit(bindparam("limit", type_=Integer)))
    return (
        _with_epoch()
        .where(cond)
        .order_by(Blob.registered_cursor.desc())
        .limit(bindparam("limit", type_=Integer))
    )


SEARCHES = {
    kind: _search(kind)
    for kind in ("blob id", "object id or owner", "attribute", "attribute value")
}
"""Each search statement, built once."""
READ_HITS = (
    select(func.coalesce(func.sum(BlobReads.hits), 0))
    .where(BlobReads.blob_id == Blob.blob_id)
    .scalar_subquery()
)
READ_BYTES = (
    select(func.coalesce(func.sum(BlobReads.bytes), 0))
    .where(BlobReads.blob_id == Blob.blob_id)
    .scalar_subquery()
)
BY_OBJECT = (
    _with_epoch(
        READ_HITS.label("read_hits"),
        READ_BYTES.label("read_bytes"),
        BlobAttribute.key.label("attr_key"),
        BlobAttribute.value.label("attr_value"),
    )
    .outerjoin(BlobAttribute, BlobAttribute.object_id == Blob.object_id)
    .where(Blob.object_id == bindparam("object_id"))
    .limit(MAX_ATTRIBUTES)
)
"""A blob page's row: the blob joined with its attribute rows, the current epoch and the read
sums as scalar subqueries."""
BY_BLOB_ID = (
    _with_epoch(
        select(InvalidBlob.blob_id)
        .where(InvalidBlob.blob_id == Blob.blob_id)
        .exists()
        .label("voted_invalid"),
        BlobAttribute.key.label("attr_key"),
        BlobAttribute.value.label("attr_value"),
    )
    .outerjoin(BlobAttribute, BlobAttribute.object_id == Blob.object_id)
    .where(Blob.blob_id == bindparam("blob_id"))
    .order_by(Blob.registered_cursor, BlobAttribute.key_hash)
)
"""Every object of a blob id with its attributes (one row per attribute) and whether the blob
id was voted invalid."""
OBJECT_EVENTS = (
    select(ChainEventRow)
    .where(ChainEventRow.object_id == bindparam("object_id"))
    .order_by(ChainEventRow.cursor)
    .limit(bindparam("limit", type_=Integer))
)


@dataclass(frozen=True)
class BlobFilter:
    """Filters of `GET /v1/blobs`."""

    owner: str | None = None
    status: str | None = None
    deletable: bool | None = None
    expiring_before: int | None = None
    content_type: str | None = None
    min_size: int | None = None
    max_size: int | None = None


class Queries:
    """Queries over the indexer's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = read_engine(engine)
        """Read-only: the routes over the index (blobs, stats, buckets, staking) use it."""
        self.epoch_duration_ms: int | None = None  # from the chain, set by the node monitor
        self._stats_cache: tuple[float, int, dict[str, Any]] | None = None
        self.stats_seconds = 0.0
        """How long the last full stats computation took (it sets how often one may run)."""
        self.last_stats: dict[str, Any] | None = None
        """The latest stats computed, however old (served while fresher ones are computed)."""

    def current_epoch(self) -> int:
        """Latest epoch seen."""
        with self.engine.connect() as c:
            return int(c.execute(select(func.max(Epoch.epoch))).scalar() or 0)

    def _row(self, b: Any, attributes: dict[str, str] | None = None) -> dict[str, Any]:
        """A blob row as JSON; `b` carries `current_epoch` (see `_with_epoch`)."""
        epoch = int(b.current_epoch)
        status = b.status
        if status == "certified" and b.end_epoch <= epoch:
            status = "expired"
        out = {
            "objectId": b.object_id,
            "blobId": b.blob_id,
            "owner": b.owner,
            "size": b.size,
            "encodingType": b.encoding_type,
            "registeredEpoch": b.registered_epoch,
            "certifiedEpoch": b.certified_epoch,
            "endEpoch": b.end_epoch,
            "deletable": b.deletable,
            "status": status,
            "contentType": b.content_type,
            "deletedEpoch": b.deleted_epoch,
        }
        if attributes is not None:
            out["attributes"] = attributes
        return out

    def list_blobs(self, f: BlobFilter, limit: int, cursor: str | None) -> dict[str, Any]:
        """A page of blobs, newest registration first."""
        if f.status is not None and f.status not in STATUSES:
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                f"unknown status {f.status!r}; use one of {', '.join(STATUSES)}",
            )
        if f.min_size is not None and f.max_size is not None and f.min_size > f.max_size:
            raise ApiError(400, "INVALID_ARGUMENT", "min_size is larger than max_size")
        expiring = None
        if f.expiring_before is not None:
            expiring = f.expiring_before <= MAX_EPOCH  # past it, every end epoch is earlier
        shape = PageShape(
            bool(f.owner),
            f.status,
            f.deletable is not None,
            expiring,
            bool(f.content_type),
            f.min_size is not None,
            f.max_size is not None,
            bool(cursor),
        )
        params = {
            "owner": f.owner.lower() if f.owner else None,
            "deletable": f.deletable,
            "expiring_before": f.expiring_before,
            "content_type": f.content_type,
            "min_size": f.min_size,
            "max_size": f.max_size,
            "before": decode_cursor(cursor) if cursor else None,
            "limit": limit + 1,
        }
        with self.engine.connect() as c:
            rows = c.execute(_blob_page(shape), params).all()
        page = rows[:limit]
        nxt = encode_cursor(page[-1].registered_cursor) if len(rows) > limit else None
        return {"blobs": [self._row(b) for b in page], "next_cursor": nxt}

    def by_object(self, object_id: str) -> dict[str, Any]:
        """One Blob object with its attributes and the reads relayers reported for its blob id
        (the explorer's blob page), in one statement: the blob row joined with its attribute
        rows, the current epoch and the read sums as scalar subqueries."""
        with self.engine.connect() as c:
            rows = c.execute(BY_OBJECT, {"object_id": object_id.lower()}).all()
        if not rows:
            raise ApiError(404, "OBJECT_NOT_FOUND", f"no blob object {object_id} has been indexed")
        attributes = {r.attr_key: r.attr_value for r in rows if r.attr_key is not None}
        out = self._row(rows[0], attributes)
        out["reads"] = {"hits": int(rows[0].read_hits), "bytes": int(rows[0].read_bytes)}
        return out

    def by_blob_id(self, blob_id: str) -> dict[str, Any]:
        """A blob id's overall status and every object registered for it."""
        with self.engine.connect() as c:
            rows = c.execute(BY_BLOB_ID, {"blob_id": blob_id}).all()
        if not rows:
            raise ApiError(404, "BLOB_NOT_FOUND", f"blob {blob_id} has never been registered")
        invalid = bool(rows[0].voted_invalid)
        objects: list[dict[str, Any]] = []
        for r in rows:
            if not objects or objects[-1]["objectId"] != r.object_id:
                objects.append(self._row(r, {}))
            if r.attr_key is not None:
                objects[-1]["attributes"][r.attr_key] = r.attr_value
        statuses = {o["status"] for o in objects}
        overall = (
            "invalid"
            if invalid
            else next(s for s in ("certified", "registered", "expired", "deleted") if s in statuses)
        )
        live = [o for o in objects if o["status"] == overall]
        return {
            "blobId": blob_id,
            "status": overall,
            "size": rows[0].size,
            "endEpoch": max(o["endEpoch"] for o in live),
            "objects": objects,
        }

    def search(self, text: str, limit: int = 50) -> dict[str, Any]:
        """Blobs matching `text`: a blob id, an object id or owner address (0x…), an attribute
        `key=value`, or else an attribute value; newest registration first."""
        text = text.strip()
        params: dict[str, Any] = {"limit": limit}
        if BLOB_ID.match(text):
            kind, params["text"] = "blob id", text
        elif ADDRESS.match(text):
            kind, params["text"] = "object id or owner", format_object_id(parse_object_id(text))
        elif "=" in text:
            key, value = text.split("=", 1)
            kind, params["key"], params["value"] = (
                "attribute",
                text_hash(key.strip()),
                text_hash(value.strip()),
            )
        else:
            kind, params["value"] = "attribute value", text_hash(text)
        with self.engine.connect() as c:
            rows = c.execute(SEARCHES[kind], params).all()
        return {"query": text, "kind": kind, "blobs": [self._row(b) for b in rows]}

    def object_events(self, object_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The chain events of one Blob object, oldest first."""
        with self.engine.connect() as c:
            rows = c.execute(OBJECT_EVENTS, {"object_id": object_id, "limit": limit}).all()
        return [
            {
                "cursor": r.cursor,
                "txDigest": r.tx_digest,
                "timestampMs": r.timestamp_ms,
                "type": r.type,
                "fields": json.loads(r.fields),
            }
            for r in rows
        ]

    def events(self, after: int, limit: int, type_: str | None) -> dict[str, Any]:
        """Raw events after a cursor."""
        q = select(ChainEventRow).where(ChainEventRow.cursor > after)
        if type_:
            q = q.where(ChainEventRow.type == type_)
        with self.engine.connect() as c:
            rows = c.execute(q.order_by(ChainEventRow.cursor).limit(limit)).all()
        return {
            "events": [
                {
                    "cursor": r.cursor,
                    "txDigest": r.tx_digest,
                    "sender": r.sender,
                    "timestampMs": r.timestamp_ms,
                    "type": r.type,
                    "fields": json.loads(r.fields),
                }
                for r in rows
            ],
            "next_after": rows[-1].cursor if rows else after,
        }

    def health(self) -> dict[str, int]:
        """The persisted cursor and the number of dead-lettered events (what /healthz shows)."""
        with self.engine.connect() as c:
            return {"cursor": stored_cursor(c), "deadLetters": dead_letter_count(c)}

    def dead_letters(self) -> list[dict[str, Any]]:
        """The latest dead-lettered events, newest first, with the reason each was refused."""
        with self.engine.connect() as c:
            rows = c.execute(
                select(DeadLetter).order_by(DeadLetter.cursor.desc()).limit(MAX_DEAD_LETTERS)
            ).all()
        return [
            {
                "cursor": r.cursor,
                "txDigest": r.tx_digest,
                "type": r.type,
                "error": r.error,
                "fields": json.loads(r.fields),
                "recordedMs": r.recorded_ms,
            }
            for r in rows
        ]

    def epochs(self) -> list[dict[str, Any]]:
        """Epochs with their start times."""
        with self.engine.connect() as c:
            return [
                {"epoch": e.epoch, "startMs": e.start_ms}
                for e in c.execute(select(Epoch).order_by(Epoch.epoch)).all()
            ]

    def nodes(self) -> list[dict[str, Any]]:
        """Nodes with their position in the latest committee."""
        with self.engine.connect() as c:
            latest = c.execute(select(func.max(CommitteeMember.cursor))).scalar()
            positions = {}
            if latest is not None:
                positions = {
                    m.node_id: m.position
                    for m in c.execute(
                        select(CommitteeMember).where(CommitteeMember.cursor == latest)
                    ).all()
                }
            return [
                {
                    "nodeId": n.node_id,
                    "name": n.name,
                    "url": n.url,
                    "publicKey": n.public_key,
                    "committeePosition": positions.get(n.node_id),
                }
                for n in c.execute(select(Node).order_by(Node.name)).all()
            ]

    def invalidate(self) -> None:
        """Drop the cached stats (new read counts arrived)."""
        self._stats_cache = None

    def young_stats(self) -> dict[str, Any] | None:
        """The last stats while they are young enough to serve without asking the database
        whether an event arrived (see `cached_stats`): no I/O, so a request can ask on the
        event loop."""
        cached = self._stats_cache
        if cached is None or time.monotonic() - cached[0] >= max(5.0, 10 * self.stats_seconds):
            return None
        return cached[2]

    def cached_stats(self) -> dict[str, Any] | None:
        """The last stats while they are fresh: under 5 s old (or ten times as long as they took
        to compute, so that with millions of blobs the aggregation uses at most a tenth of a
        core however fast events arrive), or under a minute old and no event arrived since (the
        wall-clock end of the charts moves on even when the chain is idle)."""
        cached = self._stats_cache
        if cached is None:
            return None
        if (young := self.young_stats()) is not None:
            return young
        age = time.monotonic() - cached[0]
        if age >= 60:
            return None
        with self.engine.connect() as c:
            version = int(c.execute(select(func.max(ChainEventRow.cursor))).scalar() or 0)
        return cached[2] if cached[1] == version else None

    def stats(self) -> dict[str, Any]:
        """Everything the dashboard shows (`indexer.stats`): stored bytes and blobs over
        wall-clock time with growth and the next milestone, reads against writes, content mix,
        prices, expiring volume, epoch progress. One consistent definition of "stored": certified,
        not deleted, end epoch not reached."""
        if (fresh := self.cached_stats()) is not None:
            return fresh
        started = time.monotonic()
        epoch = self.current_epoch()
        with self.engine.connect() as c:
            version = int(c.execute(select(func.max(ChainEventRow.cursor))).scalar() or 0)
            as_of = max(int(time.time() * 1000), dashboard.last_event_ms(c))
            starts = dashboard.epoch_starts(c)
            by_status: dict[str, dict[str, int]] = {
                s: {"blobs": 0, "bytes": 0}
                for s in ("registered", "certified", "expired", "deleted")
            }
            grouped = select(
                Blob.status, Blob.end_epoch, func.count(), func.coalesce(func.sum(Blob.size), 0)
            ).group_by(Blob.status, Blob.end_epoch)
            for st, end_epoch, n, size in c.execute(grouped).all():
                key = "expired" if st == "certified" and end_epoch <= epoch else st
                by_status[key]["blobs"] += int(n)
                by_status[key]["bytes"] += int(size)
            live = and_(Blob.status == "certified", Blob.end_epoch > epoch)
            over_time, step = dashboard.stored_series(c, epoch, starts, as_of)
            out = {
                "asOfMs": as_of,
                "epoch": epoch,
                "epochProgress": {
                    "epoch": epoch,
                    "startMs": starts.get(epoch),
                    "durationMs": self.epoch_duration_ms,
                },
                "events": int(
                    c.execute(select(func.count()).select_from(ChainEventRow)).scalar() or 0
                ),
                "stored": dict(by_status["certified"]),
                "byStatus": by_status,
                "overTime": over_time,
                "overTimeBucketMs": step,
                "growth": dashboard.growth(over_time, as_of),
                "byContentType": dashboard.content_mix(c, live),
                "prices": dashboard.prices(c),
                "expiringSoon": dashboard.expiring_soon(c, epoch, starts, self.epoch_duration_ms),
                "readsWrites": dashboard.reads_and_writes(c, as_of),
            }
        self.stats_seconds = time.monotonic() - started
        self._stats_cache = (time.monotonic(), version, out)
        self.last_stats = out
        return out
