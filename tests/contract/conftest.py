"""The contract suite runs once per chain adapter: DevChain always, SuiChain when
HAULOUT_SUI_RPC points at a localnet (otherwise those runs are skipped, saying why)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from haulout.chain.accounts import Account
from tests.conftest import World, make_world

SUI_RPC = os.environ.get("HAULOUT_SUI_RPC", "")
NO_SUI = (
    "HAULOUT_SUI_RPC is not set: no Sui localnet here (the sui binary is in no registry); "
    "start one with `haulout localnet` and export HAULOUT_SUI_RPC=http://127.0.0.1:9000"
)


def sui_world(tmp: Path) -> World:
    """Publish and set up the package on the localnet, with a user funded by its faucet."""
    from haulout.chain.sui import SuiChain, localnet_faucet
    from haulout.deployment import DeployParams, deploy_sui

    dep = deploy_sui(SUI_RPC, DeployParams(n_nodes=4, n_shards=10))
    user = Account.generate()
    localnet_faucet(user.address)
    return World(SuiChain.from_deployment(dep), dep, user, None)


@pytest.fixture(
    params=["devchain", pytest.param("sui", marks=pytest.mark.skipif(not SUI_RPC, reason=NO_SUI))]
)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield make_world(tmp_path) if request.param == "devchain" else sui_world(tmp_path)
