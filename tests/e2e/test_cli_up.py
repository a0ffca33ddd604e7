"""`haulout up` as a user runs it: a real CLI process, started, Ctrl-C'd and started again on
the same ports; its port, database and error options."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from haulout.launcher import free_port, free_port_block

pytestmark = pytest.mark.slow

EXE = [sys.executable, "-m", "haulout.cli"]


class Up:
    """One `haulout up` process with its output in a file."""

    def __init__(self, tmp: Path, args: list[str], env: dict[str, str] | None = None) -> None:
        self.out = tmp / f"up-{time.monotonic_ns()}.log"
        with open(self.out, "wb") as fh:
            self.proc = subprocess.Popen(
                [*EXE, "up", *args],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )

    def text(self) -> str:
        return self.out.read_text()

    def wait_up(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while "Haulout is up" not in self.text():
            assert self.proc.poll() is None, (
                f"up exited with {self.proc.returncode}:\n{self.text()}"
            )
            assert time.monotonic() < deadline, f"not up after {timeout}s:\n{self.text()}"
            time.sleep(0.2)

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(30)


def hold_connections(urls: list[str]) -> list[httpx.Client]:
    """Keep-alive connections the services close themselves when they stop: the closing side
    keeps the service port in TIME-WAIT, which the old port check took for "in use"."""
    clients = []
    for url in urls:
        c = httpx.Client()
        assert c.get(url).status_code == 200
        clients.append(c)
    return clients


def test_up_restarts_at_once_on_the_same_ports_and_honours_the_database_url(
    tmp_path: Path,
) -> None:
    base, relayer, indexer = free_port_block(4), free_port(), free_port()
    work = tmp_path / "haulout"
    ports = [
        "--relayer-port", str(relayer),
        "--indexer-port", str(indexer),
        "--node-base-port", str(base),
    ]  # fmt: skip
    args = ["--dir", str(work), "--shards", "10", *ports]
    health = [f"http://127.0.0.1:{base + i}/v1/health" for i in range(4)] + [
        f"http://127.0.0.1:{relayer}/v1/health",
        f"http://127.0.0.1:{indexer}/healthz",
    ]
    from_env = tmp_path / "from-env.sqlite"
    first = Up(tmp_path, args, env={"HAULOUT_INDEXER_DATABASE_URL": f"sqlite:///{from_env}"})
    first.wait_up()
    held = hold_connections(health)
    assert first.interrupt() == 0
    assert from_env.exists() and not (work / "indexer.sqlite").exists()

    from_option = tmp_path / "from-option.sqlite"
    second = Up(tmp_path, [*args, "--database-url", f"sqlite:///{from_option}"])
    second.wait_up(60)  # the old check said "ports … are in use" for about a minute
    assert f"http://127.0.0.1:{relayer}" in second.text()
    held += hold_connections(health)
    assert second.interrupt() == 0
    assert from_option.exists()

    third = subprocess.run([*EXE, "up", *args, "--exit"], capture_output=True, text=True)
    assert third.returncode == 0, third.stderr
    for c in held:
        c.close()


def test_up_on_a_busy_port_says_which_option_to_use(tmp_path: Path) -> None:
    relayer = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", relayer))
        s.listen()
        r = subprocess.run(
            [
                *EXE, "up", "--dir", str(tmp_path / "w"), "--shards", "10", "--exit",
                "--relayer-port", str(relayer), "--node-base-port", str(free_port_block(4)),
                "--indexer-port", str(free_port()),
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
    assert r.returncode == 1
    err = r.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert str(relayer) in err and "--relayer-port" in err
    assert not (tmp_path / "w" / "ledger.sqlite").exists()  # nothing deployed on a failed start


def test_up_with_other_node_ports_than_deployed_asks_for_fresh(tmp_path: Path) -> None:
    work = tmp_path / "w"
    base = free_port_block(4)
    common = ["--dir", str(work), "--shards", "10", "--no-indexer", "--exit"]
    ok = subprocess.run(
        [*EXE, "up", *common, "--node-base-port", str(base), "--relayer-port", str(free_port())],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    other = free_port_block(4)
    r = subprocess.run(
        [*EXE, "up", *common, "--node-base-port", str(other), "--relayer-port", str(free_port())],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "--fresh" in r.stderr and "Traceback" not in r.stderr
