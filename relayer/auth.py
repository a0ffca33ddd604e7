"""Who may write through the relayer: a static bearer token, JWT upload rights, or anyone.

A plain ASGI middleware, so an unauthenticated request is refused before routing, query
validation or reading a byte of its body (a 401, never a 400/422 that would tell a stranger
how to shape a request), and the token is compared in constant time.

- The static token (`HAULOUT_RELAYER_AUTH_TOKEN`) is the operator's: every write route.
- A JWT (`HAULOUT_RELAYER_JWT_*`, as Walrus's publisher `--jwt-decode-secret`,
  `--jwt-algorithm`, `--jwt-expiring-sec`, `--jwt-verify-upload`) is a scoped upload right the
  operator hands out: stores only (`PUT /v1/blobs`, `PUT /v1/quilts`, `PUT /v1/quilts/batch`),
  once per `jti`, within its `epochs`/`max_epochs`, `size`/`max_size` and `send_object_to`
  claims. With JWT on and no
  static token, the other write routes (delete, extend, attributes) are refused to everyone.
- The upload relay (`POST /v1/blob-upload-relay`) needs neither, as Walrus's relay: its client
  registers and pays with its own account, and the relay checks that transaction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from starlette.types import ASGIApp, Receive, Scope, Send

from haulout.http_errors import ApiError, error_response
from haulout.protocol.errors import InvalidParameters

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods anyone may use: reads are public, as on a Walrus aggregator."""

OPEN_WRITES = frozenset({"/v1/blob-upload-relay"})
"""Write routes that authenticate by the client's own chain transaction instead."""

JWT_ROUTES = frozenset({("PUT", "/v1/blobs"), ("PUT", "/v1/quilts"), ("PUT", "/v1/quilts/batch")})
"""The stores a JWT may authorise (Walrus's publisher puts its auth layer on its two; the batch
route is Haulout's own quilt store)."""

HMAC_ALGORITHMS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
ALGORITHMS = (*HMAC_ALGORITHMS, "EdDSA")
"""What `HAULOUT_RELAYER_JWT_ALGORITHM` accepts: Walrus's HMAC algorithms and EdDSA (its
ES*/RS*/PS* need an RSA/ECDSA library this project does not carry)."""

LEEWAY_SECONDS = 60
"""Clock skew allowed on `exp`, as the `jsonwebtoken` crate Walrus uses."""
MAX_TOKEN_BYTES = 8192
MAX_JTI_CHARS = 256


def _auth_error(status: int, reason: str, message: str) -> ApiError:
    return ApiError(
        status, reason, message, {"www-authenticate": "Bearer"} if status == 401 else None
    )


def invalid_token(message: str) -> ApiError:
    """Walrus's INVALID_TOKEN (FAILED_PRECONDITION, a 400)."""
    return _auth_error(400, "INVALID_TOKEN", f"the JWT token is invalid: {message}")


def claim_mismatch(reason: str, message: str) -> ApiError:
    """A claim the request does not satisfy: Walrus's FAILED_PRECONDITION, a 400."""
    return _auth_error(400, reason, message)


def _b64url(part: str) -> bytes:
    if not part or len(part) > MAX_TOKEN_BYTES:
        raise invalid_token("a part of the token is empty or too long")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise invalid_token("a part of the token is not URL-safe base64") from None


def secret_bytes(secret: str) -> bytes:
    """Walrus's reading of `--jwt-decode-secret`: `0x…` is hex, anything else is its UTF-8."""
    if secret.startswith("0x"):
        try:
            return bytes.fromhex(secret[2:])
        except ValueError:
            raise InvalidParameters("HAULOUT_RELAYER_JWT_DECODE_SECRET: 0x… is not hex") from None
    return secret.encode()


@dataclass(frozen=True)
class Claim:
    """A token's claims (RFC 7519 plus Walrus's storage claims)."""

    exp: int
    jti: str
    iat: int | None = None
    send_object_to: str | None = None
    epochs: int | None = None
    max_epochs: int | None = None
    size: int | None = None
    max_size: int | None = None

    @classmethod
    def parse(cls, payload: Any) -> Claim:
        """The claims, typed; a missing `exp`/`jti` or a wrongly typed claim is INVALID_TOKEN."""
        if not isinstance(payload, dict):
            raise invalid_token("the payload is not a JSON object")

        def number(name: str, required: bool = False) -> int | None:
            value = payload.get(name)
            if value is None and not required:
                return None
            if not isinstance(value, int) or isinstance(value, bool) or abs(value) >= 1 << 63:
                raise invalid_token(f"claim {name!r} must be an integer")
            return value

        jti = payload.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS:
            raise invalid_token(f"claim 'jti' must be a string of 1 to {MAX_JTI_CHARS} characters")
        send = payload.get("send_object_to")
        if send is not None and not isinstance(send, str):
            raise invalid_token("claim 'send_object_to' must be an address")
        exp = number("exp", required=True)
        assert exp is not None
        return cls(
            exp,
            jti,
            number("iat"),
            send.lower() if send else None,
            number("epochs"),
            number("max_epochs"),
            number("size"),
            number("max_size"),
        )


