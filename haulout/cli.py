"""The `haulout` command: run the local system, store and read blobs, deploy, Move tools."""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from haulout.chain.errors import ChainError
from haulout.client import HauloutClient, HauloutError
from haulout.launcher import LocalSystem
from haulout.protocol import codec
from haulout.protocol.errors import ProtocolError
from haulout.protocol.params import DEFAULT_ENCODING, ENCODING_TYPES, EncodingParams, check_shards

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
    p.add_argument(
        "--encoding-type", type=int, choices=ENCODING_TYPES, help="default: 1 (0 where unavailable)"
    )


@command("demo", "encode a file, drop n-k slivers, decode it and print the blob id", _demo_args)
def cmd_demo(a: argparse.Namespace) -> int:
    """Show the codec: any k of n slivers rebuild the blob."""
    data = Path(a.file).read_bytes() if a.file else os.urandom(1 << 20)
    t0 = time.perf_counter()
    encoding = a.encoding_type if a.encoding_type is not None else codec.default_encoding()
    enc = codec.encode(data, a.shards, encoding)
    t1 = time.perf_counter()
    p = EncodingParams(a.shards, len(data), encoding)
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
    p.add_argument(
        "--encoding-type", type=int, choices=ENCODING_TYPES, help="default: 1 (0 where unavailable)"
    )


@command("blob-id", "print the blob id a file gets", _file_arg)
def cmd_blob_id(a: argparse.Namespace) -> int:
    """Compute a blob id without storing anything."""
    path = Path(a.file)
    with path.open("rb") as fh:
        encoding = a.encoding_type if a.encoding_type is not None else codec.default_encoding()
        print(codec.blob_id_of(fh, path.stat().st_size, a.shards, encoding))
    return 0


