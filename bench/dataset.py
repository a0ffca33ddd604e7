"""Buckets at dataset scale: push a folder of many small files and a checkpoint folder of a
few large files to a bucket, change a few files, and pull everything back. Prints files/s,
MiB/s, the peak RSS of this client and of the relayer, and the chain transactions each push
took, beside an anchor measured in the same run: the same small-file folder stored as a plain
directory (`haulout store DIR`). Small files go into quilts (`--quilts auto`, the SDK's
default) of `k - 1` files (33 on 100 shards), sent as batch uploads whose quilts register in one
transaction and certify in one (200 quilts a transaction), so a push costs a constant 5
transactions up to ~6,600 small files; with `--quilts off` they go into 16 MiB packs and grow
only with the bytes (~2 per 16 MiB pack or 32 MiB chunk, plus the manifest and the commit).

    python -m bench.dataset [--files 10000] [--file-kib 4] [--ckpt-gib 2] [--ckpt-files 4]
                            [--quilts auto|on|off]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from haulout import manifest
from haulout.buckets import Changes
from haulout.client import HauloutClient
from haulout.deployment import Deployment

from .common import start_local_system
from .store import peak_rss_mib


def _transactions(ledger: str) -> int:
    """Transactions DevChain has executed (its `transactions` table)."""
    with sqlite3.connect(ledger) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM transactions").fetchone()[0])


def _make_small(root: Path, files: int, size: int) -> int:
    for i in range(files):
        d = root / f"shard-{i // 1000:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"sample-{i:05d}.json").write_bytes(os.urandom(size))
    return files * size


def _make_checkpoint(root: Path, gib: float, parts: int) -> int:
    root.mkdir(parents=True, exist_ok=True)
    per = int(gib * (1 << 30)) // parts
    block = os.urandom(1 << 20)
    for p in range(parts):
        with open(root / f"model-{p + 1:05d}-of-{parts:05d}.safetensors", "wb") as fh:
            left, i = per, 0
            while left:
                n = min(len(block), left)
                fh.write(bytes([p, i & 0xFF, i >> 8 & 0xFF]) + block[3:n])  # no two MiB alike
                left -= n
                i += 1
    (root / "config.json").write_text('{"layers": 24}')
    return per * parts + 14


def _timed(ledger: str, fn: Callable[[], Any]) -> tuple[Any, float, int]:
    before = _transactions(ledger)
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t, _transactions(ledger) - before


def _digest(path: Path) -> bytes:
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as fh:
        while piece := fh.read(1 << 22):
            h.update(piece)
    return h.digest()


def _same(a: Path, b: Path) -> bool:
    """Same files with the same bytes (hashed in pieces: memory stays flat)."""
    left = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    right = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return left == right and all(_digest(a / p) == _digest(b / p) for p in left)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--file-kib", type=int, default=4)
    ap.add_argument("--ckpt-gib", type=float, default=2.0, help="0 skips the checkpoint part")
    ap.add_argument("--ckpt-files", type=int, default=4)
    ap.add_argument("--quilts", choices=["auto", "on", "off"], default="auto")
    a = ap.parse_args()
    quilts = {"auto": None, "on": True, "off": False}[a.quilts]
    with tempfile.TemporaryDirectory(dir=os.environ.get("HAULOUT_BENCH_DIR")) as tmp:
        base = Path(tmp)
        small = base / "small"
        small_bytes = _make_small(small, a.files, a.file_kib << 10)
        system = start_local_system(base / "sys", {})
        ledger = Deployment.load(system.deployment_path).ledger
        try:
            client = HauloutClient(system.relayer_url, timeout=3600)
            b = client.buckets
            mib = small_bytes / (1 << 20)
            print(
                f"haulout dataset bench — {a.files} files of {a.file_kib} KiB ({mib:.0f} MiB), "
                f"n=100, 4 nodes",
                flush=True,
            )
            stored, t_anchor, tx_anchor = _timed(
                ledger, lambda: manifest.store_directory(client, small)
            )
            print(
                f"anchor `haulout store DIR`: {a.files / t_anchor:.0f} files/s, "
                f"{mib / t_anchor:.1f} MiB/s, {tx_anchor} chain tx",
                flush=True,
            )
            b.create("bench-small")
            done, t_push, tx_push = _timed(
                ledger, lambda: b.push(small, "bench-small", quilts=quilts)
            )
            print(
                f"push:  {a.files / t_push:.0f} files/s, {mib / t_push:.1f} MiB/s "
                f"({t_push:.1f} s), {tx_push} chain tx, version {done.version}",
                flush=True,
            )
            changes = Changes()
            for i in range(10):
                changes.put(f"shard-00/sample-{i:05d}.json", os.urandom(a.file_kib << 10))
            _, t_small, tx_small = _timed(
                ledger, lambda: b.commit("bench-small", changes, quilts=quilts)
            )
            print(f"commit of 10 changed files: {t_small:.1f} s, {tx_small} chain tx", flush=True)
            out = base / "small-out"
            _, t_pull, _ = _timed(ledger, lambda: b.pull("bench-small@1", out))
            print(
                f"pull @1: {a.files / t_pull:.0f} files/s, {mib / t_pull:.1f} MiB/s "
                f"({t_pull:.1f} s), identical: {_same(small, out)}",
                flush=True,
            )
            anchor_dir = base / "anchor-out"
            _, t_read, _ = _timed(
                ledger, lambda: manifest.restore(client, stored.blob_id, anchor_dir)
            )
            print(
                f"anchor `haulout read <dir manifest>`: {a.files / t_read:.0f} files/s, "
                f"{mib / t_read:.1f} MiB/s",
                flush=True,
            )
            if a.ckpt_gib > 0:
                ckpt = base / "ckpt"
                ck_bytes = _make_checkpoint(ckpt, a.ckpt_gib, a.ckpt_files)
                ck_mib = ck_bytes / (1 << 20)
                one = os.urandom(32 << 20)
                _, t_one, tx_one = _timed(ledger, lambda: client.store(one))
                print(
                    f"anchor one 32 MiB blob: {32 / t_one:.1f} MiB/s, {tx_one} chain tx",
                    flush=True,
                )
                del one
                b.create("bench-ckpt")
                done, t_push, tx_push = _timed(
                    ledger, lambda: b.push(ckpt, "bench-ckpt", prefix="step-100")
                )
                print(
                    f"checkpoint push ({ck_mib:.0f} MiB, {a.ckpt_files + 1} files): "
                    f"{ck_mib / t_push:.1f} MiB/s ({t_push:.0f} s), {tx_push} chain tx",
                    flush=True,
                )
                out = base / "ckpt-out"
                _, t_pull, _ = _timed(ledger, lambda: b.pull("bench-ckpt", out, "step-100"))
                print(
                    f"checkpoint pull: {ck_mib / t_pull:.1f} MiB/s ({t_pull:.0f} s), "
                    f"identical: {_same(ckpt, out)}",
                    flush=True,
                )
            print(
                f"peak RSS: client {peak_rss_mib(os.getpid())} MiB, relayer "
                f"{peak_rss_mib(system.procs['relayer'].pid)} MiB"
            )
        finally:
            system.stop()


if __name__ == "__main__":
    main()
