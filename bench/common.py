"""What the benches share: a local system on free ports (4 nodes, n=100, no indexer)."""

from __future__ import annotations

from pathlib import Path

from haulout.launcher import LocalSystem, free_port, free_port_block


def start_local_system(
    workdir: Path,
    relayer_env: dict[str, str],
    n_nodes: int = 4,
    n_shards: int = 100,
    pin_cpus: bool = False,
) -> LocalSystem:
    """Deploy and start relayer + storage nodes (4 nodes, 100 shards unless told); the read
    cache is off so reads are measured, not cached. `pin_cpus`: each service on one CPU
    (`haulout.cpu_pinning`)."""
    system = LocalSystem(
        workdir,
        n_nodes=n_nodes,
        n_shards=n_shards,
        node_base_port=free_port_block(n_nodes),
        relayer_port=free_port(),
        with_indexer=False,
        relayer_env={"HAULOUT_RELAYER_READ_CACHE_BYTES": "0", **relayer_env},
        pin_cpus=pin_cpus,
    )
    system.start(fresh=True)
    return system
