"""Joining and leaving the committee, and staking, for an operator of a local deployment
(`haulout node join|leave`, `haulout stake|unstake|withdraw`).

A node joins by registering itself (`register_candidate`: its own account, a proof of
possession of its BLS key bound to that account) and staking to its pool; the next epoch
change gives it shards in proportion to stake (D'Hondt). A node leaves with
`leave_committee` from its own account: the next change gives its shards to others, and it
serves them until their new owners report them received. Stake is anyone's: a receipt
(`StakedSui`) per stake, withdrawn in two steps (request, then from the next epoch pay out
principal and rewards).
"""

from __future__ import annotations

from pathlib import Path

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain
from haulout.chain.objects import StakedView
from haulout.deployment import NODE_STAKE, Deployment, NodeConfig
from haulout.protocol.bls import BlsKeyPair
from haulout.protocol.errors import ProtocolError
from haulout.protocol.messages import proof_of_possession


class MembershipError(ProtocolError):
    """The operator asked for something the deployment cannot do; the message says what."""


def find_node(dep: Deployment, name_or_id: str) -> NodeConfig:
    """A node of the deployment by name (`node-3`), index (`3`) or node id (`0x…`)."""
    for i, n in enumerate(dep.nodes):
        if name_or_id in (n.name, n.node_id, str(i)):
            return n
    names = ", ".join(n.name for n in dep.nodes)
    raise MembershipError(f"no node {name_or_id!r} in this deployment; it has {names}")


def join(
    deployment_path: str | Path,
    url: str,
    name: str | None = None,
    stake: int = NODE_STAKE,
) -> NodeConfig:
    """Create a node identity, register it on chain from its own account, stake `stake`
    MIST to it, and add it to the deployment file (so `haulout node --index N` runs it).
    It gets shards at the next epoch change."""
    dep = Deployment.load(deployment_path)
    chain = dep.chain_port()
    name = name or f"node-{len(dep.nodes)}"
    if any(n.name == name or n.url == url for n in dep.nodes):
        raise MembershipError(f"a node named {name} or at {url} is in the deployment already")
    key, account = BlsKeyPair.generate(), Account.generate()
    if isinstance(chain, DevChain):
        chain.faucet(account.address)
    epoch = chain.system().epoch
    pop = key.sign(proof_of_possession(epoch, key.public_key, bytes.fromhex(account.address[2:])))
    node_id = chain.register_candidate(account, name, url, key.public_key, pop)
    if stake:
        chain.stake(account, node_id, stake)
    node = NodeConfig(name, url, key.secret.hex(), account.seed.hex(), node_id)
    dep.nodes.append(node)
    dep.save(deployment_path)
    return node


def leave(deployment_path: str | Path, name_or_id: str) -> NodeConfig:
    """The node's own account withdraws it from the committee from the next epoch change."""
    dep = Deployment.load(deployment_path)
    node = find_node(dep, name_or_id)
    dep.chain_port().leave_committee(node.account, node.node_id)
    return node


def staker(dep: Deployment, seed: str | None) -> Account:
    """The account that stakes: the given seed, or the deployment's admin (local use)."""
    return Account.from_hex(seed) if seed else dep.admin


def stake(dep: Deployment, node: str, amount: int, seed: str | None = None) -> StakedView:
    """Stake `amount` MIST to a node's pool; returns the receipt."""
    if amount <= 0:
        raise MembershipError("stake a positive amount of MIST")
    target = find_node(dep, node).node_id if not node.startswith("0x") else node
    return dep.chain_port().stake(staker(dep, seed), target, amount)


def unstake(dep: Deployment, staked_id: str, seed: str | None = None) -> StakedView:
    """Request the withdrawal of a stake (it stops counting for the next committee)."""
    return dep.chain_port().request_withdraw_stake(staker(dep, seed), staked_id)


def withdraw(dep: Deployment, staked_id: str, seed: str | None = None) -> int:
    """Pay out a stake whose withdrawal was requested in an earlier epoch."""
    return dep.chain_port().withdraw_stake(staker(dep, seed), staked_id)
