"""`python -m storage_node`: run storage node `HAULOUT_NODE_INDEX` of a deployment."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import uvicorn

from haulout import logs
from haulout.deployment import Deployment
from haulout.logs import event
from haulout.memory import tune_malloc
from haulout.settings import NodeSettings

from . import handover
from .app import create_app
from .epoch_change import EpochReporter
from .recovery import Recovery
from .registry import Registry
from .service import NodeService
from .shard_sync import ShardSync
from .store import SliverStore

log = logging.getLogger("haulout.node")


def main(argv: list[str] | None = None) -> int:
    """Build the node from settings and serve it until interrupted."""
    tune_malloc()  # before any thread starts
    settings = NodeSettings()
    if argv:
        settings = NodeSettings(index=int(argv[0]))
    logs.setup(settings.log_level)
    dep = Deployment.load(settings.deployment)
    node = dep.nodes[settings.index]
    data_dir = Path(settings.data_dir or Path(settings.deployment).parent / "nodes" / node.name)
    store = SliverStore(data_dir / "slivers", direct_writes=settings.direct_writes)
    if store.discarded:
        event(log, "discarded unfinished writes", files=store.discarded)
    if store.replayed:
        event(log, "replayed journaled uploads", records=store.replayed)
    service = NodeService(
        dep.chain_port(),
        store,
        Registry(data_dir / "registry.sqlite"),
        node.bls,
        node.node_id,
        settings.confirmation_wait,
        max_waiters=settings.max_waiters,
        metadata_wait=settings.metadata_wait,
    )
    follower = threading.Thread(target=service.follow, args=(settings.poll_interval,), daemon=True)
    follower.start()
    threading.Thread(target=service.collect, daemon=True).start()
    recovery = Recovery(
        service,
        grace=settings.recovery_grace,
        grace_max=settings.recovery_grace_max,
        max_blob_size=settings.recovery_max_blob_size,
        workdir=data_dir / "recovering",
        backoff=settings.recovery_backoff,
    )
    stop_recovery = threading.Event()
    threading.Thread(target=store.run_checkpoints, args=(stop_recovery,), daemon=True).start()
    threading.Thread(
        target=recovery.run, args=(settings.recovery_interval, stop_recovery), daemon=True
    ).start()
    threading.Thread(
        target=handover.run,
        args=(
            ShardSync(service, recovery),
            handover.Handover(service),
            settings.recovery_interval,
            stop_recovery,
            EpochReporter(service, node.account),
        ),
        daemon=True,
    ).start()
    uvicorn.run(
        create_app(service),
        host=settings.host,
        port=settings.port or node.port,
        log_config=None,
        access_log=False,
    )
    stop_recovery.set()
    service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
