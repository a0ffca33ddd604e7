"""Quilts over HTTP, as Walrus's publisher and aggregator serve them: `PUT /v1/quilts`
(multipart: each file field's name is its identifier, an optional `_metadata` JSON list of
`{identifier, tags}`), `GET|HEAD /v1/blobs/by-quilt-patch-id/{id}`,
`GET|HEAD /v1/blobs/by-quilt-id/{quilt_id}/{identifier}` and `GET /v1/quilts/{id}/patches`.

A patch is read from the slivers that hold it and nothing else: the quilt's index (column 0,
cached per quilt) says which columns, and column `c` is sliver `c` (see
`haulout.protocol.quilt`), so a read asks the nodes for those slivers, checks each against
the metadata and decodes nothing. If a node cannot serve one, the read falls back to the whole
blob (counted in `quilt_full_reads`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request as StarletteRequest
from starlette.types import Message

from haulout.http_errors import ApiError, error_body
from haulout.logs import debug, event
from haulout.node_client import NodeClient, NodeError
from haulout.protocol import quilt as q
from haulout.protocol.attributes import is_header_value, served_headers
from haulout.protocol.blob_id import BlobId, format_object_id, parse_object_id
from haulout.protocol.errors import InvalidSliver
from haulout.protocol.metadata import BlobMetadata
from haulout.protocol.params import primary_count

from .controller import StoreController
from .limits import UploadSlots
from .reader import BlobReader

log = logging.getLogger("haulout.relayer.quilts")

METADATA_FIELD = "_metadata"
"""The multipart field with identifiers' tags (Walrus's `WALRUS_NATIVE_METADATA_FIELD_NAME`)."""

MAX_METADATA_BYTES = 8 << 20
"""Largest `_metadata` field, and largest field sent without a file name (held in memory)."""

MULTIPART_OVERHEAD = 1 << 20
"""Bytes a quilt upload may carry beyond the relayer's maximum blob size (multipart framing,
part headers, `_metadata`)."""

QUILTS_FIELD = "_quilts"
"""A batch upload's field listing how many files (in form order) each of its quilts takes."""

MAX_BATCH_QUILTS = 1000
"""Most quilts one batch upload stores (a tree has at most 1000 members anyway)."""

MAX_BATCH_FILES = 20_000
"""Most files one batch upload carries: each parsed file costs memory beyond its bytes."""

INDEX_CACHE = 256
"""Quilt indexes kept in memory (per quilt: a few KiB), so a patch read fetches only the
patch's own slivers once its quilt is known."""

X_QUILT_PATCH_IDENTIFIER = "x-quilt-patch-identifier"
CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=3600"


@dataclass
class QuiltStats:
    """Counters for /metrics."""

    quilts_stored: int = 0
    quilt_patches_stored: int = 0
    quilt_patch_reads: int = 0
    quilt_slivers_fetched: int = 0
    """Slivers fetched for quilt indexes and patches (a patch read fetches only its own)."""
    quilt_full_reads: int = 0
    """Patch reads that fell back to reading the whole quilt (a node lacked a sliver)."""


def _malformed(exc: q.QuiltError) -> ApiError:
    """Walrus's answer to a bad quilt upload (`MALFORMED_REQUEST`, 400), or 413 when too large;
    the specific rule broken is named in the message."""
    if isinstance(exc, q.QuiltTooLarge):
        return ApiError(413, "QUILT_OVERSIZE", str(exc))
    return ApiError(400, "MALFORMED_REQUEST", f"{exc} ({exc.reason})")


