"""SuiChain called from many threads at once, as the relayer's upload pool does: eight
threads store through ONE SuiChain at the same time; every store succeeds and no transaction
is refused for a gas coin another thread had just used (the stand-in counts such refusals)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from haulout.deployment import Deployment
from tests.conftest import World

from .conftest import standin_world

THREADS = 8


@pytest.fixture
def sw(
    tmp_path: Path, standin_template: tuple[Path, Deployment], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    yield from standin_world(tmp_path, standin_template, monkeypatch)


def test_eight_threads_store_through_one_suichain_without_coin_conflicts(sw: World) -> None:
    from haulout.protocol import codec

    n_shards = sw.chain.system().n_shards
    blobs = [codec.encode(bytes([i]) * (100 + i), n_shards) for i in range(THREADS)]
    standin = sw.standin  # type: ignore[attr-defined]
    refused_before = standin.services.executor.stale_inputs

    def store(i: int) -> str:
        enc = blobs[i]
        paid = sw.chain.reserve_and_register_paid(
            sw.user, enc.blob_id, enc.metadata.root, 100 + i, 0, 2, False, {"n": str(i)}
        )
        return paid.blob.id

    with ThreadPoolExecutor(THREADS) as pool:
        ids = list(pool.map(store, range(THREADS)))
    assert len(set(ids)) == THREADS
    for i, oid in enumerate(ids):
        blob = sw.chain.get_blob(oid)
        assert blob.blob_id == blobs[i].blob_id and blob.attributes == {"n": str(i)}
    assert standin.services.executor.stale_inputs == refused_before
