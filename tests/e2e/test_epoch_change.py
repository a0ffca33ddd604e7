"""The on-chain epoch change loses nothing (issue #17), with real processes: DevChain, storage
nodes, relayer. Stake decides the committee: a node joins (registers itself, stakes) or
leaves (its own account) and the next epoch moves shards. Every stored blob is read during
the change (no read fails; a 503 with Retry-After only while shards move) and after it; the
change completes on chain (`EpochChangeDone`, every live member reported `shards_received`),
new owners hold every sliver they own, and old owners end up holding nothing they lost."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from haulout import membership
from haulout.chain.devchain import DevChain
from haulout.chain.events import EpochChangeDone, EpochChangeStart, ShardsReceived
from haulout.client import HauloutClient
from haulout.deployment import Deployment
from haulout.launcher import LocalSystem, free_port, free_port_block
from haulout.protocol.blob_id import BlobId
from haulout.protocol.committee import Committee
from haulout.protocol.params import shard_for_sliver
from storage_node.store import stored_slivers

N_SHARDS = 10
SETTLE_WAIT = 120.0
BLOB = 96 << 10


def start(tmp: Path, n_nodes: int = 4) -> LocalSystem:
    s = LocalSystem(
        tmp,
        n_nodes=n_nodes,
        n_shards=N_SHARDS,
        node_base_port=free_port_block(n_nodes),
        relayer_port=free_port(),
        indexer_port=free_port(),
        with_indexer=False,
        relayer_env={
            "HAULOUT_RELAYER_READ_CACHE_BYTES": "0",
            "HAULOUT_RELAYER_NODE_TIMEOUT": "10",
        },
    )
    s.start(fresh=True)
    return s


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSystem]:
    monkeypatch.setenv("HAULOUT_NODE_RECOVERY_INTERVAL", "0.5")
    s = start(tmp_path)
    yield s
    s.stop()


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSystem]:
    monkeypatch.setenv("HAULOUT_NODE_RECOVERY_INTERVAL", "0.5")
    s = start(tmp_path, n_nodes=2)
    yield s
    s.stop()


class Reader(threading.Thread):
    """Reads every blob over and over until stopped: counts good reads, transient 503s (with
    Retry-After) and how long the longest run of them lasted per blob, and every failure."""

    def __init__(self, url: str, data: dict[str, bytes]) -> None:
        super().__init__(daemon=True)
        self.url, self.data = url, data
        self.stop = threading.Event()
        self.good = self.transient = 0
        self.failures: list[tuple[str, int, str]] = []
        self.longest_busy = 0.0
        self.busy_since: dict[str, float] = {}

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as http:
            while not self.stop.is_set():
                for blob_id, blob in list(self.data.items()):
                    r = http.get(f"/v1/blobs/{blob_id}")
                    now = time.monotonic()
                    if r.status_code == 200 and r.content == blob:
                        self.good += 1
                        since = self.busy_since.pop(blob_id, None)
                        if since is not None:
                            self.longest_busy = max(self.longest_busy, now - since)
                    elif r.status_code == 503 and "retry-after" in r.headers:
                        self.transient += 1
                        self.busy_since.setdefault(blob_id, now)
                    else:
                        self.failures.append((blob_id, r.status_code, r.text[:200]))

    def finish(self, change_took: float) -> None:
        """Stop; no read failed, and no blob answered 503 for longer than the change."""
        self.stop.set()
        self.join(120)
        assert self.failures == []
        assert not self.busy_since, f"still answering 503: {sorted(self.busy_since)}"
        assert self.longest_busy <= change_took
        assert self.good >= len(self.data)


def store_blobs(client: HauloutClient, n: int) -> dict[str, bytes]:
    data = {}
    for _ in range(n):
        blob = os.urandom(BLOB)
        data[client.store(blob, epochs=5).blob_id] = blob
    return data


def held(system: LocalSystem, name: str) -> dict[str, set[int]]:
    """Blob id → sliver indices in a node's data directory."""
    root = system.workdir / "nodes" / name / "slivers"
    out: dict[str, set[int]] = {}
    for d in root.iterdir() if root.exists() else []:
        if d.is_dir():
            out[d.name] = set(stored_slivers(d))  # pack and per-sliver files
    return out


