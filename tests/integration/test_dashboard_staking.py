"""The dashboard's staking card in headless Chromium (issue #16, #17): after a scripted DevChain
history with fees, a stake, a node leaving and the epoch change that moves its shards, the card
shows each node's stake as the chain holds it, each member's reward per ended epoch as the chain
paid it, and the epoch change with exactly the nodes that reported their shards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from haulout.chain.events import EpochChangeDone, RewardsDistributed
from indexer.app import create_app
from indexer.db import make_engine, migrate
from indexer.queries import Queries
from indexer.runner import Runner
from tests.conftest import make_world
from tests.integration.cdp import Browser
from tests.integration.test_dashboard import CHROMIUM, HOUR, Server, pytestmark

__all__ = ["pytestmark"]

CARD = """(() => {
  const rows = (id) => [...document.querySelectorAll('#' + id + ' tr')]
    .map((r) => [...r.children].map((c) => c.textContent.trim()));
  return {stake: rows('stake-table'), reward: rows('reward-table'), change: rows('change-table')};
})()"""


def table(rows: list[list[str]]) -> list[dict[str, str]]:
    """A table's body rows as {header: cell}."""
    head, *body = rows
    return [dict(zip(head, r, strict=True)) for r in body]


def test_staking_card_shows_stake_rewards_per_epoch_and_who_reported(tmp_path: Path) -> None:
    w = make_world(tmp_path)  # four nodes, 10 shards (3, 3, 2, 2), each stakes 100 SUI
    chain, dep, clock = w.chain, w.deployment, w.clock
    assert clock is not None
    names = {n.node_id: n.name for n in dep.nodes}
    n0, n3 = dep.nodes[0], dep.nodes[3]
    chain.reserve_space(w.user, 10 << 20, 1)  # 10_000 MIST of fees in epoch 0
    clock.ms += 2 * HOUR
    chain.force_advance_epoch(dep.admin)  # epoch 0 ends: its fees go out by shards held
    chain.stake(w.user, n0.node_id, 50 * 10**9)
    chain.leave_committee(n3.account, n3.node_id)
    clock.ms += 2 * HOUR
    chain.force_advance_epoch(dep.admin)  # epoch 2 starts: node 3's shards move
    members = chain.system().require_committee().members
    reporters = [next(n for n in dep.nodes if n.node_id == m.node_id) for m in members][:2]
    for node in reporters:
        clock.ms += 60_000
        chain.shards_received(node.account, node.node_id, 2, [])
    events = [ce.event for ce in chain.events()]
    paid = {(e.epoch, e.node_id): e.reward for e in events if isinstance(e, RewardsDistributed)}
    done = any(isinstance(e, EpochChangeDone) and e.epoch == 2 for e in events)

    url = f"sqlite:///{tmp_path / 'idx.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    Runner(chain, engine).catch_up()
    api = Server(create_app(Queries(engine)))
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM, tmp_path / "b")
    try:
        browser.goto(api.url + "/#staking")
        browser.wait_for("document.querySelectorAll('#change-table tbody tr').length > 0")
        card: dict[str, Any] = browser.eval(CARD)
        out = Path(os.environ.get("HAULOUT_SCREENSHOTS") or tmp_path)
        out.mkdir(parents=True, exist_ok=True)
        browser.screenshot(out / "dashboard-staking-desktop.png", "#staking")
        browser.phone()
        browser.goto(api.url + "/#staking")
        browser.wait_for("document.querySelectorAll('#change-table tbody tr').length > 0")
        browser.screenshot(out / "dashboard-staking-phone.png", "#staking")
    finally:
        browser.close()
        api.stop()

    stake = {r["node"]: r for r in table(card["stake"])}
    for node in dep.nodes:
        pool = chain.system().pool_of(node.node_id).stake
        assert stake[node.name]["stake (SUI)"] == f"{pool / 1e9:.3f}", node.name
    assert stake[n0.name]["stake (SUI)"] == "150.000"
    assert stake[n3.name]["member"] == "no"

    rewards = {r["node"]: r for r in table(card["reward"])}
    epochs = sorted({e for e, _ in paid}, reverse=True)
    assert card["reward"][0] == ["node", *(f"epoch {e}" for e in epochs)]
    for (epoch, node_id), reward in paid.items():
        assert rewards[names[node_id]][f"epoch {epoch}"] == str(reward), (epoch, node_id)
    assert rewards[n0.name]["epoch 0"] == "3000" and rewards[n3.name]["epoch 0"] == "2000"

    [change] = table(card["change"])
    assert change["epoch"] == "2" and int(change["shards moved"]) > 0
    assert change["reported by"].split(", ") == [n.name for n in reporters]
    assert (change["done"] != "in progress") == done
