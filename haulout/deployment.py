"""Deployments: what `haulout deploy` creates and every service reads (`.haulout/deployment.json`).

The file holds account and node keys for a local system, so it is written with mode 0600, and
the encoding type new uploads use (`encoding_type`; services may override it, e.g.
`HAULOUT_RELAYER_ENCODING_TYPE`, through `write_encoding`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain
from haulout.chain.errors import NotDeployed
from haulout.chain.port import ChainPort
from haulout.protocol.bls import BlsKeyPair
from haulout.protocol.committee import even_shards
from haulout.protocol.messages import proof_of_possession
from haulout.protocol.params import DEFAULT_ENCODING, ENCODING_RS, check_shards

LEGACY_ENCODING = ENCODING_RS
"""Encoding of deployment files written before the field existed: they wrote type 0."""


@dataclass
class NodeConfig:
    """One storage node of a local deployment."""

    name: str
    url: str
    bls_secret: str
    account_seed: str
    node_id: str = ""

    @property
    def port(self) -> int:
        """TCP port of its HTTP API."""
        return int(self.url.rsplit(":", 1)[1])

    @property
    def bls(self) -> BlsKeyPair:
        """The node's BLS key pair."""
        return BlsKeyPair.from_secret(bytes.fromhex(self.bls_secret))

    @property
    def account(self) -> Account:
        """The node's Sui account."""
        return Account.from_hex(self.account_seed)


@dataclass
class Deployment:
    """Where the contracts live and the keys of the local parts."""

    chain: str
    ledger: str
    system_id: str
    admin_cap_id: str
    admin_seed: str
    relayer_seed: str
    rpc_url: str = ""
    package_id: str = ""
    nodes: list[NodeConfig] = field(default_factory=list)
    encoding_type: int = DEFAULT_ENCODING
    """Encoding type of new uploads (0: RS GF(2^8), at most 256 shards; 1: RS GF(2^16))."""

    @property
    def admin(self) -> Account:
        """The deployer, owner of the AdminCap."""
        return Account.from_hex(self.admin_seed)

    @property
    def relayer(self) -> Account:
        """The relayer's account (pays for uploads it publishes)."""
        return Account.from_hex(self.relayer_seed)

    def save(self, path: str | Path) -> None:
        """Write the file readable by its owner only."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(self), fh, indent=1)
        os.replace(tmp, p)

    @classmethod
    def load(cls, path: str | Path) -> Deployment:
        """Read a deployment file; says how to create one when it is missing."""
        p = Path(path)
        if not p.exists():
            raise NotDeployed(f"no deployment at {p}; run `haulout deploy` (or `haulout up`) first")
        raw = json.loads(p.read_text())
        raw["nodes"] = [NodeConfig(**n) for n in raw.get("nodes", [])]
        raw.setdefault("encoding_type", LEGACY_ENCODING)
        return cls(**raw)

    def write_encoding(self, n_shards: int, override: int | None = None) -> int:
        """The encoding type new uploads use: `override` (a service's `…_ENCODING_TYPE`
        setting) or the deployment's. Raises `InvalidParameters` when the type is unknown or
        does not fit the System's `n_shards` (type 0 above 256 shards), so a service refuses
        to start rather than fail every upload."""
        encoding_type = self.encoding_type if override is None else override
        check_shards(n_shards, encoding_type)
        return encoding_type

    def chain_port(self) -> ChainPort:
        """The chain adapter this deployment names."""
        if self.chain == "devchain":
            return DevChain(self.ledger)
        from haulout.chain.sui import SuiChain

        return SuiChain.from_deployment(self)


class Deployable(Protocol):
    """A chain `deploy` can set up: the port's admin calls, funding, and what the deployment
    record keeps of it (DevChain and SuiChain)."""

    def fund(self, address: str, amount: int | None = None) -> None:
        """Give an address SUI."""
        ...

    def publish(self, admin: Account) -> str:
        """Publish the package; the AdminCap's id."""
        ...

    def create_system(
        self,
        admin: Account,
        n_shards: int,
        epoch_duration_ms: int,
        storage_price: int,
        write_price: int,
        total_capacity: int,
        max_epochs_ahead: int,
    ) -> str:
        """Create and share the System; its id."""
        ...

    def register_node(
        self, admin: Account, name: str, url: str, public_key: bytes, pop: bytes, node_address: str
    ) -> str:
        """Register a storage node; its id."""
        ...

    def set_committee(
        self, admin: Account, node_ids: Sequence[str], shards: Sequence[Sequence[int]]
    ) -> None:
        """Set the committee."""
        ...

    def deployment_fields(self) -> dict[str, str]:
        """`chain`, `ledger` and, on Sui, `rpc_url` and `package_id`."""
        ...


