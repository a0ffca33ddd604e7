"""The upload relay with real processes: a user's own account registers, tips and certifies;
the relayer carries the bytes and pays nothing; every bad request is a clear 4xx."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain
from haulout.client import AsyncHauloutClient, HauloutClient, HauloutError, StoredBlob
from haulout.deployment import Deployment
from haulout.launcher import LocalSystem
from haulout.protocol import codec
from haulout.protocol.blob_id import BlobId
from haulout.protocol.params import encoded_length
from haulout.protocol.striping import NullSink
from haulout.protocol.upload_relay import (
    AuthPackage,
    certificate_from_json,
    nonce_text,
    tx_digest_text,
)

from .conftest import start_system

pytestmark = pytest.mark.slow

TIP = 1000
JWT_SECRET = "0x" + "5e" * 32


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    s = start_system(
        tmp_path_factory.mktemp("relay"),
        relayer_env={
            "HAULOUT_RELAYER_UPLOAD_RELAY_TIP": f"const:{TIP}",
            # stores need an upload right; the relay needs none (its client pays on chain)
            "HAULOUT_RELAYER_JWT_DECODE_SECRET": JWT_SECRET,
            "HAULOUT_RELAYER_JWT_VERIFY_UPLOAD": "true",
        },
    )
    yield s
    s.stop()


@pytest.fixture(scope="module")
def user(chain: DevChain) -> Account:
    account = Account.generate()
    chain.faucet(account.address)
    return account


@pytest.fixture(scope="module")
def http(system: LocalSystem) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.relayer_url, timeout=60) as c:
        yield c


def reason(resp: httpx.Response) -> str:
    assert set(resp.json()["error"]) >= {"code", "status", "message", "details"}
    return str(resp.json()["error"]["details"][0]["reason"])


def test_tip_config_in_walrus_shape(http: httpx.Client, deployment: Deployment) -> None:
    r = http.get("/v1/tip-config")
    assert r.status_code == 200
    assert r.json() == {"send_tip": {"address": deployment.relayer.address, "kind": {"const": TIP}}}


def test_the_user_owns_and_pays_for_a_relayed_blob(
    system: LocalSystem, chain: DevChain, user: Account, deployment: Deployment
) -> None:
    relayer = deployment.relayer.address
    relayer_before, user_before = chain.balance(relayer), chain.balance(user.address)
    data = os.urandom(20_000)
    with HauloutClient(system.relayer_url, account=user, chain=chain) as client:
        stored = client.store(data, epochs=2, via_upload_relay=True)
        permanent = client.store(b"permanent " * 100, deletable=False, via_upload_relay=True)
        assert client.read(stored.blob_id) == data
        assert client.read(permanent.blob_id) == b"permanent " * 100
    assert stored.object_id is not None and permanent.object_id is not None
    blob = chain.get_blob(stored.object_id)
    assert blob.owner == user.address and blob.certified_epoch is not None and blob.deletable
    encoded = encoded_length(chain.system().n_shards, len(data), blob.encoding_type)
    assert stored.raw["newlyCreated"]["resourceOperation"] == {
        "registerFromScratch": {"encodedLength": encoded, "epochsAhead": 2}  # Walrus's shape
    }
    assert chain.get_blob(permanent.object_id).owner == user.address
    assert not chain.get_blob(permanent.object_id).deletable
    # the relayer's wallet paid no storage: it only gained its two tips
    assert chain.balance(relayer) == relayer_before + 2 * TIP
    paid = stored.raw["newlyCreated"]["cost"] + permanent.raw["newlyCreated"]["cost"]
    assert chain.balance(user.address) == user_before - paid
    assert paid > 2 * TIP  # storage and write fees on top of the tips


def test_the_async_client_stores_through_the_relay_as_the_user(
    system: LocalSystem, chain: DevChain, user: Account, deployment: Deployment
) -> None:
    """`AsyncHauloutClient.store(via_upload_relay=True)`: the same relayed store as the sync
    client's (the user owns and pays, the relayer gains its tip), and the same refusals."""
    relayer_before = chain.balance(deployment.relayer.address)
    data = os.urandom(12_000)

    async def go() -> StoredBlob:
        async with AsyncHauloutClient(system.relayer_url, account=user, chain=chain) as client:
            stored = await client.store(data, epochs=2, via_upload_relay=True)
            assert await client.read(stored.blob_id) == data
            with pytest.raises(HauloutError, match="publisher options"):
                await client.store(data, force=True, via_upload_relay=True)
        async with AsyncHauloutClient(system.relayer_url) as anonymous:
            with pytest.raises(HauloutError, match="needs an account and a chain"):
                await anonymous.store(data, via_upload_relay=True)
        return stored

    stored = asyncio.run(go())
    blob = chain.get_blob(stored.object_id or "")
    assert blob.owner == user.address and blob.certified_epoch is not None
    assert chain.balance(deployment.relayer.address) == relayer_before + TIP