class ReplayGuard:
    """The `jti`s already used, until their tokens expire: a bounded store (past `capacity`
    live entries, new tokens are refused for a moment rather than old ones forgotten, which
    would let them be replayed)."""

    def __init__(self, capacity: int, clock: Callable[[], float]) -> None:
        self.capacity, self.clock = capacity, clock
        self.used: dict[str, int] = {}
        self.lock = threading.Lock()

    def claim(self, jti: str, exp: int) -> None:
        """Record `jti`, or refuse it: used already (429 TOKEN_ALREADY_USED) or store full."""
        with self.lock:
            if jti in self.used:
                raise _auth_error(
                    429,
                    "TOKEN_ALREADY_USED",
                    "the JWT token was already used; each token (jti) stores once",
                )
            if len(self.used) >= self.capacity:
                now = self.clock()
                self.used = {j: e for j, e in self.used.items() if e + LEEWAY_SECONDS >= now}
                if len(self.used) >= self.capacity:
                    raise ApiError(
                        503,
                        "TOO_MANY_LIVE_TOKENS",
                        f"{self.capacity} unexpired tokens are in use; retry shortly "
                        "(HAULOUT_RELAYER_JWT_REPLAY_CAPACITY)",
                        {"retry-after": "5"},
                    )
            self.used[jti] = exp

    def release(self, jti: str) -> None:
        """Forget a `jti` whose request was refused (it may be used again)."""
        with self.lock:
            self.used.pop(jti, None)


