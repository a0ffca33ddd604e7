"""`haulout bucket create|ls|log|tag|extend|rm`, `haulout push DIR <bucket>[/prefix]` and
`haulout pull <bucket>[@version|@tag][/prefix] DIR`: named, versioned folders on the
relayer (registered by `register`, called once at the end of `haulout.cli`)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from haulout.protocol.buckets import check_bucket_name


def _cli() -> ModuleType:
    """`haulout.cli`'s helpers, imported when first used (it imports this module)."""
    from haulout import cli

    return cli


def _relayer_arg(p: argparse.ArgumentParser) -> None:
    _cli()._relayer_arg(p)


def _epochs(text: str) -> int | str:
    result: int | str = _cli()._epochs(text)
    return result


def _client(a: argparse.Namespace) -> Any:
    return _cli()._client(a)


def _resolve_epochs(client: Any, epochs: int | str) -> int:
    return int(_cli()._resolve_epochs(client, epochs))


def _split_target(text: str) -> tuple[str, str]:
    """`bucket[@ref][/prefix]` → (`bucket[@ref]`, `prefix`)."""
    ref, _, prefix = text.strip("/").partition("/")
    check_bucket_name(ref.partition("@")[0])
    return ref, prefix


def _bucket_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("create", help="create an empty bucket (version 0)")
    c.add_argument("name", help="3-40 characters of a-z, 0-9 and '-'")
    sub.add_parser("ls", help="list the relayer's buckets")
    lg = sub.add_parser("log", help="a bucket's versions, newest first, and its tags")
    lg.add_argument("name")
    lg.add_argument("--limit", type=int, default=20)
    t = sub.add_parser("tag", help="name a version (an existing tag moves)")
    t.add_argument("name")
    t.add_argument("tag", help="1-64 characters of A-Z a-z 0-9 . _ - (not all digits)")
    t.add_argument("version", type=int, nargs="?", help="default: the current version")
    e = sub.add_parser("extend", help="extend the current tree (every blob) in one transaction")
    e.add_argument("name")
    e.add_argument("--epochs", type=_epochs, required=True, help="epochs to add, or 'max'")
    e.add_argument(
        "--all-versions",
        action="store_true",
        help="then bring every earlier live version to the same end epoch (one tx each)",
    )
    r = sub.add_parser("rm", help="delete the bucket and its current tree's deletable blobs")
    r.add_argument("name")
    r.add_argument("--keep-data", action="store_true", help="delete only the bucket object")
    for action in sub.choices.values():
        _relayer_arg(action)


def cmd_bucket(a: argparse.Namespace) -> int:
    """Bucket management."""
    with _client(a) as client:
        b = client.buckets
        if a.action == "create":
            state = b.create(a.name)
            print(f"created bucket {state.name} (object {state.id}), version 0")
        elif a.action == "ls":
            for s in b.list():
                tags = ",".join(f"{k}={v}" for k, v in s.tags.items())
                print(f"{s.name}\tversion {s.version}\t{s.manifest_blob_id or '-'}\t{tags}")
        elif a.action == "log":
            log = b.log(a.name, a.limit)
            names: dict[int, list[str]] = {}
            for tag, version in log["tags"].items():
                names.setdefault(version, []).append(tag)
            for v in log["versions"]:
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(v["timestampMs"] / 1000))
                tags = (
                    f"  ({', '.join(sorted(names.get(v['version'], [])))})"
                    if v["version"] in names
                    else ""
                )
                print(f"{v['version']}\t{when} UTC\t{v['manifestBlobId']}{tags}")
        elif a.action == "tag":
            version = a.version if a.version is not None else b.get(a.name).version
            b.tag(a.name, a.tag, version)
            print(f"{a.name}@{a.tag} is version {version}")
        elif a.action == "extend":
            done = b.extend(a.name, _resolve_epochs(client, a.epochs), a.all_versions)
            print(
                f"extended {a.name} version {done['version']}: {len(done['members'])} blobs now "
                f"end at epoch {done['endEpoch']} (tx {done['txDigest']})"
            )
            for older in done.get("olderVersions", []):
                print(f"  version {older['version']}: {older['result']}")
        elif a.action == "rm":
            done = b.delete(a.name, keep_data=a.keep_data)
            print(
                f"deleted bucket {a.name} and {len(done['deletedBlobObjects'])} blob objects "
                f"(tx {done['txDigest']})"
            )
    return 0


def _push_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", help="local folder; every file under it is written")
    p.add_argument("target", help="<bucket>[/prefix]")
    p.add_argument(
        "--epochs",
        type=_epochs,
        help="lifetime of the new blobs (default: as long as the bucket's current tree; "
        "for a new bucket the relayer's default, 1 epoch = 1 hour on DevChain)",
    )
    p.add_argument("--permanent", action="store_true", help="store non-deletable blobs")
    _relayer_arg(p)


def cmd_push(a: argparse.Namespace) -> int:
    """`haulout push DIR bucket[/prefix]`."""
    name, prefix = _split_target(a.target)
    with _client(a) as client:
        epochs = None if a.epochs is None else _resolve_epochs(client, a.epochs)
        t0 = time.perf_counter()
        done = client.buckets.push(
            Path(a.directory), name, prefix, epochs=epochs, deletable=not a.permanent
        )
        took = time.perf_counter() - t0
    merged = f", merged over {done.merged} newer commit(s)" if done.merged else ""
    print(f"{name} version {done.version}{merged} in {took:.1f}s")
    print(f"manifest blob id: {done.manifest_blob_id}")
    return 0


def _pull_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="<bucket>[@version|@tag][/prefix]")
    p.add_argument("directory", help="local folder to write into")
    _relayer_arg(p)


def cmd_pull(a: argparse.Namespace) -> int:
    """`haulout pull bucket[@version][/prefix] DIR`."""
    ref, prefix = _split_target(a.source)
    with _client(a) as client:
        n = client.buckets.pull(ref, Path(a.directory), prefix)
    print(f"wrote {n} bytes from {ref} to {a.directory}")
    return 0


def register(command: Callable[..., Callable[[Any], Any]]) -> None:
    """Add `bucket`, `push` and `pull` to the CLI (`command` is haulout.cli's registrar, of
    the module actually running, also when it runs as `python -m haulout.cli`)."""
    command("bucket", "named, versioned folders: create, ls, log, tag, extend, rm", _bucket_args)(
        cmd_bucket
    )
    command("push", "write a folder into a bucket as one new version", _push_args)(cmd_push)
    command("pull", "read a bucket (any version) into a folder", _pull_args)(cmd_pull)