def _port(text: str) -> int:
    """A TCP port number (argparse type)."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return port


def _up_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", default=".haulout", help="working directory (ledger, data, logs)")
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--shards", type=int, default=100)
    _encoding_arg(p, None, "default: the deployment's; 1 for a new one")
    p.add_argument("--fresh", action="store_true", help="deploy anew, dropping old data")
    p.add_argument(
        "--chain",
        choices=("devchain", "sui-standin"),
        default="devchain",
        help="devchain (default), or sui-standin: every service on SuiChain through the Sui "
        "full-node stand-in (Sui's gRPC protocol over DevChain's state machine)",
    )
    p.add_argument("--no-indexer", action="store_true")
    p.add_argument("--demo", action="store_true", help="store and read a 1 MiB blob once up")
    p.add_argument("--exit", action="store_true", help="stop after the demo")
    p.add_argument(
        "--pin-cpus",
        action="store_true",
        help="run each service on one CPU: less CPU per request on a small machine this "
        "system has to itself",
    )
    p.add_argument("--relayer-port", type=_port, default=31415)
    p.add_argument("--indexer-port", type=_port, default=8700)
    p.add_argument(
        "--node-base-port",
        type=_port,
        default=None,
        help="storage node i listens on this + i (default 9300; fixed at deployment)",
    )
    p.add_argument(
        "--database-url",
        default=os.environ.get("HAULOUT_INDEXER_DATABASE_URL") or None,
        help="the indexer's database (default: $HAULOUT_INDEXER_DATABASE_URL, else SQLite in --dir)",
    )


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
    if a.nodes < 1 or a.shards < a.nodes:
        raise CliError(f"--nodes must be at least 1 and --shards at least --nodes ({a.nodes})")
    system = LocalSystem(
        Path(a.dir),
        n_nodes=a.nodes,
        n_shards=a.shards,
        with_indexer=not a.no_indexer,
        relayer_port=a.relayer_port,
        indexer_port=a.indexer_port,
        node_base_port=a.node_base_port or 9300,
        indexer_database_url=a.database_url,
        chain=a.chain,
        pin_cpus=a.pin_cpus,
    )
    system.encoding_type = a.encoding_type
    check_shards(a.shards, DEFAULT_ENCODING if a.encoding_type is None else a.encoding_type)
    fresh = a.fresh or (system.deployment_path.exists() and _shape_changed(system, a))
    if a.node_base_port is not None and system.deployment_path.exists() and not fresh:
        from haulout.deployment import Deployment

        ports = [n.port for n in Deployment.load(system.deployment_path).nodes]
        if ports[0] != a.node_base_port:
            raise CliError(
                f"the nodes in {a.dir} are deployed on ports {ports[0]}-{ports[-1]}; "
                f"add --fresh to redeploy them on {a.node_base_port} (drops the stored blobs), "
                "or leave out --node-base-port"
            )
    print(f"starting Haulout in {a.dir} ({a.nodes} storage nodes, {a.shards} shards)…", flush=True)
    if fresh and a.database_url and not a.database_url.startswith("sqlite"):
        print(
            f"note: {a.database_url} is kept across a fresh deployment; drop its tables if it "
            "still holds an older chain's blobs",
            flush=True,
        )
    dep = system.start(fresh=fresh)
    try:
        if dep.chain == "devchain":
            print(f"  DevChain ledger  {dep.ledger}")
        else:
            print(f"  Sui stand-in     {dep.rpc_url}   (package {dep.package_id})")
            print(f"  faucet           {system.faucet_url}   (POST /v2/gas)")
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
    if len(dep.nodes) != a.nodes or (dep.chain == "devchain") != (a.chain == "devchain"):
        return True
    if dep.chain != "devchain":
        return False  # the stand-in is not up yet to ask; --fresh redeploys another shape
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
    _encoding_arg(p, DEFAULT_ENCODING, "default: 1")


def _encoding_arg(p: argparse.ArgumentParser, default: int | None, default_text: str) -> None:
    p.add_argument(
        "--encoding-type",
        type=int,
        choices=ENCODING_TYPES,
        default=default,
        help="encoding of new uploads: 1 = Reed-Solomon GF(2^16), up to 4096 shards; "
        f"0 = Reed-Solomon GF(2^8), up to 256 shards ({default_text})",
    )


@command(
    "deploy", "publish the contracts, create the System, register nodes and committee", _deploy_args
)
def cmd_deploy(a: argparse.Namespace) -> int:
    """Write `<dir>/deployment.json` for the services."""
    from haulout.deployment import DeployParams, deploy_devchain, deploy_sui

    out = Path(a.dir) / "deployment.json"
    check_shards(a.shards, a.encoding_type)
    if a.rpc:
        _require_reachable(a.rpc)
        params = DeployParams(
            n_nodes=a.nodes,
            n_shards=a.shards,
            epoch_duration_ms=a.epoch_ms,
            encoding_type=a.encoding_type,
        )
        dep = deploy_sui(a.rpc, params)
    else:
        ledger = Path(a.dir) / "ledger.sqlite"
        if ledger.exists():
            print(f"error: {ledger} exists; remove it or use another --dir", file=sys.stderr)
            return 2
        dep = deploy_devchain(
            ledger,
            n_nodes=a.nodes,
            n_shards=a.shards,
            epoch_duration_ms=a.epoch_ms,
            encoding_type=a.encoding_type,
        )
    dep.save(out)
    print(f"deployed to {dep.chain}: System {dep.system_id}, {len(dep.nodes)} nodes → {out}")
    return 0


def _require_reachable(rpc: str) -> None:
    """Fail in one line, before the slow Move build, when no Sui node listens at `rpc`."""
    import socket

    import httpx

    try:
        url = httpx.URL(rpc)
        host, port = url.host, url.port or (443 if url.scheme == "https" else 80)
        if url.scheme not in ("http", "https") or not host:
            raise ValueError("not an http(s) URL")
        socket.create_connection((host, port), timeout=3).close()
    except (OSError, ValueError, httpx.InvalidURL) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliError(
            f"no Sui node answers at {rpc} ({reason}); start one with `haulout localnet` "
            "(needs the sui CLI), or leave out --rpc to deploy on DevChain"
        ) from exc


def _client(a: argparse.Namespace) -> HauloutClient:
    return HauloutClient(a.relayer, token=os.environ.get("HAULOUT_TOKEN", ""))


def _http_url(text: str) -> str:
    """An http(s) URL (argparse type)."""
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    return text


def _positive(text: str) -> int:
    """A positive integer (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _relayer_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--relayer",
        type=_http_url,
        default=os.environ.get("HAULOUT_RELAYER_URL", "http://127.0.0.1:31415"),
        help="relayer URL (default: $HAULOUT_RELAYER_URL, else http://127.0.0.1:31415)",
    )


EPOCHS_HELP = (
    "epochs to store for: a number, or 'max' for the longest the system sells "
    "(default: 1 epoch, which is 1 hour on the local DevChain; `haulout extend` adds more)"
)


def _epochs(value: str) -> int | str:
    """An `--epochs` value: a positive number, or `max`."""
    if value == "max":
        return value
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither a number of epochs nor 'max'"
        ) from None
    if n < 1:
        raise argparse.ArgumentTypeError("--epochs needs at least 1 epoch")
    return n


