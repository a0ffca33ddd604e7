"""Async HTTP client for the storage node API, with timeouts and retries."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from haulout.protocol.blob_id import BlobId
from haulout.protocol.frames import FrameParser, FrameSink, decode_frames, frame_header

SMALL_BATCH = 1 << 20
"""A batch of in-memory slivers up to this many bytes is sent as one piece."""


class NodeError(Exception):
    """A node answered with an error or could not be reached."""

    def __init__(self, url: str, message: str, status: int | None = None, reason: str = "") -> None:
        super().__init__(f"{url}: {message}")
        self.url, self.status, self.reason = url, status, reason


@dataclass(frozen=True)
class Confirmation:
    """A node's signed confirmation of a blob."""

    epoch: int
    message: bytes
    signature: bytes


def _raise_for(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    reason, message = "", resp.text[:300]
    try:
        err = resp.json()["error"]
        message = err["message"]
        reason = err["details"][0]["reason"]
    except Exception:
        pass
    raise NodeError(str(resp.request.url), message, resp.status_code, reason)


async def _file_chunks(path: Path, chunk: int = 1 << 20) -> AsyncIterator[bytes]:
    with open(path, "rb") as fh:
        while data := fh.read(chunk):
            yield data


class NodeClient:
    """Talks to one storage node; `retries` applies to connection errors and 5xx answers."""

    def __init__(self, url: str, client: httpx.AsyncClient, retries: int = 3) -> None:
        self.url = url.rstrip("/")
        self.client = client
        self.retries = retries

    async def _request(self, method: str, path: str, **kw: object) -> httpx.Response:
        last: Exception | None = None
        for attempt in range(self.retries):
            try:
                body = kw.get("content")
                # a fresh stream for every attempt (kw keeps the factory for the next one)
                args = {**kw, "content": body()} if callable(body) else kw
                resp = await self.client.request(method, self.url + path, **args)  # type: ignore[arg-type]
                if resp.status_code >= 500 and attempt + 1 < self.retries:
                    last = NodeError(self.url, f"HTTP {resp.status_code}", resp.status_code)
                else:
                    _raise_for(resp)
                    return resp
            except httpx.HTTPError as exc:
                last = NodeError(self.url, f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(0.2 * (2**attempt))
        assert last is not None
        raise last

    async def put_metadata(self, blob_id: BlobId, metadata: bytes) -> None:
        """Upload serialised metadata."""
        await self._request("PUT", f"/v1/blobs/{blob_id}/metadata", content=metadata)

    async def put_sliver(self, blob_id: BlobId, index: int, data: bytes | Path) -> None:
        """Upload one sliver (from memory or streamed from a file)."""
        if isinstance(data, Path):
            path = data
            await self._request(
                "PUT",
                f"/v1/blobs/{blob_id}/slivers/{index}",
                content=lambda: _file_chunks(path),
                headers={"content-length": str(path.stat().st_size)},
            )
        else:
            await self._request("PUT", f"/v1/blobs/{blob_id}/slivers/{index}", content=data)

    async def put_slivers(
        self, blob_id: BlobId, slivers: Mapping[int, bytes | bytearray | Path]
    ) -> list[int]:
        """Upload several slivers in one streamed request (frames: index u16, length u32, bytes)."""
        order = sorted(slivers)
        sizes = {
            i: (v.stat().st_size if isinstance(v, Path) else len(v)) for i, v in slivers.items()
        }

        async def frames() -> AsyncIterator[bytes]:
            for i in order:
                yield frame_header(i, sizes[i])
                sliver = slivers[i]
                if not isinstance(sliver, Path):  # bytes or a bytearray: sent in 1 MiB pieces
                    view = memoryview(sliver)
                    for at in range(0, len(view), 1 << 20):
                        yield bytes(view[at : at + (1 << 20)])
                else:
                    async for piece in _file_chunks(sliver):
                        yield piece

        total = sum(6 + sizes[i] for i in order)
        body: object = frames
        if total <= SMALL_BATCH and not any(isinstance(v, Path) for v in slivers.values()):
            # One write instead of two per sliver: each write of a streamed body costs a trip
            # through h11 and anyio (timeouts, checkpoints), the bulk of a small upload's CPU.
            body = b"".join(
                frame_header(i, sizes[i]) + bytes(slivers[i])  # type: ignore[arg-type]
                for i in order
            )
        resp = await self._request(
            "PUT",
            f"/v1/blobs/{blob_id}/slivers",
            content=body,
            headers={"content-length": str(total)},
        )
        stored: list[int] = resp.json()["stored"]
        return stored

    async def get_metadata(self, blob_id: BlobId) -> bytes:
        """Serialised metadata."""
        return (await self._request("GET", f"/v1/blobs/{blob_id}/metadata")).content

    async def get_slivers(self, blob_id: BlobId, indices: list[int]) -> dict[int, bytes]:
        """Several slivers in one request; those the node lacks are absent from the answer."""
        resp = await self._request(
            "GET",
            f"/v1/blobs/{blob_id}/slivers",
            params={"indices": ",".join(map(str, indices))},
        )
        try:
            return decode_frames(resp.content)
        except ValueError as exc:
            raise NodeError(self.url, f"malformed batch of slivers: {exc}") from exc

    async def stream_slivers(self, blob_id: BlobId, indices: list[int], sink: FrameSink) -> None:
        """Like `get_slivers`, but the answer's frames are handed to `sink` as they arrive
        (large slivers never sit in memory); one attempt, the reader asks elsewhere."""
        params = {"indices": ",".join(map(str, indices))}
        try:
            async with self.client.stream(
                "GET", f"{self.url}/v1/blobs/{blob_id}/slivers", params=params
            ) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    _raise_for(resp)
                parser = FrameParser(sink)
                async for chunk in resp.aiter_raw():
                    parser.feed(chunk)
        except httpx.HTTPError as exc:
            raise NodeError(self.url, f"{type(exc).__name__}: {exc}") from exc
        if missing := parser.inside_frame:
            raise NodeError(
                self.url, f"the batch of slivers was cut short ({missing} bytes missing)"
            )

    async def get_sliver(self, blob_id: BlobId, index: int) -> bytes:
        """One sliver."""
        return (await self._request("GET", f"/v1/blobs/{blob_id}/slivers/{index}")).content

    async def confirmation(self, blob_id: BlobId, object_id: str | None = None) -> Confirmation:
        """The node's BLS-signed confirmation."""
        params = {"object_id": object_id} if object_id else None
        r = (await self._request("GET", f"/v1/blobs/{blob_id}/confirmation", params=params)).json()
        return Confirmation(
            int(r["epoch"]), base64.b64decode(r["message"]), base64.b64decode(r["signature"])
        )

    async def status(self, blob_id: BlobId) -> dict[str, object]:
        """What the node holds of a blob."""
        result: dict[str, object] = (
            await self._request("GET", f"/v1/blobs/{blob_id}/status")
        ).json()
        return result

    async def health(self) -> dict[str, object]:
        """Node health."""
        result: dict[str, object] = (await self._request("GET", "/v1/health")).json()
        return result
