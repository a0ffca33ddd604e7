"""JWT upload rights as Walrus's publisher checks them, through the relayer's auth middleware
(in front of a stand-in app that answers 200 to whatever reaches it)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from nacl.signing import SigningKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from haulout.protocol.errors import InvalidParameters
from relayer.auth import BearerAuth, JwtAuth

SECRET = "a-shared-secret"
NOW = 1_800_000_000
ADDRESS = "0x" + "2a" * 32
OTHER = "0x" + "11" * 32


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(claims: dict[str, Any], secret: bytes = SECRET.encode(), alg: str = "HS256") -> str:
    """An HS256 (or EdDSA, with a signing key's seed as `secret`) JWT."""
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signed = f"{head}.{body}".encode()
    if alg == "EdDSA":
        sig = SigningKey(secret).sign(signed).signature
    else:
        sig = hmac.new(secret, signed, hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def claims(jti: str = "t1", **more: Any) -> dict[str, Any]:
    return {"exp": NOW + 600, "jti": jti, **more}


def client(static: str = "", **jwt: Any) -> TestClient:
    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("stored")

    app = Starlette(
        routes=[
            Route("/v1/blobs", ok, methods=["PUT"]),
            Route("/v1/quilts", ok, methods=["PUT"]),
            Route("/v1/blobs/by-object-id/{oid}", ok, methods=["DELETE"]),
            Route("/v1/blob-upload-relay", ok, methods=["POST"]),
        ]
    )
    settings = {"secret": SECRET, "verify_upload": True, "clock": lambda: NOW, **jwt}
    return TestClient(BearerAuth(app, static, JwtAuth(**settings)))


def put(c: TestClient, tok: str, query: str = "", body: bytes = b"x" * 10) -> tuple[int, str]:
    r = c.put(f"/v1/blobs{query}", content=body, headers={"authorization": f"Bearer {tok}"})
    reason = "" if r.status_code == 200 else r.json()["error"]["details"][0]["reason"]
    return r.status_code, reason


def test_a_valid_token_stores_once_then_is_a_replay() -> None:
    c = client()
    tok = token(claims())
    assert put(c, tok) == (200, "")
    assert put(c, tok) == (429, "TOKEN_ALREADY_USED")
    assert put(c, token(claims("t2"))) == (200, "")  # another jti is another right


def test_expired_bad_signature_and_malformed_tokens() -> None:
    c = client()
    assert put(c, token(claims(exp=NOW - 61))) == (401, "EXPIRED_SIGNATURE")
    assert put(c, token(claims("in-leeway", exp=NOW - 30))) == (200, "")  # jsonwebtoken's 60 s
    assert put(c, token(claims(), secret=b"another secret")) == (401, "INVALID_SIGNATURE")
    assert put(c, token(claims(), alg="HS512")) == (400, "INVALID_TOKEN")  # not the configured alg
    assert put(c, token({"exp": NOW + 600})) == (400, "INVALID_TOKEN")  # no jti
    assert put(c, token({"jti": "no-exp"})) == (400, "INVALID_TOKEN")
    assert put(c, "not.a.token") == (400, "INVALID_TOKEN")
    missing = c.put("/v1/blobs", content=b"x")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"


def test_epochs_and_max_epochs_claims() -> None:
    c = client(default_epochs=1)
    assert put(c, token(claims("e", epochs=3)), "?epochs=2") == (400, "INVALID_EPOCHS")
    assert put(c, token(claims("e", epochs=3)), "?epochs=3") == (200, "")  # refused: jti freed
    assert put(c, token(claims("d", epochs=2))) == (400, "INVALID_EPOCHS")  # default 1 epoch
    assert put(c, token(claims("m", max_epochs=5)), "?epochs=6") == (400, "INVALID_EPOCHS")
    assert put(c, token(claims("m", max_epochs=5)), "?epochs=5") == (200, "")
    both = token(claims("b", epochs=1, max_epochs=5))
    assert put(c, both, "?epochs=1") == (400, "INCONSISTENT_TOKEN")


def test_send_object_to_claim() -> None:
    c = client()
    tok = token(claims("s", send_object_to=ADDRESS))
    assert put(c, tok, f"?send_object_to={OTHER}") == (400, "INVALID_SEND_OBJECT_TO")
    assert put(c, tok) == (400, "INVALID_SEND_OBJECT_TO")  # missing
    assert put(c, tok, "?share=true") == (400, "INVALID_SEND_OBJECT_TO")
    assert put(c, tok, f"?send_object_to={ADDRESS.upper().replace('0X', '0x')}") == (200, "")


def test_size_and_max_size_claims() -> None:
    c = client()
    assert put(c, token(claims("a", max_size=10)), body=b"x" * 11) == (400, "INVALID_SIZE")
    assert put(c, token(claims("a", max_size=10)), body=b"x" * 10) == (200, "")
    assert put(c, token(claims("b", size=1000)), body=b"x" * 999) == (400, "INVALID_SIZE")
    assert put(c, token(claims("b", size=1000)), body=b"x" * 1001) == (400, "INVALID_SIZE")
    assert put(c, token(claims("b", size=1000)), body=b"x" * 1000) == (200, "")
    both = token(claims("c", size=5, max_size=10))
    assert put(c, both, body=b"x" * 5) == (400, "INCONSISTENT_TOKEN")
    chunked = c.put(
        "/v1/blobs",
        content=iter([b"x" * 5]),  # no Content-Length: the size cannot be checked up front
        headers={"authorization": f"Bearer {token(claims('d', max_size=10))}"},
    )
    assert chunked.status_code == 400


def test_claims_unchecked_without_verify_upload() -> None:
    c = client(verify_upload=False)
    assert put(c, token(claims("v", epochs=9, max_size=1)), "?epochs=1") == (200, "")


def test_expiring_sec_needs_exp_minus_iat() -> None:
    c = client(expiring_sec=600)
    assert put(c, token(claims("x", iat=NOW - 10, exp=NOW + 700))) == (400, "INVALID_EXPIRATION")
    assert put(c, token(claims("y"))) == (400, "INVALID_TOKEN")  # iat required
    assert put(c, token(claims("z", iat=NOW, exp=NOW + 600))) == (200, "")


def test_eddsa_tokens() -> None:
    key = SigningKey.generate()
    c = client(secret="0x" + bytes(key.verify_key).hex(), algorithm="EdDSA")
    assert put(c, token(claims("ed"), bytes(key), "EdDSA")) == (200, "")
    other = bytes(SigningKey.generate())
    assert put(c, token(claims("ed2"), other, "EdDSA")) == (401, "INVALID_SIGNATURE")


def test_a_jwt_writes_only_stores_the_static_token_everything() -> None:
    c = client(static="operator")
    tok = token(claims("q"))
    assert c.put("/v1/quilts", headers={"authorization": f"Bearer {tok}"}).status_code == 200
    delete = c.delete("/v1/blobs/by-object-id/0x1", headers={"authorization": f"Bearer {tok}"})
    assert delete.status_code == 401
    admin = c.delete("/v1/blobs/by-object-id/0x1", headers={"authorization": "Bearer operator"})
    assert admin.status_code == 200
    assert c.post("/v1/blob-upload-relay", content=b"x").status_code == 200  # its own checks


def test_the_replay_store_is_bounded() -> None:
    clock = [float(NOW)]
    c = client(replay_capacity=2, clock=lambda: clock[0])
    assert put(c, token(claims("r1", exp=NOW + 10))) == (200, "")
    assert put(c, token(claims("r2", exp=NOW + 10_000))) == (200, "")
    full = put(c, token(claims("r3", exp=NOW + 10_000)))
    assert full == (503, "TOO_MANY_LIVE_TOKENS")  # live ones are never forgotten
    clock[0] = NOW + 100  # r1 has expired (past the leeway): its place is free again
    assert put(c, token(claims("r3", exp=NOW + 10_000))) == (200, "")
    assert put(c, token(claims("r2", exp=NOW + 10_000))) == (429, "TOKEN_ALREADY_USED")


def test_settings_are_checked_at_start() -> None:
    with pytest.raises(InvalidParameters):
        JwtAuth(SECRET, algorithm="RS256")
    with pytest.raises(InvalidParameters):
        JwtAuth("0x123", algorithm="HS256")
    with pytest.raises(InvalidParameters):
        JwtAuth("0x" + "ab" * 16, algorithm="EdDSA")