def _bounded(request: Request, limit: int, pause: float) -> StarletteRequest:
    """The request with its body cut off at `limit` bytes (a 413), chunked or not, and at a
    pause longer than `pause` seconds (a 408, as for blobs)."""
    seen = 0
    receive = request.receive

    async def counted() -> Message:
        nonlocal seen
        try:
            message = await asyncio.wait_for(receive(), pause)
        except TimeoutError:
            raise ApiError(
                408,
                "BODY_TIMEOUT",
                f"the quilt upload paused for more than {pause:g} s; nothing was stored",
            ) from None
        seen += len(message.get("body", b""))
        if seen > limit:
            raise ApiError(
                413,
                "QUILT_OVERSIZE",
                f"the quilt upload exceeds {limit} bytes (this relayer's maximum blob size "
                "plus form overhead); store fewer or smaller files per quilt",
            )
        return message

    return StarletteRequest(request.scope, counted)


def _metadata(text: str) -> dict[str, dict[str, str]]:
    """`_metadata`: a JSON list of `{identifier, tags}`; tag values that are not strings are
    kept as their JSON text, as Walrus does. Duplicates are refused."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:  # nested too deep is not JSON we take
        raise ApiError(400, "MALFORMED_REQUEST", f"_metadata is not JSON: {exc}") from None
    if not isinstance(doc, list):
        raise ApiError(400, "MALFORMED_REQUEST", "_metadata must be a JSON list of objects")
    out: dict[str, dict[str, str]] = {}
    for item in doc:
        if not isinstance(item, dict) or not isinstance(item.get("identifier"), str):
            raise ApiError(
                400,
                "MALFORMED_REQUEST",
                "each _metadata entry is an object with a string 'identifier' and optional 'tags'",
            )
        tags = item.get("tags") or {}
        if not isinstance(tags, dict):
            raise ApiError(400, "MALFORMED_REQUEST", "_metadata 'tags' must be a JSON object")
        ident = item["identifier"]
        if ident in out:
            raise _malformed(
                q.DuplicateIdentifier(f"identifier {ident[:60]!r} appears twice in _metadata")
            )
        out[ident] = {
            str(k): v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
            for k, v in tags.items()
        }
    return out


def _file_patch(identifier: str, upload: UploadFile, tags: dict[str, str]) -> q.Patch:
    """A patch read from a spooled upload part (bounded memory)."""
    fh = upload.file
    fh.seek(0, 2)
    size = fh.tell()

    def read(offset: int, length: int) -> bytes:
        fh.seek(offset)
        return fh.read(length)

    return q.Patch(identifier, size, tags, read)


async def _pieces(plan: q.QuiltLayout, piece: int = 1 << 20) -> AsyncIterator[bytes]:
    """The quilt's bytes in pieces of about 1 MiB, built off the event loop."""

    def gather(blocks: Iterator[bytes]) -> bytes | None:
        out = bytearray()
        for block in blocks:
            out += block
            if len(out) >= piece:
                break
        return bytes(out) or None

    blocks = plan.blocks()
    while (chunk := await run_in_threadpool(gather, blocks)) is not None:
        yield chunk


def _groups(form: FormData, patches: list[q.Patch], max_patches: int) -> list[list[q.Patch]]:
    """A batch's patches split into its quilts by the `_quilts` field (a JSON list of file
    counts, in form order); identifiers are unique across the batch."""
    raw = form.get(QUILTS_FIELD)
    if not isinstance(raw, str):
        raise ApiError(
            400,
            "MALFORMED_REQUEST",
            f"a batch upload needs a text field {QUILTS_FIELD}: a JSON list of how many files "
            "(in form order) each quilt takes, e.g. [33, 33, 12]",
        )
    try:
        counts = json.loads(raw[:MAX_METADATA_BYTES])
    except (ValueError, RecursionError):
        counts = None
    if (
        not isinstance(counts, list)
        or not 1 <= len(counts) <= MAX_BATCH_QUILTS
        or not all(type(c) is int and 1 <= c <= max_patches for c in counts)
        or sum(counts) != len(patches)
    ):
        raise ApiError(
            400,
            "MALFORMED_REQUEST",
            f"{QUILTS_FIELD} must list 1 to {MAX_BATCH_QUILTS} quilts of 1 to {max_patches} "
            f"files each (this committee's quilt size), adding up to the {len(patches)} files sent",
        )
    if len({p.identifier for p in patches}) != len(patches):
        raise ApiError(400, "MALFORMED_REQUEST", "identifiers must be unique across a batch")
    groups, start = [], 0
    for c in counts:
        groups.append(patches[start : start + c])
        start += c
    return groups


