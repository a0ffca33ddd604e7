"""The network dashboard in headless Chromium (Debian's package), over a scripted history that
spans several epochs and hours of injected chain clock, with real storage nodes (one of them
stopped) and a relayer read counter served over HTTP.

Set HAULOUT_SCREENSHOTS=/some/dir to keep the desktop and phone screenshots."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from haulout.launcher import free_port, free_port_block
from indexer.app import create_app
from indexer.db import make_engine, migrate
from indexer.monitor import Monitor
from indexer.queries import Queries
from indexer.runner import Runner
from relayer.read_stats import ServedReads, install_read_stats
from storage_node.app import create_app as node_app
from storage_node.registry import Registry
from storage_node.service import NodeService
from storage_node.store import SliverStore
from tests.conftest import World, make_world, register, sign_certificate
from tests.integration.cdp import Browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)
HOUR = 3_600_000
HOSTILE = '<img src=x onerror="document.title=1">&amp;"\'<script>alert(1)</script>'


class Server:
    """A uvicorn server in a thread, on a free port or the given one."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        self.port = port or free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Site:
    url: str
    stats: dict[str, Any]
    nodes: dict[str, Any]
    ids: dict[str, str]
    blob_ids: dict[str, str]
    relayer: str
    written: int
    read: int


def history(w: World) -> tuple[dict[str, str], int]:
    """Seven hours and three epochs: certify, expire, price change, delete; returns the object
    ids and the bytes certified."""
    clock = w.clock
    assert clock is not None
    sizes = {"a": 5000, "b": 20000, "e": 1000, "c": 3000}
    ids = {}

    def store(name: str, epochs: int, content_type: str, deletable: bool = False) -> None:
        blob = register(w, bytes([65 + len(ids)]) * sizes[name], epochs=epochs, deletable=deletable)
        w.chain.certify_blob(w.user, blob.id, sign_certificate(w, blob, [0, 1, 2]))
        w.chain.set_attribute(w.user, blob.id, "content-type", content_type)
        ids[name] = blob.id

    store("a", 10, "text/plain")
    store("b", 10, "image/png", deletable=True)
    store("e", 1, "text/plain")  # expires when epoch 1 starts
    clock.ms += 2 * HOUR
    w.chain.force_advance_epoch(w.deployment.admin)
    clock.ms += HOUR // 2
    store("c", 4, "application/json")  # epoch 1 + 4: expiring soon at epoch 3
    w.chain.set_attribute(w.user, ids["c"], "project", HOSTILE)
    w.chain.set_attribute(w.user, ids["c"], "team", "walrus-watchers")
    w.chain.set_prices(w.deployment.admin, 1500, 2500)
    clock.ms += 3 * HOUR
    w.chain.force_advance_epoch(w.deployment.admin)
    w.chain.delete_blob(w.user, ids["b"])
    ids["d"] = register(w, b"never certified").id
    clock.ms += 90 * 60_000
    w.chain.force_advance_epoch(w.deployment.admin)
    return ids, sum(sizes.values())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("dash")
    w = make_world(tmp, base_port=free_port_block(4))
    ids, written = history(w)
    blob_ids = {k: str(w.chain.get_blob(v).blob_id) for k, v in ids.items() if k not in ("b", "e")}
    nodes = []
    for i, cfg in enumerate(w.deployment.nodes):
        service = NodeService(
            w.deployment.chain_port(),
            SliverStore(tmp / f"n{i}" / "slivers"),
            Registry(tmp / f"n{i}" / "registry.sqlite"),
            cfg.bls,
            cfg.node_id,
        )
        while service.follow_once():
            pass
        nodes.append(Server(node_app(service), int(cfg.url.rsplit(":", 1)[1])))
    nodes[3].stop()  # a stopped node
    reads = ServedReads(clock=w.chain.now_ms)
    relayer_app = FastAPI()
    install_read_stats(relayer_app, reads)
    relayer = Server(relayer_app)
    # Reads the relayer served (its read path calls `record`): A twice now, C once an hour on.
    w.clock.ms -= 4 * HOUR
    reads.record(blob_ids["a"], 5000)
    reads.record(blob_ids["a"], 5000)
    w.clock.ms += HOUR
    reads.record(blob_ids["c"], 3000)
    w.clock.ms += 3 * HOUR

    url = f"sqlite:///{tmp / 'dash.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    Runner(w.chain, engine).catch_up()
    queries = Queries(engine)
    monitor = Monitor(w.chain, engine, queries, [relayer.url], timeout=1.0)
    monitor.poll_once()
    api = Server(create_app(queries, monitor=monitor, download_url=relayer.url))
    stats = httpx.get(f"{api.url}/v1/stats").json()
    node_doc = httpx.get(f"{api.url}/v1/nodes").json()
    yield Site(f"{api.url}/", stats, node_doc, ids, blob_ids, relayer.url, written, 13000)
    for s in [api, relayer, *nodes[:3]]:
        s.stop()


