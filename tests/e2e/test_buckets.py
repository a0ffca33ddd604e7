"""Buckets end to end (DevChain, 4 nodes, relayer, indexer as real processes): versions,
history by number and tag, concurrent writers, extension of every member, a failed write,
and the ML libraries writing and reading by bucket path."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from haulout.buckets import BucketConflict, Changes
from haulout.chain.devchain import DevChain
from haulout.client import HauloutClient, HauloutError
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


def test_extending_a_bucket_moves_every_member(
    client: HauloutClient, chain: DevChain, tmp_path: Path
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


def test_unknown_bucket_and_bad_names_are_clear(client: HauloutClient) -> None:
    with pytest.raises(HauloutError) as err:
        client.buckets.get("no-such-bucket")
    assert err.value.status == 404 and err.value.reason == "BUCKET_NOT_FOUND"
    with pytest.raises(HauloutError) as err:
        client.buckets.create("ds-versions")
    assert err.value.status == 409
    resp = client.http.post("/v1/buckets", json={"name": "Bad_Name"})
    assert resp.status_code == 400
