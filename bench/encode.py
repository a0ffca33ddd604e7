"""Encode/decode throughput vs raw zfec on two threads, and peak RSS for a large file.

    python -m bench.encode [--sizes 1,16,128] [--shards 10,100,256] [--big-mib 1024]

Raw zfec = the same stripes encoded by `zfec.Encoder` on two threads, no hashing, no copies
to slivers: the ceiling a codec on this machine can approach.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import zfec

from haulout.protocol import codec
from haulout.protocol.params import EncodingParams


class NullSink:
    """Drops blocks (measures the codec, not the disk)."""

    def write(self, index: int, block: bytes) -> None:
        pass


def raw_encode(data: bytes, n: int) -> float:
    p = EncodingParams(n, len(data))
    enc = zfec.Encoder(p.k, n)
    stripes = [
        data[i : i + p.stripe_size].ljust(p.stripe_size, b"\0")
        for i in range(0, len(data), p.stripe_size)
    ]

    def one(stripe: bytes) -> None:
        blocks = [stripe[j * p.block_size : (j + 1) * p.block_size] for j in range(p.k)]
        if n > p.k:
            enc.encode(blocks, list(range(p.k, n)))

    t = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, stripes))
    return time.perf_counter() - t


def raw_decode(p: EncodingParams, slivers: dict[int, bytes]) -> float:
    dec = zfec.Decoder(p.k, p.n_shards)
    chosen = sorted(slivers)[: p.k]

    def one(s: int) -> None:
        off = s * p.block_size
        dec.decode([slivers[i][off : off + p.block_size] for i in chosen], chosen)

    t = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(one, range(p.stripes)))
    return time.perf_counter() - t


def best(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    return min(fn() for _ in range(repeat))


def bench_pair(size_mib: int, n: int) -> None:
    data = os.urandom(size_mib << 20)
    repeat = 3 if size_mib <= 16 else 1
    ours = best(lambda: _timed(lambda: codec.encode_stream(data, len(data), n, NullSink())), repeat)
    raw = best(lambda: raw_encode(data, n), repeat)
    enc = codec.encode(data, n)
    p = enc.metadata.params
    # decode from parity-heavy sets (the worst case: all primaries missing where possible)
    chosen = list(range(n - p.k, n))
    slivers = {i: enc.slivers[i] for i in chosen}
    dec_ours = best(
        lambda: _timed(
            lambda: b"".join(codec.decode_stream(enc.metadata, slivers, verify_consistency=False))
        ),
        repeat,
    )
    dec_raw = best(lambda: raw_decode(p, slivers), repeat)
    dec_verify = best(lambda: _timed(lambda: codec.decode(enc.metadata, slivers)), 1)
    mib = size_mib
    print(
        f"{mib:>4} MiB n={n:<3} encode {mib / ours:7.1f} MiB/s  raw {mib / raw:7.1f}  ratio {raw / ours:4.2f} | "
        f"decode {mib / dec_ours:7.1f} MiB/s  raw {mib / dec_raw:7.1f}  ratio {dec_raw / dec_ours:4.2f} | "
        f"decode+verify {mib / dec_verify:6.1f} MiB/s",
        flush=True,
    )


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


CHILD = """
import sys, time
from pathlib import Path
from haulout.protocol import codec
from relayer.controller import FileSink
src, out, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
sink = FileSink(out, n)
t = time.perf_counter()
with open(src, 'rb') as fh:
    meta = codec.encode_stream(fh, src.stat().st_size, n, sink)
sink.close()
dt = time.perf_counter() - t
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
print(dt, int(hwm) // 1024, meta.blob_id)
"""


def bench_big(size_mib: int, n: int) -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("HAULOUT_BENCH_DIR")) as tmp:
        src = Path(tmp) / "big.bin"
        with open(src, "wb") as fh:
            for _ in range(size_mib):
                fh.write(os.urandom(1 << 20))
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(src), str(Path(tmp) / "slivers"), str(n)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        dt, rss = float(out[0]), int(out[1])
        print(
            f"{size_mib} MiB file → {n} sliver files: {size_mib / dt:.1f} MiB/s, peak RSS {rss} MiB (target < 256 MiB)",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="1,16,128")
    ap.add_argument("--shards", default="10,100,256")
    ap.add_argument("--big-mib", type=int, default=1024, help="large-file RSS check (0 to skip)")
    a = ap.parse_args()
    print(
        f"haulout encode bench — {os.cpu_count()} cores; ratio = raw zfec time / ours (1.0 = as fast as raw)"
    )
    for size in (int(s) for s in a.sizes.split(",")):
        for n in (int(s) for s in a.shards.split(",")):
            bench_pair(size, n)
    if a.big_mib:
        bench_big(a.big_mib, 100)


if __name__ == "__main__":
    main()