def chromium(*args: str, profile: Path) -> str:
    base = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([*base, *args], capture_output=True, text=True, timeout=120).stdout  # type: ignore[list-item]


def dom_of(url: str, tmp: Path, width: int = 1280) -> str:
    return chromium(
        "--virtual-time-budget=6000",
        f"--window-size={width},2000",
        "--dump-dom",
        url,
        profile=tmp / f"p{time.monotonic_ns()}",
    )


def kpi(dom: str, name: str) -> str:
    found = re.search(rf'id="kpi-{name}" data-value="([^"]*)"', dom)
    assert found, f"kpi {name} missing"
    return found.group(1)


def points(dom: str, cls: str) -> list[tuple[int, int]]:
    return [
        (int(t), int(v))
        for t, v in re.findall(rf'class="pt {cls}" data-t="(\d+)" data-v="(\d+)"', dom)
    ]


def test_stats_count_a_blob_once_and_end_at_what_is_stored(site: Site) -> None:
    s = site.stats
    assert s["stored"] == {"blobs": 2, "bytes": 8000}  # a and c; b deleted, e expired, d never
    assert s["byStatus"]["certified"] == s["stored"]
    assert [p["blobs"] for p in s["overTime"]] == [3, 2, 3, 2, 2]
    assert s["overTime"][-1] == {"t": s["asOfMs"], **s["stored"]}
    assert [p["bytes"] for p in s["overTime"]][:4] == [26000, 25000, 28000, 8000]
    assert {t["contentType"]: t["bytes"] for t in s["byContentType"]} == {
        "text/plain": 5000,
        "application/json": 3000,
    }
    assert [p["storagePrice"] for p in s["prices"]] == [1000, 1500]
    soon = {x["endEpoch"]: x["bytes"] for x in s["expiringSoon"]}
    assert soon[5] == 3000 and soon[4] == 0
    span = s["overTime"][-1]["t"] - s["overTime"][0]["t"]
    assert span > 6 * HOUR  # a wall-clock axis, not epochs
    rw = s["readsWrites"]
    assert rw["totals"]["writtenBytes"] == site.written and rw["totals"]["readBytes"] == site.read
    assert rw["totals"]["ratio"] == round(site.read / site.written, 4)
    assert [p["readBytes"] for p in rw["points"] if p["readBytes"]] == [10000, 3000]
    assert rw["topBlobs"][0] == {"blobId": site.blob_ids["a"], "hits": 2, "bytes": 10000}
    assert s["growth"]["nextMilestone"]["label"] == "1 GB"


def test_dashboard_shows_the_stats_exactly(site: Site, tmp_path: Path) -> None:
    dom = dom_of(site.url, tmp_path)
    s = site.stats
    assert '<div id="error" role="alert"></div>' in dom, dom[:3000]
    assert kpi(dom, "blobs") == "2" and kpi(dom, "bytes") == "8000"
    assert kpi(dom, "ratio") == str(s["readsWrites"]["totals"]["ratio"])
    assert kpi(dom, "rw") == f"{site.read}/{site.written}"
    assert kpi(dom, "growth") == str(s["growth"]["bytesPerDay"])
    assert kpi(dom, "eta") == str(s["growth"]["nextMilestone"]["etaMs"])
    assert kpi(dom, "epoch") == "3" and kpi(dom, "price") == "1500/2500"
    assert points(dom, "stored-blobs") == [(p["t"], p["blobs"]) for p in s["overTime"]]
    assert points(dom, "stored-bytes") == [(p["t"], p["bytes"]) for p in s["overTime"]]
    reads = [(p["t"], p["readBytes"]) for p in s["readsWrites"]["points"]]
    assert points(dom, "read") == reads and sum(v for _, v in reads) == site.read
    assert len(points(dom, "storage-price")) == 2
    assert "<td>application/json</td>" in dom and "<td>text/plain</td>" in dom
    assert kpi(dom, "nodes") == "3/4"


def test_a_stopped_node_shows_as_down(site: Site, tmp_path: Path) -> None:
    states = {n["name"]: n["state"] for n in site.nodes["nodes"]}
    assert states == {"node-0": "up", "node-1": "up", "node-2": "up", "node-3": "down"}
    up = next(n for n in site.nodes["nodes"] if n["name"] == "node-0")
    assert up["shards"] == 3 and up["lastSeenMs"] and up["sliversRecovered"] == 0
    dom = dom_of(site.url + "#nodes", tmp_path)
    assert re.search(r'class="state state-down" data-node="node-3">down<', dom)
    assert len(re.findall(r'class="state state-up"', dom)) == 3


