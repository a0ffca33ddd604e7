"""Trees (a directory or chunked file: manifest plus the blobs it references) as one unit,
content types from uploads, fsspec writes, and `--epochs max`, against real processes
(DevChain, 4 nodes, relayer, indexer)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from haulout import cli, manifest
from haulout.chain.devchain import DevChain
from haulout.chain.errors import ObjectNotFound
from haulout.chain.events import BlobDeleted
from haulout.client import BlobNotFound, HauloutClient, HauloutError
from haulout.deployment import Deployment
from haulout.fs import HauloutFileSystem, NamedPathWrite
from haulout.launcher import LocalSystem
from tests.e2e.conftest import start_system

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    s = start_system(Path(tmp_path_factory.mktemp("haulout-trees")), with_indexer=True)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(system: LocalSystem) -> Iterator[HauloutClient]:
    with HauloutClient(system.relayer_url) as c:
        yield c


@pytest.fixture(scope="module")
def chain(system: LocalSystem) -> DevChain:
    return DevChain(Deployment.load(system.deployment_path).ledger)


def dataset(root: Path, seed: int) -> Path:
    """Small files (packed) and one large file (chunked at 256 KiB)."""
    for i in range(20):
        (root / "train").mkdir(parents=True, exist_ok=True)
        (root / "train" / f"part-{i}.csv").write_text(f"{seed},{i}\n" * 50)
    (root / "weights.bin").write_bytes(os.urandom(1_100_000))
    return root


def member_objects(client: HauloutClient, chain: DevChain, blob_ids: list[str]) -> list[str]:
    """The relayer's live Blob object of each blob id."""
    relayer = client.health()["address"]
    out = []
    for bid in blob_ids:
        live = [
            o["objectId"]
            for o in client.status(bid)["objects"]
            if o["certified"] and not o["deleted"] and not o["expired"]
        ]
        out.append(next(oid for oid in live if chain.get_blob(oid).owner == relayer))
    return out


def tree_members(client: HauloutClient, manifest_blob: str) -> list[str]:
    doc = manifest.Manifest.parse(client.read(manifest_blob))
    assert doc is not None
    return [bid for bid, _ in manifest.member_blob_ids(doc)]


def indexed(system: LocalSystem, object_id: str, check: Any) -> dict[str, Any]:
    """The indexer's view of a Blob object once `check` holds (or the last one seen)."""
    deadline, got = time.monotonic() + 30, {}
    while time.monotonic() < deadline:
        r = httpx.get(f"{system.indexer_url}/v1/blobs/by-object-id/{object_id}", timeout=5)
        if r.status_code == 200 and check(got := r.json()):
            break
        time.sleep(0.3)
    return got


def test_extending_a_directory_moves_every_member(
    system: LocalSystem, client: HauloutClient, chain: DevChain, tmp_path: Path
) -> None:
    stored = manifest.store_directory(client, dataset(tmp_path / "ds", 1), chunk_size=256 << 10)
    members = tree_members(client, stored.blob_id)
    assert len(members) == 6  # a pack and five chunks
    assert stored.object_id
    objects = [stored.object_id, *member_objects(client, chain, members)]
    assert {chain.get_blob(o).end_epoch for o in objects} == {1}
    events_before = len(chain.events())
    # the Walrus route on the manifest's object extends the whole tree, in one transaction
    out = client.extend(stored.object_id, 3)
    assert out["blobObject"]["storage"]["endEpoch"] == 4
    assert {chain.get_blob(o).end_epoch for o in objects} == {4}
    new = chain.events()[events_before:]
    assert len(new) == len(objects) and len({e.tx_digest for e in new}) == 1
    assert new[0].tx_digest == out["tree"]["txDigest"]
    for oid in objects:
        assert indexed(system, oid, lambda b: b.get("endEpoch") == 4)["endEpoch"] == 4
    status = client.tree_status(stored.blob_id)
    assert status["tree"]["earliestEndEpoch"] == 4 and status["tree"]["missing"] == []


