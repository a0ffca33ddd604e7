"""`haulout node join|leave`, `haulout stake|unstake|withdraw`: an operator's and a staker's
commands for the epoch change (see `haulout.membership`). Registered into `haulout.cli`."""

from __future__ import annotations

import argparse
import os

from haulout.cli import command
from haulout.settings import DEFAULT_DEPLOYMENT


def _deployment() -> str:
    return os.environ.get("HAULOUT_DEPLOYMENT", DEFAULT_DEPLOYMENT)


def node_membership(a: argparse.Namespace) -> int:
    """`haulout node join --url URL [--name N] [--stake MIST]` / `haulout node leave NODE`."""
    from haulout import membership

    if a.action == "join":
        if not a.url:
            raise membership.MembershipError(
                "say where the new node listens: --url http://host:port"
            )
        node = membership.join(a.deployment or _deployment(), a.url, a.name, a.stake)
        index = len(membership.Deployment.load(a.deployment or _deployment()).nodes) - 1
        print(f"node id: {node.node_id}")
        print(
            f"joined as {node.name}; start it with `haulout node --index {index}`; it gets shards at the next epoch change"
        )
        return 0
    if not a.node:
        raise membership.MembershipError("say which node leaves: haulout node leave node-3")
    node = membership.leave(a.deployment or _deployment(), a.node)
    print(
        f"{node.name} leaves at the next epoch change; keep it running until its shards are received"
    )
    return 0


def _stake_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("node", help="node name (node-2), index or node id")
    p.add_argument("amount", type=int, help="MIST to stake")
    p.add_argument("--seed", default=None, help="staker account seed (hex); default: the admin")


@command("stake", "stake MIST to a node's pool (stake decides who holds which shards)", _stake_args)
def cmd_stake(a: argparse.Namespace) -> int:
    """Print the receipt id."""
    from haulout import membership

    dep = membership.Deployment.load(_deployment())
    receipt = membership.stake(dep, a.node, a.amount, a.seed)
    print(f"staked id: {receipt.id}")
    print(f"{a.amount} MIST to {receipt.node_id} ({receipt.shares} shares)")
    return 0


def _receipt_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("staked_id", help="the stake receipt's object id")
    p.add_argument("--seed", default=None, help="staker account seed (hex); default: the admin")


@command("unstake", "request the withdrawal of a stake (paid from the next epoch)", _receipt_args)
def cmd_unstake(a: argparse.Namespace) -> int:
    """Print what the stake will pay and from which epoch."""
    from haulout import membership

    view = membership.unstake(membership.Deployment.load(_deployment()), a.staked_id, a.seed)
    print(f"{view.withdraw_amount} MIST withdrawable from epoch {view.withdraw_epoch}")
    return 0


@command("withdraw", "pay out a stake whose withdrawal was requested", _receipt_args)
def cmd_withdraw(a: argparse.Namespace) -> int:
    """Print the MIST paid (principal and rewards)."""
    from haulout import membership

    paid = membership.withdraw(membership.Deployment.load(_deployment()), a.staked_id, a.seed)
    print(f"withdrew {paid} MIST")
    return 0
