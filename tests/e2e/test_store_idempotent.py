"""Stores never pay twice and survive epoch changes (issue #11 items 4, 5 and the status of
item 10), through real processes: DevChain + 4 storage nodes + relayer (n=10: node-0 and
node-1 hold 3 shards each, so stopping both leaves 4 of 10, under the quorum of 7)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain
from haulout.chain.errors import MoveAbort, ObjectNotFound
from haulout.chain.events import BlobRegistered, StorageReserved
from haulout.deployment import Deployment
from haulout.launcher import LocalSystem
from haulout.protocol.blob_id import BlobId
from haulout.protocol.params import storage_units
from relayer.controller import StoreController
from relayer.index import BlobIndex
from relayer.verdicts import ConsistencyVerdicts

from .conftest import start_system

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    s = start_system(tmp_path_factory.mktemp("idem"))
    yield s
    s.stop()


def put(url: str, data: bytes, query: str = "") -> httpx.Response:
    return httpx.put(f"{url}/v1/blobs?{query}", content=data, timeout=60)


def registrations(chain: DevChain, blob_id: str) -> list[BlobRegistered]:
    """Every BlobRegistered event of a blob id: one per paid registration."""
    bid = BlobId.parse(blob_id)
    out, cursor = [], 0
    while batch := chain.events(after=cursor):
        out += [e.event for e in batch if isinstance(e.event, BlobRegistered)]
        cursor = batch[-1].cursor
    return [e for e in out if e.blob_id == bid]


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


def together(n: int, fn: object) -> list[httpx.Response]:
    """Run `fn()` on n threads released at the same moment."""
    barrier = threading.Barrier(n)

    def go() -> httpx.Response:
        barrier.wait()
        return fn()  # type: ignore[operator,no-any-return]

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: go(), range(n)))


@pytest.mark.parametrize("query", ["epochs=2&permanent=true", "epochs=2"])
def test_identical_concurrent_uploads_share_one_registration_and_one_payment(
    system: LocalSystem, query: str
) -> None:
    dep = Deployment.load(system.deployment_path)
    chain = DevChain(dep.ledger)
    data = os.urandom(400_000)
    before = chain.balance(dep.relayer.address)
    answers = together(4, lambda: put(system.relayer_url, data, query))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    bodies = [r.json() for r in answers]
    created = [b["newlyCreated"] for b in bodies if "newlyCreated" in b]
    assert len(created) == 1, bodies
    blob = created[0]["blobObject"]
    regs = registrations(chain, blob["blobId"])
    assert [r.object_id for r in regs] == [blob["id"]]
    spent = before - chain.balance(dep.relayer.address)
    assert spent == created[0]["cost"] > 0
    for b in bodies:  # the others: Walrus's answer for a blob that is already certified
        if "alreadyCertified" in b:
            assert b["alreadyCertified"]["blobId"] == blob["blobId"]
            assert b["alreadyCertified"]["endEpoch"] == blob["storage"]["endEpoch"]
            if blob["deletable"]:
                assert b["alreadyCertified"]["object"] == blob["id"]


def test_a_store_that_failed_for_lack_of_quorum_is_retried_on_the_same_object(
    system: LocalSystem,
) -> None:
    dep = Deployment.load(system.deployment_path)
    chain = DevChain(dep.ledger)
    data = os.urandom(250_000)
    system.stop_service("node-0")
    system.stop_service("node-1")
    try:
        failed = put(system.relayer_url, data, "epochs=3&permanent=true")
    finally:
        for i in (0, 1):
            system.start_node(i)
        system.wait_healthy([f"{dep.nodes[i].url}/v1/health" for i in (0, 1)], 30)
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"]["details"][0]["reason"] == "NOT_ENOUGH_CONFIRMATIONS"
    object_id = re.search(r"registered as (0x[0-9a-f]{64})", failed.json()["error"]["message"])
    assert object_id is not None
    assert metric(system.relayer_url, "haulout_relayer_uncertified_registrations") == 1
    listing = subprocess.run(
        [sys.executable, "-m", "haulout.cli", "uncertified", "--deployment", str(dep_path(system))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert object_id.group(1) in listing and "permanent" in listing, listing

    spent_before = chain.balance(dep.relayer.address)
    retry = put(system.relayer_url, data, "epochs=3&permanent=true")
    assert retry.status_code == 200, retry.text
    body = retry.json()["newlyCreated"]
    assert body["blobObject"]["id"] == object_id.group(1)
    assert "reuseRegistration" in body["resourceOperation"] and body["cost"] == 0
    assert len(registrations(chain, body["blobObject"]["blobId"])) == 1
    assert chain.balance(dep.relayer.address) == spent_before
    assert (
        httpx.get(f"{system.relayer_url}/v1/blobs/{body['blobObject']['blobId']}").content == data
    )
    deadline = time.monotonic() + 10
    while metric(system.relayer_url, "haulout_relayer_uncertified_registrations") != 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def dep_path(system: LocalSystem) -> Path:
    return system.deployment_path


def restart_relayer(system: LocalSystem) -> None:
    """Start the relayer again, as `LocalSystem.start` does."""
    system._spawn(
        "relayer",
        "relayer",
        {
            "HAULOUT_RELAYER_DEPLOYMENT": str(system.deployment_path),
            "HAULOUT_RELAYER_PORT": str(system.relayer_port),
            "HAULOUT_RELAYER_SPOOL_DIR": str(system.workdir / "relayer"),
            "HAULOUT_RELAYER_STATE_DIR": str(system.workdir / "relayer-state"),
            **system.relayer_env,
        },
        system.workdir / "logs" / "relayer.log",
    )
    system.wait_healthy([f"{system.relayer_url}/v1/health"], 30)


def test_a_registration_left_by_a_killed_relayer_is_reused_after_its_restart(
    system: LocalSystem,
) -> None:
    """The relayer is SIGKILLed after registering, while the nodes are frozen; restarted, it
    finds its uncertified registration in the chain's events and the retry certifies it."""
    dep = Deployment.load(system.deployment_path)
    chain = DevChain(dep.ledger)
    data = os.urandom(120_000)
    start = (chain.events(after=0, limit=10**9) or [None])[-1]
    cursor = start.cursor if start else 0
    registered: list[BlobRegistered] = []
    frozen = [system.procs[f"node-{i}"].pid for i in range(4)]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(put, system.relayer_url, data, "epochs=6&permanent=true")
            deadline = time.monotonic() + 20
            while not registered:
                assert time.monotonic() < deadline, "the store never registered"
                registered = registered_after(chain, cursor)
                time.sleep(0.05)
            system.stop_service("relayer", hard=True)
            with pytest.raises(httpx.HTTPError):
                pending.result(timeout=30)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    restart_relayer(system)
    assert metric(system.relayer_url, "haulout_relayer_uncertified_registrations") == 1
    retry = put(system.relayer_url, data, "epochs=6&permanent=true")
    assert retry.status_code == 200, retry.text
    body = retry.json()["newlyCreated"]
    assert "reuseRegistration" in body["resourceOperation"]
    assert body["blobObject"]["id"] == registered[0].object_id
    assert len(registrations(chain, body["blobObject"]["blobId"])) == 1


