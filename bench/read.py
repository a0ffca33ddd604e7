"""Read through the relayer from local nodes (4, n=100 by default): wall MiB/s of a blob known
to be consistent beside Walrus's RedStuff decode on the same data in the same run, and the CPU
milliseconds per MiB read of the relayer and of the nodes (from /proc, so less sensitive to a
shared machine than wall time). Optionally records py-spy profiles of both sides.

    python -m bench.read [--mib 128] [--repeat 3] [--type 1] [--pyspy DIR] [--no-anchor]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from haulout.client import HauloutClient

from . import anchors
from .common import start_local_system
from .store import cpu_seconds, family_cpu, peak_rss_mib


def redstuff_decode(data: bytes, n: int, repeat: int) -> tuple[float, float]:
    """Walrus's RedStuff decode of `data` from its `k` primary slivers (its optimistic path,
    see `anchors.redstuff`): best wall seconds and CPU seconds of `repeat` runs (inf if the
    bench extra is not installed)."""
    if not anchors.redstuff_available():
        return float("inf"), float("inf")
    times = anchors.redstuff(data, n, decodes=repeat)
    return times.decode, times.decode_cpu


def main() -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--mib", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3, help="reads; the best wall time is kept")
    ap.add_argument("--type", type=int, default=1, choices=(0, 1))
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--shards", type=int, default=100)
    ap.add_argument("--no-anchor", action="store_true", help="skip RedStuff (large --mib)")
    ap.add_argument("--pyspy", type=Path, help="write py-spy flame graphs of the reads here")
    a = ap.parse_args()
    mib, n = a.mib, a.shards
    with tempfile.TemporaryDirectory(dir=os.environ.get("HAULOUT_BENCH_DIR")) as tmp:
        system = start_local_system(
            Path(tmp) / "sys", {"HAULOUT_RELAYER_MAX_BLOB_SIZE": str(2 << 30)}, a.nodes, n
        )
        spies: list[subprocess.Popen[bytes]] = []
        try:
            client = HauloutClient(system.relayer_url, timeout=3600)
            data = os.urandom(mib << 20)
            blob_id = client.store(data, encoding_type=a.type).blob_id
            system.settle()
            assert client.read(blob_id) == data  # warm: connections, page cache
            procs = {name: p.pid for name, p in system.procs.items()}
            if a.pyspy:
                a.pyspy.mkdir(parents=True, exist_ok=True)
                spy = Path(sys.executable).with_name("py-spy")
                for name in ("relayer", "node-0"):
                    spies.append(
                        subprocess.Popen(  # noqa: S603 - our own tool, our own pids
                            [
                                str(spy),
                                "record",
                                "--pid",
                                str(procs[name]),
                                "--threads",
                                "--format",
                                "raw",
                                "--nonblocking",
                                "--rate",
                                "200",
                                "-o",
                                str(a.pyspy / f"{name}.txt"),
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                    )
                time.sleep(1.0)
            with contextlib.suppress(OSError):  # the relayer's peak RSS from here on: the reads'
                Path(f"/proc/{procs['relayer']}/clear_refs").write_text("5")
            best = float("inf")
            relayer = nodes = client_cpu = 0.0
            for _ in range(a.repeat):
                before = {name: cpu_seconds(pid) for name, pid in procs.items()}
                lanes = family_cpu(procs["relayer"]) - before["relayer"]
                t, cpu = time.perf_counter(), time.process_time()
                got = client.read(blob_id)
                best = min(best, time.perf_counter() - t)
                client_cpu += time.process_time() - cpu
                assert got == data
                del got
                after = {name: cpu_seconds(pid) for name, pid in procs.items()}
                lanes = family_cpu(procs["relayer"]) - after["relayer"] - lanes
                relayer += after["relayer"] - before["relayer"] + lanes
                nodes += sum(after[p] - before[p] for p in procs if p.startswith("node-"))
            for spy_proc in spies:
                spy_proc.send_signal(2)
            for spy_proc in spies:
                spy_proc.wait(30)
            peak = peak_rss_mib(procs["relayer"])
            decode, decode_cpu = (
                (float("inf"), float("inf")) if a.no_anchor else redstuff_decode(data, n, a.repeat)
            )
            load = os.getloadavg()
            total = mib * a.repeat
            print(
                f"read type {a.type}, {mib} MiB, n={n}, {a.nodes} nodes (load {load[0]:.2f} "
                f"{load[1]:.2f} {load[2]:.2f})\n"
                f"  read: {mib / best:.1f} MiB/s (best of {a.repeat}); "
                + (
                    f"RedStuff decode n={n}: {mib / decode:.1f} MiB/s; ratio {decode / best:.2f} "
                    "(target >= 1.5)"
                    if decode < float("inf")
                    else "RedStuff decode skipped"
                )
                + f"\n  CPU per MiB read: relayer {1000 * relayer / total:.2f} ms, "
                f"{a.nodes} nodes {1000 * nodes / total:.2f} ms, client "
                f"{1000 * client_cpu / total:.2f} ms"
                + (
                    f"; RedStuff decode {1000 * decode_cpu / mib:.2f} ms"
                    if decode < float("inf")
                    else ""
                )
                + "\n"
                f"  relayer peak RSS during the reads: {peak} MiB",
                flush=True,
            )
        finally:
            for spy_proc in spies:
                with contextlib.suppress(Exception):
                    spy_proc.kill()
            system.stop()


if __name__ == "__main__":
    main()