@dataclass(frozen=True)
class DeployParams:
    """What a new deployment is made of (the `haulout deploy` options)."""

    n_nodes: int = 4
    n_shards: int = 100
    base_port: int = 9300
    host: str = "127.0.0.1"
    epoch_duration_ms: int = 3_600_000
    storage_price: int = 1_000
    write_price: int = 2_000
    total_capacity: int = 1 << 40
    max_epochs_ahead: int = 53
    encoding_type: int = DEFAULT_ENCODING
    relayer_funds: int = 1_000_000 * 10**9
    """MIST the relayer's account gets (DevChain; a localnet faucet gives a fixed amount)."""


def deploy(chain: Deployable, params: DeployParams = DeployParams()) -> Deployment:
    """Set up Haulout on `chain`, whichever it is: fund a new admin and relayer, publish the
    package, create the System, register the nodes with proofs of possession of their BLS
    keys, and set the committee (shards spread evenly). Refuses (`InvalidParameters`, before
    touching the chain) an `encoding_type` that cannot encode over `n_shards`."""
    p = params
    check_shards(p.n_shards, p.encoding_type)
    admin, relayer = Account.generate(), Account.generate()
    chain.fund(admin.address)
    chain.fund(relayer.address, p.relayer_funds)
    cap = chain.publish(admin)
    system_id = chain.create_system(
        admin,
        p.n_shards,
        p.epoch_duration_ms,
        p.storage_price,
        p.write_price,
        p.total_capacity,
        p.max_epochs_ahead,
    )
    nodes = []
    for i in range(p.n_nodes):
        key, account = BlsKeyPair.generate(), Account.generate()
        pop = key.sign(proof_of_possession(0, key.public_key, bytes.fromhex(account.address[2:])))
        url = f"http://{p.host}:{p.base_port + i}"
        node_id = chain.register_node(admin, f"node-{i}", url, key.public_key, pop, account.address)
        nodes.append(NodeConfig(f"node-{i}", url, key.secret.hex(), account.seed.hex(), node_id))
    chain.set_committee(admin, [n.node_id for n in nodes], even_shards(p.n_shards, p.n_nodes))
    fields = chain.deployment_fields()
    return Deployment(
        fields["chain"],
        fields["ledger"],
        system_id,
        cap,
        admin.seed.hex(),
        relayer.seed.hex(),
        fields.get("rpc_url", ""),
        fields.get("package_id", ""),
        nodes=nodes,
        encoding_type=p.encoding_type,
    )


def deploy_devchain(
    ledger: str | Path,
    n_nodes: int = 4,
    n_shards: int = 100,
    base_port: int = 9300,
    epoch_duration_ms: int = 3_600_000,
    storage_price: int = 1_000,
    write_price: int = 2_000,
    total_capacity: int = 1 << 40,
    max_epochs_ahead: int = 53,
    host: str = "127.0.0.1",
    encoding_type: int = DEFAULT_ENCODING,
) -> Deployment:
    """`deploy` to a fresh DevChain file."""
    params = DeployParams(
        n_nodes=n_nodes,
        n_shards=n_shards,
        base_port=base_port,
        host=host,
        epoch_duration_ms=epoch_duration_ms,
        storage_price=storage_price,
        write_price=write_price,
        total_capacity=total_capacity,
        max_epochs_ahead=max_epochs_ahead,
        encoding_type=encoding_type,
    )
    check_shards(n_shards, encoding_type)  # before the ledger file is created
    return deploy(DevChain(ledger), params)


def deploy_sui(rpc_url: str, params: DeployParams = DeployParams()) -> Deployment:
    """`deploy` to the Sui network at `rpc_url` (the Move package is built first; accounts
    are funded by the localnet faucet)."""
    from haulout.chain.sui import SuiChain

    check_shards(params.n_shards, params.encoding_type)
    chain = SuiChain(rpc_url)
    try:
        return deploy(chain, params)
    finally:
        chain.close()
