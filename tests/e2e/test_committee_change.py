"""Committee changes lose nothing (issue #17): every shard rotated to another node, with real
processes (DevChain, 4 nodes, relayer). Reads work right after the change (the relayer reads
a shard from its previous owner until the new owner has it), the new owners pull their shards
from the previous owners, and the old owners then drop what they no longer own."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain
from haulout.client import HauloutClient
from haulout.deployment import Deployment
from haulout.launcher import LocalSystem
from haulout.protocol.blob_id import BlobId
from haulout.protocol.committee import Committee
from haulout.protocol.params import shard_for_sliver, sliver_for_shard
from relayer.controller import StoreController
from relayer.index import BlobIndex
from relayer.verdicts import ConsistencyVerdicts
from storage_node.store import stored_slivers

from .conftest import start_system

N_SHARDS = 100
SYNC_WAIT = 90.0


@pytest.fixture(scope="module")
def rotating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    """Nodes that look at the chain only when a request waits for it (or once a minute): a
    committee change stays unnoticed by them until the next store, so reads in between
    can only be served by the shards' previous owners."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HAULOUT_NODE_POLL_INTERVAL", "60")
        s = start_system(
            tmp_path_factory.mktemp("committee"),
            n_shards=N_SHARDS,
            relayer_env={"HAULOUT_RELAYER_READ_CACHE_BYTES": "0"},
        )
    yield s
    s.stop()


def shards_served(dep: Deployment) -> list[list[int]]:
    """The shards each node says it holds (its view of the committee)."""
    return [httpx.get(f"{n.url}/v1/health").json()["shards"] for n in dep.nodes]


def rotate(chain: DevChain, dep: Deployment) -> Committee:
    """Give every node the shards of the next one: every shard moves to another node."""
    old = chain.system().require_committee()
    ids = [m.node_id for m in old.members]
    shards = [list(old.members[(i + 1) % len(ids)].shards) for i in range(len(ids))]
    chain.set_committee(dep.admin, ids, shards)
    return chain.system().require_committee()


def held(system: LocalSystem, name: str) -> dict[str, set[int]]:
    """Blob id → sliver indices in a node's data directory."""
    root = system.workdir / "nodes" / name / "slivers"
    out: dict[str, set[int]] = {}
    for d in root.iterdir() if root.exists() else []:
        if d.is_dir():
            out[d.name] = set(stored_slivers(d))  # pack and per-sliver files
    return out


def misplaced(system: LocalSystem, committee: Committee) -> dict[str, list[tuple[str, int]]]:
    """Per node: slivers it holds of shards it does not own in `committee`."""
    out: dict[str, list[tuple[str, int]]] = {}
    for m in committee.members:
        mine = set(m.shards)
        for blob, indices in held(system, m.name).items():
            b = int(BlobId.parse(blob))
            for i in indices:
                if shard_for_sliver(i, b, committee.n_shards) not in mine:
                    out.setdefault(m.name, []).append((blob, i))
    return out


def missing(system: LocalSystem, committee: Committee, blobs: list[str]) -> list[str]:
    """Owned slivers absent from their owner's data directory."""
    out = []
    for pos, m in enumerate(committee.members):
        have = held(system, m.name)
        for blob in blobs:
            want = set(committee.slivers_of(pos, int(BlobId.parse(blob))))
            if lost := want - have.get(blob, set()):
                out.append(f"{m.name} lacks {len(lost)} slivers of {blob}")
    return out


