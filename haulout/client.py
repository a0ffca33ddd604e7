"""Python SDK for a Haulout relayer: store and read blobs, status, delete, extend, attributes.

`HauloutClient` is synchronous, `AsyncHauloutClient` asynchronous; both raise `HauloutError`
(or `BlobNotFound`) carrying the server's reason code.
"""

from __future__ import annotations

import json
import mimetypes
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx

from haulout.chain.accounts import Account
from haulout.chain.port import ChainPort

from . import blob_download
from .sdk_steps import (
    Http,
    Steps,
    aget_raw,
    arun_steps,
    get_raw,
    raw_response,
    run_steps,
    undecoded,
)

if TYPE_CHECKING:
    from haulout.buckets import Buckets

DEFAULT_RELAYER = os.environ.get("HAULOUT_RELAYER_URL", "http://127.0.0.1:31415")
Progress = Callable[[int, int], None]
T = TypeVar("T")


class HauloutError(Exception):
    """An error answered by the relayer (or a connection failure)."""

    def __init__(self, message: str, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


class BlobNotFound(HauloutError):
    """The blob is not stored (never certified, deleted or expired)."""


def _unreachable(request: httpx.Request, exc: Exception) -> HauloutError:
    url = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
    return HauloutError(
        f"cannot reach the relayer at {url} ({type(exc).__name__}: {exc}); is it running? (`haulout up`)"
    )


class _Transport(httpx.HTTPTransport):
    """Connection failures become a HauloutError that says what to check."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except httpx.TransportError as exc:
            raise _unreachable(request, exc) from exc


class _AsyncTransport(httpx.AsyncHTTPTransport):
    """Async twin of `_Transport`."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.TransportError as exc:
            raise _unreachable(request, exc) from exc


def _check(resp: httpx.Response) -> httpx.Response:
    if resp.status_code < 400 or resp.status_code == 304:
        return resp
    reason, message = "", resp.text[:500]
    try:
        err = resp.json()["error"]
        message, reason = err["message"], err["details"][0]["reason"]
    except Exception:
        pass
    cls = (
        BlobNotFound
        if resp.status_code == 404
        and reason in ("BLOB_NOT_FOUND", "OBJECT_NOT_FOUND", "BLOB_NOT_CERTIFIED")
        else HauloutError
    )
    raise cls(f"HTTP {resp.status_code} {reason}: {message}", resp.status_code, reason)


def _get_raw(http: httpx.Client, url: str, **kw: Any) -> httpx.Response:
    """A checked GET whose body is as stored (`sdk_steps.raw_response`)."""
    return _check(get_raw(http, url, **kw))


async def _aget_raw(http: httpx.AsyncClient, url: str, **kw: Any) -> httpx.Response:
    """`_get_raw` for the async client."""
    return _check(await aget_raw(http, url, **kw))


@dataclass(frozen=True)
class StoredBlob:
    """What a store returned: blob id, object id (if newly created, or already certified as an
    object the relayer names), end epoch, raw answer."""

    blob_id: str
    object_id: str | None
    end_epoch: int
    newly_created: bool
    raw: dict[str, Any]

    @property
    def shared_object_id(self) -> str | None:
        """The SharedBlob's id when the store asked for `share` and created the blob."""
        shared: str | None = self.raw.get("newlyCreated", {}).get("sharedBlobObject")
        return shared

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> StoredBlob:
        """Parse a `newlyCreated` / `alreadyCertified` answer."""
        if "newlyCreated" in body:
            obj = body["newlyCreated"]["blobObject"]
            return cls(obj["blobId"], obj["id"], obj["storage"]["endEpoch"], True, body)
        ac = body["alreadyCertified"]
        return cls(ac["blobId"], ac.get("object"), ac["endEpoch"], False, body)


QuiltFile = tuple[str, bytes | IO[bytes], Mapping[str, str] | None]
"""One file of a quilt: identifier, bytes (or a binary file), tags."""


@dataclass(frozen=True)
class StoredQuilt:
    """What a quilt store returned: the quilt as a stored blob, and identifier → patch id."""

    blob: StoredBlob
    patches: dict[str, str]
    raw: dict[str, Any]

    @property
    def quilt_id(self) -> str:
        """The quilt's blob id."""
        return self.blob.blob_id

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> StoredQuilt:
        """Parse `{blobStoreResult, storedQuiltBlobs}`."""
        patches = {p["identifier"]: p["quiltPatchId"] for p in body["storedQuiltBlobs"]}
        return cls(StoredBlob.from_response(body["blobStoreResult"]), patches, body)


def _store_quilt(
    files: Sequence[QuiltFile],
    epochs: int | None,
    deletable: bool,
    send_object_to: str | None,
    encoding_type: int | None,
    force: bool,
) -> Steps[StoredQuilt]:
    """`PUT /v1/quilts` as Walrus's client sends it: one form field per file, named by its
    identifier, and the tags in `_metadata`."""
    form: list[tuple[str, Any]] = []
    meta = []
    for identifier, data, tags in files:
        form.append((identifier, (identifier, data, "application/octet-stream")))
        if tags:
            meta.append({"identifier": identifier, "tags": dict(tags)})
    options: dict[str, Any] = {
        "params": _params(epochs, deletable, send_object_to, encoding_type, force),
        "files": form,
    }
    if meta:
        options["data"] = {"_metadata": json.dumps(meta)}
    resp = yield Http("PUT", "/v1/quilts", options)
    return StoredQuilt.from_response(_check(resp).json())


def _store_quilt_batch(
    quilts: Sequence[Sequence[QuiltFile]],
    epochs: int | None,
    deletable: bool,
    encoding_type: int | None,
) -> Steps[list[StoredQuilt | HauloutError]]:
    """`PUT /v1/quilts/batch`: several quilts in one upload, registered in one transaction and
    certified in one; per quilt, what was stored or why it was not."""
    form: list[tuple[str, Any]] = []
    meta = []
    for files in quilts:
        for identifier, data, tags in files:
            form.append((identifier, (identifier, data, "application/octet-stream")))
            if tags:
                meta.append({"identifier": identifier, "tags": dict(tags)})
    fields = {"_quilts": json.dumps([len(files) for files in quilts])}
    if meta:
        fields["_metadata"] = json.dumps(meta)
    params = _params(epochs, deletable, None, encoding_type, False)
    resp = yield Http("PUT", "/v1/quilts/batch", {"params": params, "files": form, "data": fields})
    out: list[StoredQuilt | HauloutError] = []
    for body in _check(resp).json()["quilts"]:
        if "error" in body:
            err = body["error"]
            reason = (err.get("details") or [{}])[0].get("reason", "")
            out.append(HauloutError(f"HTTP {err.get('code')} {reason}: {err.get('message')}"))
        else:
            out.append(StoredQuilt.from_response(body))
    return out


def _read_quilt_patch(quilt_patch_id: str) -> Steps[tuple[bytes, dict[str, str]]]:
    resp = _check((yield Http("GET", f"/v1/blobs/by-quilt-patch-id/{quilt_patch_id}")))
    return resp.content, dict(resp.headers)


def _read_quilt_file(quilt_id: str, identifier: str) -> Steps[bytes]:
    path = f"/v1/blobs/by-quilt-id/{quilt_id}/{quote(identifier, safe='/')}"
    return _check((yield Http("GET", path))).content


def _list_quilt_patches(quilt_id: str) -> Steps[list[dict[str, Any]]]:
    patches: list[dict[str, Any]] = _check(
        (yield Http("GET", f"/v1/quilts/{quilt_id}/patches"))
    ).json()
    return patches


class _ClientBase:
    """What both clients keep: the relayer's URL, the bearer header, and for the upload relay
    the user's account and chain port."""

    def __init__(
        self, url: str, token: str, account: Account | None, chain: ChainPort | None
    ) -> None:
        self.url = url.rstrip("/")
        self.headers = {"authorization": f"Bearer {token}"} if token else {}
        self.account, self.chain = account, chain

    def _relay_store(
        self,
        data: object,
        epochs: int | None,
        deletable: bool,
        encoding_type: int | None,
        publisher_options: bool,
    ) -> Steps[StoredBlob]:
        """`store(via_upload_relay=True)`: checks what the mode needs, then the relayed
        store (`haulout.relay_upload`) with this client's own account and chain."""
        if self.account is None or self.chain is None:
            raise HauloutError(
                "via_upload_relay needs an account and a chain: "
                "HauloutClient(url, account=Account..., chain=Deployment.load(...).chain_port())"
            )
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise HauloutError("via_upload_relay stores bytes (the blob id is computed first)")
        if publisher_options:
            raise HauloutError(
                "send_object_to, force and share are publisher options; through the upload "
                "relay the blob is this account's own object"
            )
        from .relay_upload import relayed_store

        relayed = yield from relayed_store(
            self.account, self.chain, data, epochs or 1, deletable, encoding_type
        )
        return relayed.stored


def _iter_view(
    view: memoryview, progress: Progress | None, chunk: int = 1 << 20
) -> Iterator[bytes]:
    for start in range(0, len(view), chunk):
        yield bytes(view[start : start + chunk])
        if progress:
            progress(min(start + chunk, len(view)), len(view))


async def _aiter_view(view: memoryview, chunk: int = 1 << 20) -> AsyncIterator[bytes]:
    for piece in _iter_view(view, None, chunk):
        yield piece


def _iter_file(
    fh: IO[bytes], total: int, progress: Progress | None, chunk: int = 1 << 20
) -> Iterator[bytes]:
    sent = 0
    while data := fh.read(chunk):
        sent += len(data)
        if progress:
            progress(sent, total)
        yield data


BUSY_RETRIES = 5
"""How often `store` sends bytes again after `503 UPLOADS_BUSY` (the relayer's upload bound)."""


def _busy_wait(resp: httpx.Response) -> float | None:
    """Seconds to wait before sending again, when the relayer said it is busy (503 with
    `Retry-After`); None for any other answer. Capped at 10 s whatever the header says."""
    if resp.status_code != 503 or "retry-after" not in resp.headers:
        return None
    try:
        if b"UPLOADS_BUSY" not in resp.content[:2048]:
            return None
        return min(max(float(resp.headers["retry-after"]), 0.1), 10.0)
    except ValueError:
        return None


def _params(
    epochs: int | None,
    deletable: bool,
    send_object_to: str | None,
    encoding_type: int | None = None,
    force: bool = False,
    share: bool = False,
) -> dict[str, str]:
    """Walrus's store parameters: blobs are deletable unless `permanent=true`."""
    params: dict[str, str] = {}
    if encoding_type is not None:  # else the relayer's default (type 1 on new deployments)
        params["encoding_type"] = str(encoding_type)
    if epochs is not None:
        params["epochs"] = str(epochs)
    if not deletable:
        params["permanent"] = "true"
    if force:
        params["force"] = "true"
    if share:
        params["share"] = "true"
    if send_object_to:
        params["send_object_to"] = send_object_to
    return params


class HauloutClient(_ClientBase):
    """Synchronous client. With `account` and `chain` (e.g. `Deployment.chain_port()`), a
    store can go through the relayer's upload relay instead (`store(via_upload_relay=True)`):
    that account registers, pays and owns the blob, the relayer only carries the bytes."""

    def __init__(
        self,
        url: str = DEFAULT_RELAYER,
        token: str = "",
        timeout: float = 600.0,
        account: Account | None = None,
        chain: ChainPort | None = None,
    ) -> None:
        super().__init__(url, token, account, chain)
        self.http = httpx.Client(
            base_url=self.url, headers=self.headers, timeout=timeout, transport=_Transport()
        )
        self._downloads = (
            blob_download.Downloader(self.url, self.headers, timeout)
            if blob_download.usable(self.url)
            else None
        )
        self._buckets: Buckets | None = None

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()
        if self._downloads is not None:
            self._downloads.close()

    @property
    def buckets(self) -> Buckets:
        """Named, versioned trees of files (`haulout.buckets.Buckets`)."""
        from haulout.buckets import Buckets

        if self._buckets is None:
            self._buckets = Buckets(self)
        return self._buckets

    def __enter__(self) -> HauloutClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def health(self) -> dict[str, Any]:
        """Relayer health (epoch, shards, max blob size)."""
        result: dict[str, Any] = _check(self.http.get("/v1/health")).json()
        return result

    def store(
        self,
        data: bytes | IO[bytes] | Iterator[bytes],
        epochs: int | None = None,
        deletable: bool = True,
        send_object_to: str | None = None,
        progress: Progress | None = None,
        size: int | None = None,
        encoding_type: int | None = None,
        content_type: str | None = None,
        force: bool = False,
        share: bool = False,
        via_upload_relay: bool = False,
    ) -> StoredBlob:
        """Store bytes, a binary file object or an iterator of chunks (`encoding_type`: 0
        or 1; by default the relayer's); `content_type` is recorded as the blob's
        `content-type` attribute (served back as the header).

        `via_upload_relay` (bytes only; needs the client's `account` and `chain`): the blob is
        registered, paid and certified by that account through the relayer's upload relay
        (see `haulout.relay_upload`), so the relayer's wallet neither pays nor owns it.

        As Walrus, blobs are deletable unless `deletable=False` (sent as `permanent=true`);
        `force` stores a new Blob object even if the blob is certified already; `share` wraps
        it in a SharedBlob that anyone can fund and extend (`StoredBlob.shared_object_id`).

        The body is sent in 1 MiB pieces with a Content-Length whenever the size is known
        (bytes, files, or `size=` for an iterator), so the relayer encodes while it receives;
        one huge write is several times slower through httpx."""
        if via_upload_relay:
            publisher = bool(send_object_to or force or share)
            return self._run(self._relay_store(data, epochs, deletable, encoding_type, publisher))
        content: Any
        headers: dict[str, str] = {}
        if isinstance(data, (bytes, bytearray, memoryview)):
            view = memoryview(data)
            size = len(view)
            content = _iter_view(view, progress)
        elif hasattr(data, "read"):
            size = size if size is not None else _size_of(data)  # type: ignore[arg-type]
            content = _iter_file(data, size or 0, progress)  # type: ignore[arg-type]
        else:
            content = data
        if size is not None:
            headers["content-length"] = str(size)
        headers["content-type"] = content_type or "application/octet-stream"
        params = _params(epochs, deletable, send_object_to, encoding_type, force, share)
        try:
            resp = self.http.put("/v1/blobs", params=params, content=content, headers=headers)
            for _ in range(BUSY_RETRIES):  # the relayer's upload bound: bytes can be sent again
                wait = _busy_wait(resp)
                if wait is None or not isinstance(data, (bytes, bytearray, memoryview)):
                    break
                time.sleep(wait)
                again = _iter_view(memoryview(data), progress)
                resp = self.http.put("/v1/blobs", params=params, content=again, headers=headers)
        except httpx.HTTPError as exc:
            raise HauloutError(
                f"cannot reach the relayer at {self.url}: {exc}; is `haulout up` running?"
            ) from exc
        return StoredBlob.from_response(_check(resp).json())

    def _run(self, steps: Steps[T]) -> T:
        """Run a call written once for both clients (`haulout.sdk_steps`)."""
        try:
            return run_steps(steps, self.http)
        except httpx.HTTPError as exc:
            raise HauloutError(f"cannot reach the relayer at {self.url}: {exc}") from exc

    def store_file(
        self,
        path: str | Path,
        epochs: int | None = None,
        deletable: bool = True,
        progress: Progress | None = None,
        encoding_type: int | None = None,
    ) -> StoredBlob:
        """Store a file, streamed, with the content type its name suggests."""
        p = Path(path)
        with p.open("rb") as fh:
            return self.store(
                fh,
                epochs,
                deletable,
                progress=progress,
                size=p.stat().st_size,
                encoding_type=encoding_type,
                content_type=guess_content_type(p.name),
            )

    def read(
        self,
        blob_id: str,
        start: int | None = None,
        end: int | None = None,
        strict: bool = False,
        skip_check: bool = False,
    ) -> bytes:
        """The blob's bytes, or bytes [start, end) of it. `strict` makes the relayer re-check
        the encoding's consistency even when it already knows the blob is consistent;
        `skip_check` (Walrus's `skip_consistency_check`) skips it, for trusted writers."""
        headers = {}
        if start is not None or end is not None:
            headers["range"] = f"bytes={start or 0}-{'' if end is None else end - 1}"
        params = {"strict_consistency_check": "true"} if strict else {}
        if skip_check:
            params["skip_consistency_check"] = "true"
        if self._downloads is None:
            return _get_raw(
                self.http, f"/v1/blobs/{blob_id}", headers=headers, params=params
            ).content
        try:
            got = self._downloads.get(f"/v1/blobs/{blob_id}", params, headers)
        except blob_download.AnswerTooLarge as exc:
            raise HauloutError(f"the relayer at {self.url} gave a wrong answer: {exc}") from exc
        except blob_download.DownloadFailed as exc:
            raise HauloutError(
                f"cannot reach the relayer at {self.url} ({exc}); is it running? (`haulout up`)"
            ) from exc
        if got.status >= 400:
            _check(undecoded(got.status, got.headers, got.body))
        return got.body

    def store_quilt(
        self,
        files: Sequence[QuiltFile],
        epochs: int | None = None,
        deletable: bool = True,
        send_object_to: str | None = None,
        encoding_type: int | None = None,
        force: bool = False,
    ) -> StoredQuilt:
        """Store small files as one quilt (Walrus's `PUT /v1/quilts`): `files` are
        `(identifier, bytes or binary file, tags or None)`; each stays readable by its
        identifier or its patch id without reading the rest."""
        return self._run(
            _store_quilt(files, epochs, deletable, send_object_to, encoding_type, force)
        )

    def store_quilt_batch(
        self,
        quilts: Sequence[Sequence[QuiltFile]],
        epochs: int | None = None,
        deletable: bool = True,
        encoding_type: int | None = None,
    ) -> list[StoredQuilt | HauloutError]:
        """Store several quilts in one upload (`PUT /v1/quilts/batch`): one registration and
        one certification transaction for all of them, instead of two per quilt. Identifiers
        are unique across the batch; a quilt that failed while the others were stored comes
        back as its error (store it again on its own)."""
        return self._run(_store_quilt_batch(quilts, epochs, deletable, encoding_type))

    def read_quilt_patch(self, quilt_patch_id: str) -> tuple[bytes, dict[str, str]]:
        """A patch's bytes and response headers (tags allow-listed as headers, and
        `x-quilt-patch-identifier`), by its quilt patch id."""
        return self._run(_read_quilt_patch(quilt_patch_id))

    def read_quilt_file(self, quilt_id: str, identifier: str) -> bytes:
        """The patch named `identifier` in quilt `quilt_id`."""
        return self._run(_read_quilt_file(quilt_id, identifier))

    def list_quilt_patches(self, quilt_id: str) -> list[dict[str, Any]]:
        """Every patch of a quilt: `identifier`, `patch_id` and `tags`."""
        return self._run(_list_quilt_patches(quilt_id))

    def read_byte_range(self, blob_id: str, start: int, length: int) -> bytes:
        """`length` bytes from `start` (Walrus's `/byte-range` route: 400 when the range is
        empty or reaches past the end, where `read(start=…)` would serve what there is)."""
        params = {"start": str(start), "length": str(length)}
        return _get_raw(self.http, f"/v1/blobs/{blob_id}/byte-range", params=params).content

    def read_stream(self, blob_id: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        """The blob's bytes as a stream of chunks."""
        with self.http.stream("GET", f"/v1/blobs/{blob_id}") as resp:
            if resp.status_code >= 400:
                _check(raw_response(resp, b"".join(resp.iter_raw())))
            yield from resp.iter_raw(chunk)  # as stored: never content-decoded

    def read_by_object(self, object_id: str) -> tuple[bytes, dict[str, str]]:
        """Bytes and headers (attributes) of a Blob object."""
        resp = _get_raw(self.http, f"/v1/blobs/by-object-id/{object_id}")
        return resp.content, dict(resp.headers)

    def status(self, blob_id: str) -> dict[str, Any]:
        """Certified / registered / nonexistent, with its objects."""
        result: dict[str, Any] = _check(self.http.get(f"/v1/blobs/{blob_id}/status")).json()
        return result

    def delete(self, object_id: str) -> dict[str, Any]:
        """Delete a deletable blob the relayer owns."""
        result: dict[str, Any] = _check(
            self.http.delete(f"/v1/blobs/by-object-id/{object_id}")
        ).json()
        return result

    def extend(self, object_id: str, epochs: int) -> dict[str, Any]:
        """Pay for more epochs."""
        result: dict[str, Any] = _check(
            self.http.post(f"/v1/blobs/by-object-id/{object_id}/extend", params={"epochs": epochs})
        ).json()
        return result

    def max_epochs(self) -> int:
        """The longest lifetime the system sells, in epochs (`--epochs max`)."""
        return int(self.health()["maxEpochsAhead"])

    def extend_tree(self, object_id: str, epochs: int) -> dict[str, Any]:
        """Extend a tree (a manifest and every blob it references; a plain blob alone) so
        all its members end `epochs` after the manifest's end epoch, in one transaction."""
        result: dict[str, Any] = _check(
            self.http.post(f"/v1/trees/{object_id}/extend", params={"epochs": epochs})
        ).json()
        return result

    def delete_tree(self, object_id: str) -> dict[str, Any]:
        """Delete a deletable tree: every member in one transaction, or none."""
        result: dict[str, Any] = _check(self.http.delete(f"/v1/trees/{object_id}")).json()
        return result

    def burn_tree(self, object_id: str) -> dict[str, Any]:
        """Burn every member's Blob object in one transaction (data stays until it expires)."""
        result: dict[str, Any] = _check(self.http.post(f"/v1/trees/{object_id}/burn")).json()
        return result

    def tree_status(self, blob_id: str) -> dict[str, Any]:
        """`status`, plus for a manifest its tree: earliest end epoch, missing members and
        those expiring first."""
        result: dict[str, Any] = _check(self.http.get(f"/v1/trees/{blob_id}/status")).json()
        return result

    def set_attribute(self, object_id: str, key: str, value: str) -> None:
        """Set an attribute (e.g. `content-type`)."""
        _check(
            self.http.put(
                f"/v1/blobs/by-object-id/{object_id}/attributes/{key}", content=value.encode()
            )
        )

    def remove_attribute(self, object_id: str, key: str) -> None:
        """Remove an attribute."""
        _check(self.http.delete(f"/v1/blobs/by-object-id/{object_id}/attributes/{key}"))


def guess_content_type(name: str) -> str | None:
    """The content type a file name suggests (None when it suggests nothing)."""
    return mimetypes.guess_type(name)[0]


def _size_of(fh: IO[bytes]) -> int | None:
    """Bytes left in a real file from its position; None when that cannot be known."""
    try:
        return os.fstat(fh.fileno()).st_size - fh.tell()
    except (OSError, AttributeError, ValueError):
        return None


class AsyncHauloutClient(_ClientBase):
    """Asynchronous client with the same calls; with `account` and `chain`, stores through
    the upload relay too (`store(via_upload_relay=True)`, chain calls in a worker thread)."""

    def __init__(
        self,
        url: str = DEFAULT_RELAYER,
        token: str = "",
        timeout: float = 600.0,
        account: Account | None = None,
        chain: ChainPort | None = None,
    ) -> None:
        super().__init__(url, token, account, chain)
        self.http = httpx.AsyncClient(
            base_url=self.url, headers=self.headers, timeout=timeout, transport=_AsyncTransport()
        )

    async def _run(self, steps: Steps[T]) -> T:
        """`HauloutClient._run` on the event loop."""
        try:
            return await arun_steps(steps, self.http)
        except httpx.HTTPError as exc:
            raise HauloutError(f"cannot reach the relayer at {self.url}: {exc}") from exc

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def __aenter__(self) -> AsyncHauloutClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def store(
        self,
        data: bytes | AsyncIterator[bytes],
        epochs: int | None = None,
        deletable: bool = True,
        send_object_to: str | None = None,
        size: int | None = None,
        encoding_type: int | None = None,
        content_type: str | None = None,
        force: bool = False,
        share: bool = False,
        via_upload_relay: bool = False,
    ) -> StoredBlob:
        """Store bytes or an async stream of chunks (`size` lets the relayer encode while
        it receives; `encoding_type` 0 or 1, by default the relayer's; `content_type` becomes
        the `content-type` attribute); deletable unless `deletable=False`, as
        `HauloutClient.store`, and `via_upload_relay` (bytes) as there."""
        if via_upload_relay:
            publisher = bool(send_object_to or force or share)
            return await self._run(
                self._relay_store(data, epochs, deletable, encoding_type, publisher)
            )
        content: Any = data
        if isinstance(data, (bytes, bytearray, memoryview)):
            size = len(data)
            content = _aiter_view(memoryview(data))
        headers = {"content-length": str(size)} if size is not None else {}
        headers["content-type"] = content_type or "application/octet-stream"
        resp = await self.http.put(
            "/v1/blobs",
            params=_params(epochs, deletable, send_object_to, encoding_type, force, share),
            content=content,
            headers=headers,
        )
        return StoredBlob.from_response(_check(resp).json())

    async def read(self, blob_id: str, start: int | None = None, end: int | None = None) -> bytes:
        """The blob's bytes, or a range of them."""
        headers = {}
        if start is not None or end is not None:
            headers["range"] = f"bytes={start or 0}-{'' if end is None else end - 1}"
        return (await _aget_raw(self.http, f"/v1/blobs/{blob_id}", headers=headers)).content

    async def store_quilt(
        self,
        files: Sequence[QuiltFile],
        epochs: int | None = None,
        deletable: bool = True,
        send_object_to: str | None = None,
        encoding_type: int | None = None,
        force: bool = False,
    ) -> StoredQuilt:
        """`HauloutClient.store_quilt`: small files as one quilt."""
        return await self._run(
            _store_quilt(files, epochs, deletable, send_object_to, encoding_type, force)
        )

    async def store_quilt_batch(
        self,
        quilts: Sequence[Sequence[QuiltFile]],
        epochs: int | None = None,
        deletable: bool = True,
        encoding_type: int | None = None,
    ) -> list[StoredQuilt | HauloutError]:
        """`HauloutClient.store_quilt_batch`: several quilts, one transaction each way."""
        return await self._run(_store_quilt_batch(quilts, epochs, deletable, encoding_type))

    async def read_quilt_patch(self, quilt_patch_id: str) -> tuple[bytes, dict[str, str]]:
        """`HauloutClient.read_quilt_patch`: a patch's bytes and headers by its patch id."""
        return await self._run(_read_quilt_patch(quilt_patch_id))

    async def read_quilt_file(self, quilt_id: str, identifier: str) -> bytes:
        """`HauloutClient.read_quilt_file`: the patch named `identifier`."""
        return await self._run(_read_quilt_file(quilt_id, identifier))

    async def list_quilt_patches(self, quilt_id: str) -> list[dict[str, Any]]:
        """`HauloutClient.list_quilt_patches`: identifier, patch id and tags of each patch."""
        return await self._run(_list_quilt_patches(quilt_id))

    async def read_stream(self, blob_id: str, chunk: int = 1 << 20) -> AsyncIterator[bytes]:
        """The blob's bytes as an async stream."""
        async with self.http.stream("GET", f"/v1/blobs/{blob_id}") as resp:
            if resp.status_code >= 400:
                _check(raw_response(resp, b"".join([piece async for piece in resp.aiter_raw()])))
            async for data in resp.aiter_raw(chunk):  # as stored: never content-decoded
                yield data

    async def status(self, blob_id: str) -> dict[str, Any]:
        """Blob status."""
        result: dict[str, Any] = _check(await self.http.get(f"/v1/blobs/{blob_id}/status")).json()
        return result

    async def delete(self, object_id: str) -> dict[str, Any]:
        """Delete a deletable blob."""
        result: dict[str, Any] = _check(
            await self.http.delete(f"/v1/blobs/by-object-id/{object_id}")
        ).json()
        return result

    async def extend(self, object_id: str, epochs: int) -> dict[str, Any]:
        """Pay for more epochs."""
        result: dict[str, Any] = _check(
            await self.http.post(
                f"/v1/blobs/by-object-id/{object_id}/extend", params={"epochs": epochs}
            )
        ).json()
        return result

    async def extend_tree(self, object_id: str, epochs: int) -> dict[str, Any]:
        """`HauloutClient.extend_tree`: a manifest and all its members, one transaction."""
        result: dict[str, Any] = _check(
            await self.http.post(f"/v1/trees/{object_id}/extend", params={"epochs": epochs})
        ).json()
        return result

    async def delete_tree(self, object_id: str) -> dict[str, Any]:
        """`HauloutClient.delete_tree`: every member in one transaction, or none."""
        result: dict[str, Any] = _check(await self.http.delete(f"/v1/trees/{object_id}")).json()
        return result

    async def burn_tree(self, object_id: str) -> dict[str, Any]:
        """`HauloutClient.burn_tree`."""
        result: dict[str, Any] = _check(await self.http.post(f"/v1/trees/{object_id}/burn")).json()
        return result

    async def tree_status(self, blob_id: str) -> dict[str, Any]:
        """`HauloutClient.tree_status`."""
        result: dict[str, Any] = _check(await self.http.get(f"/v1/trees/{blob_id}/status")).json()
        return result

    async def set_attribute(self, object_id: str, key: str, value: str) -> None:
        """Set an attribute."""
        _check(
            await self.http.put(
                f"/v1/blobs/by-object-id/{object_id}/attributes/{key}", content=value.encode()
            )
        )

    async def remove_attribute(self, object_id: str, key: str) -> None:
        """Remove an attribute."""
        _check(await self.http.delete(f"/v1/blobs/by-object-id/{object_id}/attributes/{key}"))