def registered_after(chain: DevChain, cursor: int) -> list[BlobRegistered]:
    """BlobRegistered events after `cursor`."""
    return [e.event for e in chain.events(after=cursor) if isinstance(e.event, BlobRegistered)]


def test_stale_deletable_uncertified_registrations_can_be_deleted(system: LocalSystem) -> None:
    """`haulout uncertified --delete-older-than 1` deletes a deletable registration a failed
    store left once an epoch has passed; the nodes are told by the BlobDeleted event."""
    dep = Deployment.load(system.deployment_path)
    chain = DevChain(dep.ledger)
    system.stop_service("node-0")
    system.stop_service("node-1")
    try:
        failed = put(system.relayer_url, os.urandom(10_000), "epochs=40&deletable=true")
    finally:
        for i in (0, 1):
            system.start_node(i)
        system.wait_healthy([f"{dep.nodes[i].url}/v1/health" for i in (0, 1)], 30)
    assert failed.status_code == 503, failed.text
    match = re.search(r"registered as (0x[0-9a-f]{64})", failed.json()["error"]["message"])
    assert match is not None
    cli = [
        sys.executable,
        "-m",
        "haulout.cli",
        "uncertified",
        "--deployment",
        str(dep_path(system)),
    ]
    young = subprocess.run([*cli, "--delete-older-than", "1"], capture_output=True, text=True)
    assert young.returncode == 0 and "deleted" not in young.stdout, young.stdout + young.stderr
    chain.force_advance_epoch(dep.admin)
    out = subprocess.run([*cli, "--delete-older-than", "1"], capture_output=True, text=True)
    assert out.returncode == 0 and f"deleted {match.group(1)}" in out.stdout, out.stdout
    assert "0 uncertified registration(s)" in out.stdout
    with pytest.raises(ObjectNotFound):
        chain.get_blob(match.group(1))
    deadline = time.monotonic() + 10
    while metric(system.relayer_url, "haulout_relayer_uncertified_registrations") != 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_cost_is_what_the_registration_paid_even_with_concurrent_uploads(
    system: LocalSystem,
) -> None:
    dep = Deployment.load(system.deployment_path)
    chain = DevChain(dep.ledger)
    sizes = [50_000 * (i + 1) for i in range(8)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda n: put(system.relayer_url, os.urandom(n), "epochs=4"), sizes)
        )
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    reserved: dict[str, int] = {}
    cursor = 0
    while batch := chain.events(after=cursor):
        for e in batch:
            if isinstance(e.event, StorageReserved):
                reserved[e.event.storage_id] = e.event.paid
        cursor = batch[-1].cursor
    write_price = chain.system().write_price
    for r in answers:
        created = r.json()["newlyCreated"]
        storage = created["blobObject"]["storage"]
        expected = reserved[storage["id"]] + write_price * storage_units(storage["storageSize"])
        assert created["cost"] == expected


