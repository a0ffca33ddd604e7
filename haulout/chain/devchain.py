"""DevChain: the embedded chain. Its ledger (`ledger.py`, one SQLite file) runs the same state
machine as `move/` (`machine/`, one mirror module per Move module): same objects, checks in
the same order, abort codes and events; owned objects usable only by their owner;
transactions signed with Ed25519 and checked; a faucet; an event stream with integer cursors.

`DevChain` is the chain port (`client.ChainClient`, written once for every chain) over
`DevBackend`, which turns the call descriptions of `calls/` into the ledger's command dicts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from haulout.protocol.blob_id import BlobId

from . import calls
from .accounts import Account
from .calls import Clock, Coin, GasCoin, Object, Pay, Pure, Result, Transaction, TransferObjects
from .client import ChainClient
from .events import ChainEvent
from .ledger import MIST_PER_SUI, Ledger, TxResult
from .machine import FUNCTIONS, call, obj, pure, pure_bytes, res, transfer_cmd
from .machine.committee import committee_of
from .objects import (
    BlobObject,
    BucketObject,
    ExecutedTransaction,
    NodeInfo,
    PoolInfo,
    SharedBlobView,
    StakedView,
    StorageResource,
    SystemState,
)

__all__ = [
    "FUNCTIONS",
    "MIST_PER_SUI",
    "DevBackend",
    "DevChain",
    "TxResult",
    "call",
    "obj",
    "pure",
    "pure_bytes",
    "res",
    "to_commands",
    "transfer_cmd",
]


def _arg(arg: calls.Arg) -> dict[str, Any]:
    if isinstance(arg, Object):
        return obj(arg.id)
    if isinstance(arg, Result):
        return res(arg.index)
    if isinstance(arg, Coin):
        return pure(arg.amount)
    if isinstance(arg, Pure):
        return pure_bytes(bytes(arg.value)) if arg.type == "vector<u8>" else pure(arg.value)
    raise TypeError(f"{arg!r} has no command-dict form")


def to_commands(tx: Transaction) -> list[dict[str, Any]]:
    """The ledger's command dicts for a described transaction: payments and the clock are the
    ledger's own (left out), a coin is its amount, a transfer lists its objects then the
    recipient. Command indices stay those of the description."""
    out: list[dict[str, Any]] = []
    for cmd in tx.commands:
        if isinstance(cmd, TransferObjects):
            out.append({"call": "transfer", "args": [*map(_arg, cmd.objects), pure(cmd.recipient)]})
        elif isinstance(cmd, Pay):
            out.append({"call": "pay", "args": [pure(cmd.amount), pure(cmd.recipient)]})
        else:
            args = [_arg(a) for a in cmd.args if not isinstance(a, GasCoin | Clock)]
            out.append(call(cmd.function.target, *args))
    return out


def _storage(object_id: str, d: dict[str, Any]) -> StorageResource:
    return StorageResource(object_id, d["start_epoch"], d["end_epoch"], d["storage_size"])


class DevBackend:
    """The `client.Backend` primitives on a `Ledger`."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    @property
    def system_id(self) -> str:
        """The shared System object's id."""
        return self.ledger.system_id

    @property
    def admin_cap_id(self) -> str:
        """The AdminCap's id."""
        return self.ledger.admin_cap_id

    def execute(self, signer: Account, tx: Transaction) -> TxResult:
        """Run the described transaction in the ledger."""
        return self.ledger.submit(signer, to_commands(tx), tx.inputs)

    def transaction(self, digest: str) -> ExecutedTransaction:
        """An executed transaction, read back by digest."""
        return self.ledger.transaction(digest)

    def publish(self, admin: Account) -> str:
        """Publish the package; the AdminCap's id."""
        return self.ledger.publish(admin)

    def adopt_system(self, system_id: str) -> None:
        """Record the System every process sharing the file uses."""
        self.ledger.set_meta("system_id", system_id)

    def system(self) -> SystemState:
        """The System object."""
        d = self.ledger.row(self.system_id, calls.system.SYSTEM).data
        nodes = tuple(
            NodeInfo(nid, n["name"], n["url"], bytes.fromhex(n["public_key"]), n["address"])
            for nid, n in d["nodes"].items()
        )
        return SystemState(
            self.system_id,
            d["version"],
            d["epoch"],
            d["epoch_start_ms"],
            d["epoch_duration_ms"],
            d["n_shards"],
            committee_of(d) if d["members"] else None,
            d["total_capacity"],
            d["usage"][d["epoch"] % d["max_epochs_ahead"]],
            d["storage_price"],
            d["write_price"],
            d["max_epochs_ahead"],
            nodes,
            committee_of(d, "previous_members") if d.get("previous_members") else None,
            int(d.get("change_epoch", 0)),
            bool(d.get("changing")),
            tuple(d.get("received", ())),
            tuple(
                PoolInfo(nid, p["stake"], p["shares"], p["active"])
                for nid, p in d.get("pools", {}).items()
            ),
        )

    def get_staked(self, object_id: str) -> StakedView:
        """A stake receipt."""
        s = self.ledger.row(object_id, calls.system.STAKED).data
        return StakedView(
            object_id,
            s["node_id"],
            s["shares"],
            s["principal"],
            s["withdrawing"],
            s["withdraw_epoch"],
            s["withdraw_amount"],
        )

    def get_blob(self, object_id: str) -> BlobObject:
        """A Blob object."""
        row = self.ledger.row(object_id, calls.blob.BLOB)
        b = row.data
        return BlobObject(
            object_id,
            b["registered_epoch"],
            BlobId.from_int(int(b["blob_id"])),
            b["size"],
            b["encoding_type"],
            b["certified_epoch"],
            _storage(b["storage"]["id"], b["storage"]),
            b["deletable"],
            row.owner or "",
            dict(b["attributes"]),
        )

    def get_storage(self, object_id: str) -> StorageResource:
        """A Storage object."""
        return _storage(object_id, self.ledger.row(object_id, calls.storage_resource.STORAGE).data)

    def get_shared_blob(self, shared_blob_id: str) -> SharedBlobView:
        """A SharedBlob with its wrapped Blob."""
        d = self.ledger.row(shared_blob_id, calls.shared_blob.SHARED_BLOB).data
        return SharedBlobView(shared_blob_id, self.get_blob(d["blob"]), d["funds"])

    def get_bucket(self, bucket_id: str) -> BucketObject:
        """A Bucket object."""
        row = self.ledger.row(bucket_id, calls.bucket.BUCKET)
        d = row.data
        return BucketObject(
            bucket_id,
            d["name"],
            d["version"],
            BlobId.from_int(int(d["manifest_blob_id"])) if d["version"] else None,
            dict(d["tags"]),
            row.owner or "",
        )

    def events(self, after: int | None, limit: int) -> list[ChainEvent]:
        """Events with cursor > `after`, oldest first."""
        return self.ledger.events(after, limit)

    def balance(self, address: str) -> int:
        """SUI balance in MIST."""
        return self.ledger.balance(address)


