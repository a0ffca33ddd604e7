"""Every kind of transaction Haulout's Sui builder makes, each beside what it is meant to do.

`transaction_kinds()` is what the TypeScript-SDK cross-check runs over: the transactions
SuiChain sends for each port method (batches included), and the deployment's publish and admin
calls. Values sit at the edges of their Move types (u64 and u32 maxima, a u256 with its top
byte set, non-ASCII strings) so a width or byte-order slip shows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import base58

from haulout.chain.accounts import Account
from haulout.chain.sui_tx import HauloutTransaction, OwnedRef, SharedRef, publish_transaction
from haulout.protocol.blob_id import BlobId
from haulout.protocol.hashing import blake2b256

from .tx_expect import CLOCK, GAS, Call, Meant, Owned, Publish, Res, Shared, Transfer

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "certificate.json").read_text()
)


def _id(label: str) -> str:
    return "0x" + blake2b256(label.encode()).hex()


def _owned(label: str, version: int) -> tuple[OwnedRef, Owned]:
    digest = base58.b58encode(blake2b256(b"digest" + label.encode())).decode()
    return OwnedRef(_id(label), version, digest), Owned(_id(label), version, digest)


PACKAGE = _id("package")
SENDER = Account(blake2b256(b"sender"))
RECIPIENT = _id("recipient")
GAS_REF, GAS_OBJ = _owned("gas", 2**40 + 3)
GAS_PRICE, GAS_BUDGET = 1000, 500_000_000
SYSTEM_REF = SharedRef(_id("system"), 2**33 + 5)
SYSTEM = Shared(_id("system"), 2**33 + 5, True)
BLOB_REF, BLOB = _owned("blob", 17)
BLOB2_REF, BLOB2 = _owned("blob2", 18)
STORAGE_REF, STORAGE = _owned("storage", 2**63 + 1)
STORAGE2_REF, STORAGE2 = _owned("storage2", 9)
CAP_REF, CAP = _owned("admin-cap", 3)

U64_MAX, U32_MAX, U16_MAX = 2**64 - 1, 2**32 - 1, 2**16 - 1
VECTOR_BLOB_ID = BlobId.parse(VECTORS["blob_id"])
VECTOR_BLOB_U256 = int(VECTORS["blob_id_u256"])  # pinned: the u256 the Move tests use
ROOT = bytes(range(255, 223, -1))  # a Merkle root whose last byte (the u256's top) is 0xe0
CERT = next(c for c in VECTORS["certificates"] if c["label"] == "permanent_quorum")
INVALID = next(c for c in VECTORS["certificates"] if c["label"] == "invalidate")
NODE = VECTORS["members"][0]


@dataclass(frozen=True)
class TxCase:
    """One transaction kind: its BCS bytes, what it means, who signs it."""

    name: str
    tx_bytes: bytes
    meant: Meant
    signer: Account = SENDER

    @property
    def signature(self) -> bytes:
        """The intent signature SuiChain sends with it."""
        return self.signer.sign_transaction(self.tx_bytes)


def _case(
    name: str,
    build: Callable[[HauloutTransaction], object],
    *commands: object,
    signer: Account = SENDER,
) -> TxCase:
    tx = HauloutTransaction(PACKAGE)
    build(tx)
    data = tx.transaction_data(signer.address, GAS_REF, GAS_PRICE, GAS_BUDGET)
    return TxCase(
        name, data, Meant(PACKAGE, signer.address, GAS_OBJ, GAS_PRICE, GAS_BUDGET, commands), signer
    )


def _hex(text: str) -> bytes:
    return bytes.fromhex(text)


def transaction_kinds() -> list[TxCase]:
    """Every transaction SuiChain and `deploy_sui` build, as SuiChain composes them."""
    sig, signers, msg = _hex(CERT["signature"]), _hex(CERT["signers"]), _hex(CERT["message"])
    isig, isigners, imsg = (_hex(INVALID[k]) for k in ("signature", "signers", "message"))
    root_u256 = int.from_bytes(ROOT, "little")
    attrs = {"content-type": "text/plain; charset=utf-8", "名前": "blob ✓ \u00e9"}
    node_ids = [_id(f"node-{i}") for i in range(4)]
    shards = [[0, 1, 2], [3, 4, U16_MAX], [], [8, 9]]
    modules = (
        b"\xa1\x1c\xeb\x0b\x06\x00\x00\x00" + bytes(range(60)),
        b"\xa1\x1c\xeb\x0b" + b"\xff" * 300,
    )

    def reserve(tx: HauloutTransaction) -> None:
        tx.transfer([tx.reserve_space(SYSTEM_REF, U64_MAX, U32_MAX)], SENDER.address)

    def register(tx: HauloutTransaction) -> None:
        b = tx.register_blob(SYSTEM_REF, STORAGE_REF, int(VECTOR_BLOB_ID), root_u256, 5, 1, True)
        tx.transfer([b], SENDER.address)

    def reserve_and_register(tx: HauloutTransaction) -> None:
        st = tx.reserve_space(SYSTEM_REF, 2**40, 53)
        b = tx.register_blob(SYSTEM_REF, st, int(VECTOR_BLOB_ID), root_u256, U64_MAX, 0, False)
        for key, value in attrs.items():
            tx.set_attribute(b, key, value)
        tx.transfer([b], SENDER.address)

    def delete_blobs(tx: HauloutTransaction) -> None:
        tx.transfer([tx.delete_blob(SYSTEM_REF, r) for r in (BLOB_REF, BLOB2_REF)], SENDER.address)

    def extend_blobs(tx: HauloutTransaction) -> None:
        for ref, epochs in ((BLOB_REF, 1), (BLOB2_REF, 7)):
            tx.extend_blob(SYSTEM_REF, ref, epochs)

    def burn_blobs(tx: HauloutTransaction) -> None:
        for ref in (BLOB_REF, BLOB2_REF):
            tx.burn(ref)

    register_call = Call(
        "blob::register_blob",
        (SYSTEM, STORAGE, VECTOR_BLOB_U256, root_u256, 5, 1, True, GAS),
    )
    return [
        _case(
            "reserve_space",
            reserve,
            Call("system::reserve_space", (SYSTEM, U64_MAX, U32_MAX, GAS)),
            Transfer((Res(0),), SENDER.address),
        ),
        _case("register_blob", register, register_call, Transfer((Res(0),), SENDER.address)),
        _case(
            "reserve_and_register_paid",
            reserve_and_register,
            Call("system::reserve_space", (SYSTEM, 2**40, 53, GAS)),
            Call(
                "blob::register_blob",
                (SYSTEM, Res(0), VECTOR_BLOB_U256, root_u256, U64_MAX, 0, False, GAS),
            ),
            *(Call("blob::set_attribute", (Res(1), k, v)) for k, v in attrs.items()),
            Transfer((Res(1),), SENDER.address),
        ),
        _case(
            "certify_blob",
            lambda tx: tx.certify_blob(SYSTEM_REF, BLOB_REF, sig, signers, msg),
            Call("blob::certify_blob", (SYSTEM, BLOB, sig, signers, msg)),
        ),
        _case(
            "extend_blob",
            lambda tx: tx.extend_blob(SYSTEM_REF, BLOB_REF, U32_MAX),
            Call("blob::extend_blob", (SYSTEM, BLOB, U32_MAX, GAS)),
        ),
        _case(
            "extend_blobs",
            extend_blobs,
            Call("blob::extend_blob", (SYSTEM, BLOB, 1, GAS)),
            Call("blob::extend_blob", (SYSTEM, BLOB2, 7, GAS)),
        ),
        _case(
            "delete_blob",
            lambda tx: tx.transfer([tx.delete_blob(SYSTEM_REF, BLOB_REF)], SENDER.address),
            Call("blob::delete_blob", (SYSTEM, BLOB)),
            Transfer((Res(0),), SENDER.address),
        ),
        _case(
            "delete_blobs",
            delete_blobs,
            Call("blob::delete_blob", (SYSTEM, BLOB)),
            Call("blob::delete_blob", (SYSTEM, BLOB2)),
            Transfer((Res(0), Res(1)), SENDER.address),
        ),
        _case("burn", lambda tx: tx.burn(BLOB_REF), Call("blob::burn", (BLOB,))),
        _case(
            "burn_blobs",
            burn_blobs,
            Call("blob::burn", (BLOB,)),
            Call("blob::burn", (BLOB2,)),
        ),
        _case(
            "set_attribute",
            lambda tx: tx.set_attribute(BLOB_REF, "x" * 64, "значение"),
            Call("blob::set_attribute", (BLOB, "x" * 64, "значение")),
        ),
        _case(
            "remove_attribute",
            lambda tx: tx.remove_attribute(BLOB_REF, "content-type"),
            Call("blob::remove_attribute", (BLOB, "content-type")),
        ),
        _case(
            "invalidate_blob_id",
            lambda tx: tx.invalidate_blob_id(SYSTEM_REF, isig, isigners, imsg),
            Call("system::invalidate_blob_id", (SYSTEM, isig, isigners, imsg)),
        ),
        _case(
            "split_storage_by_epoch",
            lambda tx: tx.transfer(
                [tx.split_storage_by_epoch(STORAGE_REF, U32_MAX)], SENDER.address
            ),
            Call("storage_resource::split_by_epoch", (STORAGE, U32_MAX)),
            Transfer((Res(0),), SENDER.address),
        ),
        _case(
            "split_storage_by_size",
            lambda tx: tx.transfer(
                [tx.split_storage_by_size(STORAGE_REF, U64_MAX)], SENDER.address
            ),
            Call("storage_resource::split_by_size", (STORAGE, U64_MAX)),
            Transfer((Res(0),), SENDER.address),
        ),
        _case(
            "fuse_storage",
            lambda tx: tx.fuse_storage(STORAGE_REF, STORAGE2_REF),
            Call("storage_resource::fuse", (STORAGE, STORAGE2)),
        ),
        _case(
            "transfer",
            lambda tx: tx.transfer([tx.obj(BLOB_REF)], RECIPIENT),
            Transfer((BLOB,), RECIPIENT),
        ),
        _case(
            "advance_epoch",
            lambda tx: tx.advance_epoch(SYSTEM_REF),
            Call("system::advance_epoch", (SYSTEM, CLOCK)),
        ),
        _case(
            "force_advance_epoch",
            lambda tx: tx.force_advance_epoch(SYSTEM_REF, CAP_REF),
            Call("system::force_advance_epoch", (SYSTEM, CAP, CLOCK)),
        ),
        _case(
            "deploy:create_system",
            lambda tx: tx.create_system(CAP_REF, U16_MAX, 3_600_000, 1000, 2000, 1 << 40, 53),
            Call(
                "system::create_system", (CAP, U16_MAX, 3_600_000, 1000, 2000, 1 << 40, 53, CLOCK)
            ),
        ),
        _case(
            "deploy:register_node",
            lambda tx: tx.register_node(
                SYSTEM_REF,
                CAP_REF,
                "node-0 ✓",
                "http://127.0.0.1:9300",
                _hex(NODE["public_key"]),
                _hex(NODE["pop"]),
                "0x" + NODE["address"],
            ),
            Call(
                "system::register_node",
                (
                    SYSTEM,
                    CAP,
                    "node-0 ✓",
                    "http://127.0.0.1:9300",
                    _hex(NODE["public_key"]),
                    _hex(NODE["pop"]),
                    NODE["address"],
                ),
            ),
        ),
        _case(
            "deploy:set_committee",
            lambda tx: tx.set_committee(SYSTEM_REF, CAP_REF, node_ids, shards),
            Call("system::set_committee", (SYSTEM, CAP, node_ids, shards)),
        ),
        _case(
            "admin:set_prices",
            lambda tx: tx.set_prices(SYSTEM_REF, CAP_REF, U64_MAX, 1),
            Call("system::set_prices", (SYSTEM, CAP, U64_MAX, 1)),
        ),
        _case(
            "admin:set_capacity",
            lambda tx: tx.set_capacity(SYSTEM_REF, CAP_REF, 1 << 50),
            Call("system::set_capacity", (SYSTEM, CAP, 1 << 50)),
        ),
        TxCase(
            "deploy:publish",
            publish_transaction(
                list(modules), ["0x1", "0x2"], SENDER.address, GAS_REF, GAS_PRICE, GAS_BUDGET
            ),
            Meant(
                PACKAGE,
                SENDER.address,
                GAS_OBJ,
                GAS_PRICE,
                GAS_BUDGET,
                (Publish(modules, ("0x1", "0x2")), Transfer((Res(0),), SENDER.address)),
            ),
        ),
    ]