def test_stores_take_a_jwt_upload_right_once(http: httpx.Client) -> None:
    """The publisher route of the same relayer: JWT settings wired, the relay left open."""
    claims = {"exp": int(time.time()) + 600, "jti": os.urandom(8).hex(), "max_size": 100}
    head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    key = bytes.fromhex(JWT_SECRET[2:])
    sig = base64.urlsafe_b64encode(hmac.new(key, head + b"." + body, hashlib.sha256).digest())
    auth = {"authorization": "Bearer " + (head + b"." + body + b"." + sig.rstrip(b"=")).decode()}
    assert http.put("/v1/blobs", content=b"x" * 10).status_code == 401
    too_big = http.put("/v1/blobs", content=b"x" * 101, headers=auth)
    assert (too_big.status_code, reason(too_big)) == (400, "INVALID_SIZE")
    ok = http.put("/v1/blobs", content=b"jwt" * 10, headers=auth)
    assert ok.status_code == 200, ok.text
    again = http.put("/v1/blobs", content=b"jwt" * 10, headers=auth)
    assert (again.status_code, reason(again)) == (429, "TOKEN_ALREADY_USED")


class Registration:
    """A user's registration made by hand, to send the relay wrong things about it."""

    def __init__(
        self,
        chain: DevChain,
        user: Account,
        data: bytes,
        tip: int | None = TIP,
        tip_to: str = "",
        registered: bytes | None = None,
    ) -> None:
        n = chain.system().n_shards
        meta = codec.encode_stream(data, len(data), n, NullSink(), encoding_type=1)
        body = registered if registered is not None else data
        self.nonce = os.urandom(32)
        reg_meta = codec.encode_stream(body, len(body), n, NullSink(), encoding_type=1)
        self.paid = chain.register_for_upload_relay(
            user,
            reg_meta.blob_id,
            reg_meta.root,
            len(body),
            1,
            1,
            True,
            AuthPackage.for_blob(data, self.nonce).to_bytes(),
            (tip_to, tip) if tip else None,
        )
        self.data, self.blob_id = data, meta.blob_id

    def params(self, **override: str) -> dict[str, str]:
        params = {
            "blob_id": str(self.blob_id),
            "tx_id": tx_digest_text(self.paid.tx_digest),
            "nonce": nonce_text(self.nonce),
            "deletable_blob_object": self.paid.blob.id,
            "encoding_type": "1",
        }
        params.update(override)
        return {k: v for k, v in params.items() if v}


