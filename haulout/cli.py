"""The `haulout` command: run the local system, store and read blobs, deploy, Move tools."""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from haulout.chain.errors import ChainError
from haulout.client import HauloutClient, HauloutError
from haulout.launcher import LocalSystem
from haulout.protocol import codec
from haulout.protocol.errors import ProtocolError
from haulout.protocol.params import EncodingParams

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(
    name: str, help_text: str, args: Callable[[argparse.ArgumentParser], None] = lambda p: None
) -> Callable[[Command], Command]:
    """Register a sub-command."""

    def wrap(fn: Command) -> Command:
        COMMANDS[name] = (fn, args, help_text)
        return fn

    return wrap


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", help="file to encode (default: 1 MiB of random bytes)")
    p.add_argument("--shards", type=int, default=100)


@command("demo", "encode a file, drop n-k slivers, decode it and print the blob id", _demo_args)
def cmd_demo(a: argparse.Namespace) -> int:
    """Show the codec: any k of n slivers rebuild the blob."""
    data = Path(a.file).read_bytes() if a.file else os.urandom(1 << 20)
    t0 = time.perf_counter()
    enc = codec.encode(data, a.shards)
    t1 = time.perf_counter()
    p = EncodingParams(a.shards, len(data))
    keep = sorted(random.sample(range(p.n_shards), p.k))
    out = codec.decode(enc.metadata, {i: enc.slivers[i] for i in keep})
    t2 = time.perf_counter()
    print(f"blob of {len(data)} bytes over n={p.n_shards} shards (f={p.f}, k={p.k})")
    print(f"  {p.stripes} stripe(s) of {p.stripe_size} bytes, slivers of {p.sliver_len} bytes")
    print(
        f"  encoded length {p.encoded_length} bytes ({p.encoded_length / max(len(data), 1):.2f}x)"
    )
    print(
        f"  encoded in {t1 - t0:.3f}s; dropped {p.n_shards - p.k} slivers, decoded from {p.k}"
        f" in {t2 - t1:.3f}s"
    )
    print(f"  decoded == original: {out == data}")
    print(f"blob id: {enc.blob_id}")
    return 0 if out == data else 1


def _file_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("file")
    p.add_argument("--shards", type=int, default=100)


@command("blob-id", "print the blob id a file gets", _file_arg)
def cmd_blob_id(a: argparse.Namespace) -> int:
    """Compute a blob id without storing anything."""
    path = Path(a.file)
    with path.open("rb") as fh:
        print(codec.blob_id_of(fh, path.stat().st_size, a.shards))
    return 0


def _up_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", default=".haulout", help="working directory (ledger, data, logs)")
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--shards", type=int, default=100)
    p.add_argument("--fresh", action="store_true", help="deploy anew, dropping old data")
    p.add_argument("--no-indexer", action="store_true")
    p.add_argument("--demo", action="store_true", help="store and read a 1 MiB blob once up")
    p.add_argument("--exit", action="store_true", help="stop after the demo")


@command("up", "start DevChain, deploy, N storage nodes, the relayer and the indexer", _up_args)
def cmd_up(a: argparse.Namespace) -> int:
    """Run the whole system locally until Ctrl-C."""
    import signal

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(
        signal.SIGINT, _interrupt
    )  # also when started with SIGINT ignored (background jobs)
    signal.signal(signal.SIGTERM, _interrupt)
    system = LocalSystem(
        Path(a.dir), n_nodes=a.nodes, n_shards=a.shards, with_indexer=not a.no_indexer
    )
    fresh = a.fresh or (system.deployment_path.exists() and _shape_changed(system, a))
    print(f"starting Haulout in {a.dir} ({a.nodes} storage nodes, {a.shards} shards)…", flush=True)
    dep = system.start(fresh=fresh)
    try:
        print(f"  DevChain ledger  {dep.ledger}")
        for n in dep.nodes:
            print(f"  {n.name:<15}  {n.url}")
        print(f"  relayer          {system.relayer_url}   (PUT /v1/blobs, GET /v1/blobs/<id>)")
        if system.with_indexer:
            print(f"  indexer          {system.indexer_url}    (dashboard at /, REST at /v1/blobs)")
        print(f"  logs             {system.workdir / 'logs'}", flush=True)
        if a.demo:
            _demo_round_trip(
                system.relayer_url, system.indexer_url if system.with_indexer else None
            )
        if a.exit:
            return 0
        print("Haulout is up; Ctrl-C stops every service.", flush=True)
        while True:
            time.sleep(1)
            for name, proc in list(system.procs.items()):
                if proc.poll() is not None:
                    print(
                        f"{name} exited with {proc.returncode}; see {system.workdir / 'logs' / (name + '.log')}",
                        file=sys.stderr,
                    )
                    return 1
    except KeyboardInterrupt:
        print("\nstopping…")
        return 0
    finally:
        system.stop()


