"""Regenerate the pinned quilt vectors: `python -m tests.vectors.quilt_gen`.

Each case pins a quilt's layout (shape, columns of every patch), the hash of its bytes, its
blob id under both encodings and its patch ids, so a change to the QuiltV1 layout or to how
columns map to slivers fails `tests/unit/test_quilt.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

from haulout.protocol import codec, quilt
from haulout.protocol.hashing import blake2b256
from tests.vectors.gen import sample

HERE = Path(__file__).parent

CASES: list[dict[str, object]] = [
    {"n_shards": 4, "files": [["a", 2, {}]]},
    {"n_shards": 7, "files": [["b", 100, {"k": "v"}], ["a", 0, {}]]},
    {"n_shards": 10, "files": [["x.bin", 70_000, {}], ["y", 10, {"content-type": "text/plain"}]]},
    {
        "n_shards": 40,
        "files": [[f"dir/f{i:02}.txt", 300 * i, {"i": str(i)}] for i in range(1, 13)],
    },
    {"n_shards": 100, "files": [[f"{i}", 10_240, {}] for i in range(33)]},
]


def build_case(case: dict[str, object]) -> dict[str, object]:
    """The pinned results of one case."""
    n = int(case["n_shards"])  # type: ignore[call-overload]
    files = [(f[0], sample(f[1]), f[2]) for f in case["files"]]  # type: ignore[attr-defined]
    data, entries = quilt.build(files, n)
    shape = quilt.QuiltShape.of_blob(len(data), n)
    out: dict[str, object] = dict(case)
    out.update(
        {
            "size": len(data),
            "block": shape.block,
            "stripes": shape.stripes,
            "blake2b": blake2b256(data).hex(),
            "index_head": data[: min(64, shape.block)].hex(),
            "entries": [[e.identifier, e.start, e.end] for e in entries],
        }
    )
    for encoding_type in (0, 1):
        blob_id = codec.blob_id_of(data, len(data), n, encoding_type)
        out[f"blob_id_{encoding_type}"] = str(blob_id)
        out[f"patch_ids_{encoding_type}"] = [
            str(quilt.QuiltPatchId.of(blob_id, e)) for e in entries
        ]
    return out


def main() -> None:
    """Write tests/vectors/quilts.json."""
    (HERE / "quilts.json").write_text(json.dumps([build_case(c) for c in CASES], indent=1) + "\n")


if __name__ == "__main__":
    main()
