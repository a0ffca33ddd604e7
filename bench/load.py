"""Stores under concurrent load, optionally with attackers alongside, on a local system
(relayer + 4 storage nodes + DevChain, n=100) on loopback.

For each step (blob kind x concurrency) clients store fresh random blobs for `--seconds`, then
every stored blob is read back and compared. Printed per step: stores/s, p50/p99 latency,
errors by reason, peak RSS of the relayer and of the largest node (VmHWM from /proc, reset at
each step), CPU milliseconds per store by process (utime+stime from /proc), and the attackers'
own counts. Everything is bounded: at most `--max-stores` stores per step, attackers hold at
most their given number of connections, and each step ends after `--seconds` plus a grace
for requests in flight.

    python -m bench.load [--seconds 20] [--concurrency 8,32,64] [--kinds small,large]
                         [--slow-body 40] [--flood 16] [--pin-cpus]

`--slow-body N`: N connections each send `PUT /v1/blobs` with `Content-Length: 33554432` and
then trickle 8 bytes a second (reconnecting when the relayer drops them).
`--flood N`: N clients loop on `GET /v1/blobs/<random id>/confirmation` at the nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import random
import statistics
import tempfile
import time
from base64 import urlsafe_b64encode
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from haulout.launcher import LocalSystem

from .common import start_local_system

KINDS = {"small": (1_000, 100_000), "large": (4 << 20, 4 << 20)}
TICKS = os.sysconf("SC_CLK_TCK")


def peak_rss_reset(pid: int) -> None:
    """Reset a process's VmHWM to its current RSS (Linux: clear_refs 5), so a step's peak is
    its own; silently cumulative where the kernel refuses."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mib(pid: int) -> int:
    """VmHWM of a process, in MiB (-1 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return -1


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except OSError:
        return 0.0


def reason_of(resp: httpx.Response) -> str:
    """The error's reason code, else its status."""
    try:
        return f"{resp.status_code} {resp.json()['error']['details'][0]['reason']}"
    except Exception:
        return f"HTTP {resp.status_code}"


