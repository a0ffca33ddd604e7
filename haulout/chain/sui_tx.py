"""Programmable transactions for the `haulout` Move package, built offline with pysui's
`ProgrammableTransactionBuilder` and BCS types, so tests can decode and check them.

Pure arguments are BCS-encoded here with their exact Move types (u8, u16, u32, u64, u256,
bool, address, String, vector<u8>, vector<ID>, vector<vector<u16>>); the gas coin pays as
`&mut Coin<SUI>`; the System is a shared input, Storage/Blob/AdminCap owned inputs.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pysui.sui.sui_bcs import bcs
from pysui.sui.sui_common.txn_transaction_builder import ProgrammableTransactionBuilder

from .sui_ids import uleb128 as _uleb

CLOCK_ID = "0x6"


class Pure:
    """BCS encodings of pure Move values."""

    @staticmethod
    def u8(v: int) -> bytes:
        return struct.pack("<B", v)

    @staticmethod
    def u16(v: int) -> bytes:
        return struct.pack("<H", v)

    @staticmethod
    def u32(v: int) -> bytes:
        return struct.pack("<I", v)

    @staticmethod
    def u64(v: int) -> bytes:
        return struct.pack("<Q", v)

    @staticmethod
    def u256(v: int) -> bytes:
        return v.to_bytes(32, "little")

    @staticmethod
    def bool(v: bool) -> bytes:
        return b"\x01" if v else b"\x00"

    @staticmethod
    def address(v: str) -> bytes:
        return bytes.fromhex(v.removeprefix("0x").rjust(64, "0"))

    @staticmethod
    def bytes_(v: bytes) -> bytes:
        return _uleb(len(v)) + v

    @staticmethod
    def string(v: str) -> bytes:
        return Pure.bytes_(v.encode())

    @staticmethod
    def ids(v: Sequence[str]) -> bytes:
        return _uleb(len(v)) + b"".join(Pure.address(x) for x in v)

    @staticmethod
    def shard_lists(v: Sequence[Sequence[int]]) -> bytes:
        return _uleb(len(v)) + b"".join(_uleb(len(s)) + b"".join(Pure.u16(x) for x in s) for s in v)


@dataclass(frozen=True)
class OwnedRef:
    """An owned (or immutable) object at a version."""

    object_id: str
    version: int
    digest: str  # base58
    owner: str = ""  # the owning address when known (checked before sending; not in the BCS)


@dataclass(frozen=True)
class SharedRef:
    """A shared object: id, initial shared version, mutability."""

    object_id: str
    initial_version: int
    mutable: bool = True


ObjectInput = OwnedRef | SharedRef


def _object_arg(ref: ObjectInput) -> tuple[bcs.BuilderArg, bcs.ObjectArg]:
    addr = bcs.Address.from_str(ref.object_id)
    if isinstance(ref, SharedRef):
        arg = bcs.ObjectArg(
            "SharedObject", bcs.SharedObjectReference(addr, ref.initial_version, ref.mutable)
        )
    else:
        arg = bcs.ObjectArg(
            "ImmOrOwnedObject",
            bcs.ObjectReference(addr, ref.version, bcs.Digest.from_str(ref.digest)),
        )
    return bcs.BuilderArg("Object", addr), arg


class HauloutTransaction:
    """One PTB against the package; each method adds a Move call and returns its result."""

    def __init__(self, package_id: str) -> None:
        self.package = bcs.Address.from_str(package_id)
        # Pure inputs stay distinct (bytes 0x00 may be a u8 here and a bool there); object
        # inputs are deduplicated below, since Sui rejects the same object given twice.
        self.ptb = ProgrammableTransactionBuilder(compress_inputs=False)
        self._objects: dict[str, bcs.Argument] = {}
        self.owned: list[OwnedRef] = []

    def pure(self, data: bytes) -> bcs.Argument:
        """A pure input."""
        return self.ptb.input_pure(bcs.BuilderArg("Pure", list(data)))

    def obj(self, ref: ObjectInput) -> bcs.Argument:
        """An object input (deduplicated)."""
        if ref.object_id not in self._objects:
            self._objects[ref.object_id] = self.ptb.input_obj(*_object_arg(ref))
            if isinstance(ref, OwnedRef):
                self.owned.append(ref)
        return self._objects[ref.object_id]

    def call(self, module: str, function: str, args: list[Any], results: int = 1) -> Any:
        """A Move call with already-resolved arguments."""
        return self.ptb.command(
            bcs.Command(
                "MoveCall", bcs.ProgrammableMoveCall(self.package, module, function, [], args)
            ),
            results,
        )

    @property
    def gas(self) -> bcs.Argument:
        """The gas coin, passed as `&mut Coin<SUI>` for payments."""
        return bcs.Argument("GasCoin", None)

    def transfer(self, objects: list[bcs.Argument], recipient: str) -> None:
        """`TransferObjects`."""
        self.ptb.command(
            bcs.Command(
                "TransferObjects", bcs.TransferObjects(objects, self.pure(Pure.address(recipient)))
            )
        )

    # -- the package's public functions ------------------------------------------------------

    def reserve_space(
        self, system: SharedRef, storage_size: int, epochs_ahead: int
    ) -> bcs.Argument:
        return self.call(
            "system",
            "reserve_space",
            [
                self.obj(system),
                self.pure(Pure.u64(storage_size)),
                self.pure(Pure.u32(epochs_ahead)),
                self.gas,
            ],
        )

    def register_blob(
        self,
        system: SharedRef,
        storage: bcs.Argument | OwnedRef,
        blob_id: int,
        root: int,
        size: int,
        encoding_type: int,
        deletable: bool,
    ) -> bcs.Argument:
        st = self.obj(storage) if isinstance(storage, OwnedRef) else storage
        return self.call(
            "blob",
            "register_blob",
            [
                self.obj(system),
                st,
                self.pure(Pure.u256(blob_id)),
                self.pure(Pure.u256(root)),
                self.pure(Pure.u64(size)),
                self.pure(Pure.u8(encoding_type)),
                self.pure(Pure.bool(deletable)),
                self.gas,
            ],
        )

    def certify_blob(
        self, system: SharedRef, blob: OwnedRef, signature: bytes, signers: bytes, message: bytes
    ) -> None:
        self.call(
            "blob",
            "certify_blob",
            [
                self.obj(system),
                self.obj(blob),
                self.pure(Pure.bytes_(signature)),
                self.pure(Pure.bytes_(signers)),
                self.pure(Pure.bytes_(message)),
            ],
        )

    def extend_blob(self, system: SharedRef, blob: OwnedRef, epochs: int) -> None:
        self.call(
            "blob",
            "extend_blob",
            [self.obj(system), self.obj(blob), self.pure(Pure.u32(epochs)), self.gas],
        )

    def delete_blob(self, system: SharedRef, blob: OwnedRef) -> bcs.Argument:
        return self.call("blob", "delete_blob", [self.obj(system), self.obj(blob)])

    def burn(self, blob: OwnedRef) -> None:
        self.call("blob", "burn", [self.obj(blob)])

    def set_attribute(self, blob: OwnedRef | bcs.Argument, key: str, value: str) -> None:
        target = self.obj(blob) if isinstance(blob, OwnedRef) else blob  # or a new Blob
        self.call(
            "blob",
            "set_attribute",
            [target, self.pure(Pure.string(key)), self.pure(Pure.string(value))],
        )

    def remove_attribute(self, blob: OwnedRef, key: str) -> None:
        self.call("blob", "remove_attribute", [self.obj(blob), self.pure(Pure.string(key))])

    def invalidate_blob_id(
        self, system: SharedRef, signature: bytes, signers: bytes, message: bytes
    ) -> bcs.Argument:
        return self.call(
            "system",
            "invalidate_blob_id",
            [
                self.obj(system),
                self.pure(Pure.bytes_(signature)),
                self.pure(Pure.bytes_(signers)),
                self.pure(Pure.bytes_(message)),
            ],
        )

    def split_storage_by_epoch(self, storage: OwnedRef, epoch: int) -> bcs.Argument:
        """`storage_resource::split_by_epoch`: the returned Storage covers `[epoch, end)`."""
        return self.call(
            "storage_resource", "split_by_epoch", [self.obj(storage), self.pure(Pure.u32(epoch))]
        )

    def split_storage_by_size(self, storage: OwnedRef, size: int) -> bcs.Argument:
        """`storage_resource::split_by_size`: the returned Storage holds `size` bytes."""
        return self.call(
            "storage_resource", "split_by_size", [self.obj(storage), self.pure(Pure.u64(size))]
        )

    def fuse_storage(self, first: OwnedRef, second: OwnedRef) -> None:
        """`storage_resource::fuse`: `second` is consumed into `first`."""
        self.call("storage_resource", "fuse", [self.obj(first), self.obj(second)])

    def advance_epoch(self, system: SharedRef) -> None:
        self.call(
            "system", "advance_epoch", [self.obj(system), self.obj(SharedRef(CLOCK_ID, 1, False))]
        )

    def force_advance_epoch(self, system: SharedRef, cap: OwnedRef) -> None:
        self.call(
            "system",
            "force_advance_epoch",
            [self.obj(system), self.obj(cap), self.obj(SharedRef(CLOCK_ID, 1, False))],
        )

    def create_system(
        self,
        cap: OwnedRef,
        n_shards: int,
        epoch_duration_ms: int,
        storage_price: int,
        write_price: int,
        total_capacity: int,
        max_epochs_ahead: int,
    ) -> None:
        self.call(
            "system",
            "create_system",
            [
                self.obj(cap),
                self.pure(Pure.u16(n_shards)),
                self.pure(Pure.u64(epoch_duration_ms)),
                self.pure(Pure.u64(storage_price)),
                self.pure(Pure.u64(write_price)),
                self.pure(Pure.u64(total_capacity)),
                self.pure(Pure.u32(max_epochs_ahead)),
                self.obj(SharedRef(CLOCK_ID, 1, False)),
            ],
        )

    def register_node(
        self,
        system: SharedRef,
        cap: OwnedRef,
        name: str,
        url: str,
        public_key: bytes,
        pop: bytes,
        node_address: str,
    ) -> bcs.Argument:
        return self.call(
            "system",
            "register_node",
            [
                self.obj(system),
                self.obj(cap),
                self.pure(Pure.string(name)),
                self.pure(Pure.string(url)),
                self.pure(Pure.bytes_(public_key)),
                self.pure(Pure.bytes_(pop)),
                self.pure(Pure.address(node_address)),
            ],
        )

    def set_committee(
        self,
        system: SharedRef,
        cap: OwnedRef,
        node_ids: Sequence[str],
        shards: Sequence[Sequence[int]],
    ) -> None:
        self.call(
            "system",
            "set_committee",
            [
                self.obj(system),
                self.obj(cap),
                self.pure(Pure.ids(node_ids)),
                self.pure(Pure.shard_lists(shards)),
            ],
        )

    # -- epoch change and staking (system.move) -------------------------------------------

    def split_gas(self, amount: int) -> bcs.Argument:
        """`SplitCoins(gas, [amount])`: a new coin of `amount` MIST paid from the gas coin."""
        return self.ptb.command(
            bcs.Command("SplitCoin", bcs.SplitCoin(self.gas, [self.pure(Pure.u64(amount))]))
        )

    def register_candidate(
        self, system: SharedRef, name: str, url: str, public_key: bytes, pop: bytes
    ) -> bcs.Argument:
        return self.call(
            "system",
            "register_candidate",
            [
                self.obj(system),
                self.pure(Pure.string(name)),
                self.pure(Pure.string(url)),
                self.pure(Pure.bytes_(public_key)),
                self.pure(Pure.bytes_(pop)),
            ],
        )

    def leave_committee(self, system: SharedRef, node_id: str) -> None:
        self.call("system", "leave_committee", [self.obj(system), self.pure(Pure.address(node_id))])

    def shards_received(
        self, system: SharedRef, node_id: str, epoch: int, shards: Sequence[int]
    ) -> None:
        self.call(
            "system",
            "shards_received",
            [
                self.obj(system),
                self.pure(Pure.address(node_id)),
                self.pure(Pure.u32(epoch)),
                self.pure(_uleb(len(shards)) + b"".join(Pure.u16(s) for s in shards)),
            ],
        )

    def stake(self, system: SharedRef, node_id: str, amount: int) -> bcs.Argument:
        coin = self.split_gas(amount)
        return self.call(
            "system", "stake", [self.obj(system), self.pure(Pure.address(node_id)), coin]
        )

    def request_withdraw_stake(self, system: SharedRef, staked: OwnedRef) -> None:
        self.call("system", "request_withdraw_stake", [self.obj(system), self.obj(staked)])

    def withdraw_stake(self, system: SharedRef, staked: OwnedRef) -> bcs.Argument:
        return self.call("system", "withdraw_stake", [self.obj(system), self.obj(staked)])

    def set_prices(
        self, system: SharedRef, cap: OwnedRef, storage_price: int, write_price: int
    ) -> None:
        self.call(
            "system",
            "set_prices",
            [
                self.obj(system),
                self.obj(cap),
                self.pure(Pure.u64(storage_price)),
                self.pure(Pure.u64(write_price)),
            ],
        )

    def set_capacity(self, system: SharedRef, cap: OwnedRef, total: int) -> None:
        self.call(
            "system", "set_capacity", [self.obj(system), self.obj(cap), self.pure(Pure.u64(total))]
        )

    # -- finishing --------------------------------------------------------------------------

    def transaction_data(
        self, sender: str, gas: OwnedRef, gas_price: int, gas_budget: int
    ) -> bytes:
        """BCS `TransactionData::V1` ready to sign."""
        kind = self.ptb.finish_for_inspect()
        owner = bcs.Address.from_str(sender)
        gas_data = bcs.GasData([_object_arg(gas)[1].value], owner, gas_price, gas_budget)
        data = bcs.TransactionData(
            "V1",
            bcs.TransactionDataV1(kind, owner, gas_data, bcs.TransactionExpiration("None", None)),
        )
        return bytes(data.serialize())


def publish_transaction(
    modules: list[bytes],
    dependencies: list[str],
    sender: str,
    gas: OwnedRef,
    gas_price: int,
    gas_budget: int,
) -> bytes:
    """Publish the package and send the UpgradeCap to the sender."""
    ptb = ProgrammableTransactionBuilder()
    cap = ptb.command(
        bcs.Command(
            "Publish",
            bcs.Publish(
                [list(m) for m in modules], [bcs.Address.from_str(d) for d in dependencies]
            ),
        )
    )
    recipient = ptb.input_pure(bcs.BuilderArg("Pure", list(Pure.address(sender))))
    ptb.command(bcs.Command("TransferObjects", bcs.TransferObjects([cap], recipient)))
    kind = ptb.finish_for_inspect()
    owner = bcs.Address.from_str(sender)
    gas_data = bcs.GasData([_object_arg(gas)[1].value], owner, gas_price, gas_budget)
    return bytes(
        bcs.TransactionData(
            "V1",
            bcs.TransactionDataV1(kind, owner, gas_data, bcs.TransactionExpiration("None", None)),
        ).serialize()
    )


def decode(tx_bytes: bytes) -> Any:
    """Parse BCS `TransactionData` (for checks and logs)."""
    return bcs.TransactionData.deserialize(tx_bytes)
