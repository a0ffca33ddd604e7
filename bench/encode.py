"""Encode/decode throughput of both encoding types beside three anchors, same data, same run:
raw reed-solomon-leopard and raw zfec on 2 threads, and Walrus's RedStuff (native Rust).
Also type 1 with blake2b instead of BLAKE3 sliver hashes (the hash choice, measured in the
real pipeline), and peak RSS for a large file.

    python -m bench.encode [--sizes 128] [--shards 100,1000] [--big-mib 1024]

"encode" is the whole pipeline without a disk: stripes, parity, sliver hashes (NullSink).
"decode" rebuilds from the costliest set (parity slivers wherever possible), without and with
the consistency check. Type 0 is skipped above 256 shards (zfec's GF(2^8) limit).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from haulout.protocol import codec, codec_leopard, leopard_lane
from haulout.protocol.params import ENCODING_RS, ENCODING_RS16, MAX_SHARDS_BY_TYPE, EncodingParams

from . import anchors


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def best(fn: Callable[[], float], repeat: int) -> float:
    """The fastest of `repeat` runs (the machine is shared: the best is the least disturbed)."""
    return min(fn() for _ in range(repeat))


def encode_seconds(data: bytes, n: int, encoding_type: int) -> float:
    """The encode pipeline alone (stripes, parity, sliver hashes), to a sink that drops."""
    return _timed(
        lambda: codec.encode_stream(
            data, len(data), n, codec.NullSink(), encoding_type=encoding_type
        )
    )


def blake2b_variant_seconds(data: bytes, n: int) -> float:
    """Type 1's pipeline with blake2b sliver hashes instead of BLAKE3 (not the protocol; only
    to show what the hash choice is worth)."""
    real = codec_leopard.sliver_hasher
    codec_leopard.sliver_hasher = lambda _t: hashlib.blake2b(digest_size=32)  # type: ignore[assignment]
    leopard_lane.SLIVER_HASH = "blake2b"  # the lane hashes too
    try:
        return encode_seconds(data, n, ENCODING_RS16)
    finally:
        codec_leopard.sliver_hasher = real  # type: ignore[assignment]
        leopard_lane.SLIVER_HASH = "blake3"


def decode_seconds(data: bytes, n: int, encoding_type: int, verify: bool) -> float:
    """Rebuild from the last `k` slivers (parity wherever possible: the costliest decode)."""
    enc = codec.encode(data, n, encoding_type)
    k = enc.metadata.params.k
    slivers = {i: enc.slivers[i] for i in range(n - k, n)}
    del enc
    meta = codec.encode_stream(data, len(data), n, codec.NullSink(), encoding_type=encoding_type)
    return _timed(lambda: b"".join(codec.decode_stream(meta, slivers, verify_consistency=verify)))


def bench_pair(size_mib: int, n: int, repeat: int) -> None:
    """One table block: everything at one size and shard count, each figure the best of
    `repeat` runs, the runs interleaved (round after round) so machine noise hits all alike."""
    data = os.urandom(size_mib << 20)
    fits0 = n <= MAX_SHARDS_BY_TYPE[ENCODING_RS]
    rows: list[tuple[str, Callable[[], float] | None]] = [
        (
            "raw reed-solomon-leopard, 2 threads (parity only)",
            lambda: anchors.leopard_encode(data, n),
        ),
        ("type 1 encode pipeline (leopard + BLAKE3 hashes)", lambda: encode_seconds(data, n, 1)),
        (
            "type 1 encode pipeline with blake2b hashes instead",
            lambda: blake2b_variant_seconds(data, n),
        ),
        (
            "raw zfec, 2 threads (parity only)",
            (lambda: anchors.zfec_encode(data, n)) if fits0 else None,
        ),
        (
            "type 0 encode pipeline (zfec + blake2b hashes)",
            (lambda: encode_seconds(data, n, 0)) if fits0 else None,
        ),
        ("type 1 decode from parity", lambda: decode_seconds(data, n, 1, False)),
        ("type 1 decode + consistency check", lambda: decode_seconds(data, n, 1, True)),
        (
            "type 0 decode from parity",
            (lambda: decode_seconds(data, n, 0, False)) if fits0 else None,
        ),
        (
            "type 0 decode + consistency check",
            (lambda: decode_seconds(data, n, 0, True)) if fits0 else None,
        ),
    ]
    best: dict[str, float] = {}
    red_enc = red_dec = float("inf")
    redstuff = anchors.redstuff_available() and n >= 4
    for _ in range(repeat):
        for label, fn in rows:
            if fn is not None:
                best[label] = min(best.get(label, float("inf")), fn())
        if redstuff:
            try:
                e, d, *_cpu = anchors.redstuff(data, n)
            except ValueError:  # e.g. too much data for so few shards
                redstuff = False
                continue
            red_enc, red_dec = min(red_enc, e), min(red_dec, d)
    table: list[tuple[str, float | None]] = [(label, best.get(label)) for label, _ in rows]
    if redstuff and red_enc < float("inf"):
        table.append(("Walrus RedStuff encode (native Rust)", red_enc))
        table.append(("Walrus RedStuff decode (primary slivers, no verify)", red_dec))
    else:
        table.append(("Walrus RedStuff (not installed, or cannot encode this)", None))
    print(
        f"\n{size_mib} MiB, n={n} (k={EncodingParams(n, 1, ENCODING_RS16).k}), best of {repeat}",
        flush=True,
    )
    for label, seconds in table:
        rate = f"{size_mib / seconds:8.1f} MiB/s" if seconds else "       —     "
        print(f"  {label:<56} {rate}", flush=True)
    leo, t1 = best[rows[0][0]], best[rows[1][0]]
    print(f"  type 1 pipeline / raw leopard: {leo / t1:.2f} (target ≥ 0.60)", flush=True)


CHILD = """
import sys, time
from pathlib import Path
from haulout.protocol import codec
from relayer.controller import FileSink
src, out, n, t = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sink = FileSink(out, n)
start = time.perf_counter()
with open(src, 'rb') as fh:
    meta = codec.encode_stream(fh, src.stat().st_size, n, sink, encoding_type=t)
