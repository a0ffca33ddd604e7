"""Walrus's upload relay on the relayer: `GET /v1/tip-config`, `POST /v1/blob-upload-relay`.

A client registers a blob with its own account (its key, its storage payment, its Blob object)
and sends the bytes here; the relay encodes them, pushes the slivers to the storage nodes and
answers the confirmation certificate, which the client certifies with its own account. The
relay's wallet pays nothing and owns nothing.

Before it takes a byte of the body, the relay reads the transaction `tx_id` names and checks,
cheapest first (as Walrus: who knows the nonce, then the length, then the tip): the auth package
in its first input hashes this `nonce` and states this length; it paid the tip; it registered
exactly this blob id, with this size, encoding type and persistence (`deletable_blob_object`
names its Blob object). While the body arrives, its SHA-256 and its encoding are computed; a
digest or blob id that differs from the registration is refused. Without a tip (`no_tip`), a
Walrus client names no transaction: the blob must then be registered (and live) on chain.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from haulout.chain.errors import ObjectNotFound
from haulout.chain.events import BlobRegistered
from haulout.chain.objects import BlobObject, ExecutedTransaction
from haulout.chain.port import ChainPort
from haulout.http_errors import ApiError
from haulout.logs import event
from haulout.protocol.blob_id import BlobId, format_object_id, parse_object_id
from haulout.protocol.upload_relay import (
    AuthPackage,
    TipConfig,
    certificate_to_json,
    parse_nonce,
    parse_tx_digest,
    sha256,
)

from .controller import StoreController, log
from .limits import ADMIT_BYTES, RATE_WINDOW, UploadSlots, first_piece, paced


@dataclass
class RelayStats:
    """Counters for /metrics."""

    relay_uploads: int = 0
    """Blobs relayed for clients that registered them with their own accounts."""
    relay_uploads_refused: int = 0
    """Relay requests refused (unregistered blob, wrong nonce, tip missing, body mismatch…)."""


@dataclass(frozen=True)
class RelayRequest:
    """The query of one relay request, parsed."""

    blob_id: BlobId
    tx_digest: str | None
    nonce: bytes | None
    deletable_object: str | None
    encoding_type: int | None


def refused(status: int, reason: str, message: str) -> ApiError:
    """A relay request refused, in the one error shape (Walrus's relay statuses: 400 for a
    malformed request, 401 for a payload its transaction does not authenticate, 402 for a
    tip not paid)."""
    return ApiError(status, reason, message)


class UploadRelay:
    """Checks relay requests against the chain and fans their slivers out with the store
    controller's encoder and distributor (no registration, no certification: the client's)."""

    def __init__(
        self,
        chain: ChainPort,
        controller: StoreController,
        tip: TipConfig,
        tx_freshness: float = 36_000.0,
        tx_max_future: float = 30.0,
    ) -> None:
        self.chain, self.controller, self.tip = chain, controller, tip
        self.tx_freshness, self.tx_max_future = tx_freshness, tx_max_future
        self.stats = RelayStats()

    # -- checks before the body ------------------------------------------------------------

    def check_transaction(
        self, req: RelayRequest, size: int, n_shards: int, encoding_type: int
    ) -> tuple[ExecutedTransaction | None, AuthPackage | None, BlobRegistered | None]:
        """The transaction's auth package, tip and registration, checked against the request
        (runs on a worker thread: it reads the chain)."""
        if req.tx_digest is None or req.nonce is None:
            if self.tip.requires_payment:
                raise refused(
                    400,
                    "MISSING_TX_ID_OR_NONCE",
                    "this relay requires a tip: pass tx_id (the transaction that paid it and "
                    "registered the blob) and nonce (the preimage of its auth package)",
                )
            return None, None, None
        try:
            tx = self.chain.transaction(req.tx_digest)
        except ObjectNotFound:
            raise refused(
                400,
                "TRANSACTION_NOT_FOUND",
                f"no executed transaction {req.tx_digest}; pass the digest of the transaction "
                "that registered the blob, once it has executed",
            ) from None
        now_ms = self.chain_now_ms()
        if tx.timestamp_ms - now_ms > self.tx_max_future * 1000:
            raise refused(400, "TX_IN_THE_FUTURE", "the transaction's time is in the future")
        if now_ms - tx.timestamp_ms > self.tx_freshness * 1000:
            raise refused(
                400,
                "TX_TOO_OLD",
                f"the transaction is older than this relay accepts ({self.tx_freshness:g} s); "
                "register the blob again",
            )
        if not tx.inputs:
            raise refused(
                401,
                "MISSING_AUTH_PACKAGE",
                "the transaction's first input is not an auth package "
                "(sha256(blob) ‖ sha256(nonce) ‖ u64 length)",
            )
        try:
            auth = AuthPackage.from_bytes(tx.inputs[0])
        except ValueError as exc:
            raise refused(
                401, "INVALID_AUTH_PACKAGE", f"the auth package is unreadable: {exc}"
            ) from None
        if not hmac.compare_digest(sha256(req.nonce), auth.nonce_digest):
            raise refused(
                401,
                "INVALID_NONCE_HASH",
                "the nonce does not hash to the one in the transaction's auth package",
            )
        if auth.unencoded_length != size:
            raise refused(
                401,
                "BLOB_LENGTH_MISMATCH",
                f"the body is {size} bytes; the transaction's auth package says "
                f"{auth.unencoded_length}",
            )
        owed = self.tip.tip(n_shards, size, encoding_type)
        if owed:
            paid = tx.balance_changes.get(self.tip.address)
            if paid is None or paid <= 0:
                raise refused(
                    402, "NO_TIP_SENT", f"the transaction sent no tip to {self.tip.address}"
                )
            if paid < owed:
                raise refused(
                    402, "INSUFFICIENT_TIP", f"the tip is {paid} MIST; this blob needs {owed}"
                )
        registered = [
            ce.event
            for ce in tx.events
            if isinstance(ce.event, BlobRegistered) and ce.event.blob_id == req.blob_id
        ]
        if not registered:
            raise refused(
                401,
                "BLOB_ID_NOT_REGISTERED",
                f"blob_id {req.blob_id} was not registered in transaction {req.tx_digest}",
            )
        return tx, auth, self.matching(registered, req, size, encoding_type)

    def matching(
        self, found: list[BlobRegistered], req: RelayRequest, size: int, encoding_type: int
    ) -> BlobRegistered:
        """The registration this request is for; says what differs when none matches."""
        for reg in found:
            if reg.deletable != (req.deletable_object is not None):
                continue
            if req.deletable_object is not None and reg.object_id != req.deletable_object:
                continue
            if reg.size != size:
                raise refused(
                    401,
                    "BLOB_LENGTH_MISMATCH",
                    f"the blob was registered with size {reg.size}; the body is {size} bytes",
                )
            if reg.encoding_type != encoding_type:
                raise refused(
                    400,
                    "ENCODING_TYPE_MISMATCH",
                    f"the blob was registered with encoding type {reg.encoding_type}; pass "
                    f"encoding_type={reg.encoding_type}",
                )
            return reg
        kind = "deletable" if found[0].deletable else "permanent"
        raise refused(
            401,
            "BLOB_PERSISTENCE_MISMATCH",
            f"the blob was registered as {kind} (object {found[0].object_id}); pass "
            + (
                f"deletable_blob_object={found[0].object_id}"
                if found[0].deletable
                else "no deletable_blob_object"
            ),
        )

    def chain_now_ms(self) -> int:
        """The ledger's clock when the chain has one (DevChain), else this machine's."""
        now = getattr(self.chain, "now_ms", None)
        return int(now()) if callable(now) else int(time.time() * 1000)

    def registered_object(
        self, req: RelayRequest, registration: BlobRegistered | None
    ) -> BlobObject:
        """The Blob object the slivers are for: the transaction's, or (no transaction named)
        a live registration of this blob id with the asked persistence."""
        index = self.controller.index
        if registration is not None:
            object_id = registration.object_id
        elif req.deletable_object is not None:
            object_id = req.deletable_object
        else:
            index.catch_up()
            live = [r for r in index.registrations(req.blob_id) if not r.deletable]
            if not live:
                raise refused(
                    401,
                    "BLOB_ID_NOT_REGISTERED",
                    f"blob_id {req.blob_id} has no live permanent registration; register it "
                    "first (or pass deletable_blob_object for a deletable one)",
                )
            object_id = live[0].object_id
        try:
            blob = self.chain.get_blob(object_id)
        except ObjectNotFound:
            raise refused(
                401,
                "BLOB_ID_NOT_REGISTERED",
                f"Blob object {object_id} does not exist (deleted, or never registered)",
            ) from None
        if blob.blob_id != req.blob_id:
            raise refused(
                401,
                "BLOB_ID_NOT_REGISTERED",
                f"Blob object {object_id} holds blob {blob.blob_id}, not {req.blob_id}",
            )
        if req.deletable_object is not None and not blob.deletable:
            raise refused(
                401,
                "BLOB_PERSISTENCE_MISMATCH",
                f"Blob object {object_id} is permanent; pass no deletable_blob_object",
            )
        if blob.end_epoch <= self.chain.system().epoch:
            raise refused(
                400, "BLOB_EXPIRED", f"Blob object {object_id} expired at epoch {blob.end_epoch}"
            )
        return blob

    # -- the relay -------------------------------------------------------------------------

    async def relay(
        self, req: RelayRequest, body: AsyncIterator[bytes], size: int
    ) -> dict[str, Any]:
        """Check, encode, push and answer Walrus's `{blob_id, confirmation_certificate}`."""
        controller = self.controller
        encoding = controller.encoding_for(req.encoding_type)
        controller.check_declared(size)
        system = await run_in_threadpool(self.chain.system)
        committee = system.require_committee()
        tx, auth, registration = await run_in_threadpool(
            self.check_transaction, req, size, system.n_shards, encoding
        )
        blob = await run_in_threadpool(self.registered_object, req, registration)
        if blob.size != size:
            raise refused(
                401,
                "BLOB_LENGTH_MISMATCH",
                f"the blob was registered with size {blob.size}; the body is {size} bytes",
            )
        if blob.encoding_type != encoding:
            raise refused(
                400,
                "ENCODING_TYPE_MISMATCH",
                f"the blob was registered with encoding type {blob.encoding_type}; pass "
                f"encoding_type={blob.encoding_type}",
            )
        digest = _Digest(body)
        workdir = Path(tempfile.mkdtemp(prefix="upload-", dir=controller.spool_dir))
        handed_over = False
        reserved = controller.reserve_memory(size, system.n_shards, encoding)
        try:
            encoded = await controller.receive_and_encode(
                digest.chunks(), size, system.n_shards, workdir, encoding, reserved > 0
            )
            if auth is not None and not hmac.compare_digest(digest.value(), auth.blob_digest):
                raise refused(
                    401,
                    "BLOB_DIGEST_MISMATCH",
                    "the body's SHA-256 differs from the one in the transaction's auth package",
                )
            if encoded.metadata.blob_id != req.blob_id:
                raise refused(
                    400,
                    "BLOB_ID_MISMATCH",
                    f"the body encodes to blob id {encoded.metadata.blob_id}, not {req.blob_id}",
                )
            dist = await controller.distribute(encoded, blob, committee, system.epoch)
            if dist.tail:
                controller.finish_later(
                    dist.tail, workdir, str(req.blob_id), encoded.memory_bytes()
                )
                handed_over = True
            certificate = controller.certificate(dist, blob, committee, system.epoch)
        finally:
            controller.encode_memory.give_back(reserved)
            controller.stats.encode_memory_bytes = controller.encode_memory.held
            if not handed_over:
                shutil.rmtree(workdir, ignore_errors=True)
        self.stats.relay_uploads += 1
        event(
            log,
            "relayed",
            blob_id=str(req.blob_id),
            object_id=blob.id,
            owner=blob.owner,
            tx=tx.digest if tx else "",
        )
        return {
            "blob_id": str(req.blob_id),
            "confirmation_certificate": certificate_to_json(certificate, len(committee.members)),
        }