class JwtAuth:
    """Verifies upload tokens as Walrus's publisher does (see the module docstring)."""

    def __init__(
        self,
        secret: str = "",
        algorithm: str = "HS256",
        expiring_sec: int = 0,
        verify_upload: bool = False,
        replay_capacity: int = 100_000,
        default_epochs: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise InvalidParameters(
                f"HAULOUT_RELAYER_JWT_ALGORITHM {algorithm!r}: use one of {', '.join(ALGORITHMS)}"
            )
        self.key = secret_bytes(secret) if secret else None
        if self.key is not None and algorithm == "EdDSA" and len(self.key) != 32:
            raise InvalidParameters(
                "an EdDSA decode secret is the 32-byte Ed25519 public key, as 0x and 64 hex digits"
            )
        self.algorithm, self.expiring_sec = algorithm, expiring_sec
        self.verify_upload, self.default_epochs = verify_upload, default_epochs
        self.clock = clock
        self.replay = ReplayGuard(replay_capacity, clock)

    def decode(self, token: str) -> Claim:
        """Check the signature (when a secret is set) and `exp`; returns the claims."""
        if len(token) > MAX_TOKEN_BYTES:
            raise invalid_token("the token is too long")
        parts = token.split(".")
        if len(parts) != 3:
            raise invalid_token("a JWT has three dot-separated parts")
        try:
            header = json.loads(_b64url(parts[0]))
            payload = json.loads(_b64url(parts[1]))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise invalid_token("the header or payload is not JSON") from None
        if self.key is not None:
            if not isinstance(header, dict) or header.get("alg") != self.algorithm:
                raise invalid_token(f"the token's algorithm is not {self.algorithm}")
            self.verify_signature(f"{parts[0]}.{parts[1]}".encode(), _b64url(parts[2]))
        claim = Claim.parse(payload)
        if self.expiring_sec > 0 and claim.iat is None:
            raise invalid_token("claim 'iat' is required (HAULOUT_RELAYER_JWT_EXPIRING_SEC)")
        if claim.exp < self.clock() - LEEWAY_SECONDS:
            raise _auth_error(401, "EXPIRED_SIGNATURE", "the signature on the token has expired")
        return claim

    def verify_signature(self, signed: bytes, signature: bytes) -> None:
        """HMAC or Ed25519 over `header.payload`; a mismatch is 401 INVALID_SIGNATURE."""
        assert self.key is not None
        ok = False
        if self.algorithm in HMAC_ALGORITHMS:
            expected = hmac.new(self.key, signed, HMAC_ALGORITHMS[self.algorithm]).digest()
            ok = hmac.compare_digest(expected, signature)
        else:
            try:
                VerifyKey(self.key).verify(signed, signature)
                ok = True
            except (BadSignatureError, ValueError):
                ok = False
        if not ok:
            raise _auth_error(401, "INVALID_SIGNATURE", "the signature on the token is invalid")

    def check(self, token: str, query: dict[str, list[str]], content_length: int | None) -> None:
        """Admit one store, or raise Walrus's error for it. The `jti` is taken first (so two
        requests racing with one token cannot both pass) and given back if a claim fails."""
        claim = self.decode(token)
        self.replay.claim(claim.jti, claim.exp)
        try:
            self.check_claims(claim, query, content_length)
        except ApiError:
            self.replay.release(claim.jti)
            raise

    def check_claims(
        self, claim: Claim, query: dict[str, list[str]], content_length: int | None
    ) -> None:
        """`exp - iat` against the configured lifetime, then (with verify_upload) size,
        epochs and recipient against the request."""
        if self.expiring_sec > 0 and claim.exp - (claim.iat or 0) != self.expiring_sec:
            raise claim_mismatch(
                "INVALID_EXPIRATION", "the expiration in the query does not match the token"
            )
        if claim.size is not None and claim.max_size is not None:
            raise claim_mismatch(
                "INCONSISTENT_TOKEN", "the token is inconsistent: size and max_size"
            )
        if claim.epochs is not None and claim.max_epochs is not None:
            raise claim_mismatch(
                "INCONSISTENT_TOKEN", "the token is inconsistent: epochs and max_epochs"
            )
        if not self.verify_upload:
            return
        if claim.size is not None or claim.max_size is not None:
            if content_length is None:
                raise claim_mismatch(
                    "INVALID_SIZE",
                    "this token limits the size: send the body with a Content-Length",
                )
            if claim.max_size is not None and content_length > claim.max_size:
                raise claim_mismatch(
                    "INVALID_SIZE",
                    "the size of the request does not match the size specified in the token",
                )
            if claim.size is not None and content_length != claim.size:
                raise claim_mismatch(
                    "INVALID_SIZE",
                    "the size of the request does not match the size specified in the token",
                )
        epochs = _first(query, "epochs")
        wanted = (
            int(epochs)
            if epochs and epochs.isascii() and epochs.isdigit() and len(epochs) < 10
            else self.default_epochs
        )
        if (claim.epochs is not None and wanted != claim.epochs) or (
            claim.max_epochs is not None and wanted > claim.max_epochs
        ):
            raise claim_mismatch(
                "INVALID_EPOCHS", "the epochs field in the query does not match the token"
            )
        recipient = (_first(query, "send_object_to") or "").lower() or None
        if claim.send_object_to is not None and recipient != claim.send_object_to:
            raise claim_mismatch(
                "INVALID_SEND_OBJECT_TO",
                "the send_object_to field in the query does not match the token, or is missing",
            )


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


class BearerAuth:
    """Refuse write requests (every method but GET/HEAD/OPTIONS) that carry neither the
    static token nor, on a store route, a valid JWT; with neither configured, let everything
    through."""

    def __init__(self, app: ASGIApp, token: str, jwt: JwtAuth | None = None) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else b""
        self.jwt = jwt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            (self.expected or self.jwt)
            and scope["type"] == "http"
            and scope["method"] not in READ_METHODS
            and scope["path"] not in OPEN_WRITES
        ):
            try:
                self.admit(scope)
            except ApiError as refusal:
                await error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def admit(self, scope: Scope) -> None:
        """Return if the request may write; raise the refusal otherwise."""
        given = b""
        length: int | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
            elif name == b"content-length" and value.isdigit() and len(value) <= 19:
                length = int(value)
        if self.expected and hmac.compare_digest(given, self.expected):
            return
        if self.jwt is not None and (scope["method"], scope["path"]) in JWT_ROUTES:
            if given[:7].lower() == b"bearer " and len(given) <= MAX_TOKEN_BYTES:
                query = parse_qs(scope.get("query_string", b"").decode("latin-1")[:4096])
                self.jwt.check(given[7:].decode("latin-1").strip(), query, length)
                return
        raise _auth_error(
            401,
            "UNAUTHENTICATED",
            "this relayer requires a bearer token for writes: send "
            "'Authorization: Bearer <token>'"
            + (" (a JWT upload right is accepted for stores)" if self.jwt else ""),
        )
