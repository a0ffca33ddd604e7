"""Start the stand-in: the gRPC server on an asyncio loop in a thread, the faucet on a small
HTTP server beside it (POST /v2/gas or /gas with `{"FixedAmountRequest": {"recipient": …}}`,
as a localnet faucet takes). Ports 0 pick free ones.
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from grpclib.server import Server

from haulout.chain.ledger import Ledger

from . import genesis
from .move_types import Package, load
from .server import Services
from .values import canonical_address

MAX_FAUCET_BODY = 4096


class StandIn:
    """A running stand-in over the DevChain ledger at `ledger`."""

    def __init__(
        self, ledger: str | Path, host: str = "127.0.0.1", port: int = 0, faucet_port: int = 0
    ) -> None:
        self.ledger, self.host = str(ledger), host
        self._port, self._faucet_port = port, faucet_port
        self.pkg: Package = load()
        self.chain = Ledger(self.ledger)
        genesis.init_ledger(self.chain, self.pkg)
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._faucet: ThreadingHTTPServer | None = None
        self.port = self.faucet_port = 0

    @property
    def url(self) -> str:
        """The gRPC URL SuiChain takes (`http://host:port`, plaintext like a localnet)."""
        return f"http://{self.host}:{self.port}"

    @property
    def faucet_url(self) -> str:
        """The faucet's base URL (what `localnet_faucet` takes)."""
        return f"http://{self.host}:{self.faucet_port}"

    def start(self) -> StandIn:
        """Serve in background threads; returns once both ports listen."""
        ready = threading.Event()
        services = self.services = Services(Ledger(self.ledger), self.pkg)

        async def serve() -> None:
            self._server = Server(services.handlers())
            await self._server.start(self.host, self._port)
            sockets = self._server._server.sockets  # type: ignore[union-attr]
            self.port = sockets[0].getsockname()[1]
            ready.set()
            await self._server.wait_closed()

        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(serve(),), name="sui-standin", daemon=True
        )
        self._thread.start()
        ready.wait(10)
        self._faucet = ThreadingHTTPServer((self.host, self._faucet_port), _faucet_handler(self))
        self.faucet_port = self._faucet.server_address[1]
        threading.Thread(target=self._faucet.serve_forever, name="sui-faucet", daemon=True).start()
        return self

    def stop(self) -> None:
        """Close both servers."""
        if self._faucet is not None:
            self._faucet.shutdown()
            self._faucet.server_close()
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        if self._thread is not None:
            self._thread.join(5)

    def fund(self, address: str) -> None:
        """The faucet, called in-process."""
        genesis.faucet(self.chain, self.pkg, address)


def _faucet_handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Faucet(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == "/healthz":
                return self._answer(200, {"status": "ok"})
            return self._answer(404, {"error": "POST /v2/gas"})

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            if self.path not in ("/v2/gas", "/gas"):
                return self._answer(404, {"error": "POST /v2/gas"})
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_FAUCET_BODY:
                return self._answer(
                    400, {"error": f"a JSON body of at most {MAX_FAUCET_BODY} bytes"}
                )
            try:
                body = json.loads(self.rfile.read(length))
                recipient = canonical_address(str(body["FixedAmountRequest"]["recipient"]))
                int(recipient, 16)
            except (ValueError, KeyError, TypeError):
                return self._answer(
                    400, {"error": 'expected {"FixedAmountRequest": {"recipient": "0x…"}}'}
                )
            sent = genesis.faucet(standin.chain, standin.pkg, recipient)
            self._answer(
                200,
                {
                    "status": "Success",
                    "coins_sent": [
                        {"amount": amount, "id": cid, "transferTxDigest": digest}
                        for cid, amount, digest in sent
                    ],
                },
            )

        def _answer(self, code: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:  # routine calls stay quiet
            return

    return Faucet
