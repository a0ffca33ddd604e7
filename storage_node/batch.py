"""Receiving a batch of slivers (`PUT /v1/blobs/{id}/slivers`) without holding or copying them.

The body is frames of `index u16 LE ‖ length u32 LE ‖ sliver`. Each sliver's bytes go straight
from the socket's chunks into a temporary file and a running hash; when a frame ends its hash
is compared with the metadata. Verified slivers become visible only when the batch ends:
every temporary file is fsynced, renamed into place, and the directory fsynced once, so a
node answers only for what is on disk and pays one directory sync per batch, not per sliver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from haulout.http_errors import ApiError
from haulout.protocol.blob_id import BlobId
from haulout.protocol.frames import FRAME_HEADER, FrameParser
from haulout.protocol.metadata import BlobMetadata

from .service import NodeService
from .store import PendingFile


class BatchReceiver:
    """Parses one batch body incrementally and stores the slivers it carries."""

    def __init__(
        self, service: NodeService, blob_id: BlobId, meta: BlobMetadata, owned: set[int]
    ) -> None:
        self.service, self.blob_id, self.meta, self.owned = service, blob_id, meta, owned
        self.limit = len(owned) * (FRAME_HEADER + meta.params.sliver_len)
        self.parser = FrameParser(self)
        self.index = -1
        self.current: PendingFile | None = None
        self.hash = meta.sliver_hasher()
        self.verified: list[tuple[int, PendingFile]] = []

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
            if left := self.parser.inside_frame:
                raise ApiError(
                    400,
                    "TRUNCATED_BATCH",
                    f"the batch ended inside a frame ({left} bytes missing); resend it",
                )
        finally:
            if self.current is not None:
                self.current.discard()
                self.current = None
            await run_in_threadpool(self._commit)
        return [i for i, _ in self.verified]

    def start(self, index: int, size: int) -> None:
        """A frame begins: check its size and shard, open a pending file."""
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
        self.current = self.service.store.pending_sliver(self.blob_id, index)

    def data(self, piece: memoryview) -> None:
        """Sliver bytes: to the pending file and the running hash."""
        assert self.current is not None
        self.current.write(piece)
        self.hash.update(piece)

    def end(self) -> None:
        """A frame is complete: keep the sliver if it matches the metadata."""
        assert self.current is not None
        pending, self.current = self.current, None
        if self.hash.digest() != self.meta.sliver_hashes[self.index]:
            pending.discard()
            self.service.stats.slivers_rejected += 1
            raise ApiError(
                400,
                "INVALID_SLIVER",
                f"sliver {self.index} does not match its hash in the metadata; it is corrupt or forged",
            )
        self.verified.append((self.index, pending))

    def _commit(self) -> None:
        if self.verified:
            try:
                self.service.store.commit([p for _, p in self.verified])
            except FileNotFoundError:  # the blob's directory went: deleted or expired meanwhile
                for _, p in self.verified:
                    p.discard()
                self.verified = []
                raise ApiError(
                    404,
                    "BLOB_NOT_REGISTERED",
                    f"blob {self.blob_id} was deleted or expired during the upload; "
                    "nothing was stored",
                ) from None
            self.service.stats.slivers_stored += len(self.verified)
