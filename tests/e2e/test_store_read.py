"""Store and read through real processes: relayer, 4 storage nodes, DevChain (n=10, f=3, k=4).

Shards: node-0 holds 3, node-1 3, node-2 2, node-3 2.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain
from haulout.chain.events import BlobCertified
from haulout.client import BlobNotFound, HauloutClient, HauloutError
from haulout.deployment import Deployment
from haulout.launcher import LocalSystem
from haulout.node_client import NodeClient, NodeError
from haulout.protocol import codec
from haulout.protocol.blob_id import BlobId
from haulout.protocol.certificate import aggregate
from haulout.protocol.metadata import BlobMetadata
from storage_node import pack
from storage_node.store import stored_slivers

from .conftest import MAX_BLOB

pytestmark = pytest.mark.slow


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


@pytest.mark.parametrize(
    ("size", "encoding_type"),
    [(0, None), (1, None), (1 << 20, None), (64 << 20, None), (1, 0), (3 << 20, 0), (3 << 20, 1)],
)
def test_round_trip(client: HauloutClient, size: int, encoding_type: int | None) -> None:
    """Both encoding types store and read; without `encoding_type` the deployment's (1)."""
    data = os.urandom(size)
    stored = client.store(data, epochs=2, encoding_type=encoding_type)
    assert stored.newly_created and stored.end_epoch == 2
    assert client.read(stored.blob_id) == data
    expected_type = 1 if encoding_type is None else encoding_type
    assert stored.raw["newlyCreated"]["blobObject"]["encodingType"] == expected_type
    assert BlobId.parse(stored.blob_id) == codec.blob_id_of(data, size, 10, expected_type)