def test_search_finds_a_blob_by_attribute_and_its_page_escapes_values(
    site: Site, tmp_path: Path
) -> None:
    dom = dom_of(site.url + "#/search/" + quote("team=walrus-watchers", safe=""), tmp_path)
    assert "1 blob(s) matching attribute" in dom
    results = dom.split('id="blob-table"', 1)[1].split("</table>", 1)[0]
    assert site.blob_ids["c"] in results and site.blob_ids["a"] not in results
    page = dom_of(site.url + "#/blob/" + site.ids["c"], tmp_path)
    assert "<img src=x" not in page and "<script>alert" not in page
    assert "&lt;img src=x onerror=" in page  # shown as text
    assert f'href="{site.relayer}/v1/blobs/{site.blob_ids["c"]}"' in page
    assert "BlobCertified" in page and "BlobAttributeSet" in page
    assert "1 hits, 3.00 kB" in page


def test_screenshots_at_desktop_and_phone_width(site: Site, tmp_path: Path) -> None:
    """Desktop and phone screenshots (kept in `HAULOUT_SCREENSHOTS` when set): the whole page
    at 1280 px, then at a phone's 390 px the whole page and each card on its own. At phone
    width nothing makes the page scroll sideways (wide tables scroll inside their card)."""
    out = Path(os.environ.get("HAULOUT_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "dashboard-desktop.png"
    chromium(
        f"--screenshot={shot}",
        "--window-size=1280,2400",
        "--hide-scrollbars",
        "--virtual-time-budget=6000",
        site.url,
        profile=tmp_path / "s-desktop",
    )
    assert shot.exists() and shot.stat().st_size > 20_000
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM, tmp_path / "s-phone", width=390, height=844)
    try:
        browser.phone()
        browser.goto(site.url)
        browser.wait_for(
            "document.querySelectorAll('#blob-table tbody tr').length >= 3"
            " && document.querySelectorAll('#node-table tbody tr').length >= 4"
            " && document.querySelectorAll('#stake-table tbody tr').length >= 4"
        )
        wide = browser.eval(
            "[document.documentElement.scrollWidth, innerWidth, [...document.querySelectorAll("
            "'main > section')].filter((e) => e.getBoundingClientRect().right > innerWidth)"
            ".map((e) => e.id)]"
        )
        assert wide[0] <= wide[1] and not wide[2], wide
        browser.screenshot(out / "dashboard-phone.png")
        for name in ("overview", "nodes", "staking", "explorer"):
            browser.screenshot(out / f"dashboard-phone-{name}.png", "#" + name)
        for card in ("h-bytes", "h-rw", "h-types", "h-expiring"):
            browser.screenshot(
                out / f"dashboard-phone-{card[2:]}.png", f"section[aria-labelledby={card}]"
            )
        browser.goto(site.url + "#/blob/" + site.ids["c"])
        browser.wait_for("document.getElementById('h-blob').textContent.length > 10")
        browser.screenshot(out / "dashboard-phone-blob.png", "#blob-page")
    finally:
        browser.close()
    for png in out.glob("dashboard-phone*.png"):
        assert png.stat().st_size > 5_000, png.name


def test_the_dashboard_is_usable_by_keyboard_alone(site: Site, tmp_path: Path) -> None:
    """Tab from the top: a visible skip link first, then the sections' links, each with a focus
    ring; type a search into the search box and press Enter; Tab to the result and press Enter
    to open the blob's page, whose heading takes the focus; its back link returns."""
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM, tmp_path / "kb")
    try:
        browser.goto(site.url)
        browser.wait_for("document.querySelectorAll('#blob-table a').length >= 3")
        browser.press("Tab")
        first = browser.focused()
        assert first["cls"] == "skip" and first["onScreen"] and first["ring"], first
        browser.press("Enter")
        assert browser.eval("location.hash") == "#main"
        seen = []
        for _ in range(60):
            browser.press("Tab")
            now = browser.focused()
            seen.append(now)
            if now["id"] == "q":
                break
        assert seen[-1]["id"] == "q", [s["text"] or s["id"] for s in seen]
        links = [s for s in seen if s["tag"] in ("a", "button", "input", "summary")]
        assert links and all(s["ring"] for s in links), [s for s in links if not s["ring"]]
        browser.type("team=walrus-watchers")
        browser.press("Enter")
        browser.wait_for(
            "document.getElementById('results-title').textContent.includes('1 blob(s)')"
        )
        browser.press("Tab")  # the Search button
        browser.press("Tab")  # the one result's link
        result = browser.focused()
        assert result["tag"] == "a" and result["text"] == site.blob_ids["c"], result
        browser.press("Enter")
        browser.wait_for("document.activeElement.id === 'h-blob'")
        assert site.blob_ids["c"] in browser.eval("document.getElementById('h-blob').textContent")
        browser.press("Tab")
        back = browser.focused()
        assert back["id"] == "blob-back" and back["ring"], back
        browser.press("Enter")
        browser.wait_for("document.getElementById('blob-page').hidden")
    finally:
        browser.close()
