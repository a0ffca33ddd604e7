"""Storage nodes under hostile and heavy use (issue #11 items 6-8), with real node processes.

The test plays the uploader itself (DevChain in this process, four node processes reading the
same ledger), so it decides exactly what each node receives and when.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain
from haulout.chain.objects import BlobObject
from haulout.deployment import Deployment, deploy_devchain
from haulout.launcher import free_port_block
from haulout.node_client import NodeClient
from haulout.protocol import codec
from haulout.protocol.blob_id import BlobId
from haulout.protocol.certificate import aggregate
from haulout.protocol.committee import Committee
from haulout.protocol.frames import frame_header
from haulout.protocol.messages import BlobCertification
from haulout.protocol.metadata import BlobMetadata
from storage_node.pack import read_ref
from storage_node.store import stored_slivers

MAX_WAITERS = 64
WAIT = 10.0  # HAULOUT_NODE_CONFIRMATION_WAIT: how long a flood request is held


@dataclass
class Nodes:
    """Four node processes over one DevChain ledger, and the test's own uploader account."""

    tmp: Path
    dep: Deployment
    chain: DevChain
    user: Account
    procs: dict[int, subprocess.Popen[bytes]]

    @property
    def committee(self) -> Committee:
        return self.chain.system().require_committee()

    def url(self, i: int) -> str:
        return self.dep.nodes[i].url

    def start(self, i: int) -> None:
        env = {
            **os.environ,
            "HAULOUT_NODE_DEPLOYMENT": str(self.tmp / "deployment.json"),
            "HAULOUT_NODE_INDEX": str(i),
            "HAULOUT_NODE_CONFIRMATION_WAIT": str(WAIT),
            "HAULOUT_NODE_METADATA_WAIT": str(WAIT),
            "HAULOUT_NODE_MAX_WAITERS": str(MAX_WAITERS),
            "HAULOUT_NODE_RECOVERY_INTERVAL": "0.2",
            "HAULOUT_NODE_RECOVERY_GRACE": "1",
            "HAULOUT_NODE_RECOVERY_GRACE_MAX": "60",
            "HAULOUT_NODE_RECOVERY_BACKOFF": "0.5",
            "PYTHONUNBUFFERED": "1",
        }
        log = open(self.tmp / f"node-{i}.log", "ab")  # noqa: SIM115 - the child holds it
        self.procs[i] = subprocess.Popen(
            [sys.executable, "-m", "storage_node"], env=env, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url(i)}/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"node-{i} did not start"
            time.sleep(0.1)

    def kill(self, i: int) -> None:
        proc = self.procs.pop(i)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def metric(self, i: int, name: str) -> float:
        for line in httpx.get(f"{self.url(i)}/metrics").text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"no metric {name}")

    def register(
        self, data: bytes, deletable: bool = False
    ) -> tuple[BlobObject, codec.EncodedBlob]:
        enc = codec.encode(data, self.chain.system().n_shards)
        blob = self.chain.reserve_and_register(
            self.user, enc.blob_id, enc.metadata.root, len(data), 0, 2, deletable
        )
        return blob, enc

    def certify(self, blob: BlobObject, signatures: dict[int, bytes]) -> None:
        epoch = self.chain.system().epoch
        oid = bytes.fromhex(blob.id[2:]) if blob.deletable else None
        msg = BlobCertification(blob.blob_id, oid).message(epoch)
        self.chain.certify_blob(self.user, blob.id, aggregate(self.committee, msg, signatures))


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    tmp = tmp_path_factory.mktemp("nodes")
    dep = deploy_devchain(
        tmp / "ledger.sqlite", n_nodes=4, n_shards=10, base_port=free_port_block(4)
    )
    dep.save(tmp / "deployment.json")
    chain = DevChain(dep.ledger)
    user = Account.generate()
    chain.faucet(user.address)
    n = Nodes(tmp, dep, chain, user, {})
    try:
        for i in range(4):
            n.start(i)
        yield n
    finally:
        for proc in n.procs.values():
            proc.kill()
            proc.wait(10)


async def push(
    nodes: Nodes, http: httpx.AsyncClient, i: int, blob: BlobObject, enc: codec.EncodedBlob
) -> bytes:
    """Metadata and node `i`'s slivers, then its confirmation's signature."""
    node = NodeClient(nodes.url(i), http, retries=1)
    await node.put_metadata(blob.blob_id, enc.metadata.to_bytes())
    owned = nodes.committee.slivers_of(i, int(blob.blob_id))
    await node.put_slivers(blob.blob_id, {j: enc.slivers[j] for j in owned})
    conf = await node.confirmation(blob.blob_id, blob.id if blob.deletable else None)
    return conf.signature


