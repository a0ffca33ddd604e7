"""deploy/: every Grafana panel queries metrics the services really expose (read from the real
indexer, relayer and storage node apps' /metrics), and Prometheus scrapes every service."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

from haulout.settings import RelayerSettings
from indexer.app import create_app as indexer_app
from indexer.db import make_engine, migrate
from indexer.queries import Queries
from relayer.__main__ import build as build_relayer
from storage_node.app import create_app as node_app
from storage_node.registry import Registry
from storage_node.service import NodeService
from storage_node.store import SliverStore
from tests.conftest import make_world

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS_BUILTIN = {"up"}
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
PROMQL_WORDS = {"sum", "by", "rate", "instance", "job", "avg", "max", "min", "without"}


def exposed(text: str) -> set[str]:
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M))


def service_metrics(tmp: Path) -> dict[str, set[str]]:
    w = make_world(tmp)
    deployment = tmp / "deployment.json"
    w.deployment.save(deployment)
    url = f"sqlite:///{tmp / 'idx.sqlite'}"
    migrate(url)
    indexer = TestClient(indexer_app(Queries(make_engine(url))))
    relayer, _ = build_relayer(
        RelayerSettings(
            deployment=str(deployment),
            spool_dir=str(tmp / "spool"),
            state_dir=str(tmp / "state"),
        )
    )
    cfg = w.deployment.nodes[0]
    node = NodeService(
        w.chain,
        SliverStore(tmp / "n0" / "slivers"),
        Registry(tmp / "n0" / "registry.sqlite"),
        cfg.bls,
        cfg.node_id,
    )
    return {
        "indexer": exposed(indexer.get("/metrics").text),
        "relayer": exposed(TestClient(relayer).get("/metrics").text),  # type: ignore[arg-type]
        "node": exposed(TestClient(node_app(node)).get("/metrics").text),
    }


def test_every_grafana_panel_queries_an_exposed_metric_and_the_readme_lists_them(
    tmp_path: Path,
) -> None:
    metrics = service_metrics(tmp_path)
    readme = (DEPLOY.parent / "README.md").read_text()
    documented = {
        f"haulout_{service}_{name}"
        for service, names in re.findall(r"`haulout_(indexer|relayer|node)_\{([^}]*)\}`", readme)
        for name in names.split(",")
    }
    assert documented == set().union(*metrics.values())
    assert "haulout_relayer_bytes_served" in metrics["relayer"]
    assert "haulout_indexer_nodes_down" in metrics["indexer"]
    known = set().union(*metrics.values()) | PROMETHEUS_BUILTIN
    doc = json.loads((DEPLOY / "grafana" / "haulout.json").read_text())
    assert doc["panels"]
    for panel in doc["panels"]:
        exprs = [t["expr"] for t in panel["targets"]]
        assert exprs, panel["title"]
        for expr in exprs:
            bare = re.sub(r'\{[^}]*\}|\[[^\]]*\]|"[^"]*"', "", expr)
            names = {n for n in NAME.findall(bare) if n not in PROMQL_WORDS}
            assert names, f"{panel['title']}: {expr} names no metric"
            unknown = names - known
            assert not unknown, f"{panel['title']}: {sorted(unknown)} is exposed by no service"


def test_prometheus_scrapes_every_service() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {j["job_name"] for j in config["scrape_configs"]}
    assert jobs == {"haulout-indexer", "haulout-relayer", "haulout-nodes"}
