"""Store and read throughput through the relayer to 4 local nodes (n=100), beside raw
two-thread encode/decode of the same data, and the relayer's peak RSS for a large upload.

    python -m bench.store [--sizes 16,128] [--big-mib 1024]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from haulout.client import HauloutClient
from haulout.launcher import LocalSystem
from haulout.protocol import codec

from .common import start_local_system
from .encode import raw_decode, raw_encode


def peak_rss_mib(pid: int) -> int:
    """VmHWM of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) // 1024
    return -1


def bench_size(system: LocalSystem, client: HauloutClient, mib: int, repeat: int) -> None:
    """Best of `repeat` runs of each: store (fresh data every time, so never alreadyCertified),
    raw encode of the same data, read of a blob the relayer knows is consistent, read with the
    full consistency check, raw zfec decode from parity (the costliest decode), all interleaved
    so machine noise hits both sides alike."""
    t_store = t_all = t_enc = t_read = t_strict = t_dec = float("inf")
    for _ in range(repeat):
        data = os.urandom(mib << 20)
        t_enc = min(t_enc, raw_encode(data, 100))
        t = time.perf_counter()
        stored = client.store(data)
        t_store = min(t_store, time.perf_counter() - t)
        system.settle()  # the slowest nodes get their slivers after certification
        t_all = min(t_all, time.perf_counter() - t)
        enc = codec.encode(data, 100)
        k = enc.metadata.params.k
        parity = {i: enc.slivers[i] for i in range(100 - k, 100)}
        t_dec = min(t_dec, raw_decode(enc.metadata.params, parity))
        del enc, parity
        t = time.perf_counter()
        back = client.read(stored.blob_id)
        t_read = min(t_read, time.perf_counter() - t)
        assert back == data
        t = time.perf_counter()
        back = client.read(stored.blob_id, strict=True)
        t_strict = min(t_strict, time.perf_counter() - t)
        assert back == data
    print(
        f"{mib:>5} MiB  store {mib / t_store:6.1f} MiB/s vs raw 2-thread encode {mib / t_enc:6.1f}: ratio {t_enc / t_store:4.2f} (target 0.60) until certified\n"
        f"           store {mib / t_all:6.1f} MiB/s: ratio {t_enc / t_all:4.2f} until every node holds its slivers\n"
        f"           read  {mib / t_read:6.1f} MiB/s vs raw zfec decode   {mib / t_dec:6.1f}: ratio {t_dec / t_read:4.2f} (target 0.60)\n"
        f"           read with strict_consistency_check {mib / t_strict:6.1f} MiB/s: ratio {t_dec / t_strict:4.2f} "
        f"(at most k/(n-k) = {34 / 66:.2f}: it re-encodes the {66} slivers not fetched)",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="16,128")
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3, help="runs per size; the best of each is kept")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("HAULOUT_BENCH_DIR")) as tmp:
        system = start_local_system(
            Path(tmp) / "sys", {"HAULOUT_RELAYER_MAX_BLOB_SIZE": str(2 << 30)}
        )
        try:
            client = HauloutClient(system.relayer_url, timeout=3600)
            print(
                "haulout store bench — relayer + 4 storage nodes + DevChain on this machine, n=100 (k=34)"
            )
            if a.big_mib:  # first, so the relayer's peak RSS is the upload's alone
                src = Path(tmp) / "big.bin"
                with open(src, "wb") as fh:
                    for _ in range(a.big_mib):
                        fh.write(os.urandom(1 << 20))
                pid = system.procs["relayer"].pid
                t = time.perf_counter()
                big = client.store_file(src)
                dt = time.perf_counter() - t
                system.settle(120)  # before the next measurement
                print(
                    f"{a.big_mib} MiB upload: {a.big_mib / dt:.1f} MiB/s, relayer peak RSS {peak_rss_mib(pid)} MiB (target < 512 MiB)",
                    flush=True,
                )
                t = time.perf_counter()
                got = sum(len(c) for c in client.read_stream(big.blob_id))
                dt = time.perf_counter() - t
                assert got == a.big_mib << 20
                print(
                    f"{a.big_mib} MiB read (streamed): {a.big_mib / dt:.1f} MiB/s, relayer peak RSS "
                    f"{peak_rss_mib(pid)} MiB over upload and read",
                    flush=True,
                )
            for mib in (int(s) for s in a.sizes.split(",")):
                bench_size(system, client, mib, a.repeat if mib <= 32 else max(1, a.repeat - 1))
        finally:
            system.stop()


if __name__ == "__main__":
    main()
