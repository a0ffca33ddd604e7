"""`python -m haulout.chain.standin LEDGER [--port N] [--faucet-port M]`: serve until killed;
prints one line `grpc=<url> faucet=<url>` once both listen."""

from __future__ import annotations

import argparse
import signal
import threading

from .runner import StandIn


def main() -> None:
    """Run the stand-in in the foreground."""
    ap = argparse.ArgumentParser(prog="python -m haulout.chain.standin")
    ap.add_argument("ledger")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--faucet-port", type=int, default=9123)
    a = ap.parse_args()
    standin = StandIn(a.ledger, a.host, a.port, a.faucet_port).start()
    print(f"grpc={standin.url} faucet={standin.faucet_url}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    standin.stop()


if __name__ == "__main__":
    main()
