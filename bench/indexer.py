"""Indexer ingest rate (events/s) on SQLite and PostgreSQL, and REST p50/p99 at 200 req/s.

python -m bench.indexer [--blobs 1000000] [--pg postgresql://postgres@127.0.0.1:5432/test]
python -m bench.indexer --database-url URL [--per-query] [--explain] [--ingest-during N]
python -m bench.indexer --blobs 1000000 --build-only URL   (index into URL and keep it)

The REST load mixes the dashboard's own queries (stats, recent blobs, search, nodes, staking,
buckets, epochs, a blob's page and its events) with lookups by blob id, on SQLite and on
PostgreSQL. `--per-query` times each of those requests alone, one at a time (latency and the
server process's CPU per request: usable on a loaded machine, where the 200 req/s p99 is not);
`--explain` prints the database's plan of every statement those requests run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from typing import Any

import httpx

from haulout.chain.events import (
    BlobAttributeSet,
    BlobCertified,
    BlobDeleted,
    BlobRegistered,
    ChainEvent,
    EpochAdvanced,
    Event,
)
from haulout.launcher import free_port
from haulout.protocol.blob_id import BlobId
from indexer.db import make_engine, migrate
from indexer.runner import Runner

PER_EPOCH = 2000
"""Blobs registered per synthetic epoch."""
EVENTS_PER_BLOB = 3
EPOCH_MS = 6 * 3_600_000
"""Synthetic epochs last six hours, so a million blobs span about four months of wall clock."""
T0_MS = 1_700_000_000_000
CONTENT_TYPES = ("image/png", "text/plain", "application/json", "application/x-parquet")


class SyntheticChain:
    """A deterministic event stream of registrations, certifications, content-type attributes,
    some deletions and epoch changes, generated on demand (a million blobs would not fit in
    memory as objects): each epoch holds `PER_EPOCH` blobs of three events each, one in 50
    deletable blobs is deleted at the end of its epoch, then the epoch advances."""

    def __init__(self, blobs: int) -> None:
        self.blobs = blobs
        self.per_epoch_events = PER_EPOCH * EVENTS_PER_BLOB + PER_EPOCH // 50 + 1
        full, rest = divmod(blobs, PER_EPOCH)
        self.total = full * self.per_epoch_events + rest * EVENTS_PER_BLOB

    def _blob(self, i: int) -> tuple[BlobId, str, int, bool, str]:
        rng = random.Random(i)
        oid = "0x" + f"{i:064x}"
        return (
            BlobId(rng.randbytes(32)),
            oid,
            rng.randint(1, 1 << 24),
            (i % PER_EPOCH) % 3 == 0,
            CONTENT_TYPES[rng.randrange(len(CONTENT_TYPES))],
        )

    def _event(self, cursor: int) -> ChainEvent:
        epoch, k = divmod(cursor - 1, self.per_epoch_events)
        t = T0_MS + epoch * EPOCH_MS
        event: Event
        if k < PER_EPOCH * EVENTS_PER_BLOB:
            n, kind = divmod(k, EVENTS_PER_BLOB)
            i = epoch * PER_EPOCH + n
            bid, oid, size, deletable, ctype = self._blob(i)
            t += n * (EPOCH_MS // PER_EPOCH)
            if kind == 0:
                event = BlobRegistered(epoch, bid, size, 1, epoch + 20, deletable, oid)
            elif kind == 1:
                event = BlobCertified(epoch, bid, epoch + 20, deletable, oid, False)
            else:
                event = BlobAttributeSet(bid, oid, "content-type", ctype)
        elif k < self.per_epoch_events - 1:
            i = (
                epoch * PER_EPOCH + (k - PER_EPOCH * EVENTS_PER_BLOB) * 48
            )  # deletable: a multiple of 3
            bid, oid, _, _, _ = self._blob(i)
            t += EPOCH_MS - 1
            event = BlobDeleted(epoch, bid, epoch + 20, oid, True)
        else:
            t += EPOCH_MS
            event = EpochAdvanced(epoch + 1, t)
        return ChainEvent(cursor, "0x" + "ab" * 32, "0x" + "cd" * 32, t, event)

    def events(self, after: int | None = None, limit: int = 1000) -> list[ChainEvent]:
        start = (after or 0) + 1
        return [self._event(c) for c in range(start, min(start + limit, self.total + 1))]


def ingest(url: str, chain: SyntheticChain, batch: int, label: str) -> float:
    """Index the whole stream into `url`; prints progress every few seconds; events/s."""
    migrate(url)
    engine = make_engine(url)
    runner = Runner(chain, engine, batch_size=batch)  # type: ignore[arg-type]
    t = last = time.perf_counter()
    done = 0
    while n := runner.run_once():
        done += n
        if time.perf_counter() - last > 10:
            last = time.perf_counter()
            rate = done / (last - t)
            print(
                f"  {label}: {done:,}/{chain.total:,} events, {rate:,.0f}/s, "
                f"~{(chain.total - done) / rate:,.0f} s left",
                file=sys.stderr,
                flush=True,
            )
    dt = time.perf_counter() - t
    engine.dispose()
    return done / dt


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


def dashboard_paths(object_ids: list[str]) -> list[str]:
    """The requests the dashboard makes (its page, cards, explorer, a blob's page) and the
    blob list filters, each once."""
    oid = object_ids[len(object_ids) // 2]
    return [
        "/",
        "/v1/stats",
        "/v1/nodes",
        "/v1/staking",
        "/v1/buckets?limit=20",
        "/v1/epochs",
        "/v1/blobs?limit=20",
        "/v1/blobs?status=certified&limit=20",
        "/v1/blobs?content_type=image/png&limit=20",
        "/v1/search?q=content-type%3Dimage%2Fpng",
        "/v1/search?q=text%2Fplain",
        f"/v1/blobs/by-object-id/{oid}",
        f"/v1/blobs/by-object-id/{oid}/events",
    ]


async def load(
    base: str, rate: int, seconds: int, blob_ids: list[str], object_ids: list[str]
) -> list[float]:
    """Open-loop load over 32 keep-alive connections with a minimal HTTP/1.1 client (so the
    load generator costs little CPU on a 2-core box). Latency counts from each request's
    scheduled send time, so queueing anywhere is included."""
    host, port = base.removeprefix("http://").split(":")
    conns: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(32):
        conns.put_nowait(await asyncio.open_connection(host, int(port)))
    paths = dashboard_paths(object_ids)
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_pids(url: str) -> list[int]:
    """The PostgreSQL backends serving `url`'s database on this machine, but for the one
    asking (whose CPU is the database's answer to the REST server); none for SQLite."""
    if not url.startswith("postgresql"):
        return []
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as c:
        rows = c.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows if Path(f"/proc/{r[0]}/stat").exists()]


def database_cpu(pids: list[int]) -> float:
    """CPU seconds the database backends `pids` used so far (those gone count as 0)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += cpu_seconds(pid)
    return total


def per_query(base: str, pid: int, object_ids: list[str], n: int, url: str = "") -> None:
    """Each dashboard request alone, `n` times in a row: p50/p99 latency, the server
    process's CPU per request and, on PostgreSQL, its backends' CPU per request (`db`)."""
    with httpx.Client(timeout=60) as client:
        for path in dashboard_paths(object_ids):
            client.get(base + path).raise_for_status()
            pids = database_pids(url)
            cpu, db, lat = cpu_seconds(pid), database_cpu(pids), []
            for _ in range(n):
                t = time.perf_counter()
                client.get(base + path).raise_for_status()
                lat.append((time.perf_counter() - t) * 1000)
            cpu = (cpu_seconds(pid) - cpu) * 1000 / n
            db = (database_cpu(pids) - db) * 1000 / n
            lat.sort()
            print(
                f"  {path[:60]:60} p50 {statistics.median(lat):6.2f} ms  "
                f"p99 {lat[int(len(lat) * 0.99) - 1]:6.2f} ms  server CPU {cpu:5.2f} ms/request"
                + (f"  db {db:5.2f} ms/request" if pids else ""),
                flush=True,
            )


def explain(url: str) -> None:
    """The plan of every statement the dashboard's requests run, as the database chooses it
    (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN ANALYZE with the time it took)."""
    from fastapi.testclient import TestClient
    from sqlalchemy import event, text

    from indexer.app import create_app
    from indexer.queries import Queries

    engine = make_engine(url)
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and (statement, params) not in seen:
            seen.append((statement, params))

    queries = Queries(engine)
    queries.last_stats = {}  # the full aggregation is not a request's query: leave it out
    queries._stats_cache = (time.monotonic(), 0, {})
    client = TestClient(create_app(queries))
    oids = [b["objectId"] for b in client.get("/v1/blobs?limit=200").json()["blobs"]]
    event.listen(engine, "before_cursor_execute", record)
    for path in dashboard_paths(oids):
        seen.append((f"-- {path}", None))
        client.get(path).raise_for_status()
    event.remove(engine, "before_cursor_execute", record)
    pg = engine.dialect.name == "postgresql"
    with engine.connect() as c:
        raw = c.connection.driver_connection
        assert raw is not None
        for statement, params in seen:
            if params is None:
                print(f"\n{statement}")
                continue
            flat = " ".join(statement.split())
            print("  " + (flat if len(flat) < 400 else flat[:120] + " … " + flat[-280:]))
            prefix = "EXPLAIN (ANALYZE, COSTS OFF) " if pg else "EXPLAIN QUERY PLAN "
            cur = raw.cursor()
            cur.execute(prefix + statement, params)
            for row in cur.fetchall():
                print("    " + " | ".join(str(x) for x in row))
            cur.close()
        c.execute(text("SELECT 1"))
    engine.dispose()


INGESTER = """
import sys, time
from bench.indexer import SyntheticChain
from indexer.db import make_engine
from indexer.runner import Runner
url, rate = sys.argv[1], int(sys.argv[2])
runner = Runner(SyntheticChain(10**9), make_engine(url), batch_size=max(1, rate // 4))
done, start = 0, time.perf_counter()
while True:
    done += runner.run_once()
    print(done, flush=True)
    time.sleep(max(0.0, start + done / rate - time.perf_counter()))
"""
"""Appends the synthetic chain's next events to an indexed database at `rate` events/s in
four commits a second, as a separate indexing process would (the stream only depends on the
cursor, so it continues any database this bench built)."""


def serve_and_load(
    url: str,
    label: str,
    rate: int,
    seconds: int,
    per_query_n: int = 0,
    load_too: bool = True,
    ingest_rate: int = 0,
) -> None:
    """Start the REST server on `url` in its own process, warm it up, then load it open-loop at
    `rate` req/s and print p50/p99 against the target, with the CPU per request of the server
    and (PostgreSQL) of its database backends (with `per_query_n`, time each dashboard request
    alone first; with `ingest_rate`, index new events into the database during the load)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, url, str(port)])
    ingester = None
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        listed = httpx.get(base + "/v1/blobs?limit=200").json()["blobs"]
        ids = [b["blobId"] for b in listed]
        oids = [b["objectId"] for b in listed]
        t = time.perf_counter()
        httpx.get(
            base + "/v1/stats", timeout=600
        )  # the first aggregation, which one request waits for
        first = time.perf_counter() - t
        if per_query_n:
            print(
                f"REST {label}, each dashboard request alone ({per_query_n}x; load: `uptime` "
                f"{os.getloadavg()[0]:.2f}):",
                flush=True,
            )
            per_query(base, proc.pid, oids, per_query_n, url)
        if not load_too:
            return
        cold = sorted(asyncio.run(load(base, 100, 2, ids, oids)))  # warm up: threads, pool
        print(
            f"REST {label}: first /v1/stats {first * 1000:.0f} ms; warm-up (2 s at 100 req/s) "
            f"p50 {statistics.median(cold):.1f} ms, max {cold[-1]:.1f} ms",
            flush=True,
        )
        if ingest_rate:
            ingester = subprocess.Popen(
                [sys.executable, "-c", INGESTER, url, str(ingest_rate)],
                stdout=subprocess.PIPE,
                text=True,
            )
        pids = database_pids(url)
        cpu, db, load_before = cpu_seconds(proc.pid), database_cpu(pids), os.getloadavg()[0]
        gc.collect()
        gc.disable()  # the load generator's own pauses must not count as server latency
        try:
            lat = sorted(asyncio.run(load(base, rate, seconds, ids, oids)))
        finally:
            gc.enable()
        cpu = (cpu_seconds(proc.pid) - cpu) * 1000 / len(lat)
        db = (database_cpu(pids) - db) * 1000 / len(lat)
        indexed = ""
        if ingester is not None:
            ingester.terminate()
            out, _ = ingester.communicate(timeout=30)
            done = out.split()[-1] if out.split() else "0"
            indexed = f"; {done} events indexed meanwhile by another process"
            ingester = None
        p50, p99 = statistics.median(lat), lat[int(len(lat) * 0.99) - 1]
        print(
            f"REST {label} at {rate} req/s for {seconds}s (server in its own process): "
            f"{len(lat)} requests, p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 <= 25 ms); "
            f"server CPU {cpu:.2f} ms/request"
            + (f", database CPU {db:.2f} ms/request" if pids else "")
            + f"; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
            + indexed,
            flush=True,
        )
    finally:
        if ingester is not None:
            ingester.terminate()
            ingester.wait(30)
        proc.terminate()
        proc.wait(10)


def create_database(url: str) -> None:
    """Create the PostgreSQL database `url` names unless it exists."""
    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(server + "/postgres", autocommit=True) as c:
        if c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            c.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--blobs", type=int, default=30_000, help="1000000 for the issue's target")
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument(
        "--pg",
        default=os.environ.get("HAULOUT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument(
        "--database-url",
        action="append",
        default=[],
        help="load an already indexed database instead (repeatable; skips the ingest)",
    )
    ap.add_argument(
        "--per-query",
        type=int,
        nargs="?",
        const=200,
        default=0,
        metavar="N",
        help="time each dashboard request alone N times (default 200), then skip the load "
        "unless --rate is given too",
    )
    ap.add_argument("--explain", action="store_true", help="print the dashboard's query plans")
    ap.add_argument(
        "--ingest-during",
        type=int,
        default=0,
        metavar="EVENTS_PER_S",
        help="with --database-url: a separate process indexes the synthetic chain's next events "
        "into the database during the load (it grows: about a third as many blobs as events)",
    )
    ap.add_argument(
        "--build-only",
        action="append",
        default=[],
        metavar="URL",
        help="index --blobs blobs into URL (a PostgreSQL database is created when missing) and "
        "keep it for --database-url runs; no load (repeatable)",
    )
    a = ap.parse_args()
    if a.build_only:
        chain = SyntheticChain(a.blobs)
        for url in a.build_only:
            if url.startswith("postgresql"):
                create_database(url)
            rate = ingest(url, chain, a.batch, url.split(":", 1)[0])
            print(f"built {url}: {a.blobs:,} blobs, ingest {rate:8.0f} events/s", flush=True)
        return
    rate_given = any(arg.startswith("--rate") for arg in sys.argv)
    if a.database_url:
        for url in a.database_url:
            if a.explain:
                explain(url)
                continue
            load_too = not a.per_query or rate_given
            serve_and_load(
                url,
                url.split(":", 1)[0],
                a.rate,
                a.seconds,
                a.per_query,
                load_too,
                a.ingest_during,
            )
        return
    chain = SyntheticChain(a.blobs)
    print(
        f"haulout indexer bench — {a.blobs:,} blobs ({chain.total:,} synthetic events over "
        f"{chain.total // chain.per_epoch_events} epochs), batches of {a.batch}; load: "
        f"`uptime` {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        rate = ingest(sqlite_url, chain, a.batch, "SQLite")
        print(f"ingest SQLite:     {rate:8.0f} events/s", flush=True)
        serve_and_load(sqlite_url, "SQLite", a.rate, a.seconds)
        try:
            import psycopg

            name = f"haulout_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(a.pg, autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{name}"')
        except Exception as exc:
            print(f"PostgreSQL: skipped ({exc})")
            return
        pg_url = a.pg.rsplit("/", 1)[0] + f"/{name}"
        try:
            rate = ingest(pg_url, chain, a.batch, "PostgreSQL")
            print(f"ingest PostgreSQL: {rate:8.0f} events/s (target >= 5000)", flush=True)
            serve_and_load(pg_url, "PostgreSQL", a.rate, a.seconds)
        finally:
            with psycopg.connect(a.pg, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
