"""Trees: a manifest blob (a directory or chunked file) and the blobs it references live and
die as one unit. Extending, deleting or burning a tree is one transaction over every member
the relayer owns: all of them change, or none does (a member the relayer cannot act on fails
the whole operation before anything is sent)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Path, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from haulout.chain.errors import ObjectNotFound
from haulout.chain.objects import BatchResult, BlobObject
from haulout.chain.port import ChainPort
from haulout.http_errors import ApiError
from haulout.logs import event
from haulout.manifest import PREFIX, Manifest, ManifestError
from haulout.manifest import member_blob_ids as _member_blob_ids
from haulout.protocol.blob_id import BlobId, format_object_id, parse_object_id
from haulout.protocol.errors import ProtocolError

from .controller import StoreController
from .reader import BlobReader

log = logging.getLogger("haulout.relayer.trees")

MANIFEST_MAX = 32 << 20
"""Blobs larger than this are never read as manifests (a directory of 10,000 files has a
manifest of about 2 MiB): extending a large plain blob never decodes it."""

MAX_TREE_MEMBERS = 1000
"""Most blobs one tree operation acts on by default (`HAULOUT_RELAYER_MAX_TREE_MEMBERS` may only
lower it): a Sui PTB holds at most 1024 commands (one call per
member, plus a transfer), and a hostile manifest must not make the relayer look up or sign for
an unbounded list. A 10,000-file dataset packs into a few blobs; 1000 chunks of 32 MiB are 32 GiB."""


@dataclass(frozen=True)
class Member:
    """One blob of a tree and the Blob object of the relayer's that stands for it."""

    blob_id: str
    role: str
    """`manifest`, `pack` or `chunk`."""
    blob: BlobObject | None
    """The relayer's live certified Blob object (the longest-lived one), or None."""


def member_blob_ids(manifest: Manifest) -> list[tuple[str, str]]:
    """The manifest's member blob ids and roles; a malformed list is the client's 422."""
    try:
        listed = _member_blob_ids(manifest)
        for bid, _ in listed:
            BlobId.parse(bid)
    except (ManifestError, ProtocolError) as exc:
        raise ApiError(422, "INVALID_MANIFEST", f"{exc}; it cannot be acted on as a tree") from None
    return listed