class QuiltService:
    """Stores quilts through the store flow and reads their patches from their slivers."""

    def __init__(
        self, controller: StoreController, reader: BlobReader, body_timeout: float = 30.0
    ) -> None:
        self.controller, self.reader = controller, reader
        self.body_timeout = body_timeout
        self.chain = controller.chain
        self.stats = QuiltStats()
        self.indexes: OrderedDict[
            BlobId, tuple[BlobMetadata, q.QuiltShape, tuple[q.PatchEntry, ...]]
        ] = OrderedDict()

    # -- store ------------------------------------------------------------------------------

    async def parse(
        self, request: Request, max_patches: int, grouped: bool = False
    ) -> tuple[list[q.Patch], FormData]:
        """The form's files as patches, with their `_metadata` tags; every bound is checked
        while the body arrives (size, number of files, text fields). The caller closes the
        form (its spooled files) when done."""
        limit = self.controller.max_blob_size + MULTIPART_OVERHEAD
        length = request.headers.get("content-length", "")
        if length.isdigit() and len(length) < 20 and int(length) > limit:
            raise ApiError(
                413, "QUILT_OVERSIZE", f"the quilt upload of {length} bytes exceeds {limit} bytes"
            )
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise ApiError(
                400,
                "MALFORMED_REQUEST",
                "a quilt is uploaded as multipart/form-data: one file field per patch, named "
                "by its identifier (curl -F 'name=@file'), and an optional _metadata field",
            )
        try:
            form = await _bounded(request, limit, self.body_timeout).form(
                max_files=max_patches + 1,
                max_fields=max_patches + 3,
                max_part_size=MAX_METADATA_BYTES,
            )
        except (MultiPartException, HTTPException) as exc:  # starlette turns one into the other
            raise ApiError(
                400, "MALFORMED_REQUEST", f"failed to parse multipart form: {exc}"
            ) from None
        try:
            return self._patches(form, max_patches, grouped), form
        except BaseException:
            await form.close()
            raise

    def _patches(self, form: FormData, max_patches: int, grouped: bool = False) -> list[q.Patch]:
        """Patches from a parsed form (see `parse`); `grouped`: a batch's `_quilts` field is
        not a file."""
        tags: dict[str, dict[str, str]] = {}
        files: list[tuple[str, UploadFile | str]] = []
        for name, value in form.multi_items():
            if name == METADATA_FIELD:
                if not isinstance(value, str):
                    value.file.seek(0)
                    value = value.file.read(MAX_METADATA_BYTES + 1).decode("utf-8", "replace")
                tags.update(_metadata(value))
            elif grouped and name == QUILTS_FIELD:
                continue
            else:
                files.append((name, value))
        if not files:
            raise ApiError(400, "MALFORMED_REQUEST", "no files provided in multipart form")
        if len(files) > max_patches:
            raise _malformed(
                q.TooManyPatches(
                    f"more than {max_patches} files: a quilt over this committee's shards holds "
                    f"at most {max_patches} patches; store them as several quilts"
                )
            )
        patches = []
        for name, value in files:
            try:
                q.check_identifier(name, upload=True)
                patch_tags = q.check_tags(tags.get(name, {}), name)
            except q.QuiltError as exc:
                raise _malformed(exc) from None
            if isinstance(value, str):  # a field without a file name: its text, as UTF-8
                patches.append(q.Patch.of(name, value.encode("utf-8"), patch_tags))
            else:
                patches.append(_file_patch(name, value, patch_tags))
        if unknown := sorted(set(tags) - {p.identifier for p in patches}):
            raise ApiError(
                400,
                "MALFORMED_REQUEST",
                f"_metadata names {len(unknown)} identifier(s) with no file field "
                f"(first: {unknown[0][:60]!r})",
            )
        return patches

    async def store(
        self,
        request: Request,
        slots: UploadSlots,
        epochs: int,
        deletable: bool,
        recipient: str | None,
        encoding_type: int | None,
        force: bool,
    ) -> dict[str, Any]:
        """Parse, lay out and store one quilt; Walrus's `{blobStoreResult, storedQuiltBlobs}`."""
        system = await run_in_threadpool(self.chain.system)
        system.require_committee()
        max_patches = primary_count(system.n_shards) - 1
        with slots.hold():
            patches, form = await self.parse(request, max_patches)
            try:
                try:
                    plan = await run_in_threadpool(
                        q.layout, patches, system.n_shards, self.controller.max_blob_size
                    )
                except q.QuiltError as exc:
                    raise _malformed(exc) from None
                async with slots.encoding():  # the whole form is here: wait for an encoder
                    result = await self.controller.store(
                        _pieces(plan),
                        epochs,
                        deletable,
                        recipient,
                        plan.shape.size,
                        encoding_type,
                        force=force,
                    )
            finally:
                await form.close()
        return self._stored(plan, result)

    async def store_batch(
        self,
        request: Request,
        slots: UploadSlots,
        epochs: int,
        deletable: bool,
        encoding_type: int | None,
    ) -> dict[str, Any]:
        """Parse a batch upload (`/v1/quilts/batch`), lay out each of its quilts and store them
        all as one batch: one registration and one certification transaction for all (see
        `batch_store`). Answers `{"quilts": [...]}`, each as `/v1/quilts` answers or, for a
        quilt that failed while others were stored, `{"error": {...}}`."""
        system = await run_in_threadpool(self.chain.system)
        system.require_committee()
        max_patches = primary_count(system.n_shards) - 1
        with slots.hold():
            patches, form = await self.parse(request, MAX_BATCH_FILES, grouped=True)
            try:
                groups = _groups(form, patches, max_patches)
                plans = []
                for i, group in enumerate(groups):
                    try:
                        plans.append(
                            await run_in_threadpool(
                                q.layout, group, system.n_shards, self.controller.max_blob_size
                            )
                        )
                    except q.QuiltError as exc:
                        raise ApiError(
                            400, "MALFORMED_REQUEST", f"quilt {i} of the batch: {exc}"
                        ) from None
                async with slots.encoding():
                    results = await self.controller.store_batch(
                        [(_pieces(plan), plan.shape.size) for plan in plans],
                        epochs,
                        deletable,
                        encoding_type,
                    )
            finally:
                await form.close()
        if all(isinstance(r, BaseException) for r in results):
            raise results[0]  # type: ignore[misc]  # nothing stored: that error, as a store's
        quilts: list[dict[str, Any]] = []
        for plan, result in zip(plans, results, strict=True):
            if isinstance(result, ApiError):
                quilts.append(error_body(result.status, result.reason, result.message))
            elif isinstance(result, BaseException):
                event(log, "batch quilt failed", error=f"{type(result).__name__}: {result}")
                quilts.append(error_body(500, "INTERNAL", "storing this quilt failed; retry it"))
            else:
                quilts.append(self._stored(plan, result))
        event(log, "quilt batch stored", quilts=len(plans), patches=len(patches))
        return {"quilts": quilts}

    def _stored(self, plan: q.QuiltLayout, result: dict[str, Any]) -> dict[str, Any]:
        """Walrus's `{blobStoreResult, storedQuiltBlobs}` for one stored quilt."""
        created = result.get("newlyCreated")
        blob_id = BlobId.parse(
            created["blobObject"]["blobId"] if created else result["alreadyCertified"]["blobId"]
        )
        self.stats.quilts_stored += 1
        self.stats.quilt_patches_stored += len(plan.entries)
        event(log, "quilt stored", blob_id=str(blob_id), patches=len(plan.entries))
        return {
            "blobStoreResult": result,
            "storedQuiltBlobs": [
                {
                    "identifier": e.identifier,
                    "quiltPatchId": str(q.QuiltPatchId.of(blob_id, e)),
                    "range": [e.start, e.end],
                }
                for e in plan.entries
            ],
        }

    # -- read -------------------------------------------------------------------------------

    async def _nodes(self) -> tuple[Any, list[NodeClient]]:
        system = await run_in_threadpool(self.chain.system)
        committee = system.require_committee()
        http, retries = self.reader.http, self.reader.retries
        return committee, [NodeClient(m.url, http, retries) for m in committee.members]

    async def _columns(
        self, blob_id: BlobId, meta: BlobMetadata, wanted: range
    ) -> dict[int, bytes] | None:
        """Slivers `wanted` (the columns), each checked against the metadata; None if any
        could not be fetched (the caller reads the whole blob instead)."""
        committee, nodes = await self._nodes()
        if committee.n_shards != meta.n_shards:
            return None
        by_node: dict[int, list[int]] = {}
        for i in wanted:
            by_node.setdefault(committee.member_for_sliver(i, int(blob_id)), []).append(i)
        out: dict[int, bytes] = {}
        for position, indices in by_node.items():
            try:
                got = await nodes[position].get_slivers(blob_id, indices, meta.params.sliver_len)
            except (NodeError, ValueError) as exc:
                debug(log, "quilt sliver fetch failed", blob_id=str(blob_id), error=str(exc))
                return None
            self.stats.quilt_slivers_fetched += len(got)
            for i in indices:
                if i not in got:  # not there yet (or lost): the whole-blob read recovers it
                    return None
                try:
                    meta.check_sliver(i, got[i])
                except InvalidSliver as exc:
                    self.reader.rejected(blob_id, i, str(exc))
                    return None
                out[i] = got[i]
        return out

    async def _read_columns(
        self, blob_id: BlobId, meta: BlobMetadata, shape: q.QuiltShape, wanted: range
    ) -> bytes:
        """The concatenated columns `wanted`: from their slivers, or from the whole blob."""
        got = await self._columns(blob_id, meta, wanted)
        if got is not None:
            return b"".join(got[c] for c in wanted)
        self.stats.quilt_full_reads += 1
        blob = await self.reader.read(blob_id)
        try:
            data = blob.data if blob.data is not None else b"".join(blob.chunks(0, blob.size))
        finally:
            blob.discard()
        return b"".join(q.column(data, shape, c) for c in wanted)

    async def index(
        self, quilt_id: BlobId
    ) -> tuple[BlobMetadata, q.QuiltShape, tuple[q.PatchEntry, ...]]:
        """A live quilt's metadata, shape and index (cached); 404 if not stored, 400 if the
        blob is not a quilt."""
        await run_in_threadpool(self.reader.require_live, quilt_id)
        if quilt_id in self.indexes:
            self.indexes.move_to_end(quilt_id)
            return self.indexes[quilt_id]
        committee, nodes = await self._nodes()
        meta = await self.reader.metadata(quilt_id, nodes, committee.n_shards)
        try:
            shape = q.QuiltShape.of_blob(meta.size, meta.n_shards)
            first = await self._read_columns(quilt_id, meta, shape, range(1))
            cols = q.index_columns(first, shape.column_size)
            if cols > 1:
                first = await self._read_columns(quilt_id, meta, shape, range(cols))
            entries = q.parse_index(first, shape)
        except q.NotAQuilt as exc:
            raise ApiError(400, "NOT_A_QUILT", f"blob {quilt_id} is not a quilt: {exc}") from None
        self.indexes[quilt_id] = (meta, shape, entries)
        while len(self.indexes) > INDEX_CACHE:
            self.indexes.popitem(last=False)
        return meta, shape, entries

    async def patch(self, quilt_id: BlobId, entry: q.PatchEntry) -> q.PatchData:
        """One patch, from its own slivers."""
        meta, shape, _ = await self.index(quilt_id)
        try:
            patch = q.decode_patch(await self._read_columns(quilt_id, meta, shape, entry.slivers))
        except q.NotAQuilt as exc:
            raise ApiError(422, "INVALID_QUILT_DATA", f"quilt {quilt_id}: {exc}") from None
        if patch.identifier != entry.identifier:
            raise ApiError(
                422,
                "INVALID_QUILT_DATA",
                f"quilt {quilt_id}: columns {entry.start}..{entry.end} hold a patch that "
                "its index does not name there",
            )
        self.stats.quilt_patch_reads += 1
        return patch

    async def by_patch_id(self, text: str) -> tuple[BlobId, q.PatchData]:
        """The patch a quilt patch id names; 404 QUILT_PATCH_NOT_FOUND if that quilt has no
        patch at those columns (e.g. the id of another quilt's patch with this quilt's id)."""
        try:
            pid = q.QuiltPatchId.parse(text)
        except q.InvalidPatchId as exc:
            raise ApiError(400, "INVALID_QUILT_PATCH_ID", str(exc)) from None
        _, _, entries = await self.index(pid.quilt_id)
        for e in entries:
            if (e.start, e.end) == (pid.start, pid.end):
                return pid.quilt_id, await self.patch(pid.quilt_id, e)
        raise ApiError(
            404,
            "QUILT_PATCH_NOT_FOUND",
            f"quilt {pid.quilt_id} has no patch at columns {pid.start}..{pid.end}; "
            f"list its patches at /v1/quilts/{pid.quilt_id}/patches",
        )

    async def by_identifier(self, quilt_id: BlobId, identifier: str) -> q.PatchData:
        """The patch named `identifier` in the quilt; 404 QUILT_PATCH_NOT_FOUND if none."""
        _, _, entries = await self.index(quilt_id)
        try:
            entry = q.find(entries, identifier)
        except q.PatchNotFound as exc:
            raise ApiError(404, "QUILT_PATCH_NOT_FOUND", f"quilt {quilt_id}: {exc}") from None
        return await self.patch(quilt_id, entry)