def _resolve_epochs(client: HauloutClient, epochs: int | str) -> int:
    """`max` becomes the system's max_epochs_ahead (asked from the relayer)."""
    return client.max_epochs() if epochs == "max" else int(epochs)


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="file or directory to store")
    p.add_argument("--epochs", type=_epochs, default=1, help=EPOCHS_HELP)
    p.add_argument(
        "--deletable",
        action="store_true",
        help="no effect: blobs (and every member of a directory or chunked file) are "
        "deletable by default, as on Walrus",
    )
    p.add_argument(
        "--permanent",
        action="store_true",
        help="store permanent (undeletable) blobs (for a directory or chunked file: every member)",
    )
    p.add_argument("--force", action="store_true", help="store again even if already certified")
    p.add_argument("--share", action="store_true", help="make it a SharedBlob anyone can fund")
    p.add_argument(
        "--chunk-size", type=_positive, default=None, help="store as chunks of this many bytes"
    )
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
    """Print the blob id and object id of what was stored (for a directory or chunked file,
    of its manifest: `extend`, `delete` and `status` act on the whole tree through it)."""
    from haulout import manifest

    path = Path(a.path)
    client = _client(a)
    epochs = _resolve_epochs(client, a.epochs)
    if a.permanent and a.deletable:
        raise CliError("pass either --permanent or --deletable (the default), not both")
    deletable = not a.permanent
    if path.is_dir():
        stored = manifest.store_directory(
            client, path, epochs=epochs, progress=_Bar("storing"), deletable=deletable
        )
        what = "directory (manifest blob)"
    elif a.chunk_size:
        stored = manifest.store_file_chunked(
            client, path, a.chunk_size, epochs, _Bar("storing"), deletable=deletable
        )
        what = "chunked file (manifest blob)"
    elif a.force or a.share:
        with path.open("rb") as fh:
            stored = client.store(
                fh,
                epochs=epochs,
                deletable=deletable,
                progress=_Bar("uploading"),
                size=path.stat().st_size,
                force=a.force,
                share=a.share,
            )
        what = "shared blob" if a.share else "blob"
    else:
        stored = manifest.store_file_auto(
            client, path, epochs=epochs, progress=_Bar("uploading"), deletable=deletable
        )
        what = "blob"
    kind = "newly created" if stored.newly_created else "already certified"
    print(f"blob id:   {stored.blob_id}  ({kind}, stored until epoch {stored.end_epoch})")
    if stored.object_id:
        print(f"object id: {stored.object_id}")
    if stored.shared_object_id:
        print(f"shared blob: {stored.shared_object_id}  (anyone can fund and extend it)")
    print(f"stored {path} as a {what}")
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


@command(
    "status",
    "show whether a blob is certified, registered or unknown; for a directory or chunked file "
    "also its earliest end epoch and any member missing or expiring first",
    _id_args,
)
def cmd_status(a: argparse.Namespace) -> int:
    """Print the relayer's status of a blob id (with its tree, for a manifest)."""
    import json

    out = _client(a).tree_status(a.id)
    print(json.dumps(out, indent=1))
    tree = out.get("tree")
    if tree:
        if tree["missing"]:  # the summary on stderr: stdout stays one JSON document
            missing = ", ".join(tree["missing"])
            print(f"tree: {len(tree['missing'])} member(s) missing: {missing}", file=sys.stderr)
        else:
            end = tree["earliestEndEpoch"]
            print(f"tree: every member stored until at least epoch {end}", file=sys.stderr)
        if tree["expiringFirst"]:
            first = ", ".join(tree["expiringFirst"])
            print(f"tree: expiring first: {first}", file=sys.stderr)
    return 0


def _print_tree(action: str, tree: dict[str, Any]) -> None:
    print(f"{action} {len(tree['members'])} blob(s) in one transaction {tree['txDigest']}")


@command(
    "delete",
    "delete a deletable blob by its object id (a directory or chunked file: every member, "
    "in one transaction)",
    _id_args,
)
def cmd_delete(a: argparse.Namespace) -> int:
    """Delete through the relayer (it must own the objects)."""
    out = _client(a).delete_tree(a.id)
    _print_tree("deleted", out["tree"])
    print(f"blob {out['deleted']['blobId']} (object {out['deleted']['objectId']}) deleted")
    return 0


@command(
    "burn",
    "destroy the Blob object(s) of a blob or tree; the data stays until its end epoch",
    _id_args,
)
def cmd_burn(a: argparse.Namespace) -> int:
    """Burn through the relayer (it must own the objects)."""
    out = _client(a).burn_tree(a.id)
    _print_tree("burned", out["tree"])
    return 0