def problems(
    system: LocalSystem, committee: Committee, blobs: list[str], skip: frozenset[str] = frozenset()
) -> list[str]:
    """What keeps the change from being over on disk: a member lacking a sliver it owns, or
    any node (member or not, `skip` aside) holding a sliver of a shard it does not own."""
    out = []
    dep = Deployment.load(system.deployment_path)
    owned = {m.name: set(m.shards) for m in committee.members}
    for node in dep.nodes:
        if node.name in skip:
            continue
        have = held(system, node.name)
        for blob, indices in have.items():
            b = int(BlobId.parse(blob))
            stray = [
                i
                for i in indices
                if shard_for_sliver(i, b, N_SHARDS) not in owned.get(node.name, set())
            ]
            if stray:
                out.append(
                    f"{node.name} still holds {len(stray)} slivers of {blob} it does not own"
                )
        if node.name in owned:
            pos = committee.index_of(node.node_id)
            for blob in blobs:
                want = set(committee.slivers_of(pos, int(BlobId.parse(blob))))
                if lost := want - have.get(blob, set()):
                    out.append(f"{node.name} lacks {len(lost)} slivers of {blob}")
    return out


def metric(url: str, name: str) -> float:
    """One counter of a node's /metrics."""
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{url}/metrics has no {name}")


def change_epoch(system: LocalSystem, chain: DevChain) -> tuple[int, Committee, Committee]:
    """Advance the epoch (the admin forces it here; the launcher's ticker does it by time):
    the chain fixes the next committee from stake. Returns (epoch, before, after)."""
    dep = Deployment.load(system.deployment_path)
    before = chain.system().require_committee()
    epoch = chain.force_advance_epoch(dep.admin)
    state = chain.system()
    assert state.change_epoch == epoch
    starts = [e.event for e in chain.events(after=0, limit=100_000)]
    assert any(
        isinstance(e, EpochChangeStart) and e.epoch == epoch and e.shards_moved for e in starts
    )
    return epoch, before, state.require_committee()


def wait_done(chain: DevChain, epoch: int) -> None:
    """Wait until the chain says the change of `epoch` is done (a quorum reported)."""
    deadline = time.monotonic() + SETTLE_WAIT
    while chain.system().changing:
        assert time.monotonic() < deadline, f"epoch {epoch}'s change not done after {SETTLE_WAIT}s"
        time.sleep(0.1)
    events = [e.event for e in chain.events(after=0, limit=100_000)]
    assert EpochChangeDone(epoch) in events


def wait_over(
    system: LocalSystem,
    chain: DevChain,
    epoch: int,
    blobs: list[str],
    dead: frozenset[str] = frozenset(),
) -> float:
    """Wait until the change of `epoch` is done on chain, every live member reported its
    shards, and the disks agree with the committee; returns how long it took."""
    start = time.monotonic()
    deadline = start + SETTLE_WAIT
    while True:
        state = chain.system()
        committee = state.require_committee()
        live = {m.node_id for m in committee.members if m.name not in dead}
        left = problems(system, committee, blobs, dead)
        if not state.changing and live <= set(state.received) and not left:
            break
        assert time.monotonic() < deadline, (
            f"after {SETTLE_WAIT:.0f}s: changing={state.changing}, "
            f"unreported={live - set(state.received)}, {left[:6]}"
        )
        time.sleep(0.3)
    events = [e.event for e in chain.events(after=0, limit=100_000)]
    assert EpochChangeDone(epoch) in events
    reporters = {e.node_id for e in events if isinstance(e, ShardsReceived) and e.epoch == epoch}
    assert live <= reporters
    return time.monotonic() - start


def test_a_node_leaves_then_another_back_to_back(system: LocalSystem) -> None:
    dep = Deployment.load(system.deployment_path)
    chain = DevChain(dep.ledger)
    with HauloutClient(system.relayer_url) as client:
        data = store_blobs(client, 5)
        system.settle()
        reader = Reader(system.relayer_url, data)
        reader.start()
        start = time.monotonic()
        epochs = []
        for leaver in ("node-3", "node-2"):
            membership.leave(system.deployment_path, leaver)
            epoch, before, after = change_epoch(system, chain)
            assert leaver in {m.name for m in before.members}
            assert leaver not in {m.name for m in after.members}
            epochs.append(epoch)
            # The second change starts as soon as the chain allows it: once owners of a
            # quorum of shards reported, while the rest may still be syncing and the old
            # owners have not let go yet.
            wait_done(chain, epoch)
        took = time.monotonic() - start + wait_over(system, chain, epochs[-1], list(data))
        reader.finish(took)
        assert [m.name for m in chain.system().require_committee().members] == ["node-0", "node-1"]
        for name in ("node-2", "node-3"):  # the leavers gave everything away
            assert not any(held(system, name).values()), name
        for blob_id, blob in data.items():
            assert client.read(blob_id, strict=True) == blob