def test_rotating_every_shard_loses_nothing(rotating: LocalSystem) -> None:
    dep = Deployment.load(rotating.deployment_path)
    chain = DevChain(dep.ledger)
    with HauloutClient(rotating.relayer_url) as client:
        data = {}
        for _ in range(10):
            blob = os.urandom(1 << 20)
            data[client.store(blob, epochs=3).blob_id] = blob
        rotating.settle()

        before = shards_served(dep)
        new = rotate(chain, dep)

        # Right after the change, before any node noticed it (nothing handed over): every
        # blob reads back, from the shards' previous owners.
        for blob_id, blob in data.items():
            assert client.read(blob_id, strict=True) == blob
        assert shards_served(dep) == before

        # A store during the change is certified by the new committee and read back.
        late = os.urandom(1 << 20)
        data[client.store(late, epochs=3).blob_id] = late
        rotating.settle()

        deadline = time.monotonic() + SYNC_WAIT
        while misplaced(rotating, new) or missing(rotating, new, list(data)):
            assert time.monotonic() < deadline, (
                f"after {SYNC_WAIT:.0f}s: misplaced {misplaced(rotating, new)}; "
                f"missing {missing(rotating, new, list(data))}"
            )
            time.sleep(0.5)

        # Once handed over: old owners hold nothing they no longer own, new owners hold
        # everything, and every blob still reads back.
        for blob_id, blob in data.items():
            assert client.read(blob_id, strict=True) == blob


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[LocalSystem]:
    s = start_system(
        tmp_path, n_shards=N_SHARDS, relayer_env={"HAULOUT_RELAYER_READ_CACHE_BYTES": "0"}
    )
    yield s
    s.stop()


def test_a_node_killed_before_handing_over_has_its_shards_rebuilt(fresh: LocalSystem) -> None:
    dep = Deployment.load(fresh.deployment_path)
    chain = DevChain(dep.ledger)
    with HauloutClient(fresh.relayer_url) as client:
        data = {}
        for _ in range(6):
            blob = os.urandom(1 << 20)
            data[client.store(blob, epochs=3).blob_id] = blob
        fresh.settle()
        old = chain.system().require_committee()
        dead = old.members[1]
        fresh.stop_service("node-1", hard=True)  # gone for good, its shards with it

        new = rotate(chain, dep)
        heir = new.members[new.owner_of_shard(old.members[1].shards[0])]
        assert heir.name != dead.name

        for blob_id, blob in data.items():  # the other 75 shards, wherever they are now
            assert client.read(blob_id, strict=True) == blob

        deadline = time.monotonic() + SYNC_WAIT
        while True:
            gaps = [g for g in missing(fresh, new, list(data)) if not g.startswith(dead.name)]
            # Shards the dead node now owns stay with their previous owner (never handed over);
            # every other shard is handed over to its live new owner.
            stray = {
                name: [
                    (b, i)
                    for b, i in slivers
                    if new.members[new.member_for_sliver(i, int(BlobId.parse(b)))].name != dead.name
                ]
                for name, slivers in misplaced(fresh, new).items()
                if name != dead.name
            }
            stray = {k: v for k, v in stray.items() if v}
            if not gaps and not stray:
                break
            assert time.monotonic() < deadline, f"after {SYNC_WAIT:.0f}s: {gaps[:4]}; {stray}"
            time.sleep(0.5)

        # The dead node's old shards were rebuilt by their new owner from the others.
        rebuilt = held(fresh, heir.name)
        for blob_id in data:
            b = int(BlobId.parse(blob_id))
            want = set(new.slivers_of(new.index_of(heir.node_id), b))
            assert want <= rebuilt.get(blob_id, set())
        # The shards the dead node was given are still held by their previous owner.
        for m in old.members:
            if m.name == dead.name:
                continue
            for s in m.shards:
                if new.members[new.owner_of_shard(s)].name == dead.name:
                    for blob_id in data:
                        i = sliver_for_shard(s, int(BlobId.parse(blob_id)), N_SHARDS)
                        assert i in held(fresh, m.name)[blob_id]
        for blob_id, blob in data.items():
            assert client.read(blob_id, strict=True) == blob