def test_walrus_clients_name_the_encoding_and_unknown_types_are_refused(
    system: LocalSystem,
) -> None:
    health = httpx.get(f"{system.relayer_url}/v1/health", timeout=30).json()
    assert health["encodingType"] == 1  # what uploads without ?encoding_type= get
    url = f"{system.relayer_url}/v1/blobs"
    r = httpx.put(url, params={"encoding_type": "RS2"}, content=b"walrus", timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["newlyCreated"]["blobObject"]["encodingType"] == 1
    for bad, reason in (("7", "INVALID_PARAMETERS"), ("RedStuff", "INVALID_ARGUMENT")):
        r = httpx.put(url, params={"encoding_type": bad}, content=b"x", timeout=30)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["details"][0]["reason"] == reason


def test_chunked_body_of_unknown_length_round_trips(
    system: LocalSystem, client: HauloutClient
) -> None:
    """Without a Content-Length the relayer spools the body before encoding it."""
    data = os.urandom(300_000)
    pieces = (data[i : i + 70_000] for i in range(0, len(data), 70_000))
    r = httpx.put(f"{system.relayer_url}/v1/blobs", content=pieces, timeout=60)
    assert r.status_code == 200, r.text
    blob_id = r.json()["newlyCreated"]["blobObject"]["blobId"]
    assert client.read(blob_id) == data
    empty = httpx.put(f"{system.relayer_url}/v1/blobs?force=true", content=iter([]), timeout=60)
    assert "newlyCreated" in empty.json(), empty.text
    assert empty.json()["newlyCreated"]["blobObject"]["size"] == 0


def test_walrus_response_shape_range_head_and_etag(
    system: LocalSystem, client: HauloutClient
) -> None:
    data = os.urandom(100_000)
    body = httpx.put(f"{system.relayer_url}/v1/blobs?epochs=3", content=data, timeout=60).json()
    obj = body["newlyCreated"]["blobObject"]
    assert set(obj) == {
        "id",
        "registeredEpoch",
        "blobId",
        "size",
        "encodingType",
        "certifiedEpoch",
        "storage",
        "deletable",
    }
    assert obj["size"] == 100_000 and obj["certifiedEpoch"] == 0 and obj["storage"]["endEpoch"] == 3
    assert body["newlyCreated"]["resourceOperation"]["registerFromScratch"]["epochsAhead"] == 3
    assert body["newlyCreated"]["cost"] > 0
    url = f"{system.relayer_url}/v1/blobs/{obj['blobId']}"
    r = httpx.get(url, headers={"range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["content-range"] == "bytes 10-19/100000"
    assert httpx.get(url, headers={"range": "bytes=-5"}).content == data[-5:]
    past = httpx.get(url, headers={"range": "bytes=200000-"})
    assert past.status_code == 416 and past.headers["content-range"] == "bytes */100000"
    head = httpx.head(url)
    assert (
        head.status_code == 200
        and head.headers["content-length"] == "100000"
        and head.content == b""
    )
    assert head.headers["etag"] == obj["blobId"]  # Walrus: the bare blob id
    assert head.headers["cache-control"] == "public, max-age=86400, stale-while-revalidate=3600"
    assert httpx.get(url, headers={"if-none-match": head.headers["etag"]}).status_code == 304
    assert httpx.get(url, headers={"if-none-match": f'"{obj["blobId"]}"'}).status_code == 304
    again = client.store(data, epochs=2)
    assert not again.newly_created and again.raw["alreadyCertified"]["blobId"] == obj["blobId"]


def test_by_object_id_with_attributes_and_delete(
    system: LocalSystem, client: HauloutClient, chain: DevChain
) -> None:
    data = b"deletable payload " * 100
    stored = client.store(data, epochs=2, deletable=True)
    assert stored.object_id
    client.set_attribute(stored.object_id, "content-type", "text/plain")
    body, headers = client.read_by_object(stored.object_id)
    assert body == data and headers["content-type"].startswith("text/plain")
    client.delete(stored.object_id)
    with pytest.raises(BlobNotFound):
        client.read(stored.blob_id)
    with pytest.raises(HauloutError) as err:
        client.read_by_object(stored.object_id)
    assert err.value.status == 404


def test_write_with_f_shards_down_and_read_with_n_minus_k_down(
    system: LocalSystem, client: HauloutClient
) -> None:
    data = os.urandom(300_000)
    system.stop_service("node-0")  # 3 shards = f
    try:
        stored = client.store(data)
        system.stop_service("node-1")  # 3 more: n - k = 6 shards down
        assert client.read(stored.blob_id) == data
    finally:
        restart(system, 0)
        restart(system, 1)


def restart(system: LocalSystem, i: int) -> None:
    dep = Deployment.load(system.deployment_path)
    system.start_node(i)
    system.wait_healthy([f"{dep.nodes[i].url}/v1/health"], 30)


def test_a_frozen_node_does_not_hold_up_a_store_and_gets_its_slivers_later(
    system: LocalSystem, client: HauloutClient, deployment: Deployment
) -> None:
    """node-0 (in the quorum-first set) is frozen with SIGSTOP: the store is certified by the
    others well before node-0's 10 s timeout, and node-0 receives its slivers once thawed."""
    data = os.urandom(100_000)
    pid = system.procs["node-0"].pid
    os.kill(pid, signal.SIGSTOP)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            stored = pool.submit(client.store, data, deletable=True).result(timeout=8)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert stored.newly_created
    system.settle()
    status = httpx.get(f"{deployment.nodes[0].url}/v1/blobs/{stored.blob_id}/status").json()
    assert status["metadataStored"] and status["storedSlivers"] == status["ownedSlivers"] == 3, (
        status
    )


def test_a_node_that_missed_a_blob_recovers_its_slivers_from_the_others(
    system: LocalSystem, client: HauloutClient, deployment: Deployment
) -> None:
    """node-3 (served after the quorum) is frozen, then killed before it gets its slivers;
    restarted, it rebuilds them from the other nodes and serves them."""
    data = os.urandom(200_000)
    pid = system.procs["node-3"].pid
    os.kill(pid, signal.SIGSTOP)
    try:
        stored = client.store(data, deletable=True)
    finally:
        system.stop_service("node-3", hard=True)  # SIGKILL works on a stopped process
    system.settle()
    restart(system, 3)
    url = f"{deployment.nodes[3].url}/v1/blobs/{stored.blob_id}/status"
    deadline = time.monotonic() + 30
    while (status := httpx.get(url).json())["storedSlivers"] < status["ownedSlivers"]:
        assert time.monotonic() < deadline, f"node-3 never recovered: {status}"
        time.sleep(0.2)
    assert (
        status["metadataStored"]
        and metric(deployment.nodes[3].url, "haulout_node_slivers_recovered") == 2
    )
    bid = BlobId.parse(stored.blob_id)
    meta = BlobMetadata.from_bytes(
        httpx.get(f"{deployment.nodes[0].url}/v1/blobs/{bid}/metadata").content
    )
    committee = DevChain(deployment.ledger).system().require_committee()
    for i in committee.slivers_of(3, int(bid)):
        sliver = httpx.get(f"{deployment.nodes[3].url}/v1/blobs/{bid}/slivers/{i}").content
        meta.check_sliver(i, sliver)


def test_confirmed_data_survives_sigkill(system: LocalSystem, client: HauloutClient) -> None:
    data = os.urandom(500_000)
    stored = client.store(data)
    system.settle()
    system.stop_service("node-2", hard=True)
    restart(system, 2)
    system.stop_service("node-0")
    system.stop_service("node-1")
    try:  # nodes 2 and 3 hold exactly k = 4 shards
        fresh = HauloutClient(system.relayer_url)
        assert fresh.read(stored.blob_id) == data
    finally:
        restart(system, 0)
        restart(system, 1)


def test_node_killed_mid_upload_keeps_no_torn_sliver(
    system: LocalSystem, client: HauloutClient, deployment: Deployment
) -> None:
    """SIGKILL node-2 while it receives a 32 MiB blob's slivers: the store is certified by the
    others; restarted, node-2 has discarded its unfinished writes and every sliver it kept
    (in batch packs or files) matches the metadata."""
    data = os.urandom(32 << 20)
    slivers = system.workdir / "nodes" / "node-2" / "slivers"
    before = {p.name for p in slivers.iterdir()} if slivers.exists() else set()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        upload = pool.submit(client.store, data)
        deadline = time.monotonic() + 60
        while not any(t.parent.name not in before for t in slivers.glob("*/.*.tmp")):
            assert time.monotonic() < deadline and not upload.done(), "node-2 never received data"
            time.sleep(0.001)
        system.stop_service("node-2", hard=True)
        stored = upload.result(timeout=120)
    try:
        restart(system, 2)
        blob_dir = slivers / stored.blob_id
        assert list(blob_dir.glob(".*.tmp")) == []
        kept = stored_slivers(blob_dir) if blob_dir.exists() else {}
        if not (blob_dir / "metadata").exists():  # killed before its metadata was in place
            assert kept == {}, "slivers kept without the metadata that checks them"
        system.settle(120)
        deadline = time.monotonic() + 90  # else its recovery does, after the 5 s grace
        while not (blob_dir / "metadata").exists():
            assert time.monotonic() < deadline, "node-2 never got the blob back"
            time.sleep(0.05)
        meta = BlobMetadata.from_bytes((blob_dir / "metadata").read_bytes())
        for index, ref in kept.items():  # what survived the kill: packs and files alike
            meta.check_sliver(index, pack.read_ref(ref) or b"")
        for index, ref in stored_slivers(blob_dir).items():  # and all it holds now
            meta.check_sliver(index, pack.read_ref(ref) or b"")
        assert client.read(stored.blob_id) == data
    finally:
        system.settle()


def test_corrupted_sliver_is_detected_and_read_still_correct(
    system: LocalSystem, client: HauloutClient, deployment: Deployment
) -> None:
    data = os.urandom(200_000)
    stored = client.store(data)
    system.settle()
    bid = BlobId.parse(stored.blob_id)
    committee = DevChain(deployment.ledger).system().require_committee()
    owner = committee.member_for_sliver(0, int(bid))
    blob_dir = system.workdir / "nodes" / deployment.nodes[owner].name / "slivers" / str(bid)
    ref = stored_slivers(blob_dir)[0]  # a small blob's part: in the node's sliver pack
    with open(ref.path, "r+b") as fh:
        fh.seek(ref.offset)
        first = fh.read(1)
        fh.seek(ref.offset)
        fh.write(bytes([first[0] ^ 0xFF]))
    before = metric(system.relayer_url, "haulout_relayer_slivers_rejected")
    assert HauloutClient(system.relayer_url).read(stored.blob_id) == data
    assert metric(system.relayer_url, "haulout_relayer_slivers_rejected") == before + 1


def test_large_blob_reads_go_through_files_and_leave_nothing_behind(
    system: LocalSystem, client: HauloutClient, deployment: Deployment
) -> None:
    """Above the relayer's memory limit (32 MiB) slivers are streamed to files, checked on
    the way (a corrupted one is refused), and the blob is served from a file that is removed
    afterwards; Range and HEAD work the same. A type-1 blob whose primary slivers all check
    out is laid out from them without a decode; a corrupted primary sends the read through
    the decode, which does not ask for the corrupted sliver again."""
    data = os.urandom(40 << 20)
    stored = client.store(data, encoding_type=1)
    system.settle()
    bid = BlobId.parse(stored.blob_id)
    assembled = metric(system.relayer_url, "haulout_relayer_assembled_reads")
    assert client.read(stored.blob_id) == data
    assert metric(system.relayer_url, "haulout_relayer_assembled_reads") == assembled + 1
    committee = DevChain(deployment.ledger).system().require_committee()
    owner = committee.member_for_sliver(1, int(bid))
    path = system.workdir / "nodes" / deployment.nodes[owner].name / "slivers" / str(bid)
    ref = stored_slivers(path)[1]  # in a batch pack (or its own file, on older nodes)
    with open(ref.path, "r+b") as fh:  # flip its last byte
        fh.seek(ref.offset + ref.size - 1)
        last = fh.read(1)
        fh.seek(ref.offset + ref.size - 1)
        fh.write(bytes([last[0] ^ 0x01]))
    before = metric(system.relayer_url, "haulout_relayer_slivers_rejected")
    url = f"{system.relayer_url}/v1/blobs/{stored.blob_id}"
    part = httpx.get(url, headers={"range": "bytes=1000-2000999"}, timeout=60)
    assert part.status_code == 206 and part.content == data[1000:2001000]
    assert httpx.head(url, timeout=60).headers["content-length"] == str(len(data))
    assert client.read(stored.blob_id) == data
    # the ranged GET and the full read each refused it; HEAD answers from the registration
    assert metric(system.relayer_url, "haulout_relayer_slivers_rejected") == before + 2
    assert metric(system.relayer_url, "haulout_relayer_assembled_reads") == assembled + 1
    assert [p.name for p in (system.workdir / "relayer").iterdir()] == []


@pytest.mark.parametrize("encoding_type", [0, 1])
def test_inconsistent_writer_is_refused_at_read(
    system: LocalSystem, deployment: Deployment, encoding_type: int
) -> None:
    """A malicious writer tampers a parity sliver, publishes its hash, and gets certified."""
    chain = DevChain(deployment.ledger)
    writer = Account.generate()
    chain.faucet(writer.address)
    data = os.urandom(50_000)
    enc = codec.encode(data, 10, encoding_type)
    slivers = list(enc.slivers)
    slivers[9] = bytes(b ^ 0x33 for b in slivers[9])
    hashes = list(enc.metadata.sliver_hashes)
    hashes[9] = codec.sliver_hash(slivers[9], encoding_type)
    meta = BlobMetadata(encoding_type, len(data), tuple(hashes))
    blob = chain.reserve_and_register(
        writer, meta.blob_id, meta.root, len(data), encoding_type, 2, False
    )
    committee = chain.system().require_committee()

    async def push() -> dict[int, bytes]:
        async with httpx.AsyncClient(timeout=30) as http:
            sigs = {}
            for p, m in enumerate(committee.members):
                node = NodeClient(m.url, http)
                await node.put_metadata(meta.blob_id, meta.to_bytes())
                for i in committee.slivers_of(p, int(meta.blob_id)):
                    await node.put_sliver(meta.blob_id, i, slivers[i])
                sigs[p] = (await node.confirmation(meta.blob_id)).signature
            return sigs

    sigs = asyncio.run(push())
    from haulout.protocol.messages import BlobCertification

    cert = aggregate(committee, BlobCertification(meta.blob_id).message(chain.system().epoch), sigs)
    chain.certify_blob(writer, blob.id, cert)
    r = httpx.get(f"{system.relayer_url}/v1/blobs/{meta.blob_id}", timeout=30)
    assert r.status_code == 422
    err = r.json()["error"]
    assert (
        err["details"][0]["reason"] == "INCONSISTENT_ENCODING"
        and "inconsistently" in err["message"]
    )
    # refused every time: a failed check is not remembered as a good verdict
    again = httpx.get(f"{system.relayer_url}/v1/blobs/{meta.blob_id}", timeout=30)
    assert again.status_code == 422
    # Walrus's skip_consistency_check trusts the writer: the authenticated slivers are served
    skipped = httpx.get(
        f"{system.relayer_url}/v1/blobs/{meta.blob_id}?skip_consistency_check=true", timeout=30
    )
    assert skipped.status_code == 200 and skipped.content == data
    # and an unchecked read is never cached as if it were checked
    after = httpx.get(f"{system.relayer_url}/v1/blobs/{meta.blob_id}", timeout=30)
    assert after.status_code == 422


def test_consistency_is_checked_once_then_known(system: LocalSystem, client: HauloutClient) -> None:
    """A blob this relayer encoded is known consistent; `strict_consistency_check=true` still
    re-encodes it; the verdicts survive a relayer restart."""
    url = system.relayer_url
    data = os.urandom(200_000)
    blob_id = client.store(data, deletable=True).blob_id
    checks = metric(url, "haulout_relayer_consistency_checks")
    known = metric(url, "haulout_relayer_consistency_known")
    assert client.read(blob_id) == data
    assert metric(url, "haulout_relayer_consistency_known") == known + 1
    strict = httpx.get(f"{url}/v1/blobs/{blob_id}?strict_consistency_check=true", timeout=30)
    assert strict.status_code == 200 and strict.content == data
    assert metric(url, "haulout_relayer_consistency_checks") == checks + 1
    bad = httpx.get(f"{url}/v1/blobs/{blob_id}?strict_consistency_check=maybe")
    assert bad.status_code == 400 and "strict_consistency_check" in bad.json()["error"]["message"]
    verdicts = sqlite3.connect(system.workdir / "relayer-state" / "consistency.sqlite")
    rows = dict(verdicts.execute("SELECT blob_id, source FROM consistent").fetchall())
    assert rows[BlobId.parse(blob_id).raw] == "encoded"


def test_expired_blob_answers_404(
    system: LocalSystem, client: HauloutClient, deployment: Deployment
) -> None:
    stored = client.store(os.urandom(1000), epochs=1)
    chain = DevChain(deployment.ledger)
    chain.force_advance_epoch(deployment.admin)
    fresh = HauloutClient(system.relayer_url)
    import time

    deadline = time.monotonic() + 10
    while True:
        try:
            fresh.read(stored.blob_id)
        except BlobNotFound:
            break
        assert time.monotonic() < deadline, "expired blob still served"
        time.sleep(0.2)


def raw_http(url: str, request: bytes, read: bool = True) -> bytes:
    """Send raw bytes over one connection (for requests httpx will not make)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        if not read:
            return b""
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def test_bad_input_gets_clear_errors(system: LocalSystem, deployment: Deployment) -> None:
    url = system.relayer_url
    r = httpx.get(f"{url}/v1/blobs/not-a-blob-id")
    assert r.status_code == 400 and r.json()["error"]["details"][0]["reason"] == "INVALID_BLOB_ID"
    r = httpx.get(f"{url}/v1/blobs/{BlobId(os.urandom(32))}")
    assert r.status_code == 404 and r.json()["error"]["details"][0]["reason"] == "BLOB_NOT_FOUND"
    r = raw_http(url, b"PUT /v1/blobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b" 400 " in r.split(b"\r\n")[0] and b"NO_BODY" in r  # `curl -X PUT` with no data
    # a client that promises 100000 bytes and goes away after 5000: nothing is stored
    failed = metric(url, "haulout_relayer_uploads_failed")
    raw_http(
        url,
        b"PUT /v1/blobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000,
        read=False,
    )
    deadline = time.monotonic() + 10
    while metric(url, "haulout_relayer_uploads_failed") == failed:
        assert time.monotonic() < deadline, "the abandoned upload was never given up"
        time.sleep(0.05)
    system.settle()  # earlier stores' work directories go once their last nodes are served
    assert list((system.workdir / "relayer").iterdir()) == []
    r = httpx.put(f"{url}/v1/blobs", content=b"x" * (MAX_BLOB + 1), timeout=60)
    assert r.status_code == 413 and "maximum blob size" in r.json()["error"]["message"]
    system.settle()
    assert list((system.workdir / "relayer").iterdir()) == []  # nothing left spooled
    for bad in ("epochs=0", "epochs=many", "deletable=true&permanent=true"):
        assert httpx.put(f"{url}/v1/blobs?{bad}", content=b"x").status_code == 400
    # a sliver for a shard the node does not hold
    stored = HauloutClient(url).store(os.urandom(5000))
    bid = BlobId.parse(stored.blob_id)
    committee = DevChain(deployment.ledger).system().require_committee()
    foreign = next(i for i in range(10) if committee.member_for_sliver(i, int(bid)) != 0)
    r = httpx.put(f"{deployment.nodes[0].url}/v1/blobs/{bid}/slivers/{foreign}", content=b"x")
    assert r.status_code == 403 and r.json()["error"]["details"][0]["reason"] == "SHARD_NOT_OWNED"
    r = httpx.put(
        f"{deployment.nodes[0].url}/v1/blobs/{BlobId(os.urandom(32))}/metadata",
        content=b"x" * 20,
        timeout=30,
    )
    assert r.status_code in (400, 404)


def test_forged_confirmations_are_dropped(
    system: LocalSystem, deployment: Deployment, tmp_path: Path
) -> None:
    """node-3 signs with a key that is not its registered one: its confirmation is dropped."""
    from haulout.protocol.bls import BlsKeyPair

    forged = Deployment.load(system.deployment_path)
    forged.nodes[3].bls_secret = BlsKeyPair.generate().secret.hex()
    forged_path = tmp_path / "forged.json"
    forged.save(forged_path)
    system.stop_service("node-3")
    env = {
        **os.environ,
        "HAULOUT_NODE_DEPLOYMENT": str(forged_path),
        "HAULOUT_NODE_INDEX": "3",
        "HAULOUT_NODE_DATA_DIR": str(system.workdir / "nodes" / "node-3"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "storage_node"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        system.wait_healthy([f"{deployment.nodes[3].url}/v1/health"], 30)
        client = HauloutClient(system.relayer_url)
        before = metric(system.relayer_url, "haulout_relayer_confirmations_rejected")
        ok = client.store(os.urandom(3000))  # nodes 0-2 weigh 8 >= 7
        assert ok.newly_created
        system.settle()  # node-3 is pushed to after the quorum, in the background
        assert metric(system.relayer_url, "haulout_relayer_confirmations_rejected") == before + 1
        system.stop_service("node-0")  # left: nodes 1, 2 honest (5 shards) + forger
        certified_before = sum(
            isinstance(e.event, BlobCertified)
            for e in DevChain(deployment.ledger).events(limit=100000)
        )
        with pytest.raises(HauloutError) as err:
            client.store(os.urandom(3000))
        assert err.value.status == 503 and err.value.reason == "NOT_ENOUGH_CONFIRMATIONS"
        assert "node-3: confirmation rejected" in str(err.value)
        certified_after = sum(
            isinstance(e.event, BlobCertified)
            for e in DevChain(deployment.ledger).events(limit=100000)
        )
        assert certified_after == certified_before
    finally:
        proc.terminate()
        proc.wait(10)
        restart(system, 3)
        restart(system, 0)


def data_with_dashed_blob_id(size: int, n_shards: int = 10) -> bytes:
    """Bytes whose blob id begins with "-" (one id in 64 does), found deterministically for
    the encoding type the relayer writes by default."""
    import random

    rng = random.Random(64)
    encoding = codec.default_encoding()
    while True:
        data = rng.randbytes(size)
        if str(codec.blob_id_of(data, size, n_shards, encoding)).startswith("-"):
            return data


def test_cli_store_status_read_extend(system: LocalSystem, tmp_path: Path) -> None:
    """The CLI round trip, with a blob id that begins with "-": argparse used to take it for
    an option (exit 2), so this test failed at random once in 64 runs."""
    src = tmp_path / "in.bin"
    src.write_bytes(data_with_dashed_blob_id(123_456))
    exe = [sys.executable, "-m", "haulout.cli"]
    rel = ["--relayer", system.relayer_url]
    out = subprocess.run(
        [*exe, "store", str(src), "--epochs", "2", *rel], capture_output=True, text=True, check=True
    ).stdout
    blob_id = out.split()[2]
    assert blob_id.startswith("-")
    object_id = out.split("object id:")[1].split()[0]
    for argv in (["status", blob_id, *rel], ["status", *rel, blob_id]):
        status = json.loads(
            subprocess.run([*exe, *argv], capture_output=True, text=True, check=True).stdout
        )
        assert status["status"] == "certified"
    dst = tmp_path / "out.bin"
    subprocess.run([*exe, "read", blob_id, "-o", str(dst), *rel], check=True, capture_output=True)
    assert dst.read_bytes() == src.read_bytes()
    dst.unlink()
    subprocess.run([*exe, "read", "-o", str(dst), blob_id, *rel], check=True, capture_output=True)
    assert dst.read_bytes() == src.read_bytes()
    ext = subprocess.run(
        [*exe, "extend", object_id, "--epochs", "3", *rel],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "until epoch" in ext
    bad = subprocess.run(
        [*exe, "read", "nope", "-o", str(dst), *rel], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "INVALID_BLOB_ID" in bad.stderr


def test_cli_read_to_the_wrong_kind_of_path_is_one_line(
    system: LocalSystem, tmp_path: Path
) -> None:
    """A directory read onto an existing file (and a file onto a directory) used to end in a
    traceback; now one line says what to pass instead, and nothing is left behind."""
    exe = [sys.executable, "-m", "haulout.cli"]
    rel = ["--relayer", system.relayer_url]
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_bytes(b"a")
    (tree / "sub" / "b.txt").write_bytes(b"b")
    out = subprocess.run(
        [*exe, "store", str(tree), *rel], capture_output=True, text=True, check=True
    ).stdout
    dir_id = out.split("blob id:")[1].split()[0]
    (tmp_path / "plain.txt").write_bytes(b"plain")
    out = subprocess.run(
        [*exe, "store", str(tmp_path / "plain.txt"), *rel],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    file_id = out.split()[2]
    existing_file = tmp_path / "existing.bin"
    existing_file.write_bytes(b"keep me")
    existing_dir = tmp_path / "existing-dir"
    existing_dir.mkdir()
    for blob, target in ((dir_id, existing_file), (file_id, existing_dir)):
        bad = subprocess.run(
            [*exe, "read", blob, "-o", str(target), *rel], capture_output=True, text=True
        )
        assert bad.returncode == 1, bad.stderr
        assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
        assert "give -o a new path" in bad.stderr
    assert existing_file.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part")) == []
    assert list(existing_dir.iterdir()) == []


def test_node_errors(deployment: Deployment) -> None:
    async def go() -> None:
        async with httpx.AsyncClient() as http:
            node = NodeClient(deployment.nodes[0].url, http, retries=1)
            with pytest.raises(NodeError) as err:
                await node.get_sliver(BlobId(os.urandom(32)), 0)
            assert err.value.status == 404 and err.value.reason == "BLOB_NOT_REGISTERED"

    asyncio.run(go())


def test_batch_sliver_upload_rejects_bad_frames(
    system: LocalSystem, deployment: Deployment
) -> None:
    import struct

    data = os.urandom(40_000)
    stored = HauloutClient(system.relayer_url).store(data)
    bid = BlobId.parse(stored.blob_id)
    committee = DevChain(deployment.ledger).system().require_committee()
    enc = codec.encode(data, 10, stored.raw["newlyCreated"]["blobObject"]["encodingType"])
    assert enc.blob_id == bid
    url = f"{deployment.nodes[0].url}/v1/blobs/{bid}/slivers"
    own = committee.slivers_of(0, int(bid))
    foreign = next(i for i in range(10) if i not in own)
    sliver_len = enc.metadata.params.sliver_len
    frame = struct.pack("<HI", own[0], sliver_len) + enc.slivers[own[0]]
    assert httpx.put(url, content=frame).json()["stored"] == [own[0]]
    r = httpx.put(url, content=frame[:-1])
    assert r.status_code == 400 and r.json()["error"]["details"][0]["reason"] == "TRUNCATED_BATCH"
    r = httpx.put(
        url, content=struct.pack("<HI", own[0], sliver_len + 1) + enc.slivers[own[0]] + b"x"
    )
    assert r.status_code == 400 and "declares" in r.json()["error"]["message"]
    r = httpx.put(url, content=struct.pack("<HI", foreign, sliver_len) + enc.slivers[foreign])
    assert r.status_code == 403 and r.json()["error"]["details"][0]["reason"] == "SHARD_NOT_OWNED"
    bad = bytearray(enc.slivers[own[0]])
    bad[0] ^= 1
    r = httpx.put(url, content=struct.pack("<HI", own[0], sliver_len) + bytes(bad))
    assert r.status_code == 400 and r.json()["error"]["details"][0]["reason"] == "INVALID_SLIVER"
    r = httpx.put(url, content=b"\0" * (len(own) * (6 + sliver_len) + 1))
    assert r.status_code == 413
    # batch read: one request for several slivers; those the node lacks are left out
    got = httpx.get(url, params={"indices": f"{own[0]},{foreign}"})
    assert got.status_code == 200
    assert got.content == struct.pack("<HI", own[0], sliver_len) + enc.slivers[own[0]]
    for bad in ("x", "1,,2", "300"):
        r = httpx.get(url, params={"indices": bad})
        assert r.status_code == 400, bad
        assert r.json()["error"]["details"][0]["reason"] == "INVALID_SLIVER_INDEX", bad