def random_id() -> str:
    return str(BlobId(os.urandom(32)))


def test_a_confirmation_flood_holds_no_worker_and_waiters_are_bounded(nodes: Nodes) -> None:
    """#11.6: requests waiting for registrations of random blob ids hold no worker thread:
    while 60 of them wait, health, a metadata upload and a confirmation of a registered blob
    answer at once (before any waiter's wait expires); past the bound of waiters the node
    answers 503 with Retry-After; a waiter is woken when its registration arrives."""
    blob, enc = nodes.register(os.urandom(20_000))
    url = nodes.url(0)

    async def go() -> None:
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:
            await push(nodes, http, 0, blob, enc)  # a registered blob, fully stored on node-0
            flood = [
                asyncio.create_task(http.get(f"{url}/v1/blobs/{random_id()}/confirmation"))
                for _ in range(60)
            ]
            await asyncio.sleep(1.0)  # every flood request has arrived and waits
            health = await http.get(f"{url}/v1/health")
            meta = await http.put(
                f"{url}/v1/blobs/{blob.blob_id}/metadata", content=enc.metadata.to_bytes()
            )
            conf = await http.get(f"{url}/v1/blobs/{blob.blob_id}/confirmation")
            assert not any(t.done() for t in flood), "the answers came only after the flood"
            assert health.status_code == 200 and meta.status_code == 200, (health, meta.text)
            assert conf.status_code == 200 and conf.json()["signature"], conf.text

            over = [
                asyncio.create_task(http.get(f"{url}/v1/blobs/{random_id()}/confirmation"))
                for _ in range(40)
            ]
            done = await asyncio.gather(*flood, *over)
            busy = [r for r in done if r.status_code == 503]
            assert len(busy) >= 30, [r.status_code for r in done]
            for r in busy:
                assert r.headers["retry-after"] == "1"
                assert r.json()["error"]["details"][0]["reason"] == "TOO_MANY_WAITERS"
            assert {r.status_code for r in done} == {404, 503}
            assert nodes.metric(0, "haulout_node_waiters_rejected") >= 30

            # a metadata upload that arrives before its registration is woken by it
            late_data = os.urandom(5_000)
            late = codec.encode(late_data, nodes.committee.n_shards)
            waiting = asyncio.create_task(
                http.put(
                    f"{url}/v1/blobs/{late.blob_id}/metadata", content=late.metadata.to_bytes()
                )
            )
            await asyncio.sleep(0.5)
            assert not waiting.done()
            t0 = time.monotonic()
            nodes.chain.reserve_and_register(
                nodes.user, late.blob_id, late.metadata.root, len(late_data), 0, 2, False
            )
            r = await waiting
            assert r.status_code == 201 and time.monotonic() - t0 < WAIT / 2, r.text

    asyncio.run(go())


def test_concurrent_identical_uploads_all_succeed_and_leave_whole_files(nodes: Nodes) -> None:
    """#11.7: 16 concurrent identical uploads of one deletable blob's metadata and slivers:
    no 500, the stored files are whole and no temporary file is left."""
    blob, enc = nodes.register(os.urandom(50_000), deletable=True)
    url = nodes.url(1)
    owned = nodes.committee.slivers_of(1, int(blob.blob_id))

    async def go() -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            metas = await asyncio.gather(
                *(
                    http.put(
                        f"{url}/v1/blobs/{blob.blob_id}/metadata",
                        content=enc.metadata.to_bytes(),
                    )
                    for _ in range(16)
                )
            )
            assert {r.status_code for r in metas} <= {200, 201}, [r.text for r in metas]
            for j in owned:
                slivers = await asyncio.gather(
                    *(
                        http.put(
                            f"{url}/v1/blobs/{blob.blob_id}/slivers/{j}", content=enc.slivers[j]
                        )
                        for _ in range(16)
                    )
                )
                assert {r.status_code for r in slivers} == {200}, [r.text for r in slivers]
            conf = await NodeClient(url, http, retries=1).confirmation(blob.blob_id, blob.id)
            assert conf.signature

    asyncio.run(go())
    blob_dir = nodes.tmp / "nodes" / "node-1" / "slivers" / str(blob.blob_id)
    assert (blob_dir / "metadata").read_bytes() == enc.metadata.to_bytes()
    held = stored_slivers(blob_dir)
    for j in owned:
        enc.metadata.check_sliver(j, read_ref(held[j]) or b"")
    assert list(blob_dir.glob(".*.tmp")) == []
    # deleted on chain: the node removes its data in the background
    collected = nodes.metric(1, "haulout_node_blobs_collected")
    nodes.chain.delete_blob(nodes.user, blob.id)
    deadline = time.monotonic() + 20
    while blob_dir.exists():
        assert time.monotonic() < deadline, "the deleted blob's data was never collected"
        time.sleep(0.1)
    assert nodes.metric(1, "haulout_node_blobs_collected") == collected + 1