def test_status_of_a_deleted_blob_is_nonexistent(system: LocalSystem) -> None:
    data = os.urandom(20_000)
    created = put(system.relayer_url, data, "epochs=2").json()["newlyCreated"]
    blob_id, object_id = created["blobObject"]["blobId"], created["blobObject"]["id"]
    url = f"{system.relayer_url}/v1/blobs/{blob_id}/status"
    assert httpx.get(url).json()["status"] == "certified"
    deleted = httpx.delete(f"{system.relayer_url}/v1/blobs/by-object-id/{object_id}")
    assert deleted.status_code == 200, deleted.text
    gone = httpx.get(url).json()
    assert gone["status"] == "nonexistent", gone
    assert gone["blobStatus"] == "nonexistent" and gone["objects"][0]["deleted"] is True


def test_status_in_walrus_terms(system: LocalSystem) -> None:
    data = os.urandom(20_000)
    created = put(system.relayer_url, data, "epochs=2").json()["newlyCreated"]
    url = f"{system.relayer_url}/v1/blobs/{created['blobObject']['blobId']}/status"
    live = httpx.get(url).json()
    assert live["blobStatus"]["deletable"]["deletableCounts"] == {
        "countDeletableTotal": 1,
        "countDeletableCertified": 1,
    }
    permanent = put(system.relayer_url, data, "epochs=3&permanent=true").json()["newlyCreated"][
        "blobObject"
    ]
    status = httpx.get(url).json()["blobStatus"]["permanent"]
    assert status["isCertified"] and status["endEpoch"] == permanent["storage"]["endEpoch"]
    assert status["deletableCounts"]["countDeletableTotal"] == 1


class EpochAtCertify:
    """The chain port, with the epoch moved on just before the first certification is
    submitted (the race an epoch change can cause at any moment)."""

    def __init__(self, chain: DevChain, admin: Account) -> None:
        self.chain, self.admin, self.certify_calls = chain, admin, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.chain, name)

    def certify_blob(self, signer: Account, object_id: str, certificate: object) -> object:
        self.certify_calls += 1
        if self.certify_calls == 1:
            self.chain.force_advance_epoch(self.admin)
        return self.chain.certify_blob(signer, object_id, certificate)  # type: ignore[arg-type]


def test_a_certificate_overtaken_by_an_epoch_change_is_renewed(
    system: LocalSystem, tmp_path: Path
) -> None:
    """EWrongEpoch at certification is the server's race: the store asks the nodes for
    confirmations of the new epoch and certifies (no 400)."""
    dep = Deployment.load(system.deployment_path)
    chain = EpochAtCertify(DevChain(dep.ledger), dep.admin)
    index = BlobIndex(chain, dep.relayer.address)  # type: ignore[arg-type]
    index.catch_up()
    data = os.urandom(70_000)

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
                1 << 20,
                ConsistencyVerdicts(tmp_path / "verdicts.sqlite"),
            )
            answer = await controller.store(body(), 5, True, None, len(data))
            await controller.drain()
            return answer

    before = chain.system().epoch
    answer = asyncio.run(store())
    blob = answer["newlyCreated"]["blobObject"]  # type: ignore[index]
    assert chain.certify_calls == 2 and blob["certifiedEpoch"] == before + 1
    assert httpx.get(f"{system.relayer_url}/v1/blobs/{blob['blobId']}").content == data


def test_stores_succeed_while_the_epoch_advances_every_two_seconds(system: LocalSystem) -> None:
    """4 clients store for 15 s while the epoch moves on every ~2 s: every store succeeds."""
    dep = Deployment.load(system.deployment_path)
    chain = DevChain(dep.ledger)
    stop = threading.Event()
    start_epoch = chain.system().epoch

    def tick() -> None:
        while not stop.wait(2.0):
            chain.force_advance_epoch(dep.admin)

    def client() -> list[str]:
        errors = []
        with httpx.Client(timeout=60) as http:
            while not stop.is_set():
                r = http.put(f"{system.relayer_url}/v1/blobs?epochs=30", content=os.urandom(30_000))
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:300]}")
        return errors

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client) for _ in range(4)]
        time.sleep(15)
        stop.set()
        errors = [e for f in futures for e in f.result()]
    ticker.join()
    assert chain.system().epoch >= start_epoch + 5
    assert errors == []
    assert metric(system.relayer_url, "haulout_relayer_epoch_changes_during_store") > 0