class DevChain(ChainClient):
    """The embedded chain. `path` is the SQLite file; `clock` returns milliseconds."""

    backend: DevBackend

    local_reads = True
    """Reads are queries of a local SQLite file in WAL mode (tens of microseconds, never
    blocked by a writer): a service may run them on its event loop, which costs less than
    handing them to a worker thread and back."""

    def __init__(self, path: str | Path, clock: Callable[[], int] | None = None) -> None:
        self.ledger = Ledger(path, clock)
        self.path = self.ledger.path
        super().__init__(DevBackend(self.ledger))

    def now_ms(self) -> int:
        """The ledger clock (`sui::clock::Clock`), in milliseconds."""
        return self.ledger.now_ms()

    def shift_clock(self, ms: int) -> None:
        """Move the ledger clock forward for every process sharing the file (dev/testing)."""
        self.ledger.shift_clock(ms)

    def build(self, signer: Account, commands: list[dict[str, Any]]) -> tuple[bytes, bytes]:
        """Serialise and sign a transaction of command dicts: returns (tx_bytes, signature)."""
        return self.ledger.build(signer, commands)

    def submit(self, signer: Account, commands: list[dict[str, Any]]) -> TxResult:
        """Build, sign and execute a transaction of command dicts."""
        return self.ledger.submit(signer, commands)

    def execute(self, tx_bytes: bytes, signature: bytes) -> TxResult:
        """Check the signature, then run every command atomically; an abort changes nothing."""
        return self.ledger.execute(tx_bytes, signature)

    def faucet(self, address: str, amount: int = 1000 * MIST_PER_SUI) -> int:
        """Mint SUI for a dev account; returns the new balance."""
        return self.ledger.faucet(address, amount)

    def fund(self, address: str, amount: int | None = None) -> None:
        """Give an address SUI (the deployment's way to fund its accounts on any chain)."""
        self.ledger.faucet(address, *([] if amount is None else [amount]))

    def deployment_fields(self) -> dict[str, str]:
        """What a deployment record keeps of this chain."""
        return {"chain": "devchain", "ledger": str(Path(self.path).resolve())}

    def owner_of(self, object_id: str) -> str | None:
        """Owner address of an object (None when shared)."""
        return self.ledger.row(object_id).owner
