"""What the indexer sees of the network beyond the chain: storage node health and the read
counts of relayers, polled in a background thread (never in a request).

Nodes: every committee member's `GET /v1/health` with a short timeout. A node is `up` when it
answers ok at the chain's epoch, `lagging` when it answers from an older epoch or far behind in
events, `down` when it does not answer (last seen stays). Its `/metrics` gives the slivers it
recovered. Relayers (`HAULOUT_INDEXER_RELAYERS`): `GET /v1/read-stats`, stored in
`read_counts` and `blob_reads` (see `relayer.read_stats` for why the indexer pulls). Every
answer is treated as hostile: bounded in size, checked field by field, and a bad answer only
marks that node down or that poll failed."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine

from haulout.chain.port import ChainPort

from . import pipeline
from .models import BlobReads, ReadCount
from .queries import Queries

log = logging.getLogger("haulout.indexer")

MAX_ANSWER = 1 << 20
"""Largest answer read from a node or relayer; a longer one is a failed poll."""
LAG_EVENTS = 100
"""A node this many chain events behind the indexer counts as lagging."""
MAX_HOURS, MAX_BLOBS = 24 * 366, 1000
_BLOB_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")
_INSTANCE = re.compile(r"^[0-9a-f]{1,32}$")
_RECOVERED = re.compile(rb"^haulout_node_slivers_recovered ([0-9.e+]+)$", re.M)
I64 = 2**63 - 1


class PollError(Exception):
    """A node or relayer gave no usable answer."""


@dataclass
class MonitorStats:
    """Counters for /metrics (`haulout_indexer_nodes_up`, ...)."""

    nodes_up: int = 0
    nodes_lagging: int = 0
    nodes_down: int = 0
    relayer_polls: int = 0
    relayer_poll_errors: int = 0


@dataclass
class NodeHealth:
    """One committee member as last seen from the indexer."""

    node_id: str
    name: str
    url: str
    shards: int
    state: str = "unknown"
    last_seen_ms: int | None = None
    checked_ms: int | None = None
    epoch: int | None = None
    event_cursor: int | None = None
    slivers_recovered: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's view."""
        return {
            "nodeId": self.node_id,
            "name": self.name,
            "url": self.url,
            "shards": self.shards,
            "state": self.state,
            "lastSeenMs": self.last_seen_ms,
            "checkedMs": self.checked_ms,
            "epoch": self.epoch,
            "eventCursor": self.event_cursor,
            "sliversRecovered": self.slivers_recovered,
            "error": self.error,
        }


def _int(value: Any, low: int = 0, high: int = I64) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PollError(f"expected an integer in [{low}, {high}]")
    return value