def test_a_deletable_upload_repeated_after_the_first_finished_does_not_pay_again(
    system: LocalSystem,
) -> None:
    dep = Deployment.load(system.deployment_path)
    chain = DevChain(dep.ledger)
    data = os.urandom(30_000)
    first = put(system.relayer_url, data, "epochs=2").json()["newlyCreated"]
    before = chain.balance(dep.relayer.address)
    again = put(system.relayer_url, data, "epochs=2&deletable=true").json()
    assert again["alreadyCertified"]["object"] == first["blobObject"]["id"]
    assert chain.balance(dep.relayer.address) == before
    assert [r.object_id for r in registrations(chain, first["blobObject"]["blobId"])] == [
        first["blobObject"]["id"]
    ]


class BatchesFail:
    """The chain port, where the first batch registration aborts (e.g. one member's storage
    could not be bought) and the epoch moves on just before the first batch certification:
    both batch transactions fail as a whole."""

    def __init__(self, chain: DevChain, admin: Account) -> None:
        self.chain, self.admin = chain, admin
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> object:
        return getattr(self.chain, name)

    def _count(self, name: str) -> int:
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.calls[name]

    def register_blobs(self, signer: Account, specs: list[object]) -> object:
        if self._count("register_blobs") == 1:
            raise MoveAbort.named("system", "EInvalidEpochsAhead", "injected")
        return self.chain.register_blobs(signer, specs)  # type: ignore[arg-type]

    def reserve_and_register_paid(self, *a: object, **k: object) -> object:
        self._count("reserve_and_register_paid")
        return self.chain.reserve_and_register_paid(*a, **k)  # type: ignore[arg-type]

    def certify_blobs(self, signer: Account, certs: list[object]) -> object:
        if self._count("certify_blobs") == 1:
            self.chain.force_advance_epoch(self.admin)
        return self.chain.certify_blobs(signer, certs)  # type: ignore[arg-type]


def test_a_failed_batch_transaction_stores_each_member_alone_and_pays_once(
    system: LocalSystem, tmp_path: Path
) -> None:
    """A batch whose registration aborts registers its members one by one; a batch whose
    certification is overtaken by an epoch change certifies them one by one with fresh
    confirmations. Every member ends certified, registered (paid for) exactly once, and an
    identical member within the batch shares the other's store."""
    dep = Deployment.load(system.deployment_path)
    chain = BatchesFail(DevChain(dep.ledger), dep.admin)
    index = BlobIndex(chain, dep.relayer.address)  # type: ignore[arg-type]
    index.catch_up()
    first = [os.urandom(20_000 + i) for i in range(3)]
    second = [os.urandom(30_000 + i) for i in range(3)]

    def bodies(blobs: list[bytes]) -> list[tuple[AsyncIterator[bytes], int]]:
        async def body(data: bytes) -> AsyncIterator[bytes]:
            yield data

        return [(body(d), len(d)) for d in blobs]

    async def run() -> tuple[list[object], list[object]]:
        async with httpx.AsyncClient(timeout=20) as http:
            controller = StoreController(
                chain,  # type: ignore[arg-type]
                dep.relayer,
                index,
                http,
                tmp_path / "spool",
                1 << 20,
                ConsistencyVerdicts(tmp_path / "verdicts.sqlite"),
            )
            a = await controller.store_batch(bodies([*first, first[0]]), 5, True)
            b = await controller.store_batch(bodies(second), 5, True)
            await controller.drain()
            return a, b

    a, b = asyncio.run(run())
    assert not [r for r in [*a, *b] if isinstance(r, BaseException)]
    assert chain.calls["register_blobs"] == 2  # the first aborted, the second registered 3
    assert chain.calls["reserve_and_register_paid"] == 3  # the first batch's members, alone
    assert chain.calls["certify_blobs"] == 2  # the first overtaken, the second certified 3
    for data, answer in zip([*first, first[0], *second], [*a, *b], strict=True):
        assert isinstance(answer, dict)
        created = answer.get("newlyCreated")
        bid = created["blobObject"]["blobId"] if created else answer["alreadyCertified"]["blobId"]
        assert len(registrations(chain.chain, bid)) == 1  # paid once, the duplicate too
        got = httpx.get(f"{system.relayer_url}/v1/blobs/{bid}", timeout=30)
        assert got.content == data