def test_a_node_joins_while_a_store_runs_across_the_change(system: LocalSystem) -> None:
    dep = Deployment.load(system.deployment_path)
    chain = DevChain(dep.ledger)
    with HauloutClient(system.relayer_url) as client:
        data = store_blobs(client, 4)
        system.settle()
        node = membership.join(system.deployment_path, f"http://127.0.0.1:{free_port()}")
        system.start_node(4)
        system.wait_healthy([f"{node.url}/v1/health"], 60)
        reader = Reader(system.relayer_url, data)
        reader.start()
        stored: dict[str, bytes] = {}
        errors: list[BaseException] = []

        def keep_storing() -> None:
            try:
                with HauloutClient(system.relayer_url) as c:
                    for _ in range(6):
                        stored.update(store_blobs(c, 1))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        writer = threading.Thread(target=keep_storing)
        writer.start()
        while not stored:  # the change starts while stores are running
            time.sleep(0.05)
        epoch, before, after = change_epoch(system, chain)
        assert node.name in {m.name for m in after.members}
        assert node.name not in {m.name for m in before.members}
        writer.join(120)
        assert errors == [] and len(stored) == 6
        data.update(stored)
        system.settle()
        took = wait_over(system, chain, epoch, list(data))
        reader.finish(took)
        joined = after.members[after.index_of(node.node_id)]
        assert len(joined.shards) == 2  # five equal stakes share ten shards
        for blob_id, blob in data.items():
            assert client.read(blob_id, strict=True) == blob


def test_every_shard_rotates_to_nodes_that_joined(pair: LocalSystem) -> None:
    system = pair
    dep = Deployment.load(system.deployment_path)
    chain = DevChain(dep.ledger)
    with HauloutClient(system.relayer_url) as client:
        data = store_blobs(client, 4)
        system.settle()
        for i in (2, 3):
            node = membership.join(system.deployment_path, f"http://127.0.0.1:{free_port()}")
            system.start_node(i)
            system.wait_healthy([f"{node.url}/v1/health"], 60)
        for name in ("node-0", "node-1"):
            membership.leave(system.deployment_path, name)
        reader = Reader(system.relayer_url, data)
        reader.start()
        epoch, before, after = change_epoch(system, chain)
        assert {m.name for m in after.members} == {"node-2", "node-3"}
        assert {m.name for m in before.members} == {"node-0", "node-1"}  # every shard moves
        took = wait_over(system, chain, epoch, list(data))
        reader.finish(took)
        for name in ("node-0", "node-1"):
            assert not any(held(system, name).values()), name
        for m in after.members:  # in bulk from the previous owners, not rebuilt
            assert metric(m.url, "haulout_node_slivers_synced") > 0
            assert metric(m.url, "haulout_node_shard_reports") == 1
        for blob_id, blob in data.items():
            assert client.read(blob_id, strict=True) == blob


def test_a_node_killed_for_good_has_its_shards_rebuilt(system: LocalSystem) -> None:
    dep = Deployment.load(system.deployment_path)
    chain = DevChain(dep.ledger)
    with HauloutClient(system.relayer_url) as client:
        data = store_blobs(client, 4)
        system.settle()
        system.stop_service("node-1", hard=True)  # gone for good, with its shards
        membership.leave(system.deployment_path, "node-1")  # its operator withdraws it
        reader = Reader(system.relayer_url, data)
        reader.start()
        epoch, before, after = change_epoch(system, chain)
        lost = set(before.members[before.index_of(dep.nodes[1].node_id)].shards)
        took = wait_over(system, chain, epoch, list(data), dead=frozenset({"node-1"}))
        reader.finish(took)
        # Its shards were rebuilt by their new owners from the other nodes.
        heirs = {after.members[after.owner_of_shard(s)] for s in lost}
        assert heirs and "node-1" not in {h.name for h in heirs}
        assert sum(metric(h.url, "haulout_node_slivers_recovered") for h in heirs) > 0
        for blob_id, blob in data.items():
            assert client.read(blob_id, strict=True) == blob
