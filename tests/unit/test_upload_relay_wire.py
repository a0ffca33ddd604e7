"""The upload relay's wire types against Walrus's: auth package bytes, tip config JSON and
amounts, nonce and digest texts, the certificate JSON."""

from __future__ import annotations

import base64
import hashlib

import pytest

from haulout.protocol.certificate import Certificate, bitmap_from_signers
from haulout.protocol.errors import InvalidCertificate, InvalidParameters
from haulout.protocol.params import encoded_length
from haulout.protocol.upload_relay import (
    AuthPackage,
    TipConfig,
    certificate_from_json,
    certificate_to_json,
    nonce_text,
    parse_nonce,
    parse_tx_digest,
    tx_digest_text,
)

RELAY = "0x" + "2a" * 32


def test_auth_package_is_walrus_hashed_auth_package_bcs() -> None:
    """Walrus's utils.rs test package: blob b"hello", nonce [23; 32]."""
    nonce = bytes([23] * 32)
    package = AuthPackage.for_blob(b"hello", nonce)
    raw = package.to_bytes()
    assert raw == (
        hashlib.sha256(b"hello").digest()
        + hashlib.sha256(nonce).digest()
        + (5).to_bytes(8, "little")
    )
    assert AuthPackage.from_bytes(raw) == package
    with pytest.raises(ValueError):
        AuthPackage.from_bytes(raw[:-1])


def test_tip_config_json_and_amounts_as_walrus() -> None:
    assert TipConfig().to_json() == "no_tip" and TipConfig.from_json("no_tip") == TipConfig()
    const = {"send_tip": {"address": RELAY, "kind": {"const": 31415}}}
    assert TipConfig.from_json(const).to_json() == const
    assert TipConfig.from_json(const).tip(10, 123, 1) == 31415
    linear = {
        "send_tip": {
            "address": RELAY,
            "kind": {"linear": {"base": 101, "encoded_size_mul_per_kib": 42}},
        }
    }
    tip = TipConfig.from_json(linear)
    assert tip.to_json() == linear
    kib = -(-encoded_length(10, 5000, 1) // 1024)  # rounded up, as Walrus's div_ceil
    assert tip.tip(10, 5000, 1) == 101 + 42 * kib
    assert TipConfig.parse_setting("linear:101:42", RELAY) == tip
    assert TipConfig.parse_setting("const:31415", RELAY) == TipConfig.from_json(const)
    assert not TipConfig.parse_setting("no_tip", RELAY).requires_payment
    for bad in ("const:-1", "linear:1", "gratis", "const:x"):
        with pytest.raises(InvalidParameters):
            TipConfig.parse_setting(bad, RELAY)
    for bad_json in ({"send_tip": {"address": RELAY}}, {"send_tip": {"kind": {"const": -5}}}, 7):
        with pytest.raises(ValueError):
            TipConfig.from_json(bad_json)


def test_nonce_and_digest_texts() -> None:
    nonce = bytes(range(32))
    assert nonce_text(nonce) == base64.urlsafe_b64encode(nonce).rstrip(b"=").decode()
    assert parse_nonce(nonce_text(nonce)) == nonce
    assert parse_nonce(nonce_text(nonce) + "=") == nonce
    for bad in ("a" * 10, "!" * 43, "A" * 100):
        with pytest.raises(ValueError):
            parse_nonce(bad)
    digest = "ab" * 32
    assert parse_tx_digest(tx_digest_text(digest)) == digest  # Base58, as Sui writes digests
    assert parse_tx_digest("0x" + digest.upper()) == digest
    assert parse_tx_digest("EmcFpdozbobqH61w76T4UehhC4UGaAv32uZpv6c4CNyg")  # Walrus's example
    for bad in ("xyz", "0" * 63, "1" * 44):
        with pytest.raises(ValueError):
            parse_tx_digest(bad)


def test_certificate_json_as_walrus_confirmation_certificate() -> None:
    cert = Certificate(bytes(range(96)), bitmap_from_signers([0, 2, 9], 10), b"\x01\x00\x48msg")
    as_json = certificate_to_json(cert, 10)
    assert as_json["signers"] == [0, 2, 9]
    assert as_json["serialized_message"] == list(b"\x01\x00\x48msg")
    assert base64.b64decode(as_json["signature"]) == cert.signature
    assert certificate_from_json(as_json, 10) == cert
    url_safe = {**as_json, "signature": base64.urlsafe_b64encode(cert.signature).decode()}
    assert certificate_from_json(url_safe, 10) == cert  # as the TS SDK reads either
    with pytest.raises(InvalidCertificate):
        certificate_from_json({**as_json, "signers": [10]}, 10)
    with pytest.raises(InvalidCertificate):
        certificate_from_json({"signers": [0]}, 10)
