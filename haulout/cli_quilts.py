"""`haulout store-quilt`, `read-quilt` and `list-patches-in-quilt`, named and shaped as
Walrus's CLI commands: many small files in one quilt, each read back alone."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from haulout.cli import (
    EPOCHS_HELP,
    CliError,
    _client,
    _epochs,
    _relayer_arg,
    _resolve_epochs,
    command,
)
from haulout.protocol import quilt


def _store_quilt_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--paths",
        nargs="+",
        default=[],
        help="files or directories (recursively); each file's name is its identifier",
    )
    p.add_argument(
        "--blobs",
        nargs="+",
        default=[],
        help='JSON per file: {"path": ..., "identifier": ..., "tags": {...}} (identifier '
        "defaults to the file name)",
    )
    p.add_argument("--epochs", type=_epochs, default=1, help=EPOCHS_HELP)
    p.add_argument("--permanent", action="store_true", help="store a permanent quilt")
    _relayer_arg(p)


def _quilt_files(a: argparse.Namespace) -> list[tuple[str, Path, dict[str, str]]]:
    """(identifier, path, tags) of every file named by `--paths` and `--blobs`."""
    out: list[tuple[str, Path, dict[str, str]]] = []
    for text in a.paths:
        p = Path(text)
        if not p.exists():
            raise CliError(f"{p} does not exist")
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        out += [(f.name, f, {}) for f in files]
    for text in a.blobs:
        try:
            spec = json.loads(text)
            path = Path(spec["path"])
            tags = spec.get("tags") or {}
            identifier = spec.get("identifier") or path.name
        except (ValueError, KeyError, TypeError, AttributeError):
            raise CliError(
                f'--blobs takes JSON like {{"path": "a.txt", "identifier": "a", "tags": '
                f'{{"k": "v"}}}}; got {text[:80]!r}'
            ) from None
        if not path.is_file():
            raise CliError(f"{path} is not a file")
        out.append((identifier, path, tags))
    if not out:
        raise CliError("name the files to store with --paths or --blobs")
    seen: dict[str, Path] = {}
    for identifier, path, tags in out:
        try:
            quilt.check_identifier(identifier, upload=True)
            quilt.check_tags(tags, identifier)
        except quilt.QuiltError as exc:
            raise CliError(f"{path}: {exc}") from None
        if identifier in seen:
            raise CliError(
                f"identifier {identifier!r} is used by both {seen[identifier]} and {path}; "
                'identifiers must be unique (give one with --blobs \'{"path": ..., '
                '"identifier": ...}\')'
            )
        seen[identifier] = path
    return out


@command(
    "store-quilt", "store many small files as one quilt (Walrus's store-quilt)", _store_quilt_args
)
def cmd_store_quilt(a: argparse.Namespace) -> int:
    """Print the quilt id and each file's identifier and patch id."""
    files = _quilt_files(a)
    client = _client(a)
    epochs = _resolve_epochs(client, a.epochs)
    handles = [(ident, path.open("rb"), tags) for ident, path, tags in files]
    try:
        stored = client.store_quilt(
            [(i, fh, t) for i, fh, t in handles], epochs=epochs, deletable=not a.permanent
        )
    finally:
        for _, fh, _ in handles:
            fh.close()
    blob = stored.blob
    kind = "newly created" if blob.newly_created else "already certified"
    print(f"quilt id:  {stored.quilt_id}  ({kind}, stored until epoch {blob.end_epoch})")
    if blob.object_id:
        print(f"object id: {blob.object_id}")
    for identifier, patch_id in stored.patches.items():
        print(f"{patch_id}  {identifier}")
    return 0


def _read_quilt_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="directory to write the files into")
    p.add_argument("--quilt-id", help="the quilt's blob id (with --identifiers or --tag)")
    p.add_argument("--identifiers", nargs="+", default=[], help="identifiers to read")
    p.add_argument("--tag", nargs=2, metavar=("KEY", "VALUE"), help="read patches with this tag")
    p.add_argument("--quilt-patch-ids", nargs="+", default=[], help="patch ids to read")
    _relayer_arg(p)


def _safe_name(identifier: str) -> str:
    """A file name for an identifier (which may hold `/`): never outside the out directory."""
    name = identifier.replace("/", "_").replace("\\", "_")
    return "_" + name if name in (".", "..") else name


@command("read-quilt", "read files out of a quilt (Walrus's read-quilt)", _read_quilt_args)
def cmd_read_quilt(a: argparse.Namespace) -> int:
    """Write each patch read to `--out/<identifier>` (`/` in identifiers becomes `_`)."""
    client = _client(a)
    wanted: list[str] = list(a.quilt_patch_ids)
    if a.identifiers or a.tag:
        if not a.quilt_id:
            raise CliError("--identifiers and --tag need --quilt-id")
        patches = client.list_quilt_patches(a.quilt_id)
        by_id = {p["identifier"]: p for p in patches}
        for ident in a.identifiers:
            if ident not in by_id:
                raise CliError(f"quilt {a.quilt_id} has no patch {ident!r}")
            wanted.append(by_id[ident]["patch_id"])
        if a.tag:
            key, value = a.tag
            wanted += [p["patch_id"] for p in patches if p["tags"].get(key) == value]
    if not wanted:
        raise CliError(
            "name what to read: --quilt-patch-ids, or --quilt-id with --identifiers or --tag"
        )
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for patch_id in wanted:
        data, headers = client.read_quilt_patch(patch_id)
        identifier = headers.get("x-quilt-patch-identifier") or patch_id
        target = out / _safe_name(identifier)
        target.write_bytes(data)
        print(f"wrote {len(data)} bytes to {target}")
    return 0


def _list_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("quilt_id", help="the quilt's blob id")
    p.add_argument("--json", action="store_true", help="print the JSON list")
    _relayer_arg(p)


@command("list-patches-in-quilt", "list a quilt's patches: identifier, patch id, tags", _list_args)
def cmd_list_patches(a: argparse.Namespace) -> int:
    """One line per patch (or the JSON list)."""
    patches: list[dict[str, Any]] = _client(a).list_quilt_patches(a.quilt_id)
    if a.json:
        print(json.dumps(patches, indent=2))
        return 0
    for p in patches:
        tags = " ".join(f"{k}={v}" for k, v in sorted(p["tags"].items()))
        print(f"{p['patch_id']}  {p['identifier']}" + (f"  {tags}" if tags else ""))
    return 0