class Trees:
    """Resolves a tree from its manifest's Blob object and acts on all its members at once."""

    def __init__(
        self,
        chain: ChainPort,
        controller: StoreController,
        reader: BlobReader,
        max_members: int = MAX_TREE_MEMBERS,
    ) -> None:
        self.chain, self.controller, self.reader = chain, controller, reader
        self.max_members = max(2, min(max_members, MAX_TREE_MEMBERS))
        """Most blobs (the manifest included) a tree may have for this relayer to act on it."""

    @property
    def owner(self) -> str:
        """The relayer's address: it can only act on Blob objects it owns."""
        return self.controller.account.address

    async def manifest_of(self, blob_id: BlobId, size: int) -> Manifest | None:
        """The manifest stored as `blob_id`, or None for a plain blob (or one too large)."""
        if size < len(PREFIX) or size > MANIFEST_MAX:
            return None
        blob = await self.reader.read(blob_id)
        try:
            data = blob.data if blob.data is not None else b"".join(blob.chunks(0, blob.size))
        finally:
            blob.discard()
        return Manifest.parse(data)

    def owned_object(self, blob_id: BlobId) -> BlobObject | None:
        """The relayer's live certified Blob object of a blob id lasting longest, checked on
        chain (it may have been sent away or deleted since the index saw it)."""
        regs = sorted(self.reader.index.live(blob_id), key=lambda r: -r.end_epoch)
        for reg in regs:
            if reg.sender and reg.sender != self.owner:
                continue
            try:
                blob = self.chain.get_blob(reg.object_id)
            except ObjectNotFound:
                continue
            if blob.owner == self.owner and blob.certified_epoch is not None:
                return blob
        return None

    async def members(self, object_id: str) -> tuple[BlobObject, list[Member]]:
        """The root Blob object and every member (the root first); a plain blob is a tree of
        one."""
        root = await run_in_threadpool(self.chain.get_blob, object_id)
        if root.certified_epoch is None:
            raise ApiError(
                404, "BLOB_NOT_CERTIFIED", f"blob object {root.id} is registered but not certified"
            )
        out = [Member(str(root.blob_id), "manifest", root)]
        if root.owner != self.owner:  # the chain refuses it, as for any blob not ours
            return root, out
        manifest = await self.manifest_of(root.blob_id, root.size)
        if manifest is not None:
            listed = member_blob_ids(manifest)
            if len(listed) + 1 > self.max_members:
                raise ApiError(
                    413,
                    "TREE_TOO_LARGE",
                    f"this tree has {len(listed) + 1} blobs; one transaction acts on at most "
                    f"{self.max_members}. Act on its blobs one by one (their ids are in the "
                    "manifest), or store it with a larger chunk size.",
                )
            await run_in_threadpool(self.reader.index.catch_up)
            for bid, role in listed:
                blob = await run_in_threadpool(self.owned_object, BlobId.parse(bid))
                out.append(Member(bid, role, blob))
        return root, out

    @staticmethod
    def require_all(members: list[Member], action: str) -> list[BlobObject]:
        """Every member's Blob object, or a refusal naming the ones missing (nothing sent)."""
        missing = [m.blob_id for m in members if m.blob is None]
        if missing:
            raise ApiError(
                409,
                "TREE_MEMBER_MISSING",
                f"cannot {action} this tree: {len(missing)} of its blobs have no live certified "
                f"Blob object owned by this relayer (first: {missing[0]}); nothing was changed. "
                "Store the tree again through this relayer to get objects it can act on.",
            )
        unique: dict[str, BlobObject] = {}
        for m in members:
            assert m.blob is not None
            unique.setdefault(m.blob.id, m.blob)
        return list(unique.values())

    async def extend(self, object_id: str, epochs: int) -> tuple[BlobObject, dict[str, Any]]:
        """Bring every member to the root's end epoch + `epochs`, in one transaction."""
        root, members = await self.members(object_id)
        target = root.end_epoch + epochs
        extensions = [
            (b.id, target - b.end_epoch)
            for b in self.require_all(members, "extend")
            if b.end_epoch < target
        ]
        result = await run_in_threadpool(
            self.chain.extend_blobs, self.controller.account, extensions
        )
        event(log, "tree extended", object_id=root.id, members=len(members), end_epoch=target)
        return await run_in_threadpool(self.chain.get_blob, root.id), self._answer(
            result, members, endEpoch=target, changed=len(extensions)
        )

    async def delete(self, object_id: str) -> tuple[BlobObject, dict[str, Any]]:
        """Delete every member (all must be deletable), in one transaction."""
        root, members = await self.members(object_id)
        blobs = self.require_all(members, "delete")
        permanent = [b.id for b in blobs if not b.deletable]
        if permanent and len(members) > 1:  # a plain blob: the chain's own refusal
            raise ApiError(
                409,
                "TREE_NOT_DELETABLE",
                f"cannot delete this tree: {len(permanent)} of its Blob objects are permanent "
                f"(first: {permanent[0]}); nothing was deleted. Store with --deletable to be "
                "able to delete, or burn the objects (the data then stays until its end epoch).",
            )
        oids = [b.id for b in blobs]
        result = await run_in_threadpool(self.chain.delete_blobs, self.controller.account, oids)
        await self._forget(blobs)
        event(log, "tree deleted", object_id=root.id, members=len(members))
        return root, self._answer(result, members, storageIds=list(result.storage_ids))

    async def burn(self, object_id: str) -> tuple[BlobObject, dict[str, Any]]:
        """Burn every member's Blob object, in one transaction (the data stays until it
        expires, and can no longer be extended or deleted)."""
        root, members = await self.members(object_id)
        blobs = self.require_all(members, "burn")
        result = await run_in_threadpool(
            self.chain.burn_blobs, self.controller.account, [b.id for b in blobs]
        )
        await self._forget(blobs)
        return root, self._answer(result, members)

    async def _forget(self, blobs: list[BlobObject]) -> None:
        for b in blobs:
            self.reader.cache.pop(b.blob_id, None)
        await run_in_threadpool(self.reader.index.catch_up)

    @staticmethod
    def _answer(result: BatchResult, members: list[Member], **extra: Any) -> dict[str, Any]:
        return {
            "txDigest": result.tx_digest,
            "members": [
                {
                    "blobId": m.blob_id,
                    "role": m.role,
                    "objectId": m.blob.id if m.blob else None,
                }
                for m in members
            ],
            **extra,
        }

    async def status(self, blob_id: BlobId) -> dict[str, Any]:
        """The root's status and, for a manifest, its tree: the earliest end epoch of any
        member, the members missing (not stored now) and those expiring first."""
        await run_in_threadpool(self.reader.index.catch_up)
        index = self.reader.index
        out: dict[str, Any] = index.status(blob_id)
        live = index.live(blob_id)
        if not live:
            out["tree"] = None
            return out
        manifest = await self.manifest_of(blob_id, live[0].size)
        if manifest is None:
            out["tree"] = None
            return out

        def end_of(bid: BlobId) -> int | None:
            regs = index.live(bid)
            return max(r.end_epoch for r in regs) if regs else None

        rows = [{"blobId": str(blob_id), "role": "manifest", "endEpoch": end_of(blob_id)}]
        rows += [
            {"blobId": bid, "role": role, "endEpoch": end_of(BlobId.parse(bid))}
            for bid, role in member_blob_ids(manifest)
        ]
        ends = [r["endEpoch"] for r in rows if r["endEpoch"] is not None]
        earliest = min(ends) if ends else None
        missing = [r["blobId"] for r in rows if r["endEpoch"] is None]
        root_end = rows[0]["endEpoch"]
        first = [
            r["blobId"]
            for r in rows
            if r["endEpoch"] is not None and r["endEpoch"] == earliest and earliest != root_end
        ]
        out["tree"] = {
            "kind": manifest.kind,
            "members": rows,
            "earliestEndEpoch": None if missing else earliest,
            "missing": missing,
            "expiringFirst": first,
        }
        return out