def test_bad_relay_requests_are_clear_4xx(
    http: httpx.Client, chain: DevChain, user: Account, deployment: Deployment
) -> None:
    relayer = deployment.relayer.address
    data = os.urandom(3000)
    reg = Registration(chain, user, data, tip_to=relayer)
    post = http.post
    cases = [
        (reg.params(nonce=nonce_text(os.urandom(32))), data, 401, "INVALID_NONCE_HASH"),
        (reg.params(blob_id=str(BlobId(os.urandom(32)))), data, 401, "BLOB_ID_NOT_REGISTERED"),
        (reg.params(), os.urandom(3000), 401, "BLOB_DIGEST_MISMATCH"),
        (reg.params(), data[:-1], 401, "BLOB_LENGTH_MISMATCH"),
        (
            reg.params(tx_id=tx_digest_text(os.urandom(32).hex())),
            data,
            400,
            "TRANSACTION_NOT_FOUND",
        ),
        (reg.params(tx_id="", nonce=""), data, 400, "MISSING_TX_ID_OR_NONCE"),
        (reg.params(deletable_blob_object=""), data, 401, "BLOB_PERSISTENCE_MISMATCH"),
        (reg.params(encoding_type="0"), data, 400, "ENCODING_TYPE_MISMATCH"),
        (reg.params(nonce="not base64!"), data, 400, "INVALID_ARGUMENT"),
    ]
    for params, body, status, why in cases:
        r = post("/v1/blob-upload-relay", params=params, content=body)
        assert (r.status_code, reason(r)) == (status, why), (why, r.text)
    untipped = Registration(chain, user, os.urandom(100), tip=None)
    r = post("/v1/blob-upload-relay", params=untipped.params(), content=untipped.data)
    assert (r.status_code, reason(r)) == (402, "NO_TIP_SENT")
    short = Registration(chain, user, os.urandom(100), tip=TIP - 1, tip_to=relayer)
    r = post("/v1/blob-upload-relay", params=short.params(), content=short.data)
    assert (r.status_code, reason(r)) == (402, "INSUFFICIENT_TIP")
    # the auth package is for `data`, the registration for other bytes of the same length
    other = Registration(chain, user, data, tip_to=relayer, registered=os.urandom(3000))
    r = post(
        "/v1/blob-upload-relay",
        params=other.params(blob_id=str(other.paid.blob.blob_id)),
        content=data,
    )
    assert (r.status_code, reason(r)) == (400, "BLOB_ID_MISMATCH")
    # after all of that, the right request still works: nothing was used up
    ok = post("/v1/blob-upload-relay", params=reg.params(), content=data)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["blob_id"] == str(reg.blob_id)
    assert set(body["confirmation_certificate"]) == {"signers", "serialized_message", "signature"}


WALRUS_TS = Path(__file__).resolve().parents[2] / "tools" / "walrus-ts"


def run_walrus_ts(request: dict[str, str]) -> dict[str, Any]:
    """Run tools/walrus-ts/relay.mjs (the official SDK) on one request."""
    if shutil.which("node") is None:
        pytest.skip("no node here: the @mysten/walrus check needs Node.js")
    if not (WALRUS_TS / "node_modules" / "@mysten" / "walrus").is_dir():
        pytest.skip("@mysten/walrus is not installed: run `npm ci --prefix tools/walrus-ts`")
    done = subprocess.run(
        ["node", "relay.mjs"],
        cwd=WALRUS_TS,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_official_walrus_ts_sdk_uploads_through_our_relay(
    system: LocalSystem, chain: DevChain, user: Account, deployment: Deployment
) -> None:
    """@mysten/walrus's upload-relay client (`WalrusClient.writeBlobToUploadRelay`) against
    our relay, its Sui client pointed at a dead port: it reads our tip config, sends the blob
    and parses our certificate, which our chain then certifies for the user."""
    data = os.urandom(4000)
    reg = Registration(chain, user, data, tip_to=deployment.relayer.address)
    request = {
        "host": system.relayer_url,
        "blobId": str(reg.blob_id),
        "nonce": base64.b64encode(reg.nonce).decode(),
        "txDigest": tx_digest_text(reg.paid.tx_digest),
        "blobObjectId": reg.paid.blob.id,
        "encodingType": "RS2",  # Walrus's name for our type 1, as the SDK sends it
        "blob": base64.b64encode(data).decode(),
    }
    out = run_walrus_ts(request)
    assert out["tipConfig"] == {"address": deployment.relayer.address, "kind": {"const": TIP}}
    assert "error" not in out, out
    assert out["blobId"] == str(reg.blob_id)
    n_members = len(chain.system().require_committee().members)
    cert = certificate_from_json(
        {
            "signers": out["certificate"]["signers"],
            "serialized_message": list(base64.b64decode(out["certificate"]["serializedMessage"])),
            "signature": out["certificate"]["signature"],
        },
        n_members,
    )
    certified = chain.certify_blob(user, reg.paid.blob.id, cert)
    assert certified.owner == user.address and certified.certified_epoch is not None
    with HauloutClient(system.relayer_url) as client:
        assert client.read(str(reg.blob_id)) == data
    # a wrong nonce: the SDK raises its typed error with our 401
    bad = run_walrus_ts({**request, "nonce": base64.b64encode(os.urandom(32)).decode()})
    assert bad["error"]["status"] == 401 and bad["error"]["name"] == "AuthenticationError"