def _extend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("object_id", help="the Blob object id (of a blob, or of a tree's manifest)")
    p.add_argument(
        "--epochs",
        type=_positive,
        required=True,
        help="epochs to add after the manifest's (or blob's) current end epoch",
    )
    _relayer_arg(p)


@command(
    "extend",
    "pay for more epochs of a certified blob (a directory or chunked file: every member, "
    "in one transaction)",
    _extend_args,
)
def cmd_extend(a: argparse.Namespace) -> int:
    """Extend through the relayer; every member of a tree ends when its manifest does."""
    out = _client(a).extend_tree(a.object_id, a.epochs)
    obj = out["blobObject"]
    _print_tree("extended", out["tree"])
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
    p.add_argument(
        "action", nargs="?", choices=["join", "leave"], help="join or leave the committee"
    )
    p.add_argument("node", nargs="?", help="the node that leaves (name, index or node id)")
    p.add_argument("--url", default=None, help="join: where the new node listens")
    p.add_argument("--name", default=None, help="join: the new node's name")
    p.add_argument("--stake", type=int, default=100 * 10**9, help="join: MIST it stakes")
    p.add_argument("--deployment", default=None, help="deployment file (join/leave)")


@command(
    "node",
    "run one storage node (settings from HAULOUT_NODE_*), or `join` / `leave` the committee",
    _service_args,
)
def cmd_node(a: argparse.Namespace) -> int:
    """Serve a storage node, or join or leave the committee."""
    if a.action:
        from haulout.cli_epoch import node_membership

        return node_membership(a)
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
    from haulout import (
        cli_epoch,  # noqa: F401  (registers stake, unstake, withdraw)
        cli_quilts,  # noqa: F401 - registers store-quilt, read-quilt, ...
    )

    parser = argparse.ArgumentParser(prog="haulout", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (fn, add_args, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(func=fn)
    return parser


class CliError(Exception):
    """A mistake in what the user asked; the message says what to do instead."""


# A blob id is 32 bytes in URL-safe base64 without padding: one in 64 begins with "-".
_DASHED_ID = re.compile(r"-[A-Za-z0-9_-]{42}")
_ID_COMMANDS = {"status", "read", "delete", "extend", "read-quilt", "list-patches-in-quilt"}


def _ids_as_positionals(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """Keep argparse from taking an id that begins with "-" for an option
    (`haulout status -ia-cWHb…` exited 2): such an id goes behind "--", or is joined to the
    option it is the value of (`-o -x…` becomes `-o=-x…`). Only whole 43-character ids, in a
    command that takes an id."""
    if not argv or argv[0] not in _ID_COMMANDS or "--" in argv:
        return argv
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[
        argv[0]
    ]
    takes_value = {
        opt for action in sub._actions if action.nargs != 0 for opt in action.option_strings
    }
    out: list[str] = [argv[0]]
    tail: list[str] = []
    for arg in argv[1:]:
        if not _DASHED_ID.fullmatch(arg):
            out.append(arg)
        elif out[-1] in takes_value:
            out[-1] = f"{out[-1]}={arg}"
        else:
            tail.append(arg)
    return out + (["--", *tail] if tail else [])


def _one_line(exc: BaseException) -> str:
    """What went wrong, on one line: the part a user needs, no traceback."""
    import httpx

    if isinstance(exc, httpx.HTTPError):
        try:
            url = str(exc.request.url)
        except RuntimeError:  # no request attached
            url = "the server"
        if isinstance(exc, httpx.TransportError):
            return f"cannot reach {url} ({type(exc).__name__}: {exc}); is it running?"
        return f"{url}: {exc}"
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 500 else text[:500] + "…"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `haulout` command. Every error is one line on stderr (exit 1 for a
    failed operation, 2 for a usage mistake); HAULOUT_DEBUG=1 adds the traceback."""
    import httpx

    from haulout.launcher import LaunchError

    parser = build_parser()
    args = parser.parse_args(
        _ids_as_positionals(list(sys.argv[1:] if argv is None else argv), parser)
    )
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("HAULOUT_DEBUG"):
            import traceback

            traceback.print_exc()
        usage = isinstance(exc, (CliError, ProtocolError))
        known = (HauloutError, ChainError, LaunchError, httpx.HTTPError, OSError)
        prefix = "error" if usage or isinstance(exc, known) else f"error ({type(exc).__name__})"
        print(f"{prefix}: {_one_line(exc)}", file=sys.stderr)
        return 2 if usage else 1


from haulout.cli_buckets import register as _register_buckets  # noqa: E402

_register_buckets(command)  # bucket, push, pull (haulout/cli_buckets.py)

if __name__ == "__main__":
    sys.exit(main())
