"""Shared fixtures: a deployed DevChain with a manual clock, node keys and funded accounts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain
from haulout.chain.objects import BlobObject
from haulout.deployment import Deployment, deploy_devchain
from haulout.protocol import codec
from haulout.protocol.certificate import Certificate, aggregate
from haulout.protocol.committee import Committee
from haulout.protocol.messages import BlobCertification


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.ms = int(time.time() * 1000)

    def __call__(self) -> int:
        return self.ms


@dataclass
class World:
    """A deployed chain (DevChain, or SuiChain on a localnet): the chain, its deployment, a
    funded user, the committee. `clock` is None where the clock cannot be moved by hand."""

    chain: Any  # DevChain or SuiChain: both are ChainPorts, DevChain has extra test hooks
    deployment: Deployment
    user: Account
    clock: ManualClock | None

    @property
    def is_devchain(self) -> bool:
        return isinstance(self.chain, DevChain)

    def fund(self, address: str, amount: int | None = None) -> None:
        """Give an address SUI: DevChain's faucet, or the localnet faucet (fixed amount)."""
        if isinstance(self.chain, DevChain):
            self.chain.faucet(address, *([amount] if amount is not None else []))
        else:
            from haulout.chain.sui import localnet_faucet

            localnet_faucet(address)

    def devchain_only(self, why: str) -> None:
        """Skip on SuiChain, saying what the test needs that a real network does not offer."""
        if not self.is_devchain:
            pytest.skip(f"DevChain only: {why}")

    @property
    def committee(self) -> Committee:
        return self.chain.system().require_committee()


def make_world(tmp: Path, n_shards: int = 10, n_nodes: int = 4, **kw: int) -> World:
    """Deploy to a fresh ledger file."""
    ledger = tmp / "ledger.sqlite"
    dep = deploy_devchain(ledger, n_nodes=n_nodes, n_shards=n_shards, **kw)
    clock = ManualClock()
    chain = DevChain(ledger, clock=lambda: clock())
    user = Account.generate()
    chain.faucet(user.address)
    return World(chain, dep, user, clock)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield make_world(tmp_path)


def sign_certificate(
    world: World, blob: BlobObject, signers: list[int], epoch: int | None = None
) -> Certificate:
    """A certificate for `blob` signed by the committee members at `signers`."""
    epoch = world.chain.system().epoch if epoch is None else epoch
    body = BlobCertification(blob.blob_id, bytes.fromhex(blob.id[2:]) if blob.deletable else None)
    msg = body.message(epoch)
    keys = [n.bls for n in world.deployment.nodes]
    return aggregate(world.committee, msg, {p: keys[p].sign(msg) for p in signers})


def register(world: World, data: bytes, epochs: int = 3, deletable: bool = False) -> BlobObject:
    """Encode `data` and reserve+register it as the world's user."""
    enc = codec.encode(data, world.chain.system().n_shards)
    return world.chain.reserve_and_register(
        world.user, enc.blob_id, enc.metadata.root, len(data), 0, epochs, deletable
    )