class CommitteeAtCertify:
    """The chain port, with every shard rotated and the epoch advanced just before the first
    certification is submitted: the slivers went to the old owners, the certificate must
    come from the new committee of the new epoch."""

    def __init__(self, chain: DevChain, dep: Deployment) -> None:
        self.chain, self.dep, self.certify_calls = chain, dep, 0
        self.rotated: Committee | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self.chain, name)

    def certify_blob(self, signer: Account, object_id: str, certificate: object) -> object:
        self.certify_calls += 1
        if self.certify_calls == 1:  # a new committee for a new epoch, as Walrus does
            self.rotated = rotate(self.chain, self.dep)
            self.chain.force_advance_epoch(self.dep.admin)
            want = [list(m.shards) for m in self.rotated.members]
            deadline = time.monotonic() + 10
            while shards_served(self.dep) != want:  # every node has seen the change
                assert time.monotonic() < deadline
                time.sleep(0.05)
        return self.chain.certify_blob(signer, object_id, certificate)  # type: ignore[arg-type]


def test_a_store_overtaken_by_the_change_is_certified_by_the_new_committee(
    fresh: LocalSystem, tmp_path: Path
) -> None:
    dep = Deployment.load(fresh.deployment_path)
    chain = CommitteeAtCertify(DevChain(dep.ledger), dep)
    index = BlobIndex(chain, dep.relayer.address)  # type: ignore[arg-type]
    index.catch_up()
    data = os.urandom(1 << 20)

    async def body() -> AsyncIterator[bytes]:
        yield data

    async def store() -> dict[str, object]:
        async with httpx.AsyncClient(timeout=20) as http:
            controller = StoreController(
                chain,  # type: ignore[arg-type]
                dep.relayer,
                index,
                http,
                tmp_path / "spool",
                4 << 20,
                ConsistencyVerdicts(tmp_path / "verdicts.sqlite"),
            )
            answer = await controller.store(body(), 3, False, None, len(data))
            await controller.drain()
            return answer

    answer = asyncio.run(store())
    blob_id = answer["newlyCreated"]["blobObject"]["blobId"]  # type: ignore[index]
    assert chain.certify_calls >= 2 and chain.rotated is not None
    with HauloutClient(fresh.relayer_url) as client:
        assert client.read(blob_id, strict=True) == data
    deadline = time.monotonic() + SYNC_WAIT
    new = chain.rotated
    while misplaced(fresh, new) or missing(fresh, new, [blob_id]):
        assert time.monotonic() < deadline, (misplaced(fresh, new), missing(fresh, new, [blob_id]))
        time.sleep(0.5)


@pytest.fixture
def unhurried(tmp_path: Path) -> Iterator[LocalSystem]:
    """Nodes that notice a committee change only when a request waits for the chain."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HAULOUT_NODE_POLL_INTERVAL", "60")
        s = start_system(
            tmp_path, n_shards=N_SHARDS, relayer_env={"HAULOUT_RELAYER_READ_CACHE_BYTES": "0"}
        )
    yield s
    s.stop()


def test_two_changes_back_to_back_lose_nothing(unhurried: LocalSystem) -> None:
    fresh = unhurried
    dep = Deployment.load(fresh.deployment_path)
    chain = DevChain(dep.ledger)
    with HauloutClient(fresh.relayer_url) as client:
        data = {}
        for _ in range(6):
            blob = os.urandom(1 << 20)
            data[client.store(blob, epochs=3).blob_id] = blob
        fresh.settle()
        first = chain.system().require_committee()
        before = shards_served(dep)
        rotate(chain, dep)
        new = rotate(chain, dep)  # before anyone handed anything over
        assert all(
            set(m.shards).isdisjoint(first.members[p].shards) for p, m in enumerate(new.members)
        )
        # Neither the current nor the previous owners hold anything yet: still every read
        # works (from the owners before).
        for blob_id, blob in data.items():
            assert client.read(blob_id, strict=True) == blob
        assert shards_served(dep) == before
        late = os.urandom(1 << 20)  # and a store wakes the nodes
        data[client.store(late, epochs=3).blob_id] = late
        deadline = time.monotonic() + SYNC_WAIT
        while misplaced(fresh, new) or missing(fresh, new, list(data)):
            assert time.monotonic() < deadline, (
                misplaced(fresh, new),
                missing(fresh, new, list(data)),
            )
            time.sleep(0.5)
        for blob_id, blob in data.items():
            assert client.read(blob_id, strict=True) == blob