def patch_response(request: Request, quilt_id: BlobId, patch: q.PatchData) -> Response:
    """Walrus's patch answer: the bytes; ETag the quilt id; tags as headers through the
    attribute allow-list; `X-Quilt-Patch-Identifier` when it is a valid header value."""
    headers = {
        **served_headers(patch.tags),
        "etag": str(quilt_id),
        "cache-control": CACHE_CONTROL,
        "x-content-type-options": "nosniff",
    }
    if patch.identifier.isascii() and is_header_value(patch.identifier):
        headers[X_QUILT_PATCH_IDENTIFIER] = patch.identifier
    media = headers.pop("content-type", "application/octet-stream")
    if request.method == "HEAD":
        headers["content-length"] = str(len(patch.data))
        return Response(status_code=200, headers=headers, media_type=media)
    return Response(patch.data, status_code=200, headers=headers, media_type=media)


QUILT_ID = Path(
    description="the quilt's blob id: 43 URL-safe base64 characters",
    json_schema_extra={"pattern": "^[A-Za-z0-9_-]{43}$"},
)
QUILT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "one file field per patch, named by its identifier; optional "
        "`_metadata`: a JSON list of {identifier, tags}",
        "content": {"multipart/form-data": {"schema": {"type": "object"}}},
    }
}


