"""Regenerate the pinned vectors: `python -m tests.vectors.gen`.

The vectors pin encodings, blob ids and certificates so that a change to the protocol shows
up as a failing test (tests/unit/test_vectors.py) and so that Move tests reuse them.
"""

from __future__ import annotations

import json
from pathlib import Path

from haulout.protocol import codec
from haulout.protocol.blob_id import BlobId
from haulout.protocol.bls import BlsKeyPair
from haulout.protocol.certificate import aggregate
from haulout.protocol.committee import Committee, Member, even_shards
from haulout.protocol.hashing import blake2b256
from haulout.protocol.messages import BlobCertification, invalid_blob_message, proof_of_possession
from haulout.protocol.params import EncodingParams

HERE = Path(__file__).parent
SIZES = [0, 1, 2, 3, 31, 32, 33, 100, 1000, 4096, 65536, 65537, 200_000, 1 << 20]
SHARDS = [1, 4, 7, 10, 100, 256]
SHARDS_BY_TYPE = {0: SHARDS, 1: [1, 4, 7, 10, 100, 256, 1000]}


def sample(size: int) -> bytes:
    """Deterministic content: blake2b counter stream."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += blake2b256(i.to_bytes(8, "little"))
        i += 1
    return bytes(out[:size])


def blob_id_cases() -> list[dict[str, object]]:
    """Blob ids and lengths of fixed inputs over several shard counts, for every encoding
    type (`encoding_type` says which; Move and DevChain recompute ids and lengths per type)."""
    cases = []
    for encoding_type, shards in SHARDS_BY_TYPE.items():
        for n in shards:
            for size in SIZES:
                if n >= 256 and size > 65537:
                    continue
                enc = codec.encode(sample(size), n, encoding_type)
                p = EncodingParams(n, size, encoding_type)
                cases.append(
                    {
                        "encoding_type": encoding_type,
                        "n_shards": n,
                        "size": size,
                        "block_size": p.block_size,
                        "sliver_len": p.sliver_len,
                        "encoded_length": p.encoded_length,
                        "root": enc.metadata.root.hex(),
                        "blob_id": str(enc.blob_id),
                        "blob_id_u256": str(int(enc.blob_id)),
                    }
                )
    return cases


def committee_keys() -> list[BlsKeyPair]:
    """Four fixed node keys."""
    return [BlsKeyPair.generate(bytes([i + 1]) * 32) for i in range(4)]


def certificate_cases() -> dict[str, object]:
    """A fixed committee (10 shards over 4 nodes), proofs of possession and certificates."""
    keys = committee_keys()
    shards = even_shards(10, 4)
    members = tuple(
        Member(f"node-{i}", f"node-{i}", f"http://127.0.0.1:{9300 + i}", k.public_key, s)
        for i, (k, s) in enumerate(zip(keys, shards, strict=True))
    )
    committee = Committee(1, 10, members)
    blob_id = BlobId.derive(0, 5, bytes(range(32)))
    object_id = bytes(range(32, 64))
    certs = []
    for label, msg, signers in [
        ("permanent_quorum", BlobCertification(blob_id).message(1), [0, 1, 2]),
        ("permanent_all", BlobCertification(blob_id).message(1), [0, 1, 2, 3]),
        ("permanent_exact", BlobCertification(blob_id).message(1), [1, 2, 3]),
        ("permanent_short", BlobCertification(blob_id).message(1), [0, 1]),
        ("deletable_quorum", BlobCertification(blob_id, object_id).message(1), [0, 1, 3]),
        ("stale_epoch", BlobCertification(blob_id).message(0), [0, 1, 2]),
        ("invalidate", invalid_blob_message(1, blob_id), [0, 1]),
    ]:
        cert = aggregate(committee, msg, {p: keys[p].sign(msg) for p in signers})
        certs.append({"label": label, "signers_positions": signers, **cert.to_json()})
    return {
        "n_shards": 10,
        "epoch": 1,
        "blob_id": str(blob_id),
        "blob_id_u256": str(int(blob_id)),
        "object_id": object_id.hex(),
        "members": [
            {
                "name": m.name,
                "secret": k.secret.hex(),
                "public_key": m.public_key.hex(),
                "shards": list(m.shards),
                "address": blake2b256(bytes([i])).hex(),
                "pop": k.sign(proof_of_possession(0, m.public_key, blake2b256(bytes([i])))).hex(),
            }
            for i, (m, k) in enumerate(zip(members, keys, strict=True))
        ],
        "certificates": certs,
    }


def main() -> None:
    """Write the vector files."""
    (HERE / "blob_ids.json").write_text(json.dumps(blob_id_cases(), indent=1) + "\n")
    (HERE / "certificate.json").write_text(json.dumps(certificate_cases(), indent=1) + "\n")


if __name__ == "__main__":
    main()