class _Digest:
    """SHA-256 of a body while it streams through."""

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        self.body = body
        self.hasher = hashlib.sha256()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's pieces, hashed on the way."""
        async for chunk in self.body:
            self.hasher.update(chunk)
            yield chunk

    def value(self) -> bytes:
        """The digest of everything passed through."""
        return bytes(self.hasher.digest())


def parse_request(
    blob_id: str,
    tx_id: str | None,
    nonce: str | None,
    deletable_blob_object: str | None,
    encoding_type: int | None,
) -> RelayRequest:
    """Parse the query as Walrus's `Params`; a malformed field is a 400 naming it."""
    try:
        digest = parse_tx_digest(tx_id) if tx_id else None
        raw_nonce = parse_nonce(nonce) if nonce else None
    except ValueError as exc:
        raise refused(400, "INVALID_ARGUMENT", str(exc)) from None
    deletable = (
        format_object_id(parse_object_id(deletable_blob_object)) if deletable_blob_object else None
    )
    return RelayRequest(BlobId.parse(blob_id), digest, raw_nonce, deletable, encoding_type)


def install_upload_relay_routes(
    app: FastAPI,
    relay: UploadRelay,
    slots: UploadSlots,
    body_timeout: float,
    parse_encoding: Any,
    min_body_rate: tuple[float, float] = (0.0, RATE_WINDOW),
) -> None:
    """Add Walrus's two upload relay routes to the relayer (bodies paced as a store's)."""

    @app.get("/v1/tip-config")
    async def tip_config() -> JSONResponse:
        """The relay's tip: `"no_tip"`, or `{"send_tip": {"address", "kind"}}` (Walrus's
        shape); a client pays it in the transaction that registers its blob."""
        return JSONResponse(relay.tip.to_json())

    @app.post(
        "/v1/blob-upload-relay",
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "the blob's bytes, with Content-Length",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
    )
    async def blob_upload_relay(
        request: Request,
        blob_id: str = Query(
            ...,
            max_length=64,
            description="the blob id the client computed and registered",
        ),
        tx_id: str | None = Query(
            None,
            max_length=70,
            description="the transaction that registered the blob (and paid the tip): "
            "Base58 or 64 hex digits; required when the relay asks a tip",
        ),
        nonce: str | None = Query(
            None,
            max_length=64,
            description="32 bytes, URL-safe base64: the preimage of the nonce digest in the "
            "transaction's auth package",
        ),
        deletable_blob_object: str | None = Query(
            None,
            max_length=66,
            description="the Blob object of a deletable blob (omit for a permanent one)",
            json_schema_extra={"pattern": "^0x[0-9a-f]{64}$"},
        ),
        encoding_type: str | None = Query(
            None, max_length=16, description="0, 1 or RS2; default: the relayer's setting"
        ),
    ) -> JSONResponse:
        """Relay a blob registered by the client's own transaction to the storage nodes and
        answer the confirmation certificate for the client to certify."""
        req = parse_request(
            blob_id, tx_id, nonce, deletable_blob_object, parse_encoding(encoding_type)
        )
        length = request.headers.get("content-length")
        if length is None or not (length.isascii() and length.isdigit() and len(length) <= 19):
            raise refused(
                411,
                "LENGTH_REQUIRED",
                "send the blob with a Content-Length (its length is checked against the "
                "registration before the body is read)",
            )
        try:
            with slots.hold():
                body = paced(request.stream(), body_timeout, slots.stats, *min_body_rate)
                body = await first_piece(body, ADMIT_BYTES)
                async with slots.encoding():
                    answer = await relay.relay(req, body, int(length))
        except ApiError:
            relay.stats.relay_uploads_refused += 1
            raise
        return JSONResponse(answer)
