"""Buckets end to end (DevChain, 4 nodes, relayer, indexer as real processes): versions,
history by number and tag, concurrent writers, extension of every member, a failed write,
and the ML libraries writing and reading by bucket path."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from haulout.buckets import BucketConflict, Changes
from haulout.chain.devchain import DevChain
from haulout.client import HauloutClient, HauloutError
from haulout.fs import HauloutFileSystem
from haulout.launcher import LocalSystem
from tests.e2e.conftest import start_system


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    s = start_system(tmp_path_factory.mktemp("buckets"), with_indexer=True)
    yield s
    s.stop()


def test_v1_then_v2_and_at_1_still_reads_v1(client: HauloutClient, tmp_path: Path) -> None:
    b = client.buckets
    b.create("ds-versions")
    src = tmp_path / "v1"
    (src / "train").mkdir(parents=True)
    (src / "train" / "a.txt").write_text("alpha v1")
    (src / "README.md").write_text("readme")
    first = b.push(src, "ds-versions")
    assert first.version == 1
    second = b.commit("ds-versions", _put({"train/a.txt": b"alpha v2", "train/b.txt": b"beta"}))
    assert second.version == 2
    b.tag("ds-versions", "release", 1)
    assert b.read("ds-versions", "train/a.txt") == b"alpha v2"
    assert b.read("ds-versions@1", "train/a.txt") == b"alpha v1"
    assert b.read("ds-versions@release", "train/a.txt") == b"alpha v1"
    assert sorted(b.tree("ds-versions@1")[1]) == ["README.md", "train/a.txt"]
    out = tmp_path / "pulled"
    b.pull("ds-versions@1", out)
    assert (out / "train" / "a.txt").read_text() == "alpha v1"
    log = b.log("ds-versions")
    assert [v["version"] for v in log["versions"]] == [2, 1]
    assert log["tags"] == {"release": 1}


def _put(files: dict[str, bytes]) -> Changes:
    c = Changes()
    for p, data in files.items():
        c.put(p, data)
    return c


def test_two_concurrent_writers_lose_nothing(system: LocalSystem) -> None:
    with HauloutClient(system.relayer_url) as setup:
        setup.buckets.create("ds-race")
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(i: int) -> None:
        try:
            with HauloutClient(system.relayer_url) as c:
                start.wait()
                for j in range(3):
                    c.buckets.commit("ds-race", _put({f"w{i}/f{j}.txt": f"{i}-{j}".encode()}))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with HauloutClient(system.relayer_url) as c:
        state, tree = c.buckets.tree("ds-race")
        assert state.version == 6
        assert sorted(tree) == sorted(f"w{i}/f{j}.txt" for i in range(2) for j in range(3))
        assert c.buckets.read("ds-race", "w1/f2.txt") == b"1-2"


def test_a_stale_write_to_the_same_path_is_refused(client: HauloutClient) -> None:
    b = client.buckets
    b.create("ds-clash")
    b.commit("ds-clash", _put({"x.txt": b"one"}))
    b.commit("ds-clash", _put({"x.txt": b"two"}))
    with pytest.raises(BucketConflict) as err:
        b.commit("ds-clash", _put({"x.txt": b"three"}), base_version=1)
    assert err.value.paths == ["x.txt"]
    assert b.get("ds-clash").version == 2
    assert b.read("ds-clash", "x.txt") == b"two"
    merged = b.commit("ds-clash", _put({"y.txt": b"why"}), base_version=1)
    assert merged.version == 3 and merged.merged == 1
    assert b.read("ds-clash", "x.txt") == b"two"


def _indexed(url: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"the indexer at {url} did not catch up"
        time.sleep(0.5)


def test_extending_a_bucket_moves_every_member(
    client: HauloutClient, chain: DevChain, system: LocalSystem, tmp_path: Path
) -> None:
    b = client.buckets
    b.create("ds-extend")
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x01" * ((1 << 20) + 5))  # chunked: a member of its own
    c = _put({"small/a.txt": b"a", "small/b.txt": b"b"})
    c.put("big.bin", big)
    b.commit("ds-extend", c, epochs=2)
    done = b.extend("ds-extend", 3)
    members = done["members"]
    assert {m["role"] for m in members} == {"manifest", "pack", "chunk"}
    ends = {chain.get_blob(m["objectId"]).end_epoch for m in members}
    assert ends == {done["endEpoch"]}
    assert done["endEpoch"] == chain.system().epoch + 2 + 3
    idx = system.indexer_url

    def member_ends() -> set[int]:
        return {
            httpx.get(f"{idx}/v1/blobs/by-object-id/{m['objectId']}", timeout=5)
            .json()
            .get("endEpoch", -1)
            for m in members
        }

    _indexed(idx, lambda: member_ends() == {done["endEpoch"]})
    owner = client.health()["address"]
    page = httpx.get(f"{idx}/v1/buckets", params={"owner": owner}, timeout=5)
    assert page.status_code == 200, page.text
    listed = page.json()["buckets"]
    bucket = next(b for b in listed if b["name"] == "ds-extend")
    assert bucket["version"] == 1 and bucket["endEpoch"] == done["endEpoch"]
    versions = httpx.get(f"{idx}/v1/buckets/{bucket['bucketId']}/versions", timeout=5).json()
    assert [v["version"] for v in versions["versions"]] == [1]
    assert versions["versions"][0]["manifestBlobId"] == bucket["manifestBlobId"]


def test_unknown_bucket_and_bad_names_are_clear(client: HauloutClient) -> None:
    with pytest.raises(HauloutError) as err:
        client.buckets.get("no-such-bucket")
    assert err.value.status == 404 and err.value.reason == "BUCKET_NOT_FOUND"
    with pytest.raises(HauloutError) as err:
        client.buckets.create("ds-versions")
    assert err.value.status == 409
    resp = client.http.post("/v1/buckets", json={"name": "Bad_Name"})
    assert resp.status_code == 400
    plain = client.store(b"not a manifest, just bytes")
    resp = client.http.post(
        "/v1/buckets/ds-versions/commit",
        params={"base_version": 2, "manifest": plain.blob_id},
    )
    assert resp.status_code == 422 and "INVALID_MANIFEST" in resp.text
    assert client.buckets.get("ds-versions").version == 2


@pytest.fixture(scope="module")
def fs(system: LocalSystem) -> Iterator[HauloutFileSystem]:
    f = HauloutFileSystem(system.relayer_url, deletable=True, skip_instance_cache=True)
    yield f
    f.client.close()


def test_fsspec_paths_in_a_bucket(fs: HauloutFileSystem) -> None:
    fs.client.buckets.create("ds-fs")
    fs.pipe("haulout://ds-fs/a/one.txt", b"0123456789")
    with fs.open("haulout://ds-fs/a/two.bin", "wb") as f:
        f.write(b"two")
    assert fs.cat_file("haulout://ds-fs/a/one.txt", start=2, end=5) == b"234"
    assert fs.ls("haulout://ds-fs", detail=False) == ["ds-fs/a"]
    assert fs.find("haulout://ds-fs") == ["ds-fs/a/one.txt", "ds-fs/a/two.bin"]
    assert fs.glob("haulout://ds-fs/a/*.txt") == ["ds-fs/a/one.txt"]
    assert fs.info("haulout://ds-fs/a/two.bin")["size"] == 3
    fs.mv("haulout://ds-fs/a/two.bin", "haulout://ds-fs/b/two.bin")
    assert fs.find("haulout://ds-fs") == ["ds-fs/a/one.txt", "ds-fs/b/two.bin"]
    fs.rm("haulout://ds-fs/a", recursive=True)
    assert fs.find("haulout://ds-fs") == ["ds-fs/b/two.bin"]
    assert fs.client.buckets.get("ds-fs").version == 4  # pipe, open, mv, rm: one commit each
    assert fs.cat("haulout://ds-fs@1/a/one.txt") == b"0123456789"
    with pytest.raises(PermissionError):
        fs.pipe("haulout://ds-fs@1/a/one.txt", b"history is read-only")


def test_put_of_a_folder_and_a_transaction_are_one_commit_each(
    fs: HauloutFileSystem, tmp_path: Path
) -> None:
    fs.client.buckets.create("ds-tx")
    src = tmp_path / "folder"
    for i in range(5):
        (src / "sub").mkdir(parents=True, exist_ok=True)
        (src / "sub" / f"f{i}.txt").write_text(str(i))
    fs.put(str(src), "haulout://ds-tx/up", recursive=True)
    assert fs.client.buckets.get("ds-tx").version == 1
    assert len(fs.find("haulout://ds-tx/up")) == 5
    with fs.transaction:
        fs.pipe("haulout://ds-tx/t/x.txt", b"x")
        with fs.open("haulout://ds-tx/t/y.txt", "wb") as f:
            f.write(b"y")
        fs.rm("haulout://ds-tx/up/sub/f0.txt")
    assert fs.client.buckets.get("ds-tx").version == 2
    assert fs.cat("haulout://ds-tx/t/y.txt") == b"y"
    assert not fs.exists("haulout://ds-tx/up/sub/f0.txt")
    got = tmp_path / "got"
    fs.get("haulout://ds-tx/t", str(got), recursive=True)
    assert sorted(p.name for p in got.rglob("*.txt")) == ["x.txt", "y.txt"]


def test_a_failed_write_leaves_no_commit(fs: HauloutFileSystem) -> None:
    fs.client.buckets.create("ds-fail")
    with pytest.raises(RuntimeError), fs.open("haulout://ds-fail/partial.bin", "wb") as f:
        f.write(b"half a checkpoint")
        raise RuntimeError("the training step crashed")
    with pytest.raises(RuntimeError), fs.transaction:
        fs.pipe("haulout://ds-fail/a.txt", b"a")
        raise RuntimeError("the job was cancelled")
    assert fs.client.buckets.get("ds-fail").version == 0
    assert not fs.exists("haulout://ds-fail/partial.bin")
    assert fs._intrans is False


def test_pandas_writes_and_reads_parquet_by_bucket_path(fs: HauloutFileSystem) -> None:
    pd = pytest.importorskip("pandas")
    fs.client.buckets.create("ds-pandas")
    df = pd.DataFrame({"x": range(100), "y": [f"row {i}" for i in range(100)]})
    opts = {"relayer_url": fs.client.url, "deletable": True}
    df.to_parquet("haulout://ds-pandas/train/part-0.parquet", storage_options=opts)
    back = pd.read_parquet("haulout://ds-pandas/train/part-0.parquet", storage_options=opts)
    pd.testing.assert_frame_equal(back, df)


def test_torch_checkpoint_round_trip(fs: HauloutFileSystem) -> None:
    torch = pytest.importorskip("torch")
    fs.client.buckets.create("ds-ckpt")
    model = torch.nn.Linear(16, 4)
    with fs.open("haulout://ds-ckpt/ckpt/step-100.pt", "wb") as f:
        torch.save(model.state_dict(), f)
    with fs.open("haulout://ds-ckpt/ckpt/step-100.pt", "rb") as f:
        state = torch.load(f)
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value)


def test_hugging_face_datasets_load_parquet_from_a_bucket(
    fs: HauloutFileSystem, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pd = pytest.importorskip("pandas")
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HAULOUT_RELAYER_URL", fs.client.url)
    fs.client.buckets.create("ds-hf")
    with fs.transaction:
        for i in range(2):
            frame = pd.DataFrame({"text": [f"doc {i}-{j}" for j in range(10)], "label": [i] * 10})
            with fs.open(f"haulout://ds-hf/train/part-{i}.parquet", "wb") as f:
                frame.to_parquet(f)
    ds = datasets.load_dataset(
        "parquet",
        data_files="haulout://ds-hf/train/*.parquet",
        cache_dir=str(tmp_path / "cache"),
        storage_options={"relayer_url": fs.client.url},
    )
    assert ds["train"].num_rows == 20
    assert sorted(set(ds["train"]["label"])) == [0, 1]


def _cli(system: LocalSystem, *args: str) -> str:
    cmd = [sys.executable, "-m", "haulout.cli", *args, "--relayer", system.relayer_url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_cli_push_pull_log_tag_extend_rm(system: LocalSystem, tmp_path: Path) -> None:
    src = tmp_path / "ckpt"
    (src / "step-1").mkdir(parents=True)
    (src / "step-1" / "model.pt").write_bytes(b"weights v1")
    assert "version 0" in _cli(system, "bucket", "create", "ds-cli")
    assert "ds-cli version 1" in _cli(system, "push", str(src), "ds-cli/runs")
    (src / "step-1" / "model.pt").write_bytes(b"weights v2")
    assert "ds-cli version 2" in _cli(system, "push", str(src), "ds-cli/runs")
    _cli(system, "bucket", "tag", "ds-cli", "first", "1")
    log = _cli(system, "bucket", "log", "ds-cli").splitlines()
    assert [line.split("\t")[0] for line in log] == ["2", "1"] and "(first)" in log[1]
    _cli(system, "pull", "ds-cli@first/runs", str(tmp_path / "old"))
    assert (tmp_path / "old" / "step-1" / "model.pt").read_bytes() == b"weights v1"
    assert "ds-cli\tversion 2" in _cli(system, "bucket", "ls")
    assert "end at epoch" in _cli(system, "bucket", "extend", "ds-cli", "--epochs", "2")
    assert "deleted bucket ds-cli" in _cli(system, "bucket", "rm", "ds-cli")
    assert "ds-cli\t" not in _cli(system, "bucket", "ls")