@dataclass
class Step:
    """What one step measured."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    busy_retries: int = 0
    """503s with Retry-After (the relayer's upload bound), waited out and sent again."""
    stored: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # blob id: size, digest
    elapsed: float = 0.0


async def store_loop(
    http: httpx.AsyncClient,
    url: str,
    sizes: tuple[int, int],
    deadline: float,
    step: Step,
    budget: list[int],
    rng: random.Random,
) -> None:
    """Store fresh random blobs until the deadline (or the step's store budget runs out)."""
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        data = os.urandom(rng.randint(*sizes))
        t = time.perf_counter()
        try:
            resp = await http.put(f"{url}/v1/blobs", params={"epochs": 1}, content=data)
            # back-pressure, as a well-behaved client takes it: wait as told, send again
            while resp.status_code == 503 and "retry-after" in resp.headers:
                if time.monotonic() > deadline + 30:
                    break
                step.busy_retries += 1
                await asyncio.sleep(min(float(resp.headers["retry-after"]), 5.0))
                resp = await http.put(f"{url}/v1/blobs", params={"epochs": 1}, content=data)
        except httpx.HTTPError as exc:
            step.errors[type(exc).__name__] += 1
            continue
        if resp.status_code != 200:
            step.errors[reason_of(resp)] += 1
            continue
        step.latencies.append(time.perf_counter() - t)
        body = resp.json()
        obj = body.get("newlyCreated", {}).get("blobObject") or body.get("alreadyCertified", {})
        step.stored[obj["blobId"]] = (len(data), hashlib.blake2b(data, digest_size=16).digest())


async def read_back(url: str, stored: dict[str, tuple[int, bytes]]) -> tuple[int, Counter[str]]:
    """Read every stored blob (8 at a time); the count identical, and failures by reason."""
    ok, bad = 0, Counter[str]()
    sem = asyncio.Semaphore(8)
    async with httpx.AsyncClient(timeout=120) as http:

        async def one(blob_id: str, size: int, digest: bytes) -> None:
            nonlocal ok
            async with sem:
                for attempt in range(2):  # a GET is retried once after a dropped connection
                    try:  # (a keep-alive connection the server closed as it was reused)
                        resp = await http.get(f"{url}/v1/blobs/{blob_id}")
                        break
                    except httpx.TransportError as exc:
                        if attempt:
                            bad[type(exc).__name__] += 1
                            return
                        bad[f"retried after {type(exc).__name__}"] += 1
                    except httpx.HTTPError as exc:
                        bad[type(exc).__name__] += 1
                        return
            if resp.status_code != 200:
                bad[reason_of(resp)] += 1
            elif hashlib.blake2b(resp.content, digest_size=16).digest() != digest:
                bad["content differs"] += 1
            else:
                ok += 1

        await asyncio.gather(*(one(b, s, d) for b, (s, d) in stored.items()))
    return ok, bad


async def slow_body(host: str, port: int, n: int, stop: asyncio.Event, seen: Counter[str]) -> None:
    """`n` connections announcing 32 MiB bodies and sending 8 bytes a second."""
    head = (
        f"PUT /v1/blobs?epochs=1 HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Length: 33554432\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()

    async def one() -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                seen["connect refused"] += 1
                await asyncio.sleep(1)
                continue
            seen["connections"] += 1
            try:
                writer.write(head)
                while not stop.is_set():
                    writer.write(b"x" * 8)
                    await writer.drain()
                    try:
                        got = await asyncio.wait_for(reader.read(256), 1.0)
                    except TimeoutError:
                        continue
                    if not got:
                        seen["dropped by server"] += 1
                        break
                    seen[f"answered {got.split(b' ', 2)[1].decode(errors='replace')}"] += 1
                    break
            except OSError:
                seen["reset by server"] += 1
            finally:
                writer.close()

    await asyncio.gather(*(one() for _ in range(n)))


async def confirmation_flood(
    node_urls: list[str], n: int, stop: asyncio.Event, seen: Counter[str]
) -> None:
    """`n` clients asking nodes for confirmations of blobs nobody registered."""
    async with httpx.AsyncClient(timeout=30) as http:

        async def one(i: int) -> None:
            while not stop.is_set():
                bid = urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
                url = node_urls[i % len(node_urls)]
                try:
                    resp = await http.get(f"{url}/v1/blobs/{bid}/confirmation")
                    seen[f"HTTP {resp.status_code}"] += 1
                except httpx.HTTPError as exc:
                    seen[type(exc).__name__] += 1
                i += 1

        await asyncio.gather(*(one(i) for i in range(n)))


async def run_step(
    system: LocalSystem,
    node_urls: list[str],
    kind: str,
    concurrency: int,
    a: argparse.Namespace,
) -> None:
    """One step: stores at `concurrency` with attackers alongside, then the read-back."""
    pids = {name: p.pid for name, p in system.procs.items()}
    for pid in pids.values():
        peak_rss_reset(pid)
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    me0 = time.process_time()
    step = Step()
    stop = asyncio.Event()
    slow_seen: Counter[str] = Counter()
    flood_seen: Counter[str] = Counter()
    attackers = []
    if a.slow_body:
        attackers.append(
            asyncio.create_task(
                slow_body("127.0.0.1", system.relayer_port, a.slow_body, stop, slow_seen)
            )
        )
    if a.flood:
        attackers.append(
            asyncio.create_task(confirmation_flood(node_urls, a.flood, stop, flood_seen))
        )
    rng = random.Random(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=a.timeout, limits=limits) as http:
        t0 = time.monotonic()
        deadline = t0 + a.seconds
        budget = [a.max_stores]
        workers = [
            store_loop(http, system.relayer_url, KINDS[kind], deadline, step, budget, rng)
            for _ in range(concurrency)
        ]
        await asyncio.gather(*workers)
        step.elapsed = time.monotonic() - t0
    stop.set()
    for task in attackers:
        try:
            await asyncio.wait_for(task, 5)
        except TimeoutError:
            task.cancel()
    cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
    me = time.process_time() - me0
    rss = {name: peak_rss_mib(pid) for name, pid in pids.items()}
    ok, bad = await read_back(system.relayer_url, step.stored)

    n = len(step.latencies)
    lat = sorted(step.latencies)
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    nodes_cpu = sum(v for k, v in cpu.items() if k.startswith("node-"))
    per = 1000 / max(n, 1)
    node_rss = max((v for k, v in rss.items() if k.startswith("node-")), default=-1)
    errors = ", ".join(f"{r}: {c}" for r, c in step.errors.most_common()) or "none"
    print(
        f"{kind:>5} c={concurrency:<3} {n:5d} stores in {step.elapsed:5.1f}s = "
        f"{n / step.elapsed:6.1f}/s  p50 {p50:6.3f}s p99 {p99:6.3f}s  errors {sum(step.errors.values())} ({errors}), busy retries {step.busy_retries}\n"
        f"            peak RSS relayer {rss.get('relayer', -1)} MiB, largest node {node_rss} MiB;"
        f" CPU ms/store relayer {cpu.get('relayer', 0) * per:.1f}, nodes {nodes_cpu * per:.1f},"
        f" bench client {me * per:.1f}\n"
        f"            read back {ok}/{len(step.stored)} identical"
        + (f" (failures and retries: {dict(bad)})" if bad else ""),
        flush=True,
    )
    if a.slow_body:
        print(f"            slow-body attackers ({a.slow_body}): {dict(slow_seen)}", flush=True)
    if a.flood:
        print(f"            confirmation flood ({a.flood}): {dict(flood_seen)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=20, help="length of each step")
    ap.add_argument("--concurrency", default="8,32,64")
    ap.add_argument("--kinds", default="small,large", help="small (1-100 KB), large (4 MiB)")
    ap.add_argument("--slow-body", type=int, default=0, help="slow-body attacker connections")
    ap.add_argument("--flood", type=int, default=0, help="confirmation-flood clients")
    ap.add_argument("--max-stores", type=int, default=5000, help="cap per step")
    ap.add_argument("--timeout", type=float, default=60, help="per-request timeout (s)")
    ap.add_argument(
        "--pin-cpus",
        action="store_true",
        help="run each service on one CPU (as `haulout up --pin-cpus`); the bench floats",
    )
    a = ap.parse_args()
    if not 0 <= a.slow_body <= 500 or not 0 <= a.flood <= 256:
        ap.error("--slow-body is at most 500 connections, --flood at most 256 clients")
    if not 0 < a.seconds <= 600:
        ap.error("--seconds must be in (0, 600]")
    levels = [int(c) for c in a.concurrency.split(",")]
    if any(not 1 <= c <= 256 for c in levels):
        ap.error("each concurrency must be 1-256")
    kinds = a.kinds.split(",")
    if any(k not in KINDS for k in kinds):
        ap.error(f"kinds are {', '.join(KINDS)}")
    with tempfile.TemporaryDirectory(dir=os.environ.get("HAULOUT_BENCH_DIR")) as tmp:
        system = start_local_system(Path(tmp) / "sys", {}, pin_cpus=a.pin_cpus)
        try:
            from haulout.deployment import Deployment

            node_urls = [n.url for n in Deployment.load(system.deployment_path).nodes]
            print(
                f"haulout load bench — relayer + 4 storage nodes + DevChain on loopback, n=100; "
                f"{a.seconds:g}s per step, slow-body {a.slow_body}, flood {a.flood}"
                f"{', services pinned ' + str(system.cpu_plan()) if a.pin_cpus else ''}; "
                f"{os.cpu_count()} CPUs (shared with whatever else runs here)",
                flush=True,
            )
            for kind in kinds:
                for c in levels:
                    asyncio.run(run_step(system, node_urls, kind, c, a))
        finally:
            system.stop()


if __name__ == "__main__":
    main()
