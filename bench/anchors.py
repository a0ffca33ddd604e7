"""The yardsticks the benches print beside Haulout's own numbers, on the same data:

- raw `reed-solomon-leopard` (type 1's codec) on 2 threads: parity only, no hashing, no
  copies to slivers (the library holds the GIL, so 2 threads run about as fast as one);
- raw zfec (type 0's codec) on 2 threads, likewise;
- Walrus's RedStuff (`pysui-fastcrypto`, native Rust, the `bench` extra) encode and decode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import zfec

from haulout.protocol import codec_leopard
from haulout.protocol.params import ENCODING_RS, ENCODING_RS16, EncodingParams


def _stripes(data: bytes, p: EncodingParams) -> list[list[bytes]]:
    """The blob's stripes, cut into primary blocks (outside the timed part)."""
    out = []
    for off in range(0, max(len(data), 1), p.stripe_size):
        stripe = data[off : off + p.stripe_size].ljust(p.stripe_size, b"\0")
        out.append([stripe[j * p.block_size : (j + 1) * p.block_size] for j in range(p.k)])
    return out


def _two_threads(work: Callable[[list[bytes]], object], stripes: list[list[bytes]]) -> float:
    t = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(work, stripes))
    return time.perf_counter() - t


def leopard_encode(data: bytes, n: int) -> float:
    """Seconds raw reed-solomon-leopard takes for every stripe's parity, on 2 threads."""
    p = EncodingParams(n, len(data), ENCODING_RS16)
    stripes = _stripes(data, p)
    return _two_threads(lambda blocks: codec_leopard.parity_blocks(blocks, n - p.k), stripes)


def zfec_encode(data: bytes, n: int) -> float:
    """Seconds raw zfec takes for every stripe's parity, on 2 threads."""
    p = EncodingParams(n, len(data), ENCODING_RS)
    enc = zfec.Encoder(p.k, n)
    stripes = _stripes(data, p)
    wanted = list(range(p.k, n))
    return _two_threads(lambda blocks: enc.encode(blocks, wanted) if wanted else None, stripes)


def redstuff_available() -> bool:
    """Whether Walrus's encoder (`pip install haulout[bench]`) is installed."""
    try:
        import pysui_fastcrypto  # noqa: F401
    except ImportError:
        return False
    return True


REFUSED = 3
"""Exit status of the RedStuff process when the encoder refuses the input."""


class RedStuffTimes(NamedTuple):
    """One RedStuff run: seconds to encode, best seconds to decode, and their CPU seconds."""

    encode: float
    decode: float
    encode_cpu: float
    decode_cpu: float


def redstuff(data: bytes, n: int, decodes: int = 1) -> RedStuffTimes:
    """Walrus's RedStuff encoding `data` over `n` shards, then decoding it `decodes` times from
    the `k` primary slivers it needs (no verification, its optimistic path).

    It runs in a fresh process of its own: measured in the bench's process, after that
    process had stored and read blobs, the same encode took 9-16 ms of CPU per MiB from one
    call to the next (64-107 MiB/s) against a steady ~10 ms/MiB (92-101 MiB/s) alone, which
    would flatter every ratio printed beside it. The encode runs twice there and keeps its
    best (the first pays for touching fresh memory: 92 against 100 MiB/s). Raises ValueError
    when RedStuff refuses the input (too much data for so few shards), RuntimeError when its
    process fails otherwise."""
    with tempfile.NamedTemporaryFile(dir=os.environ.get("HAULOUT_BENCH_DIR")) as fh:
        fh.write(data)
        fh.flush()
        run = subprocess.run(
            [sys.executable, "-m", "bench.anchors", fh.name, str(n), str(decodes)],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent.parent,  # where `bench` is importable
        )
    last = (run.stderr.strip().splitlines() or ["(no message)"])[-1]
    if run.returncode == REFUSED:
        raise ValueError(f"RedStuff refuses {len(data)} bytes at n={n}: {last}")
    if run.returncode:
        raise RuntimeError(f"RedStuff's process failed (exit {run.returncode}): {last}")
    return RedStuffTimes(**json.loads(run.stdout))


def _redstuff_here(path: str, n: int, decodes: int) -> dict[str, float]:
    """The body of `redstuff`, in its own process."""
    import pysui_fastcrypto as fc

    with open(path, "rb") as fh:
        data = fh.read()
    t_enc = cpu_enc = float("inf")
    for _ in range(2):  # the first touches fresh memory; keep the warm one's time too
        result = None
        t, cpu = time.perf_counter(), time.process_time()
        try:
            result = fc.redstuff_encode(data, n)
        except ValueError as e:
            print(e, file=sys.stderr)
            sys.exit(REFUSED)
        t_enc = min(t_enc, time.perf_counter() - t)
        cpu_enc = min(cpu_enc, time.process_time() - cpu)
    k = n - 2 * ((n - 1) // 3)
    primaries = [pair.primary for pair in result.slivers[n - k :]]
    del result
    t_dec = cpu_dec = float("inf")
    for _ in range(decodes):
        t, cpu = time.perf_counter(), time.process_time()
        back = fc.redstuff_decode(primaries, len(data), n, "primary")
        t_dec = min(t_dec, time.perf_counter() - t)
        cpu_dec = min(cpu_dec, time.process_time() - cpu)
        assert back == data
    return {"encode": t_enc, "decode": t_dec, "encode_cpu": cpu_enc, "decode_cpu": cpu_dec}


if __name__ == "__main__":
    print(json.dumps(_redstuff_here(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
