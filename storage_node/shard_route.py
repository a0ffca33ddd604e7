"""The previous owner's side of shard sync: `GET /v1/migrate/sync_shard` pages through a
shard's slivers of live certified blobs (frames `index ‖ length ‖ blob id ‖ sliver`), with a
bounded scan per request whatever the node stores. See `storage_node.handover`."""

from __future__ import annotations

from collections.abc import Iterator

from haulout.http_errors import ApiError
from haulout.protocol.blob_id import BlobId
from haulout.protocol.frames import frame_header
from haulout.protocol.params import sliver_for_shard

from .pack import SliverRef
from .service import NodeService

SYNC_PAGE = 100
"""Most blobs one `GET /v1/migrate/sync_shard` answer carries (the asker pages with `after`)."""
SYNC_SCAN = 1000
"""Most blobs one `sync_shard` answer looks at (those this node lacks a sliver of are skipped)."""
NEXT_HEADER = "x-haulout-next-after"
"""The `sync_shard` answer's header naming the blob id to page on after; absent at the end."""
BLOB_ID_BYTES = 32


def shard_page(
    service: NodeService, shard: int, after: BlobId | None, limit: int
) -> tuple[list[tuple[BlobId, int, SliverRef]], BlobId | None]:
    """What this node holds of `shard`, for up to `limit` live certified blobs with ids above
    `after` (in the text order of blob ids): (blob id, sliver index, where it is), and where
    the next page starts (None: no more). At most `SYNC_SCAN` blobs are looked at per
    call, so a request costs the same whatever the node stores. Only certified blobs are
    served: their slivers are public."""
    committee = service.committee()
    if not 0 <= shard < committee.n_shards:
        raise ApiError(
            400, "INVALID_SHARD", f"a shard is in 0..{committee.n_shards - 1}; got {shard}"
        )
    out = []
    scanned = service.registry.certified_after(str(after) if after else "", SYNC_SCAN)
    for blob_id in scanned:
        index = sliver_for_shard(shard, int(blob_id), committee.n_shards)
        ref = service.store.locate(blob_id, [index]).get(index)
        if ref is None:
            continue
        out.append((blob_id, index, ref))
        if len(out) >= limit:
            return out, blob_id
    return out, (scanned[-1] if len(scanned) == SYNC_SCAN else None)


def shard_records(page: list[tuple[BlobId, int, SliverRef]]) -> Iterator[bytes]:
    """The `sync_shard` answer: per blob one frame `index u16 ‖ length u32 ‖ blob id (32
    bytes) ‖ sliver`, streamed from the sliver files (a file deleted meanwhile ends the
    answer early; the asker fetches what it still lacks blob by blob)."""
    for blob_id, index, ref in page:
        try:
            fh = open(ref.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return
        with fh:
            fh.seek(ref.offset)
            yield frame_header(index, BLOB_ID_BYTES + ref.size) + blob_id.raw
            left = ref.size
            while left > 0 and (chunk := fh.read(min(left, 1 << 20))):
                left -= len(chunk)
                yield chunk
            if left:
                return  # the file shrank meanwhile: end the answer early, as documented
