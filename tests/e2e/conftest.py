"""A real local system (DevChain + 4 node processes + relayer [+ indexer]) per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from haulout.chain.devchain import DevChain
from haulout.client import HauloutClient
from haulout.deployment import Deployment
from haulout.launcher import LocalSystem, free_port, free_port_block

MAX_BLOB = 70 << 20


def start_system(
    tmp: Path,
    with_indexer: bool = False,
    n_shards: int = 10,
    relayer_env: dict[str, str] | None = None,
) -> LocalSystem:
    """Start a fresh system on free ports (`relayer_env`: more relayer settings)."""
    s = LocalSystem(
        tmp,
        n_nodes=4,
        n_shards=n_shards,
        node_base_port=free_port_block(4),
        relayer_port=free_port(),
        indexer_port=free_port(),
        with_indexer=with_indexer,
        relayer_env={
            "HAULOUT_RELAYER_MAX_BLOB_SIZE": str(MAX_BLOB),
            "HAULOUT_RELAYER_NODE_TIMEOUT": "10",
            **(relayer_env or {}),
        },
    )
    s.start(fresh=True)
    return s


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    s = start_system(tmp_path_factory.mktemp("haulout"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(system: LocalSystem) -> Iterator[HauloutClient]:
    with HauloutClient(system.relayer_url) as c:
        yield c


@pytest.fixture(scope="module")
def deployment(system: LocalSystem) -> Deployment:
    return Deployment.load(system.deployment_path)


@pytest.fixture(scope="module")
def chain(deployment: Deployment) -> DevChain:
    return DevChain(deployment.ledger)
