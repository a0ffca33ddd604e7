"""The indexer's REST API, dashboard, health and metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, Response
from fastapi.responses import JSONResponse as StarletteJSONResponse
from starlette.concurrency import run_in_threadpool

from haulout.http_errors import install_error_handlers
from haulout.metrics import install_metrics
from haulout.protocol.blob_id import BlobId, format_object_id, parse_object_id

from . import staking
from .buckets import BucketQueries, install_bucket_routes
from .committed import CommittedCache
from .monitor import Monitor, MonitorStats
from .offload import lookup_runner
from .queries import BlobFilter, Queries
from .runner import RunnerStats


class JSONResponse(StarletteJSONResponse):
    """JSON as UTF-8; falls back to ASCII escapes when a string holds a lone surrogate (chain
    data may: a JSON event can carry `\\ud800`), which UTF-8 cannot encode."""

    def render(self, content: Any) -> bytes:
        """UTF-8 JSON, or ASCII-escaped JSON when UTF-8 cannot hold the text."""
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, allow_nan=False, separators=(",", ":")).encode()


log = logging.getLogger("haulout.indexer")
DASHBOARD = Path(__file__).parent / "static" / "dashboard.html"
I64 = 2**63 - 1
FAILING_AFTER = 3
"""Consecutive failed attempts at a batch after which /healthz says `degraded`."""


def create_app(
    queries: Queries,
    stats: RunnerStats | None = None,
    monitor: Monitor | None = None,
    download_url: str = "",
) -> FastAPI:
    """Build the API over a `Queries` object.

    Lookups are indexed and take a few milliseconds; every route runs them where
    `offload.lookup_runner` says (on the loop for SQLite, in a worker thread for PostgreSQL).
    The answers only the pipeline's commits change (staking, epochs, the node registry) are
    kept per committed cursor (`committed`).
    The stats aggregation always runs in a thread, started at startup
    and recomputed in the background (no request waits for it but those before the first). `monitor` supplies node health (polled in the background);
    `download_url` is the relayer the explorer's download links go through."""
    app = FastAPI(title="Haulout indexer", version="1")
    install_error_handlers(app)
    runner_stats = stats or RunnerStats()
    install_metrics(app, "indexer", runner_stats, monitor.stats if monitor else MonitorStats())
    download_url = download_url.rstrip("/")
    install_bucket_routes(app, BucketQueries(queries.engine), download_url)
    committed = CommittedCache(queries.engine)
    app.include_router(staking.router(queries.engine, committed))
    run = lookup_runner(queries.engine)

    def epochs_json() -> bytes:
        return bytes(JSONResponse({"epochs": queries.epochs()}).body)

    def with_links(blob: dict[str, Any]) -> dict[str, Any]:
        blob["downloadUrl"] = (
            f"{download_url}/v1/blobs/{blob['blobId']}"
            if download_url and blob["status"] == "certified"
            else None
        )
        return blob

    @app.get("/v1/blobs")
    async def list_blobs(
        owner: str | None = Query(None, max_length=66, pattern=r"^0x[0-9a-fA-F]{1,64}$"),
        status: str | None = Query(None, max_length=16),
        deletable: bool | None = None,
        expiring_before: int | None = Query(None, ge=0, le=2**32),
        content_type: str | None = Query(None, max_length=255),
        min_size: int | None = Query(None, ge=0, le=I64),
        max_size: int | None = Query(None, ge=0, le=I64),
        limit: int = Query(50, ge=1, le=500),
        cursor: str | None = Query(None, max_length=200),
    ) -> JSONResponse:
        f = BlobFilter(
            format_object_id(parse_object_id(owner)) if owner else None,
            status,
            deletable,
            expiring_before,
            content_type,
            min_size,
            max_size,
        )
        return JSONResponse(await run(queries.list_blobs, f, limit, cursor))

    @app.get("/v1/blobs/by-object-id/{object_id}")
    async def by_object(object_id: str) -> JSONResponse:
        oid = format_object_id(parse_object_id(object_id))
        return JSONResponse(await run(lambda: with_links(queries.by_object(oid))))

    @app.get("/v1/blobs/by-object-id/{object_id}/events")
    async def object_events(object_id: str) -> JSONResponse:
        oid = format_object_id(parse_object_id(object_id))
        return JSONResponse({"events": await run(queries.object_events, oid)})

    @app.get("/v1/search")
    async def search(q: str = Query(..., min_length=1, max_length=2048)) -> JSONResponse:
        return JSONResponse(await run(queries.search, q))

    @app.get("/v1/blobs/{blob_id}")
    async def by_blob(blob_id: str) -> JSONResponse:
        bid = str(BlobId.parse(blob_id))
        return JSONResponse(await run(queries.by_blob_id, bid))

    @app.get("/v1/events")
    async def events(
        after: int = Query(0, ge=0, le=I64),
        limit: int = Query(100, ge=1, le=1000),
        type: str | None = Query(None, max_length=40),
    ) -> JSONResponse:
        return JSONResponse(await run(queries.events, after, limit, type))

    @app.get("/v1/epochs")
    async def epochs() -> Response:
        """Every epoch's start (one rendering per commit: only the pipeline writes them)."""
        body = await run(committed.get, "epochs", epochs_json)
        return Response(body, media_type="application/json")

    @app.get("/v1/nodes")
    async def nodes() -> JSONResponse:
        """Registered nodes with their committee position, shards and health as last polled
        (`state`: up, lagging, down, unknown before the first poll, or not in committee)."""
        health = {n["nodeId"]: n for n in (monitor.nodes() if monitor else [])}
        out = []
        for node in await run(committed.get, "nodes", queries.nodes):
            seen = health.get(node["nodeId"])
            state = "unknown" if node["committeePosition"] is not None else "not in committee"
            extra = {k: v for k, v in (seen or {}).items() if k not in node}
            out.append({**node, "state": state, **extra})
        return JSONResponse({"nodes": out, "epoch": monitor.epoch if monitor else None})

    refreshing = threading.Lock()

    def refresh_stats() -> None:
        try:
            queries.stats()
        except Exception:
            log.exception("stats refresh failed; the previous stats are served meanwhile")
        finally:
            refreshing.release()

    first_stats = asyncio.Lock()

    async def computed_stats() -> dict[str, Any]:
        """The stats, computed once by one thread however many requests wait for them."""
        async with first_stats:
            if queries.last_stats is None:
                await run_in_threadpool(queries.stats)
        assert queries.last_stats is not None
        return queries.last_stats

    @app.get("/v1/stats")
    async def stats_() -> Response:
        """Fresh stats when cached; else the previous ones while one background thread
        computes new ones (no request waits for the aggregation but those before the first,
        which starts with the service)."""
        fresh = queries.young_stats()
        if fresh is None:
            fresh = await run(queries.cached_stats)
        if fresh is not None:
            return stats_response(fresh)
        if queries.last_stats is None:
            return stats_response(await computed_stats())
        if refreshing.acquire(blocking=False):
            threading.Thread(target=refresh_stats, daemon=True).start()
        return stats_response(queries.last_stats)

    rendered: list[Any] = [None, b""]

    def stats_response(stats: dict[str, Any]) -> Response:
        """The stats as JSON, rendered once per computation (they are a few hundred points)."""
        if rendered[0] is not stats:
            rendered[1] = bytes(JSONResponse(stats).body)
            rendered[0] = stats
        return Response(rendered[1], media_type="application/json")

    warming: set[asyncio.Task[dict[str, Any]]] = set()

    @app.on_event("startup")
    async def warm_stats() -> None:
        task = asyncio.create_task(computed_stats())
        warming.add(task)
        task.add_done_callback(warming.discard)

    page = DASHBOARD.read_text()

    @app.get("/", response_class=HTMLResponse)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/v1/dead-letters")
    async def dead_letters() -> JSONResponse:
        return JSONResponse({"deadLetters": await run(queries.dead_letters)})

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """`ok`, or `degraded` when events were dead-lettered or indexing keeps failing; the
        cursor is the persisted one (the same after a restart)."""
        health = await run(queries.health)
        failing = runner_stats.consecutive_errors >= FAILING_AFTER
        degraded = health["deadLetters"] > 0 or failing
        return JSONResponse(
            {
                "status": "degraded" if degraded else "ok",
                "cursor": health["cursor"],
                "events": runner_stats.events,
                "deadLetters": health["deadLetters"],
                "failingBatches": runner_stats.consecutive_errors,
            }
        )

    return app
