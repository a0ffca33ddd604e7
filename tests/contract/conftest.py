"""The contract suite runs once per chain adapter: DevChain; SuiChain through the Sui
full-node stand-in (haulout/chain/standin: Sui's gRPC protocol over DevChain's state
machine); and SuiChain on a real node when HAULOUT_SUI_RPC points at a localnet (otherwise
those runs are skipped, saying why)."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from haulout.chain.accounts import Account
from haulout.deployment import Deployment
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


@pytest.fixture(scope="session")
def standin_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Deployment]:
    """One deployment through SuiChain to the stand-in per session; each test starts its own
    stand-in on a copy of that ledger (a fresh System in well under a second)."""
    from haulout import move_tools
    from haulout.chain.standin import StandIn
    from haulout.deployment import DeployParams, deploy_sui

    try:
        move_tools.built_package()
    except move_tools.MoveToolchainMissing as exc:
        pytest.skip(f"the stand-in needs the package's bytecode to publish: {exc}")
    tmp = tmp_path_factory.mktemp("standin")
    standin = StandIn(tmp / "ledger.sqlite").start()
    os.environ["HAULOUT_SUI_FAUCET_URL"] = standin.faucet_url
    try:
        dep = deploy_sui(standin.url, DeployParams(n_nodes=4, n_shards=10))
    finally:
        os.environ.pop("HAULOUT_SUI_FAUCET_URL", None)
        standin.stop()
    return tmp / "ledger.sqlite", dep


def standin_world(
    tmp: Path, template: tuple[Path, Deployment], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    """SuiChain through a stand-in on a copy of the session's deployed ledger."""
    from haulout.chain.standin import StandIn
    from haulout.chain.sui import SuiChain, localnet_faucet

    source, dep = template
    ledger = tmp / "standin.sqlite"
    with sqlite3.connect(source) as src, sqlite3.connect(ledger) as dst:
        src.backup(dst)
    standin = StandIn(ledger).start()
    monkeypatch.setenv("HAULOUT_SUI_FAUCET_URL", standin.faucet_url)
    dep = dataclasses.replace(dep, rpc_url=standin.url)
    user = Account.generate()
    localnet_faucet(user.address)
    world = World(SuiChain.from_deployment(dep), dep, user, None)
    with world.chain.backend.gas.lend(user):  # split the user's coin for the gas pool now, so
        pass  # no test sees that one-time transaction in the balance it checks
    world.standin = standin  # type: ignore[attr-defined]  # its counters, for tests
    try:
        yield world
    finally:
        world.chain.close()
        standin.stop()


@pytest.fixture(
    params=[
        "devchain",
        "sui-standin",
        pytest.param("sui", marks=pytest.mark.skipif(not SUI_RPC, reason=NO_SUI)),
    ]
)
def world(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    if request.param == "devchain":
        yield make_world(tmp_path)
    elif request.param == "sui-standin":
        yield from standin_world(tmp_path, request.getfixturevalue("standin_template"), monkeypatch)
    else:
        yield sui_world(tmp_path)