class Monitor:
    """Polls committee members and relayers; keeps node health in memory, reads in the db."""

    def __init__(
        self,
        chain: ChainPort,
        engine: Engine,
        queries: Queries,
        relayers: Sequence[str] = (),
        timeout: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.chain, self.engine, self.queries, self.clock = chain, engine, queries, clock
        self.relayers = [r.rstrip("/") for r in relayers if r.strip()]
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)
        self.stats = MonitorStats()
        self.epoch: int | None = None
        self._nodes: dict[str, NodeHealth] = {}
        self._lock = threading.Lock()

    def nodes(self) -> list[dict[str, Any]]:
        """Health of the committee members, in committee order."""
        with self._lock:
            return [n.to_json() for n in self._nodes.values()]

    def _get(self, url: str) -> bytes:
        try:
            with self.client.stream("GET", url) as r:
                if r.status_code != 200:
                    raise PollError(f"HTTP {r.status_code}")
                body = b""
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER:
                        raise PollError("answer too large")
                return body
        except httpx.HTTPError as exc:
            raise PollError(type(exc).__name__) from exc

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            doc = json.loads(self._get(url))
        except (ValueError, RecursionError) as exc:
            raise PollError("answer is not JSON") from exc
        if not isinstance(doc, dict):
            raise PollError("answer is not a JSON object")
        return doc

    def poll_once(self) -> None:
        """One round: the chain's committee and epoch, every member, every relayer."""
        self.poll_nodes()
        for relayer in self.relayers:
            self.poll_relayer(relayer)

    def poll_nodes(self) -> None:
        """Check every committee member's health (in parallel, each with the timeout)."""
        system = self.chain.system()
        self.epoch = system.epoch
        self.queries.epoch_duration_ms = system.epoch_duration_ms
        committee = system.committee
        members = list(committee.members) if committee is not None else []
        with self._lock:
            known = self._nodes
            self._nodes = {
                m.node_id: known.get(m.node_id) or NodeHealth(m.node_id, m.name, m.url, 0)
                for m in members
            }
            for m in members:
                node = self._nodes[m.node_id]
                node.name, node.url, node.shards = m.name, m.url, len(m.shards)
            targets = list(self._nodes.values())
        with self.engine.connect() as conn:
            cursor = pipeline.stored_cursor(conn)
        if targets:
            with ThreadPoolExecutor(min(len(targets), 16)) as pool:
                list(pool.map(lambda n: self._check(n, system.epoch, cursor), targets))
        with self._lock:
            states = [n.state for n in self._nodes.values()]
        self.stats.nodes_up = states.count("up")
        self.stats.nodes_lagging = states.count("lagging")
        self.stats.nodes_down = states.count("down")

    def _check(self, node: NodeHealth, epoch: int, cursor: int) -> None:
        now = int(self.clock() * 1000)
        try:
            if not node.url.startswith(("http://", "https://")):
                raise PollError("the node's registered URL is not http(s)")
            doc = self._get_json(node.url.rstrip("/") + "/v1/health")
            if doc.get("status") != "ok":
                raise PollError("health is not ok")
            node_epoch = _int(doc.get("epoch"), 0, 2**32)
            node_cursor = _int(doc.get("eventCursor", 0))
            try:
                found = _RECOVERED.search(self._get(node.url.rstrip("/") + "/metrics"))
                recovered = int(float(found.group(1))) if found else None
            except (PollError, ValueError, OverflowError):
                recovered = node.slivers_recovered
        except PollError as exc:
            with self._lock:
                node.state, node.checked_ms, node.error = "down", now, str(exc)
            return
        behind = node_epoch < epoch or node_cursor + LAG_EVENTS < cursor
        with self._lock:
            node.state = "lagging" if behind else "up"
            node.last_seen_ms = node.checked_ms = now
            node.epoch, node.event_cursor, node.error = node_epoch, node_cursor, None
            node.slivers_recovered = recovered

    def poll_relayer(self, relayer: str) -> bool:
        """Store what `relayer` reports it served; False when the poll failed."""
        self.stats.relayer_polls += 1
        try:
            doc = self._get_json(relayer + "/v1/read-stats")
            instance = doc.get("instance")
            if not isinstance(instance, str) or not _INSTANCE.match(instance):
                raise PollError("instance is not a short hex string")
            hours, blobs = doc.get("hours"), doc.get("blobs")
            if not isinstance(hours, list) or not isinstance(blobs, list):
                raise PollError("hours and blobs must be lists")
            key = {"relayer": relayer[:255], "instance": instance}
            hour_rows = [
                {
                    **key,
                    "hour_ms": _int(h.get("hourMs")),
                    "bytes": _int(h.get("bytes")),
                    "blobs": _int(h.get("blobs")),
                }
                for h in hours[-MAX_HOURS:]
                if isinstance(h, dict)
            ]
            blob_rows = []
            for b in blobs[:MAX_BLOBS]:
                blob_id = b.get("blobId") if isinstance(b, dict) else None
                if not isinstance(blob_id, str) or not _BLOB_ID.match(blob_id):
                    raise PollError("a blob id is malformed")
                blob_rows.append(
                    {
                        **key,
                        "blob_id": blob_id,
                        "hits": _int(b.get("hits")),
                        "bytes": _int(b.get("bytes")),
                    }
                )
        except PollError as exc:
            self.stats.relayer_poll_errors += 1
            log.debug(
                "relayer poll failed", extra={"fields": {"relayer": relayer, "error": str(exc)}}
            )
            return False
        with self.engine.begin() as conn:
            pipeline._upsert(
                conn, pipeline._t(ReadCount), hour_rows, ["relayer", "instance", "hour_ms"]
            )
            pipeline._upsert(
                conn, pipeline._t(BlobReads), blob_rows, ["relayer", "instance", "blob_id"]
            )
        self.queries.invalidate()
        return True

    def run(self, interval: float, stop: threading.Event) -> None:
        """Poll every `interval` seconds until `stop` is set; a failed round is logged."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("network monitor round failed; trying again next round")
            stop.wait(interval)
