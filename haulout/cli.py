"""The `haulout` command: run the local system, store and read blobs, deploy, Move tools."""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

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
    except ProtocolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