def _shape_changed(system: LocalSystem, a: argparse.Namespace) -> bool:
    from haulout.deployment import Deployment

    dep = Deployment.load(system.deployment_path)
    if len(dep.nodes) != a.nodes:
        return True
    from haulout.chain.devchain import DevChain

    return DevChain(dep.ledger).system().n_shards != a.shards


def _demo_round_trip(relayer: str, indexer: str | None) -> None:
    import httpx

    from haulout.client import HauloutClient

    data = os.urandom(1 << 20)
    with HauloutClient(relayer) as client:
        t0 = time.perf_counter()
        stored = client.store(data, epochs=2)
        t1 = time.perf_counter()
        back = client.read(stored.blob_id)
        t2 = time.perf_counter()
    print(
        f"demo: stored 1 MiB as blob {stored.blob_id} (object {stored.object_id}) in {t1 - t0:.2f}s"
    )
    print(f"demo: read it back in {t2 - t1:.2f}s: identical = {back == data}")
    if back != data:
        raise SystemExit("demo failed: the blob read back differs")
    if indexer:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = httpx.get(f"{indexer}/v1/blobs/{stored.blob_id}", timeout=5)
            if r.status_code == 200 and r.json().get("status") == "certified":
                print(
                    f"demo: the indexer lists it as {r.json()['status']} (size {r.json()['size']})"
                )
                break
            time.sleep(0.3)
        else:
            raise SystemExit("demo failed: the indexer did not list the blob")


def _deploy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", default=".haulout")
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--shards", type=int, default=100)
    p.add_argument(
        "--rpc",
        default=os.environ.get("HAULOUT_SUI_RPC", ""),
        help="Sui RPC URL (default: DevChain)",
    )
    p.add_argument("--epoch-ms", type=int, default=3_600_000)


@command(
    "deploy", "publish the contracts, create the System, register nodes and committee", _deploy_args
)
def cmd_deploy(a: argparse.Namespace) -> int:
    """Write `<dir>/deployment.json` for the services."""
    from haulout.deployment import deploy_devchain

    out = Path(a.dir) / "deployment.json"
    if a.rpc:
        from haulout.chain.sui import deploy_sui

        dep = deploy_sui(a.rpc, Path(a.dir), n_nodes=a.nodes, n_shards=a.shards)
    else:
        ledger = Path(a.dir) / "ledger.sqlite"
        if ledger.exists():
            print(f"error: {ledger} exists; remove it or use another --dir", file=sys.stderr)
            return 2
        dep = deploy_devchain(
            ledger, n_nodes=a.nodes, n_shards=a.shards, epoch_duration_ms=a.epoch_ms
        )
    dep.save(out)
    print(f"deployed to {dep.chain}: System {dep.system_id}, {len(dep.nodes)} nodes → {out}")
    return 0


def _client(a: argparse.Namespace) -> HauloutClient:
    return HauloutClient(a.relayer, token=os.environ.get("HAULOUT_TOKEN", ""))


def _relayer_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--relayer", default=os.environ.get("HAULOUT_RELAYER_URL", "http://127.0.0.1:31415")
    )


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="file or directory to store")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument(
        "--deletable", action="store_true", help="no effect: blobs are deletable by default"
    )
    p.add_argument("--permanent", action="store_true", help="store permanent (undeletable) blobs")
    p.add_argument("--force", action="store_true", help="store again even if already certified")
    p.add_argument("--share", action="store_true", help="make it a SharedBlob anyone can fund")
    p.add_argument("--chunk-size", type=int, default=0, help="store as chunks of this many bytes")
    _relayer_arg(p)


