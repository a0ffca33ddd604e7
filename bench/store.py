"""Store and read through the relayer to local nodes (4, n=100 by default), type 1 and type 0 on the
same data in the same run, beside raw reed-solomon-leopard and raw zfec on 2 threads and
Walrus's RedStuff encode/decode (n=100 and n=1000); then where the store's CPU goes (relayer
phases from its `certified` log line, nodes from /proc), and the relayer's peak RSS for a
large upload.

    python -m bench.store [--mib 128] [--repeat 3] [--big-mib 0] [--nodes 4 --shards 100]
                          [--types 1,0]

`--nodes 10 --shards 1000` measures Walrus's committee size (type 1 only: type 0 stops at 256).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

from haulout.client import HauloutClient
from haulout.launcher import LocalSystem

from . import anchors
from .common import start_local_system

TICKS = os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> int:
    """VmHWM of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) // 1024
    return -1


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> list[int]:
    """Child processes of `pid` (the relayer's encoding lanes)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def family_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children."""
    total = cpu_seconds(pid)
    for child in children(pid):
        with contextlib.suppress(OSError):  # it may have just exited
            total += cpu_seconds(child)
    return total


def last_certified(system: LocalSystem) -> dict[str, dict[str, float]]:
    """The relayer's per-phase wall and CPU seconds of its latest upload."""
    for line in reversed((system.workdir / "logs" / "relayer.log").read_text().splitlines()):
        if '"certified"' in line:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            return {"seconds": rec.get("seconds", {}), "cpu": rec.get("cpu_seconds", {})}
    return {"seconds": {}, "cpu": {}}