def batch_body(slivers: dict[int, bytes]) -> bytes:
    return b"".join(frame_header(i, len(s)) + s for i, s in sorted(slivers.items()))


async def slow_batch(body: bytes, seconds: float, pieces: int = 10) -> AsyncIterator[bytes]:
    step = -(-len(body) // pieces)
    for at in range(0, len(body), step):
        yield body[at : at + step]
        await asyncio.sleep(seconds / pieces)


def test_recovery_leaves_slow_and_queued_uploads_alone(
    nodes: Nodes,
) -> None:
    """#11.8: node-3 (grace 1 s) does not rebuild a certified blob whose upload to it is in
    progress, nor one whose upload is merely queued while other uploads arrive (the grace
    grows under load)."""
    slow_blob, slow = nodes.register(os.urandom(300_000))
    queued_blob, queued = nodes.register(os.urandom(40_000))
    url3 = nodes.url(3)
    recovered_before = nodes.metric(3, "haulout_node_slivers_recovered")

    async def go() -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            sigs = {}
            for blob, enc in ((slow_blob, slow), (queued_blob, queued)):
                sigs[blob.id] = {i: await push(nodes, http, i, blob, enc) for i in range(3)}
            await NodeClient(url3, http, retries=1).put_metadata(
                slow_blob.blob_id, slow.metadata.to_bytes()
            )
            owned = nodes.committee.slivers_of(3, int(slow_blob.blob_id))
            body = batch_body({j: slow.slivers[j] for j in owned})
            upload = asyncio.create_task(
                http.put(
                    f"{url3}/v1/blobs/{slow_blob.blob_id}/slivers",
                    content=slow_batch(body, 4.0),
                    headers={"content-length": str(len(body))},
                )
            )
            await asyncio.sleep(0.2)
            for blob in (slow_blob, queued_blob):  # node-3 sees both certified, lacking data
                nodes.certify(blob, sigs[blob.id])
            r = await upload
            assert r.status_code == 200, r.text
            # `queued` waited 4 s (past the 1 s grace) behind the slow upload: now it comes
            assert await push(nodes, http, 3, queued_blob, queued)

    asyncio.run(go())
    time.sleep(1.0)  # recovery passes run every 0.2 s: one would have started by now
    assert nodes.metric(3, "haulout_node_slivers_recovered") == recovered_before
    assert "slivers recovered" not in (nodes.tmp / "node-3.log").read_text()


def test_recovery_retries_after_transient_failures(nodes: Nodes) -> None:
    """#11.8: a certified blob node-3 cannot rebuild now (only node-0 is up, with fewer than
    `k` slivers) is retried with backoff and recovered once the other nodes are back."""
    url3 = nodes.url(3)
    blob, enc = nodes.register(os.urandom(600_000))  # several stripes, streamed through files

    async def three() -> dict[int, bytes]:
        async with httpx.AsyncClient(timeout=60) as http:
            return {i: await push(nodes, http, i, blob, enc) for i in range(3)}

    sigs = asyncio.run(three())
    k = enc.metadata.params.k
    assert len(nodes.committee.slivers_of(0, int(blob.blob_id))) < k
    nodes.kill(1)
    nodes.kill(2)
    try:
        nodes.certify(blob, sigs)
        log = nodes.tmp / "node-3.log"
        deadline = time.monotonic() + 20
        while f"slivers needed to rebuild {blob.blob_id}" not in log.read_text():
            assert time.monotonic() < deadline, "node-3 never tried to recover"
            time.sleep(0.2)
        time.sleep(1.0)  # a retry or two while the others are still down
    finally:
        nodes.start(1)
        nodes.start(2)
    status_url = f"{url3}/v1/blobs/{blob.blob_id}/status"
    deadline = time.monotonic() + 30
    while (status := httpx.get(status_url).json())["storedSlivers"] < status["ownedSlivers"]:
        assert time.monotonic() < deadline, f"node-3 never recovered after the failures: {status}"
        time.sleep(0.2)
    assert status["metadataStored"] and nodes.metric(3, "haulout_node_recovery_retries") >= 1
    meta = BlobMetadata.from_bytes(httpx.get(f"{url3}/v1/blobs/{blob.blob_id}/metadata").content)
    for i in nodes.committee.slivers_of(3, int(blob.blob_id)):
        meta.check_sliver(i, httpx.get(f"{url3}/v1/blobs/{blob.blob_id}/slivers/{i}").content)
