"""The pinned vectors in tests/vectors/ still hold: encodings and certificates are stable."""

from __future__ import annotations

import json
from pathlib import Path

from haulout.protocol import bls, codec
from haulout.protocol.blob_id import BlobId
from haulout.protocol.certificate import Certificate, verify_certificate
from haulout.protocol.committee import Committee, Member
from haulout.protocol.errors import InvalidCertificate
from haulout.protocol.messages import Intent, proof_of_possession
from haulout.protocol.params import EncodingParams
from tests.vectors.gen import sample

VECTORS = Path(__file__).parents[1] / "vectors"


def test_blob_id_vectors() -> None:
    cases = json.loads((VECTORS / "blob_ids.json").read_text())
    assert len(cases) > 50
    for case in cases:
        enc = codec.encode(sample(case["size"]), case["n_shards"], case["encoding_type"])
        p = EncodingParams(case["n_shards"], case["size"], case["encoding_type"])
        assert str(enc.blob_id) == case["blob_id"], case
        assert int(enc.blob_id) == int(case["blob_id_u256"])
        assert enc.metadata.root.hex() == case["root"]
        assert (p.block_size, p.sliver_len, p.encoded_length) == (
            case["block_size"],
            case["sliver_len"],
            case["encoded_length"],
        )


def test_certificate_vectors() -> None:
    v = json.loads((VECTORS / "certificate.json").read_text())
    members = tuple(
        Member(m["name"], m["name"], "", bytes.fromhex(m["public_key"]), tuple(m["shards"]))
        for m in v["members"]
    )
    committee = Committee(v["epoch"], v["n_shards"], members)
    for m in v["members"]:
        key = bls.BlsKeyPair.from_secret(bytes.fromhex(m["secret"]))
        assert key.public_key.hex() == m["public_key"]
        pop = proof_of_possession(0, key.public_key, bytes.fromhex(m["address"]))
        assert bls.verify(key.public_key, pop, bytes.fromhex(m["pop"]))
    outcomes = {}
    for c in v["certificates"]:
        cert = Certificate(
            bytes.fromhex(c["signature"]), bytes.fromhex(c["signers"]), bytes.fromhex(c["message"])
        )
        intent = Intent.INVALID_BLOB_ID if c["label"] == "invalidate" else Intent.BLOB_CERTIFICATION
        try:
            verify_certificate(committee, cert, v["epoch"], intent)
            outcomes[c["label"]] = "ok"
        except InvalidCertificate:
            outcomes[c["label"]] = "rejected"
    assert outcomes == {
        "permanent_quorum": "ok",
        "permanent_all": "ok",
        "permanent_exact": "ok",  # members 1..3 hold 3+2+2 = 7 shards: 3*7 >= 2*10+1 exactly
        "permanent_short": "rejected",  # members 0,1 hold 6: one shard short
        "deletable_quorum": "ok",
        "stale_epoch": "rejected",
        "invalidate": "ok",
    }
    assert BlobId.parse(v["blob_id"])