def store_and_read(
    system: LocalSystem, client: HauloutClient, data: bytes, encoding_type: int
) -> dict[str, float]:
    """One upload of `data` with this type, then a read and a strict read; seconds each,
    and CPU seconds of the relayer and of the nodes during the store."""
    procs = {name: p.pid for name, p in system.procs.items()}
    before = {name: cpu_seconds(pid) for name, pid in procs.items()}
    lanes_before = family_cpu(procs["relayer"]) - before["relayer"]
    os.sync()  # the previous run's writeback is not this store's work
    t = time.perf_counter()
    stored = client.store(data, encoding_type=encoding_type)
    t_store = time.perf_counter() - t
    system.settle()  # the slowest nodes get their slivers after certification
    t_all = time.perf_counter() - t
    after = {name: cpu_seconds(pid) for name, pid in procs.items()}
    lanes = family_cpu(procs["relayer"]) - after["relayer"] - lanes_before
    t = time.perf_counter()
    assert client.read(stored.blob_id) == data
    t_read = time.perf_counter() - t
    t = time.perf_counter()
    assert client.read(stored.blob_id, strict=True) == data
    t_strict = time.perf_counter() - t
    nodes = sum(after[n] - before[n] for n in procs if n.startswith("node-"))
    return {
        "store": t_store,
        "store_all": t_all,
        "read": t_read,
        "strict": t_strict,
        "relayer_cpu": after["relayer"] - before["relayer"],
        "lanes_cpu": lanes,
        "nodes_cpu": nodes,
    }


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--mib", type=int, default=128)
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs; each wall-clock figure keeps its best"
    )
    ap.add_argument("--big-mib", type=int, default=0, help="relayer RSS for a large upload")
    ap.add_argument("--nodes", type=int, default=4, help="storage nodes (1-16)")
    ap.add_argument("--shards", type=int, default=100, help="shards n (type 0: at most 256)")
    ap.add_argument("--types", default="1,0", help="encoding types to store, e.g. 1")
    a = ap.parse_args()
    if not 1 <= a.nodes <= 16 or not a.nodes <= a.shards <= 1000:
        ap.error("--nodes is 1-16 and --shards between the node count and 1000")
    types = [int(t) for t in a.types.split(",")]
    if any(t not in (0, 1) for t in types) or (0 in types and a.shards > 256):
        ap.error("--types are 0 and/or 1; type 0 allows at most 256 shards")
    mib = a.mib
    n = a.shards
    with tempfile.TemporaryDirectory(dir=os.environ.get("HAULOUT_BENCH_DIR")) as tmp:
        system = start_local_system(
            Path(tmp) / "sys", {"HAULOUT_RELAYER_MAX_BLOB_SIZE": str(2 << 30)}, a.nodes, n
        )
        try:
            client = HauloutClient(system.relayer_url, timeout=3600)
            print(
                f"haulout store bench — relayer + {a.nodes} storage nodes + DevChain, n={n}, "
                f"{mib} MiB, {os.cpu_count()} cores (shared machine)",
                flush=True,
            )
            if a.big_mib:  # first, so the relayer's peak RSS is the upload's alone
                src = Path(tmp) / "big.bin"
                with open(src, "wb") as fh:
                    for _ in range(a.big_mib):
                        fh.write(os.urandom(1 << 20))
                pid = system.procs["relayer"].pid
                t = time.perf_counter()
                client.store_file(src)
                dt = time.perf_counter() - t
                system.settle(120)
                src.unlink()
                print(
                    f"{a.big_mib} MiB upload (type 1): {a.big_mib / dt:.1f} MiB/s, relayer peak RSS "
                    f"{peak_rss_mib(pid)} MiB (target < 512 MiB)",
                    flush=True,
                )
            results: dict[int, dict[str, float]] = {}
            phases: dict[int, dict[str, dict[str, float]]] = {}
            t_leo = t_zfec = float("inf")
            red: dict[int, tuple[float, float]] = {}
            red_cpu: dict[int, float] = {}
            for _ in range(a.repeat):
                data = os.urandom(mib << 20)  # fresh every run: never alreadyCertified
                t_leo = min(t_leo, anchors.leopard_encode(data, n))
                t_zfec = min(t_zfec, anchors.zfec_encode(data, min(n, 256)))
                for t in types:
                    r = store_and_read(system, client, data, t)
                    old = results.get(t)
                    if old is None or r["store"] < old["store"]:  # CPU and phases: its own
                        results[t] = dict(r)
                        phases[t] = last_certified(system)
                    if old is not None:  # each read's wall time: its own best
                        for key in ("read", "strict"):
                            results[t][key] = min(old[key], r[key])
                if anchors.redstuff_available():
                    for rn in (100, 1000):
                        e, d, cpu, _ = anchors.redstuff(data, rn)
                        red_cpu[rn] = min(red_cpu.get(rn, float("inf")), cpu)
                        old = red.get(rn, (float("inf"), float("inf")))
                        red[rn] = (min(old[0], e), min(old[1], d))
                del data

            def line(label: str, seconds: float) -> None:
                print(f"  {label:<58} {mib / seconds:8.1f} MiB/s")

            print()
            for t in types:
                r = results[t]
                line(f"type {t} store until certified", r["store"])
                line(f"type {t} store until every node holds its slivers", r["store_all"])
                line(f"type {t} read (known consistent)", r["read"])
                line(f"type {t} read with strict_consistency_check", r["strict"])
            line(f"raw reed-solomon-leopard encode, 2 threads, n={n}", t_leo)
            line(f"raw zfec encode, 2 threads, n={min(n, 256)}", t_zfec)
            for rn, (e, d) in sorted(red.items()):
                line(f"Walrus RedStuff encode, n={rn}", e)
                line(f"Walrus RedStuff decode, n={rn}", d)
            if n in red and 1 in results:
                e, d = red[n]
                r = results[1]
                target = "≥ 2" if n <= 100 else "≥ 1"
                print(
                    f"\n  type 1 store / RedStuff encode (n={n}): {e / r['store']:.2f} (target {target})"
                    f"\n  type 1 read / RedStuff decode (n={n}):  {d / r['read']:.2f} (target ≥ 1.5 at n=100)"
                )
            print(
                "\n  CPU per MiB (less sensitive to a shared machine than wall time): "
                + ", ".join(
                    f"RedStuff encode n={n} {1000 * c / mib:.2f} ms/MiB"
                    for n, c in sorted(red_cpu.items())
                )
            )
            print("  CPU seconds per MiB during the store (relayer phases from its log):")
            for t in types:
                r, ph = results[t], phases[t]
                per = {k: round(1000 * v / mib, 2) for k, v in ph["cpu"].items()}
                wall = {k: round(v, 3) for k, v in ph["seconds"].items()}
                print(
                    f"  type {t}: relayer {1000 * r['relayer_cpu'] / mib:.2f} ms/MiB "
                    f"(by phase, ms/MiB: {per}; wall s: {wall}), "
                    f"its encoding lane {1000 * r['lanes_cpu'] / mib:.2f} ms/MiB, "
                    f"{a.nodes} nodes {1000 * r['nodes_cpu'] / mib:.2f} ms/MiB; all "
                    f"{1000 * (r['relayer_cpu'] + r['lanes_cpu'] + r['nodes_cpu']) / mib:.2f} ms/MiB",
                    flush=True,
                )
        finally:
            system.stop()


if __name__ == "__main__":
    main()