def test_deleting_a_deletable_tree_deletes_all_members_in_one_transaction(
    client: HauloutClient, chain: DevChain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = dataset(tmp_path / "ds", 2)
    code = cli.main(["store", str(src), "--deletable", "--epochs", "2", "--relayer", client.url])
    out = capsys.readouterr().out
    assert code == 0
    blob_id = out.split("blob id:")[1].split()[0]
    object_id = out.split("object id:")[1].split()[0]  # printed for a tree too
    members = tree_members(client, blob_id)
    objects = [object_id, *member_objects(client, chain, members)]
    assert all(chain.get_blob(o).deletable for o in objects)  # --deletable on every member
    assert cli.main(["delete", object_id, "--relayer", client.url]) == 0
    assert "in one transaction" in capsys.readouterr().out
    deleted = [e for e in chain.events() if isinstance(e.event, BlobDeleted)]
    mine = [e for e in deleted if e.event.object_id in objects]
    assert len(mine) == len(objects) and len({e.tx_digest for e in mine}) == 1
    for bid in [blob_id, *members]:
        with pytest.raises(BlobNotFound):
            client.read(bid)


def test_a_member_missing_fails_the_whole_tree_operation(
    client: HauloutClient, chain: DevChain, tmp_path: Path
) -> None:
    stored = manifest.store_directory(
        client, dataset(tmp_path / "ds", 3), chunk_size=256 << 10, deletable=True
    )
    assert stored.object_id
    members = tree_members(client, stored.blob_id)
    objects = [stored.object_id, *member_objects(client, chain, members)]
    client.delete(objects[-1])  # one chunk's object goes (not a manifest: alone)
    before = {o: chain.get_blob(o).end_epoch for o in objects[:-1]}
    with pytest.raises(HauloutError) as err:
        client.extend_tree(stored.object_id, 2)
    assert err.value.status == 409 and err.value.reason == "TREE_MEMBER_MISSING"
    assert {o: chain.get_blob(o).end_epoch for o in objects[:-1]} == before
    with pytest.raises(HauloutError):
        client.delete_tree(stored.object_id)
    assert all(chain.get_blob(o) for o in objects[:-1])  # nothing deleted
    tree = client.tree_status(stored.blob_id)["tree"]
    assert tree["missing"] == [members[-1]] and tree["earliestEndEpoch"] is None


def test_big_deletable_file_is_chunked(
    system: LocalSystem, client: HauloutClient, chain: DevChain, tmp_path: Path
) -> None:
    from tests.e2e.conftest import MAX_BLOB

    src = tmp_path / "big.bin"
    with open(src, "wb") as fh:
        fh.write(os.urandom(MAX_BLOB + 1000))
    stored = manifest.store_file_auto(client, src, deletable=True)
    doc = json.loads(client.read(stored.blob_id))
    assert doc["kind"] == "file" and len(doc["chunks"]) == 3
    assert stored.object_id and chain.get_blob(stored.object_id).deletable
    client.delete_tree(stored.object_id)
    for c in doc["chunks"]:
        with pytest.raises(BlobNotFound):
            client.read(c["blob_id"])


def test_content_type_of_a_put_is_an_attribute_and_indexed(
    system: LocalSystem, client: HauloutClient, chain: DevChain, tmp_path: Path
) -> None:
    r = httpx.put(
        f"{system.relayer_url}/v1/blobs",
        content=b"<h1>hello</h1>" + os.urandom(8),
        headers={"content-type": "text/html; charset=utf-8"},
        timeout=60,
    )
    obj = r.json()["newlyCreated"]["blobObject"]
    assert chain.get_blob(obj["id"]).attributes == {"content-type": "text/html; charset=utf-8"}
    got = httpx.get(f"{system.relayer_url}/v1/blobs/{obj['blobId']}", timeout=30)
    assert got.headers["content-type"] == "text/html; charset=utf-8"
    seen = indexed(system, obj["id"], lambda b: b.get("contentType"))
    assert seen["contentType"] == "text/html; charset=utf-8"
    # the SDK guesses from the file name; octet-stream records nothing
    src = tmp_path / "table.csv"
    src.write_bytes(b"a,b\n" + os.urandom(8))
    stored = client.store_file(src)
    assert stored.object_id
    assert chain.get_blob(stored.object_id).attributes == {"content-type": "text/csv"}
    plain = client.store(os.urandom(100))
    assert plain.object_id and chain.get_blob(plain.object_id).attributes == {}
    bad = httpx.put(
        f"{system.relayer_url}/v1/blobs", content=b"x", headers={"content-type": "a\x7fb"}
    )
    assert bad.status_code == 400


def test_fsspec_failed_write_stores_nothing_and_rm(
    system: LocalSystem, client: HauloutClient, chain: DevChain
) -> None:
    fs = HauloutFileSystem(relayer_url=system.relayer_url, deletable=True, skip_instance_cache=True)
    payload = os.urandom(50_000)
    events_before = len(chain.events())
    with pytest.raises(RuntimeError), fs.open("haulout://new", "wb") as fh:
        fh.write(payload)
        raise RuntimeError("the training step crashed")
    assert len(chain.events()) == events_before  # nothing registered, nothing paid
    assert fs.last_stored is None
    with pytest.raises(NamedPathWrite, match="written inside a bucket"):
        fs.open("haulout://out.parquet", "wb")
    with fs.open("haulout://new", "wb") as fh:
        fh.write(payload)
    assert fs.last_stored is not None
    bid = fs.last_stored.blob_id
    assert fs.cat_file(bid) == payload
    fs.rm(f"haulout://{bid}")
    with pytest.raises(BlobNotFound):
        client.read(bid)
    permanent = client.store(os.urandom(300), deletable=False)
    with pytest.raises(PermissionError, match="permanent"):
        fs.rm(permanent.blob_id)


def test_epochs_max_buys_the_longest_lifetime(
    client: HauloutClient, chain: DevChain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "long.txt"
    src.write_bytes(os.urandom(1000))
    assert cli.main(["store", str(src), "--epochs", "max", "--relayer", client.url]) == 0
    out = capsys.readouterr().out
    system = chain.system()
    oid = out.split("object id:")[1].split()[0]
    assert chain.get_blob(oid).end_epoch == system.epoch + system.max_epochs_ahead
    with pytest.raises(SystemExit):
        cli.main(["store", "--help"])
    assert "default: 1 epoch" in " ".join(capsys.readouterr().out.split())


def test_burning_a_tree_and_hostile_manifests(
    client: HauloutClient, chain: DevChain, tmp_path: Path
) -> None:
    src = tmp_path / "w.bin"
    src.write_bytes(os.urandom(600_000))
    stored = manifest.store_file_chunked(client, src, chunk_size=256 << 10)
    assert stored.object_id
    objects = [
        stored.object_id,
        *member_objects(client, chain, tree_members(client, stored.blob_id)),
    ]
    out = client.burn_tree(stored.object_id)
    assert len(out["tree"]["members"]) == 4 and out["tree"]["txDigest"]
    for oid in objects:
        with pytest.raises(ObjectNotFound):
            chain.get_blob(oid)
    assert client.read(stored.blob_id)  # the data stays until its end epoch
    bad_docs: list[dict[str, Any]] = [
        {"kind": "file", "chunks": [{"blob_id": "not a blob id", "size": 1}]},
        {"kind": "directory", "packs": 7, "files": []},
        {"kind": "directory", "packs": [], "files": [{"chunks": [5]}]},
    ]
    for doc in bad_docs:
        bad = client.store(manifest.Manifest({manifest.MAGIC: 1, **doc}).to_bytes())
        assert bad.object_id
        with pytest.raises(HauloutError) as err:
            client.extend_tree(bad.object_id, 1)
        assert err.value.status == 422 and err.value.reason == "INVALID_MANIFEST"


def test_async_client_content_type_and_tree_calls(system: LocalSystem, chain: DevChain) -> None:
    import asyncio

    from haulout.client import AsyncHauloutClient

    async def go() -> None:
        async with AsyncHauloutClient(system.relayer_url) as c:
            stored = await c.store(
                b"{}" + os.urandom(20), deletable=True, content_type="application/json"
            )
            assert stored.object_id
            assert chain.get_blob(stored.object_id).attributes == {
                "content-type": "application/json"
            }
            assert (await c.tree_status(stored.blob_id))["tree"] is None  # a plain blob
            out = await c.extend_tree(stored.object_id, 2)
            assert out["blobObject"]["storage"]["endEpoch"] == 3
            assert len((await c.delete_tree(stored.object_id))["tree"]["members"]) == 1

    asyncio.run(go())


def test_status_shows_members_expiring_before_the_manifest(
    system: LocalSystem, client: HauloutClient, chain: DevChain, tmp_path: Path
) -> None:
    """The state the issue measured (the manifest extended alone) is visible, and extending
    the tree repairs it."""
    stored = manifest.store_directory(client, dataset(tmp_path / "ds", 5), chunk_size=256 << 10)
    assert stored.object_id
    members = tree_members(client, stored.blob_id)
    relayer = Deployment.load(system.deployment_path).relayer
    chain.extend_blob(relayer, stored.object_id, 2)  # the manifest alone, as before the fix
    tree = client.tree_status(stored.blob_id)["tree"]
    assert tree["earliestEndEpoch"] == 1 and sorted(tree["expiringFirst"]) == sorted(members)
    client.extend_tree(stored.object_id, 1)
    tree = client.tree_status(stored.blob_id)["tree"]
    assert tree["earliestEndEpoch"] == 4 and tree["expiringFirst"] == []