sink.close()
dt = time.perf_counter() - start
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
print(dt, int(hwm) // 1024, meta.blob_id)
"""


def bench_big(size_mib: int, n: int, encoding_type: int) -> None:
    """A large file to sliver files in a child process: throughput and peak RSS."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("HAULOUT_BENCH_DIR")) as tmp:
        src = Path(tmp) / "big.bin"
        with open(src, "wb") as fh:
            for _ in range(size_mib):
                fh.write(os.urandom(1 << 20))
        args = [str(src), str(Path(tmp) / "slivers"), str(n), str(encoding_type)]
        out = subprocess.run(
            [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=True
        ).stdout.split()
        dt, rss = float(out[0]), int(out[1])
        print(
            f"type {encoding_type}: {size_mib} MiB file → {n} sliver files: {size_mib / dt:.1f} MiB/s, "
            f"peak RSS {rss} MiB (target < 256 MiB)",
            flush=True,
        )


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="128")
    ap.add_argument("--shards", default="100,1000")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is kept")
    ap.add_argument("--big-mib", type=int, default=0, help="large-file RSS check (0 to skip)")
    a = ap.parse_args()
    print(f"haulout encode bench — {os.cpu_count()} cores (shared machine: compare within a block)")
    for size in (int(s) for s in a.sizes.split(",")):
        for n in (int(s) for s in a.shards.split(",")):
            bench_pair(size, n, a.repeat)
    if a.big_mib:
        for t in (ENCODING_RS16, ENCODING_RS):
            bench_big(a.big_mib, 100, t)


if __name__ == "__main__":
    main()
