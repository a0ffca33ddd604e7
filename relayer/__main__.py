"""`python -m relayer`: run the relayer for a deployment."""

from __future__ import annotations

import sys
import threading
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
import httpx
import uvicorn

from haulout import logs
from haulout.deployment import Deployment
from haulout.http11 import Http11Pool
from haulout.memory import tune_malloc
from haulout.protocol import leopard_lane
from haulout.protocol.params import ENCODING_RS16
from haulout.protocol.upload_relay import TipConfig
from haulout.settings import RelayerSettings

from .app import create_app
from .auth import JwtAuth
from .controller import StoreController
from .index import BlobIndex
from .limits import EncodeMemory, UploadSlots, sweep_spool
from .reader import BlobReader
from .upload_relay import UploadRelay
from .verdicts import ConsistencyVerdicts


def build(settings: RelayerSettings) -> tuple[object, BlobIndex]:
    """Wire the relayer from settings (ports built here, in the entry point)."""
    dep = Deployment.load(settings.deployment)
    chain = dep.chain_port()
    index = BlobIndex(chain, dep.relayer.address)
    index.catch_up()
    sweep_spool(Path(settings.spool_dir))  # what a killed relayer left behind
    verdicts = ConsistencyVerdicts(Path(settings.state_dir) / "consistency.sqlite")
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
    timeout = httpx.Timeout(settings.node_timeout, connect=3.0)
    # New uploads' encoding: HAULOUT_RELAYER_ENCODING_TYPE or the deployment file's; a type
    # the System cannot hold (type 0 above 256 shards) stops the start with InvalidParameters.
    encoding_type = dep.write_encoding(chain.system().n_shards, settings.encoding_type)
    # One connection pool per node: httpcore scans every pooled connection on each request,
    # so one shared pool costs the relayer CPU in proportion to nodes x connections.
    per_node = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    mounts = {
        f"all://{httpx.URL(n.url).netloc.decode()}": httpx.AsyncHTTPTransport(limits=per_node)
        for n in dep.nodes
    }
    http = httpx.AsyncClient(limits=limits, timeout=timeout, mounts=mounts)
    # the store path's calls to nodes: lean keep-alive connections, 16 per node (see http11)
    wire = Http11Pool(settings.node_timeout, connect_timeout=3.0, per_host=16)
    controller = StoreController(
        chain,
        dep.relayer,
        index,
        http,
        Path(settings.spool_dir),
        settings.max_blob_size,
        verdicts,
        settings.node_retries,
        settings.uploads_per_node,
        settings.memory_limit,
        encoding_type,
        EncodeMemory(settings.encode_memory),
        wire,
    )
    reader = BlobReader(
        chain,
        index,
        http,
        settings.read_cache_bytes,
        verdicts,
        memory_limit=settings.memory_limit,
        spool_dir=Path(settings.spool_dir),
    )
    tip = TipConfig.parse_setting(
        settings.upload_relay_tip, settings.upload_relay_tip_address or dep.relayer.address
    )
    relay = UploadRelay(
        chain,
        controller,
        tip,
        settings.upload_relay_tx_freshness,
        settings.upload_relay_tx_max_future,
    )
    jwt = None
    if (
        settings.jwt_decode_secret
        or settings.jwt_enabled
        or settings.jwt_expiring_sec > 0
        or settings.jwt_verify_upload
    ):  # as Walrus: any JWT setting turns JWT on
        jwt = JwtAuth(
            settings.jwt_decode_secret,
            settings.jwt_algorithm,
            settings.jwt_expiring_sec,
            settings.jwt_verify_upload,
            settings.jwt_replay_capacity,
            settings.default_epochs,
        )
    app = create_app(
        chain,
        controller,
        reader,
        settings.auth_token,
        settings.default_epochs,
        UploadSlots(settings.max_concurrent_uploads, encoding=settings.max_encoding_uploads),
        settings.body_timeout,
        relay=relay,
        jwt=jwt,
        min_body_rate=(settings.min_body_rate, settings.body_rate_window),
        max_tree_members=settings.max_tree_members,
    )
    if controller.encoding_type == ENCODING_RS16:
        leopard_lane.POOL.warm()  # type 1's second core, ready before the first upload

    @asynccontextmanager
    async def lifespan(_app: object):  # type: ignore[no-untyped-def]
        # each upload being encoded may hold one worker thread: they get their own,
        # on top of the 40 every other request shares, so uploads cannot starve reads
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = 40 + min(
            settings.max_encoding_uploads, settings.max_concurrent_uploads
        )
        yield
        await controller.drain()  # uploads still finishing on the slower nodes
        await http.aclose()
        wire.close()

    app.router.lifespan_context = lifespan
    return app, index


def main() -> int:
    """Serve the relayer until interrupted."""
    tune_malloc()  # before any thread starts
    settings = RelayerSettings()
    logs.setup(settings.log_level)
    app, index = build(settings)
    threading.Thread(target=index.follow, args=(settings.poll_interval,), daemon=True).start()
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)  # type: ignore[arg-type]
    index.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
