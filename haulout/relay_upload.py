"""The SDK's upload-relay mode: the user's own account registers, pays and certifies.

Through the publisher API (`PUT /v1/blobs`) the relayer's wallet pays for a blob and owns it
until it sends it on. Through the upload relay the relayer only carries bytes: the SDK
encodes the blob locally to learn its id, registers it with the user's key in one transaction
that also carries the auth package and the relay's tip, sends the bytes to the relay, and
certifies the certificate the relay answers with the user's key again. The Blob object is the
user's from the start; the relay's wallet neither pays nor owns anything.

The store is written once as steps (`haulout.sdk_steps`): `HauloutClient` runs them on its
thread, `AsyncHauloutClient` on its event loop with the chain calls and the encoding in a
worker thread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from haulout.chain.accounts import Account
from haulout.chain.port import ChainPort
from haulout.protocol import codec
from haulout.protocol.params import encoded_length
from haulout.protocol.striping import NullSink
from haulout.protocol.upload_relay import (
    BLOB_UPLOAD_RELAY_ROUTE,
    NONCE_LEN,
    TIP_CONFIG_ROUTE,
    AuthPackage,
    TipConfig,
    certificate_from_json,
    nonce_text,
    tx_digest_text,
)

from .client import HauloutError, StoredBlob, _check
from .sdk_steps import Blocking, Http, Steps


@dataclass(frozen=True)
class RelayedStore:
    """What one relayed store did: the stored blob, what the user's account paid (storage,
    write fees and tip) and the tip itself, and the registering transaction."""

    stored: StoredBlob
    paid: int
    tip: int
    tx_digest: str


def relayed_store(
    account: Account,
    chain: ChainPort,
    data: bytes | bytearray | memoryview,
    epochs: int = 1,
    deletable: bool = True,
    encoding_type: int | None = None,
) -> Steps[RelayedStore]:
    """Encode, register (and tip) with the user's key, relay, certify with the user's key:
    the steps of one relayed store, for either client to run (`haulout.sdk_steps`)."""
    blob = bytes(data)
    system = yield Blocking(chain.system)
    committee = system.require_committee()
    if encoding_type is None:
        encoding_type = int(_check((yield Http("GET", "/v1/health"))).json()["encodingType"])
    metadata = yield Blocking(
        lambda: codec.encode_stream(
            blob, len(blob), system.n_shards, NullSink(), encoding_type=encoding_type
        )
    )
    tip = yield from tip_config()
    owed = tip.tip(system.n_shards, len(blob), encoding_type)
    nonce = os.urandom(NONCE_LEN)
    paid = yield Blocking(
        lambda: chain.register_for_upload_relay(
            account,
            metadata.blob_id,
            metadata.root,
            len(blob),
            encoding_type,
            epochs,
            deletable,
            AuthPackage.for_blob(blob, nonce).to_bytes(),
            (tip.address, owed) if owed else None,
        )
    )
    params = {
        "blob_id": str(metadata.blob_id),
        "tx_id": tx_digest_text(paid.tx_digest),
        "nonce": nonce_text(nonce),
        "encoding_type": str(encoding_type),
    }
    if deletable:
        params["deletable_blob_object"] = paid.blob.id
    relayed = yield Http(
        "POST",
        BLOB_UPLOAD_RELAY_ROUTE,
        {
            "params": params,
            "content": blob,
            "headers": {"content-type": "application/octet-stream"},
        },
    )
    answer: dict[str, Any] = _check(relayed).json()
    if answer.get("blob_id") != str(metadata.blob_id):
        raise HauloutError(
            f"the relay answered for blob {answer.get('blob_id')!r}, not {metadata.blob_id}"
        )
    certificate = certificate_from_json(answer["confirmation_certificate"], len(committee.members))
    certified = yield Blocking(lambda: chain.certify_blob(account, paid.blob.id, certificate))
    raw = {
        "newlyCreated": {
            "blobObject": certified.to_walrus_json(),
            "resourceOperation": {
                "registerFromScratch": {
                    "encodedLength": encoded_length(system.n_shards, len(blob), encoding_type),
                    "epochsAhead": epochs,
                }
            },
            "cost": paid.cost,
        }
    }
    stored = StoredBlob(str(certified.blob_id), certified.id, certified.end_epoch, True, raw)
    return RelayedStore(stored, paid.cost, owed, paid.tx_digest)


def tip_config() -> Steps[TipConfig]:
    """The relay's tip (`GET /v1/tip-config`)."""
    resp = yield Http("GET", TIP_CONFIG_ROUTE)
    try:
        return TipConfig.from_json(_check(resp).json())
    except ValueError as exc:
        raise HauloutError(f"the relay's tip configuration is unreadable: {exc}") from exc
