"""Buckets on quilts against real processes (DevChain, 4 nodes over 40 shards so a quilt holds
13 files, relayer with a tree limit of 6 blobs, indexer): a commit's small files go into
quilts, reading one file fetches only its patch's slivers, an old pack-based version still
reads, many small commits stay within the tree limit by re-packing (compaction), and the
indexer lists a version's paths, read from its manifest through the relayer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from haulout.buckets import Changes, tree_members
from haulout.client import HauloutClient
from haulout.launcher import LocalSystem
from haulout.manifest import Manifest
from haulout.protocol.hashing import hasher
from haulout.protocol.quilt import QuiltPatchId
from tests.e2e.conftest import start_system
from tests.e2e.test_quilts import metric, settled

pytestmark = pytest.mark.slow

TREE_LIMIT = 6


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    s = start_system(
        Path(tmp_path_factory.mktemp("bucket-quilts")),
        with_indexer=True,
        n_shards=40,
        relayer_env={"HAULOUT_RELAYER_MAX_TREE_MEMBERS": str(TREE_LIMIT)},
    )
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(system: LocalSystem) -> Iterator[HauloutClient]:
    with HauloutClient(system.relayer_url) as c:
        yield c


def _put(files: dict[str, bytes]) -> Changes:
    c = Changes()
    for p, data in files.items():
        c.put(p, data)
    return c


def test_a_commit_puts_small_files_into_quilts_and_one_read_fetches_one_patch(
    system: LocalSystem, client: HauloutClient
) -> None:
    b = client.buckets
    b.create("q-small")
    files = {f"train/part-{i}.csv": f"{i},".encode() * (5 + 30 * i) for i in range(20)}
    files["_meta.json"] = b'{"reserved": "prefix"}'
    result = b.commit("q-small", _put(files))
    doc = Manifest.parse(client.read(result.manifest_blob_id))
    assert doc is not None
    assert doc.doc["packs"] == [] and 2 <= len(doc.doc["quilts"]) <= 4  # 21 files, 13 a quilt
    assert all("patch" in e for e in doc.doc["files"])
    settled(system)
    _, tree = b.tree("q-small")
    entry = tree["train/part-7.csv"]
    pid = QuiltPatchId.parse(entry["patch"])
    b.read("q-small", "train/part-0.csv")  # the quilt's index is known from here on
    before, full = metric(system, "quilt_slivers_fetched"), metric(system, "quilt_full_reads")
    assert b.read("q-small", "train/part-7.csv") == files["train/part-7.csv"]
    assert metric(system, "quilt_slivers_fetched") - before == pid.end - pid.start
    assert metric(system, "quilt_full_reads") == full
    assert b.read("q-small", "_meta.json") == files["_meta.json"]


def test_an_old_pack_version_still_reads_and_the_next_commit_keeps_it(
    system: LocalSystem, client: HauloutClient, tmp_path: Path
) -> None:
    b = client.buckets
    b.create("q-old")
    files = {"a.txt": b"first file\n", "b/c.txt": b"second\n"}
    pack = client.store(b"".join(files.values()))
    entries, offset = [], 0
    for path, data in files.items():
        h = hasher()
        h.update(data)
        entries.append(
            {"path": path, "size": len(data), "offset": offset, "pack": 0, "blake2b": h.hexdigest()}
        )
        offset += len(data)
    doc = {"kind": "directory", "name": "q-old", "size": offset, "packs": [pack.blob_id]}
    old = client.store(Manifest({**doc, "files": entries}).to_bytes())
    resp = httpx.post(
        f"{system.relayer_url}/v1/buckets/q-old/commit",
        params={"base_version": 0, "manifest": old.blob_id},
    )
    assert resp.status_code == 200, resp.text
    assert b.read("q-old", "b/c.txt") == b"second\n"
    b.commit("q-old", _put({"d.txt": b"new"}))
    assert b.read("q-old@2", "a.txt") == b"first file\n"
    assert b.read("q-old@2", "d.txt") == b"new"
    b.pull("q-old@2", tmp_path / "out")
    assert (tmp_path / "out" / "b" / "c.txt").read_bytes() == b"second\n"


def test_many_small_commits_stay_within_the_tree_limit(client: HauloutClient) -> None:
    b = client.buckets
    b.create("q-many")
    written: dict[str, bytes] = {}
    repacked = []
    for i in range(TREE_LIMIT + 3):  # one quilt per commit: without compaction, 413
        data = f"commit {i}\n".encode() * (i + 1)
        written[f"log/{i:03}.txt"] = data
        result = b.commit("q-many", _put({f"log/{i:03}.txt": data}))
        assert result.version == i + 1
        repacked.append(result.repacked)
        _, tree = b.tree("q-many")
        assert len(tree_members(tree)) + 1 <= TREE_LIMIT
    assert any(repacked)
    for path, data in written.items():
        assert b.read("q-many", path) == data
    ext = b.extend("q-many", 1)  # the whole tree, in one transaction
    assert len(ext["members"]) <= TREE_LIMIT


def test_the_indexer_lists_a_versions_paths_read_through_the_relayer(
    system: LocalSystem, client: HauloutClient
) -> None:
    b = client.buckets
    state = b.create("q-listed")
    files = {"train/a.csv": b"a,b\n1,2\n", "train/b.csv": b"x\n" * 50, "README.md": b"# hi\n"}
    b.commit("q-listed", _put(files))
    b.commit("q-listed", _put({"train/c.csv": b"c\n"}))
    route = f"{system.indexer_url}/v1/buckets/{state.id}/paths"
    deadline = time.monotonic() + 60
    answer: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = httpx.get(route, params={"version": 1, "prefix": "train/"})
        answer = resp.json() if resp.status_code == 200 else {}
        if answer.get("state") == "indexed":
            break
        time.sleep(0.5)
    assert [p["path"] for p in answer["paths"]] == ["train/a.csv", "train/b.csv"]
    _, tree = b.tree("q-listed@1")
    for p in answer["paths"]:
        entry = tree[p["path"]]
        assert (p["patchId"], p["blobId"], p["size"]) == (
            entry["patch"],
            entry["quilt_id"],
            len(files[p["path"]]),
        )
        assert p["contentType"] == "text/csv"
        got = httpx.get(f"{system.relayer_url}/v1/blobs/by-quilt-patch-id/{p['patchId']}")
        assert got.content == files[p["path"]]


def test_extend_all_versions_brings_older_trees_to_the_same_end(client: HauloutClient) -> None:
    b = client.buckets
    b.create("q-history")
    b.commit("q-history", _put({"a.txt": b"a v1"}))
    b.commit("q-history", _put({"a.txt": b"a v2 is longer", "keep.txt": b"kept"}))
    _, old = b.tree("q-history@1")
    _, new = b.tree("q-history")
    only_old = tree_members(old) - tree_members(new)
    assert only_old  # v1's a.txt lives in a quilt v2 no longer references

    def end_of(blob_id: str) -> int:
        return max(o["endEpoch"] for o in client.status(blob_id)["objects"])

    current_only = b.extend("q-history", 1)
    assert all(end_of(q) < current_only["endEpoch"] for q in only_old)  # not by default
    done = b.extend("q-history", 2, all_versions=True)
    assert done["olderVersions"] == [
        {"version": 2, "result": "current"},
        {"version": 1, "result": "extended"},
    ]
    for blob_id in only_old | {b.get("q-history@1").manifest_blob_id or ""}:
        assert end_of(blob_id) == done["endEpoch"]


def test_a_push_too_many_for_quilts_goes_into_packs(client: HauloutClient) -> None:
    b = client.buckets
    b.create("q-bulk")
    files = {f"rows/{i:03}.json": f'{{"row": {i}}}'.encode() for i in range(100)}
    result = b.commit("q-bulk", _put(files))  # 8 full quilts would pass the limit of 6
    doc = Manifest.parse(client.read(result.manifest_blob_id))
    assert doc is not None and doc.doc["quilts"] == [] and len(doc.doc["packs"]) == 1
    assert b.read("q-bulk", "rows/042.json") == files["rows/042.json"]
    b.commit("q-bulk", _put({"extra.txt": b"one more"}))
    assert b.read("q-bulk", "extra.txt") == b"one more"