TREE_OBJECT = Path(
    description="the manifest's Blob object id: 0x and 64 hex digits",
    json_schema_extra={"pattern": "^0x[0-9a-f]{64}$"},
)


def install_tree_routes(app: FastAPI, trees: Trees) -> None:
    """`/v1/trees/...`: extend, delete, burn and status of a whole tree."""

    @app.post("/v1/trees/{object_id}/extend")
    async def extend_tree(
        object_id: str = TREE_OBJECT, epochs: int = Query(..., ge=1, le=1000)
    ) -> JSONResponse:
        blob, tree = await trees.extend(format_object_id(parse_object_id(object_id)), epochs)
        return JSONResponse({"blobObject": blob.to_walrus_json(), "tree": tree})

    @app.delete("/v1/trees/{object_id}")
    async def delete_tree(object_id: str = TREE_OBJECT) -> JSONResponse:
        blob, tree = await trees.delete(format_object_id(parse_object_id(object_id)))
        return JSONResponse(
            {"deleted": {"objectId": blob.id, "blobId": str(blob.blob_id)}, "tree": tree}
        )

    @app.post("/v1/trees/{object_id}/burn")
    async def burn_tree(object_id: str = TREE_OBJECT) -> JSONResponse:
        blob, tree = await trees.burn(format_object_id(parse_object_id(object_id)))
        return JSONResponse(
            {"burned": {"objectId": blob.id, "blobId": str(blob.blob_id)}, "tree": tree}
        )

    @app.get("/v1/trees/{blob_id}/status")
    async def tree_status(
        blob_id: str = Path(json_schema_extra={"pattern": "^[A-Za-z0-9_-]{43}$"}),
    ) -> JSONResponse:
        return JSONResponse(await trees.status(BlobId.parse(blob_id)))
