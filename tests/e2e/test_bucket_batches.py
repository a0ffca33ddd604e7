"""A bucket push costs a constant number of chain transactions, not two per quilt: the quilts
of one commit are registered in one transaction and certified in one (`/v1/quilts/batch`).
Real processes: DevChain ledger, 4 nodes over 100 shards (33 files a quilt), the relayer."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from haulout.client import HauloutClient
from haulout.launcher import LocalSystem
from haulout.manifest import store_directory
from tests.e2e.conftest import start_system


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    s = start_system(tmp_path_factory.mktemp("batches"), n_shards=100)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(system: LocalSystem) -> Iterator[HauloutClient]:
    with HauloutClient(system.relayer_url) as c:
        yield c


def _transactions(system: LocalSystem) -> int:
    """Transactions the DevChain ledger has executed (as bench/dataset.py counts them)."""
    with sqlite3.connect(system.workdir / "ledger.sqlite") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM transactions").fetchone()[0])


def _dataset(root: Path, files: int) -> Path:
    for i in range(files):
        d = root / f"part-{i // 50}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"row-{i:04d}.json").write_bytes(b'{"i": %d, "pad": "%s"}' % (i, b"x" * (i % 97)))
    return root


def _push_cost(client: HauloutClient, system: LocalSystem, src: Path, bucket: str) -> int:
    client.buckets.create(bucket)
    before = _transactions(system)
    client.buckets.push(src, bucket, quilts=True)
    return _transactions(system) - before


def test_a_push_of_200_files_costs_the_transactions_of_a_push_of_20(
    client: HauloutClient, system: LocalSystem, tmp_path: Path
) -> None:
    small = _push_cost(client, system, _dataset(tmp_path / "small", 20), "batch-small")
    big_src = _dataset(tmp_path / "big", 200)
    big = _push_cost(client, system, big_src, "batch-big")
    _, tree = client.buckets.tree("batch-big")
    quilts = {e["quilt_id"] for e in tree.values()}
    assert len(tree) == 200 and len(quilts) >= 7  # 200 files over 33-file quilts
    assert big == small  # one quilt or seven: register once, certify once, then the manifest
    out = tmp_path / "pulled"
    client.buckets.pull("batch-big", out)
    for f in big_src.rglob("*.json"):
        assert (out / f.relative_to(big_src)).read_bytes() == f.read_bytes()
    patch = tree["part-3/row-0150.json"]["patch"]
    assert client.read_quilt_patch(patch)[0] == (big_src / "part-3/row-0150.json").read_bytes()


def test_pushing_the_same_files_again_registers_nothing_new(
    client: HauloutClient, system: LocalSystem, tmp_path: Path
) -> None:
    src = _dataset(tmp_path / "again", 100)
    first = _push_cost(client, system, src, "batch-once")
    again = _push_cost(client, system, src, "batch-twice")
    assert again < first  # the quilts are certified already: only the manifest and commit
    _, one = client.buckets.tree("batch-once")
    _, two = client.buckets.tree("batch-twice")
    assert {e["quilt_id"] for e in one.values()} == {e["quilt_id"] for e in two.values()}


def test_store_dir_of_200_files_costs_the_transactions_of_20(
    client: HauloutClient, system: LocalSystem, tmp_path: Path
) -> None:
    costs = []
    for n in (20, 200):
        src = _dataset(tmp_path / f"dir{n}", n)
        before = _transactions(system)
        stored = store_directory(client, src, epochs=2)
        costs.append(_transactions(system) - before)
    assert costs[0] == costs[1] == 4  # quilts: register, certify; manifest: register, certify
    assert len(json.loads(client.read(stored.blob_id))["quilts"]) >= 7
