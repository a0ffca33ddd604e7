"""The dashboard's aggregates, on a wall-clock axis: stored bytes and blobs over time with the
growth rate and the next milestone, bytes written against bytes read, content mix, prices and
the volume expiring soon. `GET /v1/stats` returns exactly this; the dashboard only draws it.

Every series is grouped in SQL into at most a few hundred time buckets, so the cost follows the
number of buckets and the indexed columns, not the number of points a chart could have had.
A blob counts as stored from its first certification until its deletion or the start of its end
epoch, whichever comes first; the last point of the series is therefore `stored`."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from .models import Blob, BlobReads, ChainEventRow, Epoch, Price, ReadCount

STEPS_MS = (
    60_000,
    5 * 60_000,
    15 * 60_000,
    3_600_000,
    6 * 3_600_000,
    86_400_000,
    7 * 86_400_000,
    30 * 86_400_000,
    365 * 86_400_000,
)
"""Bucket widths a chart may use: the smallest that keeps it under `MAX_POINTS` points."""
MAX_POINTS = 240
HOUR_MS, DAY_MS = 3_600_000, 86_400_000
MILESTONES = ((10**9, "1 GB"), (10**12, "1 TB"), (10**15, "1 PB"), (10**18, "1 EB"))
"""Round sizes whose arrival the dashboard forecasts (decimal units, as disks are sold)."""
GROWTH_WINDOW_MS = 7 * DAY_MS
"""The growth rate is measured over the last week (or the whole history when shorter)."""
EXPIRING_EPOCHS = 5
TOP_CONTENT_TYPES = 8
TOP_READ_BLOBS = 10


def bucket_ms(span_ms: int) -> int:
    """The bucket width for a chart spanning `span_ms`."""
    for step in STEPS_MS:
        if span_ms // step < MAX_POINTS:
            return step
    return STEPS_MS[-1]


def epoch_starts(c: Connection) -> dict[int, int]:
    """Start time (ms) of every epoch seen."""
    return {int(e): int(ms) for e, ms in c.execute(select(Epoch.epoch, Epoch.start_ms)).all()}


def stored_series(
    c: Connection, epoch: int, starts: dict[int, int], as_of_ms: int
) -> tuple[list[dict[str, int]], int]:
    """Stored blobs and bytes over time, one point per bucket where something changed plus the
    current totals at `as_of_ms`; returns the points and the bucket width."""
    first = c.execute(select(func.min(Blob.certified_ms))).scalar()
    if first is None:
        return [], bucket_ms(0)
    step = bucket_ms(max(as_of_ms - int(first), 0))
    changes: dict[int, list[int]] = defaultdict(lambda: [0, 0])

    def add(bucket: int, n: int, size: int, sign: int) -> None:
        changes[bucket][0] += sign * n
        changes[bucket][1] += sign * size

    certified = Blob.certified_ms.is_not(None)
    added = (Blob.certified_ms // step).label("b")
    for b, n, size in c.execute(
        select(added, func.count(), func.coalesce(func.sum(Blob.size), 0))
        .where(certified)
        .group_by(added)
    ).all():
        add(int(b or 0) * step, int(n), int(size), +1)
    deleted_first = and_(Blob.status == "deleted", certified, Blob.deleted_epoch < Blob.end_epoch)
    removed = (func.coalesce(Blob.deleted_ms, as_of_ms) // step).label("b")
    for b, n, size in c.execute(
        select(removed, func.count(), func.coalesce(func.sum(Blob.size), 0))
        .where(deleted_first)
        .group_by(removed)
    ).all():
        add(int(b) * step, int(n), int(size), -1)
    expired = and_(
        certified,
        Blob.end_epoch <= epoch,
        or_(Blob.status == "certified", Blob.deleted_epoch >= Blob.end_epoch),
    )
    for end, n, size in c.execute(
        select(Blob.end_epoch, func.count(), func.coalesce(func.sum(Blob.size), 0))
        .where(expired)
        .group_by(Blob.end_epoch)
    ).all():
        at = starts.get(int(end), as_of_ms)
        add(at // step * step, int(n), int(size), -1)
    points, blobs, size = [], 0, 0
    for t in sorted(changes):
        blobs += changes[t][0]
        size += changes[t][1]
        points.append({"t": t, "blobs": blobs, "bytes": size})
    if points and points[-1]["t"] < as_of_ms:
        points.append({"t": as_of_ms, "blobs": blobs, "bytes": size})
    return points, step


def growth(points: list[dict[str, int]], as_of_ms: int) -> dict[str, Any]:
    """Bytes and blobs per day over the last week (or all history), and when the next round
    size is reached at that rate (`etaMs` null when not growing)."""
    current = points[-1] if points else {"t": as_of_ms, "blobs": 0, "bytes": 0}
    start = max(as_of_ms - GROWTH_WINDOW_MS, points[0]["t"] if points else as_of_ms)
    before = {"blobs": 0, "bytes": 0}  # a history shorter than the window grew from nothing
    for p in points:
        if points[0]["t"] < start and p["t"] <= start:
            before = p
    window = max(as_of_ms - start, 1)
    per_day_bytes = (current["bytes"] - before["bytes"]) * DAY_MS / window
    per_day_blobs = (current["blobs"] - before["blobs"]) * DAY_MS / window
    target, label = next((m for m in MILESTONES if m[0] > current["bytes"]), MILESTONES[-1])
    eta = None
    if per_day_bytes > 0 and target > current["bytes"]:
        eta = as_of_ms + int((target - current["bytes"]) / per_day_bytes * DAY_MS)
    return {
        "windowMs": window,
        "bytesPerDay": round(per_day_bytes),
        "blobsPerDay": round(per_day_blobs, 3),
        "nextMilestone": {"bytes": target, "label": label, "etaMs": eta},
    }


def reads_and_writes(c: Connection, as_of_ms: int) -> dict[str, Any]:
    """Bytes and blobs written (certified) and read (served by relayers) per hour, or per day
    beyond three days of history, with the read:write ratio of bytes."""
    first_write = c.execute(select(func.min(Blob.certified_ms))).scalar()
    first_read = c.execute(select(func.min(ReadCount.hour_ms))).scalar()
    known = [int(t) for t in (first_write, first_read) if t is not None]
    start = min(known) if known else as_of_ms
    step = HOUR_MS if as_of_ms - start <= 3 * DAY_MS else DAY_MS
    rows: dict[int, dict[str, int]] = defaultdict(
        lambda: {"writtenBytes": 0, "writtenBlobs": 0, "readBytes": 0, "readBlobs": 0}
    )
    written = (Blob.certified_ms // step).label("b")
    for b, n, size in c.execute(
        select(written, func.count(), func.coalesce(func.sum(Blob.size), 0))
        .where(Blob.certified_ms.is_not(None))
        .group_by(written)
    ).all():
        rows[int(b or 0) * step].update(writtenBytes=int(size), writtenBlobs=int(n))
    read = (ReadCount.hour_ms // step).label("b")
    for b, size, n in c.execute(
        select(read, func.sum(ReadCount.bytes), func.sum(ReadCount.blobs)).group_by(read)
    ).all():
        rows[int(b) * step].update(readBytes=int(size), readBlobs=int(n))
    points = [{"t": t, **rows[t]} for t in sorted(rows)]
    totals = {k: sum(p[k] for p in points) for k in ("writtenBytes", "writtenBlobs")}
    totals.update({k: sum(p[k] for p in points) for k in ("readBytes", "readBlobs")})
    ratio = totals["readBytes"] / totals["writtenBytes"] if totals["writtenBytes"] else None
    top = c.execute(
        select(BlobReads.blob_id, func.sum(BlobReads.hits), func.sum(BlobReads.bytes))
        .group_by(BlobReads.blob_id)
        .order_by(func.sum(BlobReads.hits).desc(), BlobReads.blob_id)
        .limit(TOP_READ_BLOBS)
    ).all()
    return {
        "bucketMs": step,
        "points": points,
        "totals": {**totals, "ratio": None if ratio is None else round(ratio, 4)},
        "topBlobs": [{"blobId": b, "hits": int(h), "bytes": int(s)} for b, h, s in top],
    }


def content_mix(c: Connection, live: Any) -> list[dict[str, Any]]:
    """Stored bytes and blobs by content type, largest first; past the top few, `other`."""
    rows = c.execute(
        select(Blob.content_type, func.count(), func.coalesce(func.sum(Blob.size), 0))
        .where(live)
        .group_by(Blob.content_type)
    ).all()
    ordered = sorted(
        ((ct or "unknown", int(n), int(s)) for ct, n, s in rows), key=lambda r: (-r[2], r[0])
    )
    if len(ordered) > TOP_CONTENT_TYPES:
        rest = ordered[TOP_CONTENT_TYPES - 1 :]
        ordered = ordered[: TOP_CONTENT_TYPES - 1] + [
            ("other", sum(r[1] for r in rest), sum(r[2] for r in rest))
        ]
    return [{"contentType": ct, "blobs": n, "bytes": s} for ct, n, s in ordered]


def expiring_soon(
    c: Connection, epoch: int, starts: dict[int, int], epoch_ms: int | None
) -> list[dict[str, Any]]:
    """Stored blobs and bytes whose storage ends in each of the next few epochs, with when
    (estimated from the epoch duration, when known)."""
    live_until = and_(
        Blob.status == "certified",
        Blob.end_epoch > epoch,
        Blob.end_epoch <= epoch + EXPIRING_EPOCHS,
    )
    found = {
        int(e): (int(n), int(s))
        for e, n, s in c.execute(
            select(Blob.end_epoch, func.count(), func.coalesce(func.sum(Blob.size), 0))
            .where(live_until)
            .group_by(Blob.end_epoch)
        ).all()
    }
    base = starts.get(epoch)
    out = []
    for e in range(epoch + 1, epoch + EXPIRING_EPOCHS + 1):
        n, s = found.get(e, (0, 0))
        at = base + (e - epoch) * epoch_ms if base is not None and epoch_ms else None
        out.append({"endEpoch": e, "atMs": at, "blobs": n, "bytes": s})
    return out


def prices(c: Connection) -> list[dict[str, int]]:
    """Every price change, in order, with its chain time."""
    return [
        {
            "epoch": p.epoch,
            "storagePrice": p.storage_price,
            "writePrice": p.write_price,
            "timestampMs": p.timestamp_ms,
        }
        for p in c.execute(select(Price).order_by(Price.cursor)).all()
    ]


def last_event_ms(c: Connection) -> int:
    """The chain time of the newest indexed event (0 before any)."""
    latest = c.execute(select(func.max(ChainEventRow.cursor))).scalar()
    if latest is None:
        return 0
    ms = c.execute(
        select(ChainEventRow.timestamp_ms).where(ChainEventRow.cursor == latest)
    ).scalar()
    return int(ms or 0)
