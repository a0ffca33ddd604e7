"""`/metrics` for every service: each field of its stats dataclasses becomes a Prometheus gauge
named `haulout_<service>_<field>`, read at scrape time."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest


def install_metrics(app: FastAPI, service: str, *stats: object) -> None:
    """Serve the fields of `stats` (dataclass instances) at `GET /metrics`."""
    registry = CollectorRegistry()
    label = {"node": "storage node"}.get(service, service)
    gauges = [
        (
            holder,
            name,
            Gauge(
                f"haulout_{service}_{name}", f"{label} {name.replace('_', ' ')}", registry=registry
            ),
        )
        for holder in stats
        for name in vars(holder)
    ]

    @app.get("/metrics")
    async def metrics() -> Response:
        for holder, name, gauge in gauges:
            gauge.set(getattr(holder, name))
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")
