"""Indexer ingest rate (events/s) on SQLite and PostgreSQL, and REST p50/p99 at 200 req/s.

python -m bench.indexer [--events 100000] [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from haulout.chain.events import (
    BlobAttributeSet,
    BlobCertified,
    BlobRegistered,
    ChainEvent,
    EpochAdvanced,
    Event,
)
from haulout.launcher import free_port
from haulout.protocol.blob_id import BlobId
from indexer.db import make_engine, migrate
from indexer.runner import Runner


class SyntheticChain:
    """An event stream of registrations, certifications, attributes and epochs."""

    def __init__(self, n: int) -> None:
        rng = random.Random(7)
        events: list[Event] = []
        i = 0
        while len(events) < n:
            oid = "0x" + f"{i:064x}"
            bid = BlobId(rng.randbytes(32))
            epoch = i // 2000
            events.append(
                BlobRegistered(epoch, bid, rng.randint(1, 1 << 24), 0, epoch + 5, i % 3 == 0, oid)
            )
            events.append(BlobCertified(epoch, bid, epoch + 5, i % 3 == 0, oid, False))
            events.append(
                BlobAttributeSet(
                    bid,
                    oid,
                    "content-type",
                    rng.choice(["image/png", "text/plain", "application/json"]),
                )
            )
            if i % 2000 == 1999:
                events.append(EpochAdvanced(epoch + 1, 1_700_000_000_000 + i))
            i += 1
        self._events = [
            ChainEvent(c + 1, "0x" + "ab" * 32, "0x" + "cd" * 32, 1_700_000_000_000, e)
            for c, e in enumerate(events[:n])
        ]

    def events(self, after: int | None = None, limit: int = 1000) -> list[ChainEvent]:
        start = after or 0
        return self._events[start : start + limit]


def ingest(url: str, chain: SyntheticChain, batch: int) -> float:
    migrate(url)
    engine = make_engine(url)
    t = time.perf_counter()
    n = Runner(chain, engine, batch_size=batch).catch_up()  # type: ignore[arg-type]
    dt = time.perf_counter() - t
    engine.dispose()
    return n / dt


SERVER = """
import gc, sys, uvicorn
from indexer.app import create_app
from indexer.db import make_engine
from indexer.queries import Queries
from indexer.__main__ import tune_gc
app = create_app(Queries(make_engine(sys.argv[1])))
tune_gc()
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


async def load(base: str, rate: int, seconds: int, blob_ids: list[str]) -> list[float]:
    """Open-loop load over 32 keep-alive connections with a minimal HTTP/1.1 client (so the
    load generator costs little CPU on a 2-core box). Latency counts from each request's
    scheduled send time, so queueing anywhere is included."""
    host, port = base.removeprefix("http://").split(":")
    conns: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(32):
        conns.put_nowait(await asyncio.open_connection(host, int(port)))
    paths = [
        "/v1/blobs?limit=50",
        "/v1/blobs?status=certified&limit=20",
        "/v1/blobs?content_type=image/png&limit=20",
        "/v1/stats",
        "/v1/epochs",
        "/",  # the dashboard's own page and queries
        "/v1/nodes",
        "/v1/search?q=content-type%3Dimage%2Fpng",
    ]
    latencies: list[float] = []

    async def one(path: str, scheduled: float) -> None:
        reader, writer = await conns.get()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        await reader.readexactly(length)
        latencies.append((time.perf_counter() - scheduled) * 1000)
        conns.put_nowait((reader, writer))
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")

    tasks = []
    start = time.perf_counter()
    for i in range(rate * seconds):
        target = start + i / rate
        await asyncio.sleep(max(0, target - time.perf_counter()))
        path = paths[i % len(paths)] if i % 3 else f"/v1/blobs/{blob_ids[i % len(blob_ids)]}"
        tasks.append(asyncio.create_task(one(path, target)))
    await asyncio.gather(*tasks)
    while not conns.empty():
        conns.get_nowait()[1].close()
    return latencies


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument(
        "--pg",
        default=os.environ.get("HAULOUT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=10)
    a = ap.parse_args()
    chain = SyntheticChain(a.events)
    print(f"haulout indexer bench — {a.events} synthetic events, batches of {a.batch}")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        print(f"ingest SQLite:     {ingest(sqlite_url, chain, a.batch):8.0f} events/s", flush=True)
        try:
            import psycopg

            name = f"haulout_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(a.pg, autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{name}"')
            pg_url = a.pg.rsplit("/", 1)[0] + f"/{name}"
            try:
                print(
                    f"ingest PostgreSQL: {ingest(pg_url, chain, a.batch):8.0f} events/s (target >= 5000)",
                    flush=True,
                )
            finally:
                with psycopg.connect(a.pg, autocommit=True) as c:
                    c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as exc:
            print(f"ingest PostgreSQL: skipped ({exc})")
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", SERVER, sqlite_url, str(port)])
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    httpx.get(base + "/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            ids = [b["blobId"] for b in httpx.get(base + "/v1/blobs?limit=200").json()["blobs"]]
            cold = sorted(
                asyncio.run(load(base, 100, 2, ids))
            )  # warm up: threads, pool, query cache
            print(
                f"REST warm-up (first 2 s at 100 req/s): p50 {statistics.median(cold):.1f} ms, max {cold[-1]:.1f} ms"
            )
            gc.collect()
            gc.disable()  # the load generator's own pauses must not count as server latency
            try:
                lat = sorted(asyncio.run(load(base, a.rate, a.seconds, ids)))
            finally:
                gc.enable()
            p50, p99 = statistics.median(lat), lat[int(len(lat) * 0.99) - 1]
            print(
                f"REST at {a.rate} req/s for {a.seconds}s (server in its own process, SQLite): {len(lat)} requests, p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 <= 25 ms)"
            )
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