class _Bar:
    """A one-line progress bar on stderr."""

    def __init__(self, label: str) -> None:
        self.label, self.last = label, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.2 and done < total:
            return
        self.last = now
        pct = 100 * done / total if total else 100.0
        filled = int(pct / 5)
        end = "\n" if done >= total else ""
        print(
            f"\r{self.label} [{'#' * filled}{'.' * (20 - filled)}] {pct:5.1f}% {done >> 20}/{total >> 20} MiB",
            end=end,
            file=sys.stderr,
            flush=True,
        )


@command("store", "store a file or directory through the relayer", _store_args)
def cmd_store(a: argparse.Namespace) -> int:
    """Print the blob id (and object id) of what was stored."""
    path = Path(a.path)
    client = _client(a)
    if path.is_dir() or a.chunk_size:
        from haulout import manifest

        if path.is_dir():
            result = manifest.store_directory(
                client, path, epochs=a.epochs, progress=_Bar("storing")
            )
        else:
            result = manifest.store_file_chunked(
                client, path, a.chunk_size, epochs=a.epochs, progress=_Bar("storing")
            )
        print(f"stored {path} as manifest blob {result.blob_id}")
        return 0
    if a.permanent and a.deletable:
        print("pass either --permanent or --deletable, not both", file=sys.stderr)
        return 2
    if a.permanent or a.force or a.share:
        with path.open("rb") as fh:
            stored = client.store(
                fh,
                epochs=a.epochs,
                deletable=not a.permanent,
                progress=_Bar("uploading"),
                size=path.stat().st_size,
                force=a.force,
                share=a.share,
            )
    else:
        from haulout.manifest import store_file_auto

        stored = store_file_auto(client, path, epochs=a.epochs, progress=_Bar("uploading"))
    kind = "newly created" if stored.newly_created else "already certified"
    print(f"blob id:   {stored.blob_id}  ({kind}, stored until epoch {stored.end_epoch})")
    if stored.object_id:
        print(f"object id: {stored.object_id}")
    if stored.shared_object_id:
        print(f"shared blob: {stored.shared_object_id}  (anyone can fund and extend it)")
    return 0


def _read_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("blob_id")
    p.add_argument(
        "-o", "--out", required=True, help="output file (or directory for a stored directory)"
    )
    _relayer_arg(p)


@command("read", "read a blob (or a chunked file / directory manifest) to a file", _read_args)
def cmd_read(a: argparse.Namespace) -> int:
    """Write the blob's bytes to `--out`."""
    from haulout import manifest

    client = _client(a)
    written = manifest.restore(client, a.blob_id, Path(a.out))
    print(f"wrote {written} bytes to {a.out}")
    return 0


def _id_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", help="blob id (status) or object id (delete)")
    _relayer_arg(p)


@command("status", "show whether a blob is certified, registered or unknown", _id_args)
def cmd_status(a: argparse.Namespace) -> int:
    """Print the relayer's status of a blob id."""
    import json

    print(json.dumps(_client(a).status(a.id), indent=1))
    return 0


@command("delete", "delete a deletable blob by its object id", _id_args)
def cmd_delete(a: argparse.Namespace) -> int:
    """Delete through the relayer (it must own the object)."""
    import json

    print(json.dumps(_client(a).delete(a.id)))
    return 0


def _extend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("object_id")
    p.add_argument("--epochs", type=int, required=True)
    _relayer_arg(p)


@command("extend", "pay for more epochs of a certified blob", _extend_args)
def cmd_extend(a: argparse.Namespace) -> int:
    """Extend through the relayer."""

    obj = _client(a).extend(a.object_id, a.epochs)["blobObject"]
    print(f"blob {obj['blobId']} now stored until epoch {obj['storage']['endEpoch']}")
    return 0


def _uncertified_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--deployment", default=".haulout/deployment.json")
    p.add_argument(
        "--delete-older-than",
        type=int,
        metavar="EPOCHS",
        help="delete the deletable ones registered at least EPOCHS epochs ago",
    )


