"""The dashboard, loaded in headless Chromium (Debian's package), shows the indexed data."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from haulout.launcher import free_port
from indexer.app import create_app
from indexer.db import make_engine, migrate
from indexer.queries import Queries
from indexer.runner import Runner
from tests.conftest import make_world
from tests.integration.test_indexer import scripted_history

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)


@pytest.fixture
def dashboard_url(tmp_path: Path):  # type: ignore[no-untyped-def]
    w = make_world(tmp_path)
    scripted_history(w)
    url = f"sqlite:///{tmp_path / 'dash.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    Runner(w.chain, engine).catch_up()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(Queries(engine)), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(5)


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


def test_dashboard_renders_the_numbers_and_charts(dashboard_url: str, tmp_path: Path) -> None:
    dom = chromium(
        "--virtual-time-budget=5000", "--dump-dom", dashboard_url, profile=tmp_path / "p1"
    )
    assert re.search(r'id="kpi-blobs">1<', dom), dom[:2000]
    assert 'id="kpi-bytes">500 B<' in dom
    assert re.search(r'id="kpi-epoch">2<', dom)
    assert re.search(r'<path d="M[\d.]+,[\d.]+ L[\d.]+,[\d.]+"[^>]*class="series"', dom), (
        "no chart series drawn"
    )
    assert "<td>text/plain</td>" in dom and "<td>certified</td>" in dom
    assert '<div id="error"></div>' in dom
    shot = tmp_path / "dashboard.png"
    chromium(
        f"--screenshot={shot}",
        "--window-size=1200,900",
        "--virtual-time-budget=5000",
        dashboard_url,
        profile=tmp_path / "p2",
    )
    assert shot.exists() and shot.stat().st_size > 10_000