def install_quilt_routes(
    app: FastAPI, service: QuiltService, slots: UploadSlots, default_epochs: int
) -> None:
    """The quilt routes (see the module docstring)."""
    from .app import parse_encoding_type, store_options  # the publisher's own rules

    @app.put("/v1/quilts", openapi_extra=QUILT_BODY)
    async def store_quilt(
        request: Request,
        epochs: int | None = Query(None, ge=1, le=1000, description="epochs to store for"),
        deletable: bool = Query(False, deprecated=True, description="no effect (as for blobs)"),
        permanent: bool = Query(False, description="store a permanent quilt (not deletable)"),
        force: bool = Query(False, description="store a new Blob object even if certified"),
        share: bool = Query(False, description="wrap the quilt's Blob in a SharedBlob"),
        send_object_to: str | None = Query(None, json_schema_extra={"pattern": "^0x[0-9a-f]{64}$"}),
        encoding_type: str | None = Query(None, max_length=16),
        quilt_version: str | None = Query(None, max_length=8, description="v1 (the only one)"),
    ) -> JSONResponse:
        if quilt_version not in (None, "", "v1", "V1", "1"):
            raise ApiError(400, "MALFORMED_REQUEST", "quilt_version must be v1, V1 or 1")
        persistence = store_options(deletable, permanent, share, send_object_to)
        recipient = format_object_id(parse_object_id(send_object_to)) if send_object_to else None
        result = await service.store(
            request,
            slots,
            epochs or default_epochs,
            persistence,
            recipient,
            parse_encoding_type(encoding_type),
            force,
        )
        created = result["blobStoreResult"].get("newlyCreated")
        if share and created:
            oid = created["blobObject"]["id"]
            created["sharedBlobObject"] = await run_in_threadpool(
                service.chain.share_blob, service.controller.account, oid
            )
        return JSONResponse(result)

    @app.put("/v1/quilts/batch", openapi_extra=QUILT_BODY)
    async def store_quilt_batch(
        request: Request,
        epochs: int | None = Query(None, ge=1, le=1000, description="epochs to store for"),
        permanent: bool = Query(False, description="store permanent quilts (not deletable)"),
        encoding_type: str | None = Query(None, max_length=16),
    ) -> JSONResponse:
        """Haulout's own: many quilts in one upload (files as for `/v1/quilts`, plus a
        `_quilts` field of file counts per quilt), registered in one transaction and
        certified in one, so a directory or bucket commit of many small files pays a few
        transactions, not two per quilt."""
        result = await service.store_batch(
            request,
            slots,
            epochs or default_epochs,
            not permanent,
            parse_encoding_type(encoding_type),
        )
        return JSONResponse(result)

    @app.get("/v1/blobs/by-quilt-patch-id/{quilt_patch_id}")
    @app.head("/v1/blobs/by-quilt-patch-id/{quilt_patch_id}", operation_id="head_quilt_patch")
    async def read_patch_by_id(
        request: Request,
        quilt_patch_id: str = Path(
            description="a quilt patch id: 50 URL-safe base64 characters",
            json_schema_extra={"pattern": "^[A-Za-z0-9_-]{50}$"},
        ),
    ) -> Response:
        quilt_id, patch = await service.by_patch_id(quilt_patch_id)
        return patch_response(request, quilt_id, patch)

    @app.get("/v1/blobs/by-quilt-id/{quilt_id}/{identifier:path}")
    @app.head(
        "/v1/blobs/by-quilt-id/{quilt_id}/{identifier:path}",
        operation_id="head_quilt_patch_by_identifier",
    )
    async def read_patch_by_identifier(
        request: Request, identifier: str, quilt_id: str = QUILT_ID
    ) -> Response:
        bid = BlobId.parse(quilt_id)
        return patch_response(request, bid, await service.by_identifier(bid, identifier))

    @app.get("/v1/quilts/{quilt_id}/patches")
    @app.head("/v1/quilts/{quilt_id}/patches", operation_id="head_quilt_patches")
    async def list_patches(quilt_id: str = QUILT_ID) -> JSONResponse:
        """Walrus's `QuiltPatchItem` list: `identifier`, `patch_id` (snake case, as Walrus
        serialises it) and `tags`."""
        bid = BlobId.parse(quilt_id)
        _, _, entries = await service.index(bid)
        return JSONResponse(
            [
                {
                    "identifier": e.identifier,
                    "patch_id": str(q.QuiltPatchId.of(bid, e)),
                    "tags": e.tags,
                }
                for e in entries
            ]
        )
