"""An epoch change under data: 4 local nodes (n=100) hold `--mib` of blobs; one node leaves
and one joins (stake decides: five equal pools, one withdrawn), the epoch advances, and the
shards move. Printed: time to completion (EpochChangeDone on chain; every member reported;
disks agree with the committee), bytes each node fetched against the minimum (the gained
shards' own slivers), slivers rebuilt by recovery, and reads served per second during the
change beside the same readers before it (the anchor, same run, same blobs).

    python -m bench.epoch_change [--mib 1024] [--blob-mib 16] [--readers 2] [--read-seconds 10]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from haulout import membership
from haulout.chain.devchain import DevChain
from haulout.client import HauloutClient
from haulout.deployment import Deployment
from haulout.launcher import LocalSystem, free_port
from haulout.protocol.blob_id import BlobId
from haulout.protocol.committee import Committee
from haulout.protocol.params import DEFAULT_ENCODING, EncodingParams, shard_for_sliver
from storage_node.store import stored_slivers

from .common import start_local_system

N_SHARDS = 100


class Readers:
    """`n` threads reading random whole blobs through the relayer until stopped."""

    def __init__(self, url: str, blobs: list[str], n: int) -> None:
        self.url, self.blobs, self.n = url, blobs, n
        self.stop = threading.Event()
        self.ok = self.busy = self.failed = 0
        self.bytes = 0
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(n)]

    def run(self) -> None:
        rng = random.Random()
        with httpx.Client(base_url=self.url, timeout=120) as http:
            while not self.stop.is_set():
                r = http.get(f"/v1/blobs/{rng.choice(self.blobs)}")
                if r.status_code == 200:
                    self.ok += 1
                    self.bytes += len(r.content)
                elif r.status_code == 503 and "retry-after" in r.headers:
                    self.busy += 1
                else:
                    self.failed += 1

    def __enter__(self) -> Readers:
        self.started = time.monotonic()
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(300)
        self.seconds = time.monotonic() - self.started

    def line(self, label: str) -> str:
        return (
            f"{label:<28} {self.ok / self.seconds:7.2f} reads/s  "
            f"{self.bytes / self.seconds / 2**20:7.1f} MiB/s  "
            f"({self.ok} ok, {self.busy} busy 503, {self.failed} failed, {self.seconds:.1f} s)"
        )


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def on_disk(system: LocalSystem, name: str) -> dict[str, set[int]]:
    root = system.workdir / "nodes" / name / "slivers"
    out: dict[str, set[int]] = {}
    for d in root.iterdir() if root.exists() else []:
        if d.is_dir():
            out[d.name] = set(stored_slivers(d))  # pack and per-sliver files
    return out


def settled(system: LocalSystem, committee: Committee, sizes: dict[str, int]) -> bool:
    """Every member holds the slivers it owns and no node holds one it does not own."""
    dep = Deployment.load(system.deployment_path)
    owned = {m.name: set(m.shards) for m in committee.members}
    for node in dep.nodes:
        have = on_disk(system, node.name)
        mine = owned.get(node.name, set())
        for blob, indices in have.items():
            b = int(BlobId.parse(blob))
            if any(shard_for_sliver(i, b, N_SHARDS) not in mine for i in indices):
                return False
        if mine:
            pos = committee.index_of(node.node_id)
            for blob in sizes:
                if set(committee.slivers_of(pos, int(BlobId.parse(blob)))) - have.get(blob, set()):
                    return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=1024, help="total blob bytes stored")
    ap.add_argument("--blob-mib", type=int, default=16)
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--read-seconds", type=float, default=10.0)
    a = ap.parse_args()
    os.environ.setdefault("HAULOUT_NODE_RECOVERY_INTERVAL", "1")
    with tempfile.TemporaryDirectory(prefix="haulout-epoch-bench-") as tmp:
        system = start_local_system(Path(tmp), {"HAULOUT_RELAYER_NODE_TIMEOUT": "60"})
        try:
            run(system, a)
        finally:
            system.stop()


def run(system: LocalSystem, a: argparse.Namespace) -> None:
    dep = Deployment.load(system.deployment_path)
    chain = DevChain(dep.ledger)
    n_blobs = max(1, a.mib // a.blob_mib)
    size = a.blob_mib << 20
    sizes: dict[str, int] = {}
    t = time.monotonic()
    with HauloutClient(system.relayer_url, timeout=600) as client:

        def one(_: int) -> None:
            sizes[client.store(os.urandom(size), epochs=5).blob_id] = size

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(one, range(n_blobs)))
    system.settle(600)
    stored_s = time.monotonic() - t
    print(
        f"stored {n_blobs} blobs of {a.blob_mib} MiB ({n_blobs * a.blob_mib} MiB) in {stored_s:.0f} s"
    )
    blobs = list(sizes)

    with Readers(system.relayer_url, blobs, a.readers) as before:
        time.sleep(a.read_seconds)

    node = membership.join(system.deployment_path, f"http://127.0.0.1:{free_port()}")
    system.start_node(4)
    system.wait_healthy([f"{node.url}/v1/health"], 120)
    membership.leave(system.deployment_path, "node-0")
    old = chain.system().require_committee()
    with Readers(system.relayer_url, blobs, a.readers) as during:
        t0 = time.monotonic()
        epoch = chain.force_advance_epoch(dep.admin)
        new = chain.system().require_committee()
        done_at = None
        while True:
            state = chain.system()
            if done_at is None and not state.changing:
                done_at = time.monotonic() - t0
            members = {m.node_id for m in new.members}
            if (
                done_at is not None
                and members <= set(state.received)
                and settled(system, new, sizes)
            ):
                break
            if time.monotonic() - t0 > 3600:
                raise SystemExit("the change did not complete in an hour")
            time.sleep(1.0)
        settled_at = time.monotonic() - t0

    dep = Deployment.load(system.deployment_path)
    print(f"\nepoch change to epoch {epoch}: node-0 leaves, {node.name} joins; 100 shards")
    print(f"  EpochChangeDone (quorum reported) after {done_at:6.1f} s")
    print(f"  every member reported, disks agree   {settled_at:6.1f} s")
    print("\nbytes each node fetched vs the minimum (its gained shards' own slivers):")
    total_min = total_got = 0
    for m in new.members:
        gained = set(m.shards) - (
            set(old.members[old.index_of(m.node_id)].shards)
            if any(o.node_id == m.node_id for o in old.members)
            else set()
        )
        minimum = sum(
            len(gained) * EncodingParams(N_SHARDS, s, DEFAULT_ENCODING).sliver_len
            for s in sizes.values()
        )
        url = next(n.url for n in dep.nodes if n.node_id == m.node_id)
        got = int(metric(url, "haulout_node_bytes_synced"))
        rebuilt = int(metric(url, "haulout_node_slivers_recovered"))
        total_min += minimum
        total_got += got
        ratio = f"{got / minimum:5.2f}x" if minimum else "   - "
        print(
            f"  {m.name:<8} gained {len(gained):3d} shards  fetched {got / 2**20:8.1f} MiB  "
            f"minimum {minimum / 2**20:8.1f} MiB  {ratio}  rebuilt {rebuilt} slivers"
        )
    print(f"  total    fetched {total_got / 2**20:.1f} MiB, minimum {total_min / 2**20:.1f} MiB")
    print("\nreads through the relayer (whole blobs, random, same readers):")
    print("  " + before.line("before the change (anchor)"))
    print("  " + during.line("during the change"))


if __name__ == "__main__":
    main()
