"""`python -m indexer`: migrate, then index the deployment's chain and serve the API."""

from __future__ import annotations

import gc
import sys
import threading

import uvicorn

from haulout import logs
from haulout.deployment import Deployment
from haulout.settings import IndexerSettings

from .app import create_app
from .bucket_paths import Limits, ManifestReader
from .db import make_engine, migrate
from .monitor import Monitor
from .queries import Queries
from .runner import Runner


def tune_gc() -> None:
    """Move start-up objects out of the collector's way and collect young objects less often:
    full collections over SQLAlchemy's and FastAPI's caches were the REST p99 tail."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def main(database_url: str | None = None, migrate_only: bool = False) -> int:
    """Run migrations at start-up, then the pipeline and the API."""
    settings = IndexerSettings()
    if database_url:
        settings = IndexerSettings(database_url=database_url)
    logs.setup(settings.log_level)
    migrate(settings.database_url)
    if migrate_only:
        print(f"migrated {settings.database_url} to head")
        return 0
    engine = make_engine(settings.database_url)
    chain = Deployment.load(settings.deployment).chain_port()
    runner = Runner(chain, engine, settings.batch_size)
    threading.Thread(target=runner.follow, args=(settings.poll_interval,), daemon=True).start()
    queries = Queries(engine)
    relayers = [r.strip() for r in settings.relayers.split(",") if r.strip()]
    monitor = Monitor(chain, engine, queries, relayers, settings.node_timeout)
    stop_monitor = threading.Event()
    threading.Thread(
        target=monitor.run, args=(settings.monitor_interval, stop_monitor), daemon=True
    ).start()
    paths = ManifestReader(
        engine,
        relayers,
        Limits(
            settings.manifest_max_bytes,
            settings.manifest_max_paths,
            settings.manifest_timeout,
            settings.manifest_retry,
        ),
    )
    threading.Thread(
        target=paths.run, args=(settings.manifest_interval, stop_monitor), daemon=True
    ).start()
    download = settings.download_relayer_url or (relayers[0] if relayers else "")
    app = create_app(queries, runner.stats, monitor, download)
    tune_gc()
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    stop_monitor.set()
    runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