@command(
    "uncertified",
    "list the relayer's paid registrations that were never certified",
    _uncertified_args,
)
def cmd_uncertified(a: argparse.Namespace) -> int:
    """One line per registered, never certified Blob object the relayer owns."""
    from haulout.deployment import Deployment
    from relayer.uncertified import delete_stale, list_uncertified

    if not Path(a.deployment).exists():
        print(f"error: no deployment at {a.deployment}; pass --deployment", file=sys.stderr)
        return 2
    dep = Deployment.load(a.deployment)
    chain = dep.chain_port()
    if a.delete_older_than is not None:
        if a.delete_older_than < 1:
            print("error: --delete-older-than needs at least 1 epoch", file=sys.stderr)
            return 2
        deleted, _ = delete_stale(chain, dep.relayer, a.delete_older_than)
        for u in deleted:
            print(
                f"deleted {u.object_id} (blob {u.blob_id}, registered in epoch {u.registered_epoch})"
            )
    epoch, found = list_uncertified(chain, dep.relayer.address)
    print(f"{len(found)} uncertified registration(s) of {dep.relayer.address} at epoch {epoch}")
    for u in found:
        kind = "deletable" if u.deletable else "permanent"
        print(
            f"{u.object_id}  blob {u.blob_id}  size {u.size}  "
            f"registered {u.registered_epoch}  end epoch {u.end_epoch}  {kind}"
        )
    return 0


def _service_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", type=int, default=None, help="node index (for `haulout node`)")


@command("node", "run one storage node (settings from HAULOUT_NODE_*)", _service_args)
def cmd_node(a: argparse.Namespace) -> int:
    """Serve a storage node."""
    from storage_node.__main__ import main as node_main

    return node_main([str(a.index)] if a.index is not None else None)


@command("relayer", "run the relayer (settings from HAULOUT_RELAYER_*)")
def cmd_relayer(a: argparse.Namespace) -> int:
    """Serve the relayer."""
    from relayer.__main__ import main as relayer_main

    return relayer_main()


def _indexer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", default=None)
    p.add_argument("--migrate-only", action="store_true")


@command("indexer", "run the indexer (settings from HAULOUT_INDEXER_*)", _indexer_args)
def cmd_indexer(a: argparse.Namespace) -> int:
    """Serve the indexer, or only migrate its database."""
    from indexer.__main__ import main as indexer_main

    return indexer_main(a.database_url, a.migrate_only)


def _move_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["build", "test"])


@command(
    "move", "build or unit-test the Move package (sui CLI, or the Sui compiler in WASM)", _move_args
)
def cmd_move(a: argparse.Namespace) -> int:
    """Print the toolchain's report; exit non-zero on failure."""
    from haulout import move_tools

    try:
        tc = move_tools.find_toolchain()
    except move_tools.MoveToolchainMissing as exc:
        print(f"Move {a.action} skipped: {exc}", file=sys.stderr)
        return 3
    print(f"Move {a.action} with {tc.describe()}", flush=True)
    code, out = move_tools.run(a.action, tc)
    print(out)
    return code


def _localnet_args(p: argparse.ArgumentParser) -> None:
    pass


@command("localnet", "start a Sui localnet (needs the sui CLI); DevChain is the default otherwise")
def cmd_localnet(a: argparse.Namespace) -> int:
    """Exec `sui start --with-faucet --force-regenesis` when `sui` is installed."""
    import shutil

    if not shutil.which("sui"):
        print(
            "the sui CLI is not on PATH, so no localnet can start here. Install Sui (its "
            "documentation lists the release binaries and the cargo install command), then rerun. Until then Haulout runs on DevChain, its embedded ledger: "
            "`haulout up`.",
            file=sys.stderr,
        )
        return 2
    os.execvp("sui", ["sui", "start", "--with-faucet", "--force-regenesis"])


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered sub-command."""
    parser = argparse.ArgumentParser(prog="haulout", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (fn, add_args, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(func=fn)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `haulout` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ProtocolError, ChainError, HauloutError) as exc:
        if isinstance(exc, HauloutError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
