"""A large synthetic file (default 3 GiB) stored and read back through chunking, with
throughput and the peak RSS of this client and of the relayer.

    python -m bench.chunked [--gib 3] [--chunk-mib 32]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from haulout import manifest
from haulout.client import HauloutClient

from .common import start_local_system
from .store import peak_rss_mib


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--gib", type=float, default=3.0)
    ap.add_argument("--chunk-mib", type=int, default=32)
    a = ap.parse_args()
    size_mib = int(a.gib * 1024)
    with tempfile.TemporaryDirectory(dir=os.environ.get("HAULOUT_BENCH_DIR")) as tmp:
        src = Path(tmp) / "dataset.bin"
        h = hashlib.blake2b(digest_size=32)
        with open(src, "wb") as fh:
            block = os.urandom(1 << 20)
            for i in range(size_mib):
                piece = bytes([i & 0xFF]) + block[1:]  # distinct chunks, cheap to make
                h.update(piece)
                fh.write(piece)
        system = start_local_system(Path(tmp) / "sys", {})
        try:
            client = HauloutClient(system.relayer_url, timeout=3600)
            print(
                f"haulout chunked bench — {size_mib} MiB in {a.chunk_mib} MiB chunks, n=100, 4 nodes",
                flush=True,
            )
            t = time.perf_counter()
            stored = manifest.store_file_chunked(client, src, a.chunk_mib << 20)
            t_store = time.perf_counter() - t
            print(
                f"store: {size_mib / t_store:.1f} MiB/s ({t_store:.0f} s), manifest {stored.blob_id}",
                flush=True,
            )
            out = Path(tmp) / "restored.bin"
            t = time.perf_counter()
            manifest.restore(client, stored.blob_id, out)
            t_read = time.perf_counter() - t
            back = hashlib.blake2b(digest_size=32)
            with open(out, "rb") as fh:
                while piece := fh.read(1 << 22):
                    back.update(piece)
            ok = back.digest() == h.digest()
            print(
                f"read:  {size_mib / t_read:.1f} MiB/s ({t_read:.0f} s), identical: {ok}",
                flush=True,
            )
            print(
                f"peak RSS: client {peak_rss_mib(os.getpid())} MiB, relayer {peak_rss_mib(system.procs['relayer'].pid)} MiB (target < 512 MiB)"
            )
        finally:
            system.stop()


if __name__ == "__main__":
    main()
