"""Receiving a batch of slivers (`PUT /v1/blobs/{id}/slivers`) without holding or copying them.

The body is frames of `index u16 LE ‖ length u32 LE ‖ sliver`. Each sliver's bytes go straight
from the socket's chunks into the batch's temporary pack file (`storage_node.store.PendingPack`)
and a running hash; when a frame ends its hash is compared with the metadata, and a sliver
that fails is cut off the file again. Verified slivers become visible only when the batch
ends: the pack's index is written, the file fsynced and renamed into place, the directory
fsynced, so a node answers only for what is on disk and pays one file, one fsync and one
rename per batch, not per sliver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from haulout.http_errors import ApiError
from haulout.protocol.blob_id import BlobId
from haulout.protocol.frames import FRAME_HEADER, FrameParser
from haulout.protocol.metadata import BlobMetadata

from .service import NodeService, blob_gone_during_upload
from .store import PendingPack


class BatchReceiver:
    """Parses one batch body incrementally and stores the slivers it carries."""

    def __init__(
        self, service: NodeService, blob_id: BlobId, meta: BlobMetadata, owned: set[int]
    ) -> None:
        self.service, self.blob_id, self.meta, self.owned = service, blob_id, meta, owned
        self.limit = len(owned) * (FRAME_HEADER + meta.params.sliver_len)
        self.parser = FrameParser(self)
        self.index = -1
        self.pack: PendingPack | None = None
        self.hash = meta.sliver_hasher()
        self.stored: list[int] = []

    async def receive(self, body: AsyncIterator[bytes]) -> list[int]:
        """Consume the body; returns the indices stored. Slivers verified before a bad frame
        are kept (a retry need not resend them); the bad one and any partial one are not."""
        received = 0
        try:
            async for chunk in body:
                received += len(chunk)
                if received > self.limit:
                    raise ApiError(
                        413,
                        "PAYLOAD_TOO_LARGE",
                        f"the batch exceeds {self.limit} bytes ({len(self.owned)} slivers of "
                        f"{self.meta.params.sliver_len})",
                    )
                self.parser.feed(chunk)
                if self.pack is not None and self.pack.due:  # a direct write waits for the disk
                    if self.pack.quick:
                        self.pack.drain()
                    else:
                        await run_in_threadpool(self.pack.drain)
            if left := self.parser.inside_frame:
                raise ApiError(
                    400,
                    "TRUNCATED_BATCH",
                    f"the batch ended inside a frame ({left} bytes missing); resend it",
                )
        finally:
            if self.pack is not None:
                await run_in_threadpool(self._commit, self.pack)
        return self.stored

    def start(self, index: int, size: int) -> None:
        """A frame begins: check its size and shard; the batch's pack opens at its first."""
        expected = self.meta.params.sliver_len
        if size != expected:
            raise ApiError(
                400,
                "INVALID_SLIVER",
                f"frame for sliver {index} declares {size} bytes; this blob's slivers are {expected}",
            )
        self.service.check_sliver_index(self.blob_id, index, self.meta, self.owned)
        self.index = index
        self.hash = self.meta.sliver_hasher()
        if self.pack is None:
            self.pack = self.service.store.pending_pack(self.blob_id)

    def data(self, piece: memoryview) -> None:
        """Sliver bytes: to the pending pack and the running hash."""
        assert self.pack is not None
        self.pack.write(piece)
        self.hash.update(piece)

    def end(self) -> None:
        """A frame is complete: keep the sliver if it matches the metadata."""
        assert self.pack is not None
        if self.hash.digest() != self.meta.sliver_hashes[self.index]:
            self.pack.drop()
            self.service.stats.slivers_rejected += 1
            raise ApiError(
                400,
                "INVALID_SLIVER",
                f"sliver {self.index} does not match its hash in the metadata; it is corrupt or forged",
            )
        self.pack.keep(self.index)

    def _commit(self, pack: PendingPack) -> None:
        """Make the verified slivers durable (a sliver cut short is left out)."""
        try:
            self.stored = self.service.store.commit_pack(pack)
        except FileNotFoundError:  # the blob's directory went: deleted or expired meanwhile
            raise blob_gone_during_upload(self.blob_id) from None
        self.service.stats.slivers_stored += len(self.stored)
