"""Many small files as quilts vs one blob each, through the relayer to 4 local nodes (n=100,
so a quilt holds k - 1 = 33 patches): wall time, chain transactions (the relayer's, counted
in the DevChain ledger), storage units paid and WAL-equivalent cost, and the cost ratio.

The one-blob-each side runs on `--sample` files and is extrapolated linearly to `--files`
(every blob costs the same: same size, one register and one certify each); the output says
so. Walrus's docs report ~409x lower storage cost for 10 KiB files (600 files, testnet), the
anchor printed beside ours.

    python -m bench.quilt [--files 10000] [--kib 10] [--sample 300] [--threads 4]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from haulout.client import HauloutClient, StoredBlob
from haulout.deployment import Deployment
from haulout.protocol.params import primary_count, storage_units

from .common import start_local_system

WALRUS_DOCS_RATIO_10KIB = 409
"""Walrus docs (system-overview/quilt.mdx): 600 files of 10 KiB, 1 epoch, regular blobs vs a
quilt on testnet: 2.088 WAL vs 0.005 WAL."""


def relayer_transactions(ledger: str, sender: str) -> int:
    """Transactions the relayer has executed on the DevChain so far."""
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT COUNT(*) FROM transactions WHERE sender = ?", (sender,))
        return int(row.fetchone()[0])


def paid(blob: StoredBlob) -> tuple[int, int]:
    """(storage units, cost) a store paid for (0, 0 when the blob was already certified)."""
    created = blob.raw.get("newlyCreated")
    if not created:
        return 0, 0
    units = storage_units(int(created["blobObject"]["storage"]["storageSize"]))
    return units, int(created.get("cost") or 0)


def side(
    name: str,
    work: list[Any],
    store: Any,
    threads: int,
    ledger: str,
    sender: str,
) -> dict[str, float]:
    """Run `store` over `work` on `threads` threads; wall time, transactions, units, cost."""
    tx0 = relayer_transactions(ledger, sender)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(store, work))
    wall = time.perf_counter() - started
    txs = relayer_transactions(ledger, sender) - tx0
    units = sum(paid(b)[0] for b in results)
    cost = sum(paid(b)[1] for b in results)
    print(
        f"  {name}: {len(results)} stores in {wall:.1f} s, {txs} transactions, {units} units, cost {cost}"
    )
    return {"wall": wall, "txs": txs, "units": units, "cost": cost, "stores": len(results)}


def main() -> None:
    """Run both sides on one local system and print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--kib", type=int, default=10)
    ap.add_argument("--sample", type=int, default=300, help="files stored one blob each")
    ap.add_argument("--threads", type=int, default=4, help="stores in flight on each side")
    a = ap.parse_args()
    size = a.kib << 10
    with tempfile.TemporaryDirectory(prefix="bench-quilt-") as tmp:
        system = start_local_system(Path(tmp), {})
        try:
            client = HauloutClient(system.relayer_url)
            health = client.health()
            ledger = Deployment.load(system.deployment_path).ledger
            sender = health["address"]
            per_quilt = primary_count(int(health["nShards"])) - 1
            files = [(f"file-{i:05}.bin", os.urandom(size), None) for i in range(a.files)]
            groups = [files[i : i + per_quilt] for i in range(0, len(files), per_quilt)]
            print(
                f"{a.files} files of {a.kib} KiB; n = {health['nShards']} shards, "
                f"{per_quilt} patches per quilt, {a.threads} stores in flight"
            )

            def store_quilt(group: list[Any]) -> StoredBlob:
                return client.store_quilt(group, epochs=1).blob

            def store_blob(f: Any) -> StoredBlob:
                return client.store(f[1], epochs=1)

            quilts = side("quilts", groups, store_quilt, a.threads, ledger, sender)
            sample = min(a.sample, a.files)
            blobs = side("one blob each", files[:sample], store_blob, a.threads, ledger, sender)
            scale = a.files / sample
            print()
            print(f"{'':24}{'quilts':>14}{'one blob each':>16}")
            extrapolated = f" (extrapolated from {sample} files)" if sample < a.files else ""
            for key, label in (
                ("wall", "wall time (s)"),
                ("txs", "chain transactions"),
                ("units", "storage units (MiB)"),
                ("cost", "cost"),
            ):
                print(f"{label:24}{quilts[key]:>14.1f}{blobs[key] * scale:>16.1f}")
            print(f"one-blob-each figures{extrapolated}")
            ratio = (blobs["cost"] * scale) / max(quilts["cost"], 1)
            unit_ratio = (blobs["units"] * scale) / max(quilts["units"], 1)
            tx_ratio = (blobs["txs"] * scale) / max(quilts["txs"], 1)
            print(
                f"cost ratio {ratio:.0f}x, storage-unit ratio {unit_ratio:.0f}x, transaction "
                f"ratio {tx_ratio:.0f}x, wall-time ratio "
                f"{blobs['wall'] * scale / max(quilts['wall'], 1e-9):.0f}x"
            )
            print(
                f"anchor: Walrus's docs report {WALRUS_DOCS_RATIO_10KIB}x lower cost for 10 KiB files"
            )
        finally:
            system.stop()


if __name__ == "__main__":
    main()
