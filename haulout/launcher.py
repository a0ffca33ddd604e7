"""Run the whole system on one machine: DevChain, deploy, N storage nodes, relayer, indexer.

Each service is its own process talking real HTTP over loopback; `stop()` ends them all.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from haulout.chain.devchain import DevChain
from haulout.chain.errors import MoveAbort
from haulout.cpu_pinning import available_cpus, pin_self, plan
from haulout.deployment import Deployment, deploy_devchain
from haulout.protocol.params import DEFAULT_ENCODING


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when the launcher dies, however it dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # pragma: no cover - not Linux
        pass


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands out as the local end of outgoing connections."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


PORT_FLOOR = 10000
"""Service ports are picked in [PORT_FLOOR, the ephemeral range): a port the kernel chose with
bind(0) lies in the ephemeral range, where any outgoing connection made before the service
binds it may take it as its own local port ("address already in use" at start, seen under load
in the test suite)."""

_ports = random.Random()


def free_port() -> int:
    """A TCP port nobody listens on right now, below the ephemeral range."""
    return free_port_block(1)


def free_port_block(n: int) -> int:
    """The first of `n` consecutive free ports (storage nodes listen on base + i), below the
    ephemeral range so that no outgoing connection can take one before its service binds it."""
    top = max(PORT_FLOOR + 1000, _ephemeral_floor()) - n
    while True:
        base = _ports.randrange(PORT_FLOOR, top)
        if all(_unused(base + i) for i in range(n)):
            return base


def _unused(port: int) -> bool:
    """True when no socket at all holds `port`, not even one in TIME-WAIT (a random pick may
    land on a port a stopped service used a moment ago; a caller binding without
    SO_REUSEADDR would then fail)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def port_free(port: int) -> bool:
    """True when nothing listens on `port`. SO_REUSEADDR, as the services' own sockets use it:
    connections of a stopped Haulout lingering in TIME-WAIT do not keep its ports busy."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class LaunchError(RuntimeError):
    """The local system cannot start; the message says what to do."""


@dataclass
class LocalSystem:
    """A local Haulout: `workdir/deployment.json`, the ledger and every service's data."""

    workdir: Path
    n_nodes: int = 4
    n_shards: int = 100
    node_base_port: int = 9300
    relayer_port: int = 31415
    indexer_port: int = 8700
    with_indexer: bool = True
    epoch_duration_ms: int = 3_600_000
    encoding_type: int | None = None  # new uploads' encoding; None: the deployment's (new: 1)
    relayer_env: dict[str, str] = field(default_factory=dict)
    indexer_database_url: str | None = None  # None: SQLite in workdir
    chain: str = "devchain"
    """`devchain`, or `sui-standin`: every service on SuiChain through the Sui full-node
    stand-in (haulout/chain/standin), started here as its own process."""
    faucet_url: str = ""
    """The stand-in's faucet (`POST /v2/gas`), once started: where a user's own account gets
    SUI, e.g. to store through the upload relay (`localnet_faucet(address, faucet_url)`)."""
    pin_cpus: bool = False
    """Run each service on one CPU (`cpu_pinning`): less CPU per request on a small machine
    this system has to itself; off by default."""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _ticker_stop: threading.Event = field(default_factory=threading.Event)

    @property
    def deployment_path(self) -> Path:
        """Where the deployment file lives."""
        return self.workdir / "deployment.json"

    @property
    def relayer_url(self) -> str:
        """Base URL of the relayer."""
        return f"http://127.0.0.1:{self.relayer_port}"

    @property
    def indexer_url(self) -> str:
        """Base URL of the indexer."""
        return f"http://127.0.0.1:{self.indexer_port}"

    def deploy(self, fresh: bool = False) -> Deployment:
        """Deploy to `workdir/ledger.sqlite` unless a deployment exists (or `fresh`)."""
        if self.deployment_path.exists() and not fresh:
            return self._switch_encoding(Deployment.load(self.deployment_path))
        for name in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm", "indexer.sqlite"):
            (self.workdir / name).unlink(missing_ok=True)
        import shutil

        shutil.rmtree(self.workdir / "nodes", ignore_errors=True)
        if self.chain == "sui-standin":
            dep = self._deploy_standin()
            dep.save(self.deployment_path)
            return dep
        dep = deploy_devchain(
            self.workdir / "ledger.sqlite",
            n_nodes=self.n_nodes,
            n_shards=self.n_shards,
            base_port=self.node_base_port,
            epoch_duration_ms=self.epoch_duration_ms,
            encoding_type=DEFAULT_ENCODING if self.encoding_type is None else self.encoding_type,
        )
        dep.save(self.deployment_path)
        return dep

    def _switch_encoding(self, dep: Deployment) -> Deployment:
        """Record `encoding_type` in an existing deployment when it asks for another: it only
        decides how new uploads are encoded (stored blobs of either type stay readable), so
        nothing is redeployed. `InvalidParameters` when the System cannot hold that type."""
        if self.encoding_type is None or self.encoding_type == dep.encoding_type:
            return dep
        n_shards = dep.chain_port().system().n_shards
        dep.encoding_type = dep.write_encoding(n_shards, self.encoding_type)
        dep.save(self.deployment_path)
        return dep

    def _deploy_standin(self) -> Deployment:
        """Start the stand-in on a fresh ledger and deploy through SuiChain to it."""
        from haulout.chain.sui import SuiChain
        from haulout.deployment import DeployParams, deploy

        for name in ("standin.sqlite", "standin.sqlite-wal", "standin.sqlite-shm"):
            (self.workdir / name).unlink(missing_ok=True)
        faucet_port = free_port()
        url = self._start_standin(free_port(), faucet_port)
        chain = SuiChain(url, faucet_url=f"http://127.0.0.1:{faucet_port}")
        try:
            return deploy(
                chain,
                DeployParams(
                    n_nodes=self.n_nodes,
                    n_shards=self.n_shards,
                    base_port=self.node_base_port,
                    epoch_duration_ms=self.epoch_duration_ms,
                    encoding_type=DEFAULT_ENCODING
                    if self.encoding_type is None
                    else self.encoding_type,
                ),
            )
        finally:
            chain.close()

    def _start_standin(self, port: int, faucet_port: int) -> str:
        """Run `python -m haulout.chain.standin` on the workdir's ledger; its gRPC URL."""
        self._spawn(
            "sui-standin",
            "haulout.chain.standin",
            {},
            self.workdir / "logs" / "sui-standin.log",
            [
                str(self.workdir / "standin.sqlite"),
                "--port",
                str(port),
                "--faucet-port",
                str(faucet_port),
            ],
        )
        self.wait_healthy([f"http://127.0.0.1:{faucet_port}/healthz"], 30)
        self.faucet_url = f"http://127.0.0.1:{faucet_port}"
        return f"http://127.0.0.1:{port}"

    def _spawn(
        self, name: str, module: str, env: dict[str, str], log: Path, args: list[str] | None = None
    ) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        full = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        cpu = self.cpu_plan().get(name)

        def setup() -> None:
            _die_with_parent()
            pin_self(cpu)

        with open(log, "ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", module, *(args or [])],
                env=full,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=setup,
            )

    def cpu_plan(self) -> dict[str, int]:
        """Service name → CPU when `pin_cpus` (see `cpu_pinning.plan`), else empty."""
        if not self.pin_cpus:
            return {}
        names = ["relayer", *(f"node-{i}" for i in range(self.n_nodes))]
        names += ["indexer"] if self.with_indexer else []
        names += ["sui-standin"] if self.chain == "sui-standin" else []
        return plan(names, available_cpus())

    def start_node(self, i: int) -> None:
        """Start (or restart) storage node `i`."""
        env = {"HAULOUT_NODE_DEPLOYMENT": str(self.deployment_path), "HAULOUT_NODE_INDEX": str(i)}
        self._spawn(f"node-{i}", "storage_node", env, self.workdir / "logs" / f"node-{i}.log")

    def start(self, fresh: bool = False, wait: float = 60.0) -> Deployment:
        """Deploy if needed and start every service; returns once all are healthy. Ports are
        checked before anything is deployed, so a busy port never costs the old data."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if fresh or not self.deployment_path.exists():
            node_ports = [self.node_base_port + i for i in range(self.n_nodes)]
        else:
            node_ports = [n.port for n in Deployment.load(self.deployment_path).nodes]
        self.check_ports(node_ports)
        try:
            if self.chain == "sui-standin" and self.deployment_path.exists() and not fresh:
                old = Deployment.load(self.deployment_path)
                port = int(old.rpc_url.rsplit(":", 1)[1])
                self._start_standin(port, free_port())
            dep = self.deploy(fresh)
        except BaseException:
            self.stop()
            raise
        try:
            self._start_services(dep, wait)
        except BaseException:
            self.stop()
            raise
        threading.Thread(target=self._tick_epochs, args=(dep,), daemon=True).start()
        return dep

    def check_ports(self, node_ports: list[int]) -> None:
        """Raise `LaunchError` naming every port some other process listens on."""
        wanted = [
            *node_ports,
            self.relayer_port,
            *([self.indexer_port] if self.with_indexer else []),
        ]
        busy = [p for p in wanted if not port_free(p)]
        if busy:
            raise LaunchError(
                f"port(s) {', '.join(map(str, busy))} already in use: stop the other Haulout, or "
                "choose free ports with --relayer-port, --indexer-port and --node-base-port "
                "(new node ports need --fresh)"
            )

    def _start_services(self, dep: Deployment, wait: float) -> None:
        """Spawn nodes, relayer and indexer, and wait until every one answers its health URL."""
        for i in range(len(dep.nodes)):
            self.start_node(i)
        self._spawn(
            "relayer",
            "relayer",
            {
                "HAULOUT_RELAYER_DEPLOYMENT": str(self.deployment_path),
                "HAULOUT_RELAYER_PORT": str(self.relayer_port),
                "HAULOUT_RELAYER_SPOOL_DIR": str(self.workdir / "relayer"),
                "HAULOUT_RELAYER_STATE_DIR": str(self.workdir / "relayer-state"),
                **self.relayer_env,
            },
            self.workdir / "logs" / "relayer.log",
        )
        if self.with_indexer:
            self._spawn(
                "indexer",
                "indexer",
                {
                    "HAULOUT_INDEXER_DEPLOYMENT": str(self.deployment_path),
                    "HAULOUT_INDEXER_PORT": str(self.indexer_port),
                    "HAULOUT_INDEXER_DATABASE_URL": self.indexer_database_url
                    or f"sqlite:///{self.workdir / 'indexer.sqlite'}",
                    "HAULOUT_INDEXER_RELAYERS": self.relayer_url,
                },
                self.workdir / "logs" / "indexer.log",
            )
        urls = [f"{n.url}/v1/health" for n in dep.nodes] + [f"{self.relayer_url}/v1/health"]
        if self.with_indexer:
            urls.append(f"{self.indexer_url}/healthz")
        self.wait_healthy(urls, wait)

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until the relayer has no uploads still finishing on slower nodes (it answers
        once a quorum has confirmed and serves the rest in the background), i.e. until every
        node holds its slivers of every stored blob."""
        deadline = time.monotonic() + timeout
        name = "haulout_relayer_tail_uploads_pending "
        while True:
            text = httpx.get(f"{self.relayer_url}/metrics", timeout=5).text
            if any(
                line.startswith(name) and float(line.split()[1]) == 0 for line in text.splitlines()
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"uploads to slower nodes still pending after {timeout:.0f}s")
            time.sleep(0.005)

    def wait_healthy(self, urls: list[str], wait: float) -> None:
        """Poll health URLs until all answer 200, or fail with the logs' tail."""
        deadline = time.monotonic() + wait
        pending = list(urls)
        while pending:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    log = self.workdir / "logs" / f"{name}.log"
                    lines = log.read_text(errors="replace").strip().splitlines() or [""]
                    raise LaunchError(
                        f"{name} exited with {p.returncode} while starting ({lines[-1][-300:]}); "
                        f"see {log}"
                    )
            try:
                if httpx.get(pending[0], timeout=2).status_code == 200:
                    pending.pop(0)
                    continue
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise LaunchError(
                    f"{pending[0]} did not become healthy in {wait:.0f}s; see {self.workdir / 'logs'}"
                )
            time.sleep(0.1)

    def _tick_epochs(self, dep: Deployment) -> None:
        """Advance the epoch whenever its duration has passed (anyone may; we do it here)."""
        chain = dep.chain_port()
        while not self._ticker_stop.wait(1.0):
            try:
                sysobj = chain.system()
                now = chain.now_ms() if isinstance(chain, DevChain) else int(time.time() * 1000)
                if now >= sysobj.epoch_start_ms + sysobj.epoch_duration_ms:
                    chain.advance_epoch(dep.admin)
            except MoveAbort:
                continue
            except Exception:  # pragma: no cover - the ticker must never kill `up`
                continue
        close = getattr(chain, "close", None)  # SuiChain's gRPC channel
        if callable(close):
            close()

    def stop_service(self, name: str, hard: bool = False) -> None:
        """Stop one service (SIGKILL with `hard`)."""
        p = self.procs.pop(name, None)
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)

    def stop(self) -> None:
        """Stop everything."""
        self._ticker_stop.set()
        for name in sorted(self.procs, key=lambda n: n == "sui-standin"):  # the chain last
            self.stop_service(name)
