"""SuiChain: the chain port on a real Sui network through pysui 1.5's gRPC messages.

pysui opens every channel with TLS; a localnet (`http://127.0.0.1:9000`) speaks plaintext,
so this adapter opens its own grpclib channel with TLS only for `https` URLs and drives
pysui's request objects and generated stubs over it. Transactions are built by
`sui_tx.HauloutTransaction` (also tested offline); aborts in effects become `MoveAbort`;
events come from checkpoints, cursor = checkpoint << 24 | transaction << 12 | event.

Not yet run against a node on this project's machines (no `sui` binary there): the
localnet tests in tests/contract/test_sui_localnet.py run when HAULOUT_SUI_RPC is set.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from haulout.protocol.blob_id import BlobId
from haulout.protocol.certificate import Certificate
from haulout.protocol.committee import Committee, Member

from .accounts import Account
from .encoding_rules import reservation_length
from .errors import ChainError, MoveAbort, NotSupported, ObjectNotFound, ObjectNotOwned
from .events import ChainEvent, parse_event
from .objects import (
    BatchResult,
    BlobObject,
    NodeInfo,
    PaidRegistration,
    SharedBlobView,
    StorageResource,
    SystemState,
)
from .sui_ids import attributes_field_id
from .sui_tx import HauloutTransaction, OwnedRef, SharedRef, publish_transaction

if TYPE_CHECKING:
    from haulout.deployment import Deployment

GAS_BUDGET = 500_000_000


def _to_py(value: Any) -> Any:
    """google.protobuf.Value (betterproto2) → plain Python."""
    if value is None:
        return None
    try:
        return json.loads(value.to_json())
    except Exception:
        return value.to_dict() if hasattr(value, "to_dict") else value


def _vec_u8(value: Any) -> bytes:
    """A Move `vector<u8>` from Sui's JSON view, which renders byte vectors as Base64 (a list
    of numbers and `0x` hex are accepted too)."""
    if isinstance(value, list):
        return bytes(value)
    text = str(value)
    if text.startswith("0x"):
        return bytes.fromhex(text[2:])
    return base64.b64decode(text)


BYTE_FIELDS = {"NodeRegistered": ("public_key",)}
"""Event fields that are `vector<u8>` in Move; the typed events carry them as hex text, the
form DevChain emits, so both adapters produce equal events."""


def _event_fields(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    for key in BYTE_FIELDS.get(name, ()):
        fields[key] = _vec_u8(fields[key]).hex()
    return fields


class SuiChain:
    """Chain port over a Sui fullnode's gRPC API."""

    def __init__(
        self,
        rpc_url: str,
        package_id: str,
        system: SharedRef | None,
        admin_cap_id: str = "",
        admin: Account | None = None,
    ) -> None:
        self.rpc_url, self.package_id, self.system_ref, self.admin_cap_id, self.admin = (
            rpc_url,
            package_id,
            system,
            admin_cap_id,
            admin,
        )
        self._loop = asyncio.new_event_loop()
        self._channel: Any = None

    @classmethod
    def from_deployment(cls, dep: Deployment) -> SuiChain:
        """The adapter a Sui deployment file names."""
        version = int(dep.ledger) if dep.ledger.isdigit() else 1
        return cls(
            dep.rpc_url,
            dep.package_id,
            SharedRef(dep.system_id, version),
            dep.admin_cap_id,
            dep.admin,
        )

    # -- transport ----------------------------------------------------------------------------

    def _chan(self) -> Any:
        if self._channel is None:
            from grpclib.client import Channel

            u = urlparse(self.rpc_url)
            self._channel = Channel(
                host=u.hostname or "127.0.0.1",
                port=u.port or (443 if u.scheme == "https" else 9000),
                ssl=u.scheme == "https",
                loop=self._loop,
            )
        return self._channel

    def _grpc(self, request: Any) -> Any:
        import pysui.sui.sui_grpc.pgrpc_absreq as absreq
        import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as sui_prot

        stub_cls = {
            absreq.Service.LEDGER: sui_prot.LedgerServiceStub,
            absreq.Service.TRANSACTION: sui_prot.TransactionExecutionServiceStub,
            absreq.Service.STATE: sui_prot.StateServiceStub,
        }[request.service]
        call, message = request.to_request(stub=stub_cls(self._chan()))
        try:
            response = self._loop.run_until_complete(call(message))
        except Exception as exc:
            raise ChainError(
                f"Sui RPC at {self.rpc_url} failed: {exc}; is the localnet running (haulout localnet)?"
            ) from exc
        return request.render(response) if hasattr(request, "render") else response

    def _object(self, object_id: str) -> Any:
        from pysui.sui.sui_grpc.pgrpc_requests import GetObject

        try:
            obj = self._grpc(
                GetObject(
                    object_id=object_id,
                    field_mask=["object_id", "version", "digest", "owner", "object_type", "json"],
                )
            )
        except ChainError as exc:
            if "not found" in str(exc).lower():
                raise ObjectNotFound(f"no live object {object_id} on {self.rpc_url}") from exc
            raise
        return obj.object if hasattr(obj, "object") else obj

    def _owned(self, object_id: str) -> OwnedRef:
        o = self._object(object_id)
        owner = getattr(getattr(o, "owner", None), "address", "") or ""
        return OwnedRef(o.object_id, int(o.version), o.digest, str(owner))

    def _gas(self, signer: Account) -> tuple[OwnedRef, int]:
        from pysui.sui.sui_grpc.pgrpc_requests import GetGas, GetLatestSuiSystemState

        coins = self._grpc(GetGas(owner=signer.address))
        objects = getattr(coins, "objects", coins)
        if not objects:
            raise MoveAbort.named(
                "system",
                "EInsufficientPayment",
                f"{signer.address} has no SUI coin; use the localnet faucet",
            )
        best = max(objects, key=lambda c: int(getattr(c, "balance", 0) or 0))
        state = self._grpc(GetLatestSuiSystemState())
        price = int(getattr(state, "reference_gas_price", None) or 1000)  # a SystemState
        return OwnedRef(best.object_id, int(best.version), best.digest), price

    @staticmethod
    def _check_status(status: Any) -> None:
        """A failed execution status as the typed error (a Move abort keeps module and code)."""
        if status.success:
            return
        err = status.error
        abort = getattr(err, "abort", None)
        if abort is not None and abort.location is not None:
            raise MoveAbort(abort.location.module, int(abort.abort_code), err.description or "")
        raise ChainError(f"transaction failed: {err.description if err else status}")

    def _execute(self, signer: Account, tx: HauloutTransaction) -> Any:
        """Simulate, then execute: a transaction that would abort is refused before it is
        sent, as Sui's SDKs do with their dry run, so it costs no gas (on Sui an executed
        failure still pays gas and bumps its inputs' versions)."""
        from pysui.sui.sui_grpc.pgrpc_requests import ExecuteTransaction, SimulateTransaction

        for ref in tx.owned:  # the same refusal DevChain gives, before paying for a failure
            if ref.owner and ref.owner != signer.address:
                raise ObjectNotOwned(
                    f"object {ref.object_id} is owned by {ref.owner}, not by the sender "
                    f"{signer.address}; only its owner may use it"
                )
        gas, price = self._gas(signer)
        data = tx.transaction_data(signer.address, gas, price, GAS_BUDGET)
        self._check_status(
            self._grpc(SimulateTransaction(transaction=data)).transaction.effects.status
        )
        executed = self._grpc(
            ExecuteTransaction(tx_bytestr=data, sig_array=[signer.sign_transaction(data)])
        )
        self._check_status(executed.effects.status)
        return executed

    @staticmethod
    def _paid(executed: Any, address: str) -> int:
        """MIST the transaction took from `address`: the SUI balance changes in its effects
        (fees paid from a split of the gas coin, and gas, net of rebates); without them, the
        gas summary alone."""
        changes = [
            c
            for c in getattr(executed, "balance_changes", None) or []
            if str(c.address) == address and str(c.coin_type or "").endswith("::sui::SUI")
        ]
        if changes:
            return -sum(int(c.amount or 0) for c in changes)
        gas = getattr(executed.effects, "gas_used", None)
        if gas is None:
            return 0
        return (
            int(gas.computation_cost or 0)
            + int(gas.storage_cost or 0)
            - int(gas.storage_rebate or 0)
        )

    def _created(self, executed: Any, type_suffix: str) -> str:
        for ch in executed.effects.changed_objects:
            if str(ch.input_state).endswith("DOES_NOT_EXIST") and ch.object_id:
                obj = self._object(ch.object_id)
                if str(obj.object_type).endswith(type_suffix):
                    return str(ch.object_id)
        raise ChainError(f"the transaction created no {type_suffix}")

    # -- reads --------------------------------------------------------------------------------

    def system(self) -> SystemState:
        """The System object (JSON view)."""
        assert self.system_ref is not None
        d = _to_py(self._object(self.system_ref.object_id).json)
        nodes = {e["key"]: e["value"] for e in d["nodes"]["contents"]}
        members = tuple(
            Member(
                m["node_id"],
                nodes[m["node_id"]]["name"],
                nodes[m["node_id"]]["url"],
                _vec_u8(m["public_key"]),
                tuple(int(s) for s in m["shards"]),
            )
            for m in d["committee"]["members"]
        )
        committee = Committee(int(d["epoch"]), int(d["n_shards"]), members) if members else None
        usage = [int(x) for x in d["usage"]]
        return SystemState(
            self.system_ref.object_id,
            int(d["version"]),
            int(d["epoch"]),
            int(d["epoch_start_ms"]),
            int(d["epoch_duration_ms"]),
            int(d["n_shards"]),
            committee,
            int(d["total_capacity"]),
            usage[int(d["epoch"]) % len(usage)],
            int(d["storage_price"]),
            int(d["write_price"]),
            int(d["max_epochs_ahead"]),
            tuple(
                NodeInfo(k, v["name"], v["url"], _vec_u8(v["public_key"]), v["node_address"])
                for k, v in nodes.items()
            ),
        )

    def attributes(self, object_id: str) -> dict[str, str]:
        """A Blob's attributes: the `VecMap<String, String>` in its `b"attributes"` dynamic
        field, found by its derived id (no field listing); empty when the field is absent."""
        try:
            field = self._object(attributes_field_id(object_id))
        except ObjectNotFound:
            return {}
        entries = (_to_py(field.json).get("value") or {}).get("contents") or []
        return {str(e["key"]): str(e["value"]) for e in entries}

    def get_blob(self, object_id: str) -> BlobObject:
        """A Blob object with its attributes."""
        o = self._object(object_id)
        if not str(o.object_type).endswith("::blob::Blob"):
            raise ObjectNotFound(f"{object_id} is not a Blob")
        d = _to_py(o.json)
        s = d["storage"]
        owner = getattr(getattr(o, "owner", None), "address", "") or ""
        return BlobObject(
            object_id,
            int(d["registered_epoch"]),
            BlobId.from_int(int(d["blob_id"])),
            int(d["size"]),
            int(d["encoding_type"]),
            None if d["certified_epoch"] is None else int(d["certified_epoch"]),
            StorageResource(
                s["id"], int(s["start_epoch"]), int(s["end_epoch"]), int(s["storage_size"])
            ),
            bool(d["deletable"]),
            owner,
            self.attributes(object_id),
        )

    def get_storage(self, object_id: str) -> StorageResource:
        """A Storage object."""
        d = _to_py(self._object(object_id).json)
        return StorageResource(
            object_id, int(d["start_epoch"]), int(d["end_epoch"]), int(d["storage_size"])
        )

    def balance(self, address: str) -> int:
        """SUI balance."""
        from pysui.sui.sui_grpc.pgrpc_requests import GetAddressCoinBalance

        r = self._grpc(GetAddressCoinBalance(owner=address))
        return int(getattr(getattr(r, "balance", r), "balance", 0) or 0)

    def events(self, after: int | None = None, limit: int = 1000) -> list[ChainEvent]:
        """Haulout events from checkpoints after the cursor."""
        import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as sui_prot
        from pysui.sui.sui_grpc.pgrpc_requests import GetCheckpointBySequence, GetLatestCheckpoint

        start_cp = (after or 0) >> 24
        latest = int(self._grpc(GetLatestCheckpoint()).checkpoint.sequence_number)
        out: list[ChainEvent] = []
        prefix = f"{self.package_id}::events::"
        for cp in range(start_cp, latest + 1):
            checkpoint = self._grpc(  # GetCheckpointResponse: the checkpoint is inside
                GetCheckpointBySequence(
                    sequence_number=cp,
                    field_mask=[
                        "sequence_number",
                        "summary.timestamp",
                        "transactions.digest",
                        "transactions.events",
                    ],
                )
            ).checkpoint
            _ = sui_prot
            for ti, tx in enumerate(checkpoint.transactions or []):
                for ei, ev in enumerate((tx.events.events if tx.events else []) or []):
                    cursor = cp << 24 | ti << 12 | ei
                    if after is not None and cursor <= after:
                        continue
                    if not str(ev.event_type).startswith(prefix):
                        continue
                    name = str(ev.event_type)[len(prefix) :]
                    ts = (
                        int(checkpoint.summary.timestamp.timestamp() * 1000)
                        if checkpoint.summary and checkpoint.summary.timestamp
                        else int(time.time() * 1000)
                    )
                    out.append(
                        ChainEvent(
                            cursor,
                            str(tx.digest),
                            str(ev.sender),
                            ts,
                            parse_event(name, _event_fields(name, _to_py(ev.json))),
                        )
                    )
                    if len(out) >= limit:
                        return out
        return out

    # -- writes -------------------------------------------------------------------------------

    def _tx(self) -> HauloutTransaction:
        return HauloutTransaction(self.package_id)

    @property
    def _sys(self) -> SharedRef:
        assert self.system_ref is not None
        return self.system_ref

    def reserve_space(
        self, signer: Account, storage_size: int, epochs_ahead: int
    ) -> StorageResource:
        tx = self._tx()
        st = tx.reserve_space(self._sys, storage_size, epochs_ahead)
        tx.transfer([st], signer.address)
        return self.get_storage(
            self._created(self._execute(signer, tx), "::storage_resource::Storage")
        )

    def register_blob(
        self,
        signer: Account,
        storage_id: str,
        blob_id: BlobId,
        root: bytes,
        size: int,
        encoding_type: int,
        deletable: bool,
    ) -> BlobObject:
        tx = self._tx()
        b = tx.register_blob(
            self._sys,
            self._owned(storage_id),
            int(blob_id),
            int.from_bytes(root, "little"),
            size,
            encoding_type,
            deletable,
        )
        tx.transfer([b], signer.address)
        return self.get_blob(self._created(self._execute(signer, tx), "::blob::Blob"))

    def reserve_and_register(
        self,
        signer: Account,
        blob_id: BlobId,
        root: bytes,
        size: int,
        encoding_type: int,
        epochs_ahead: int,
        deletable: bool,
    ) -> BlobObject:
        return self.reserve_and_register_paid(
            signer, blob_id, root, size, encoding_type, epochs_ahead, deletable
        ).blob

    def reserve_and_register_paid(
        self,
        signer: Account,
        blob_id: BlobId,
        root: bytes,
        size: int,
        encoding_type: int,
        epochs_ahead: int,
        deletable: bool,
        attributes: Mapping[str, str] | None = None,
    ) -> PaidRegistration:
        """Reserve and register in one transaction, setting `attributes` on the new Blob in
        the same PTB; the cost is read from its effects."""
        tx = self._tx()
        needed = reservation_length(self.system().n_shards, size, encoding_type)
        st = tx.reserve_space(self._sys, needed, epochs_ahead)
        b = tx.register_blob(
            self._sys,
            st,
            int(blob_id),
            int.from_bytes(root, "little"),
            size,
            encoding_type,
            deletable,
        )
        for key, value in (attributes or {}).items():
            tx.set_attribute(b, key, value)
        tx.transfer([b], signer.address)
        executed = self._execute(signer, tx)
        return PaidRegistration(
            self.get_blob(self._created(executed, "::blob::Blob")),
            self._paid(executed, signer.address),
            str(executed.digest or ""),
        )

    def certify_blob(self, signer: Account, object_id: str, certificate: Certificate) -> BlobObject:
        tx = self._tx()
        tx.certify_blob(
            self._sys,
            self._owned(object_id),
            certificate.signature,
            certificate.signers,
            certificate.message,
        )
        self._execute(signer, tx)
        return self.get_blob(object_id)

    def extend_blob(self, signer: Account, object_id: str, epochs: int) -> BlobObject:
        tx = self._tx()
        tx.extend_blob(self._sys, self._owned(object_id), epochs)
        self._execute(signer, tx)
        return self.get_blob(object_id)

    def extend_blobs(self, signer: Account, extensions: Sequence[tuple[str, int]]) -> BatchResult:
        """One PTB with an `extend_blob` call per member: all or none."""
        tx = self._tx()
        for oid, epochs in extensions:
            tx.extend_blob(self._sys, self._owned(oid), epochs)
        return BatchResult(str(self._execute(signer, tx).digest or ""))

    def delete_blobs(self, signer: Account, object_ids: Sequence[str]) -> BatchResult:
        """One PTB deleting every member; the freed Storage objects go back to the signer."""
        tx = self._tx()
        storages = [tx.delete_blob(self._sys, self._owned(oid)) for oid in object_ids]
        if storages:
            tx.transfer(storages, signer.address)
        executed = self._execute(signer, tx)
        created = []
        for ch in executed.effects.changed_objects:  # as delete_blob: the live Storage ones
            try:
                if str(self._object(ch.object_id).object_type).endswith(
                    "::storage_resource::Storage"
                ):
                    created.append(str(ch.object_id))
            except ChainError:
                continue
        return BatchResult(str(executed.digest or ""), tuple(created))

    def burn_blobs(self, signer: Account, object_ids: Sequence[str]) -> BatchResult:
        """One PTB burning every member."""
        tx = self._tx()
        for oid in object_ids:
            tx.burn(self._owned(oid))
        return BatchResult(str(self._execute(signer, tx).digest or ""))

    def share_blob(self, signer: Account, object_id: str, funds: int = 0) -> str:
        raise NotSupported("shared blobs are on DevChain only for now (haulout/chain/devchain.py)")

    def fund_shared_blob(self, signer: Account, shared_blob_id: str, amount: int) -> SharedBlobView:
        raise NotSupported("shared blobs are on DevChain only for now (haulout/chain/devchain.py)")

    def extend_shared_blob(
        self, signer: Account, shared_blob_id: str, epochs: int
    ) -> SharedBlobView:
        raise NotSupported("shared blobs are on DevChain only for now (haulout/chain/devchain.py)")

    def get_shared_blob(self, shared_blob_id: str) -> SharedBlobView:
        raise NotSupported("shared blobs are on DevChain only for now (haulout/chain/devchain.py)")

    def delete_blob(self, signer: Account, object_id: str) -> StorageResource:
        tx = self._tx()
        st = tx.delete_blob(self._sys, self._owned(object_id))
        tx.transfer([st], signer.address)
        executed = self._execute(signer, tx)
        for ch in executed.effects.changed_objects:
            try:
                if str(self._object(ch.object_id).object_type).endswith(
                    "::storage_resource::Storage"
                ):
                    return self.get_storage(ch.object_id)
            except ChainError:
                continue
        raise ChainError("delete_blob returned no Storage")

    def split_storage_by_epoch(
        self, signer: Account, storage_id: str, epoch: int
    ) -> StorageResource:
        tx = self._tx()
        tx.transfer([tx.split_storage_by_epoch(self._owned(storage_id), epoch)], signer.address)
        return self.get_storage(
            self._created(self._execute(signer, tx), "::storage_resource::Storage")
        )

    def split_storage_by_size(self, signer: Account, storage_id: str, size: int) -> StorageResource:
        tx = self._tx()
        tx.transfer([tx.split_storage_by_size(self._owned(storage_id), size)], signer.address)
        return self.get_storage(
            self._created(self._execute(signer, tx), "::storage_resource::Storage")
        )

    def fuse_storage(self, signer: Account, first: str, second: str) -> StorageResource:
        tx = self._tx()
        tx.fuse_storage(self._owned(first), self._owned(second))
        self._execute(signer, tx)
        return self.get_storage(first)

    def burn(self, signer: Account, object_id: str) -> None:
        tx = self._tx()
        tx.burn(self._owned(object_id))
        self._execute(signer, tx)

    def set_attribute(self, signer: Account, object_id: str, key: str, value: str) -> None:
        tx = self._tx()
        tx.set_attribute(self._owned(object_id), key, value)
        self._execute(signer, tx)

    def remove_attribute(self, signer: Account, object_id: str, key: str) -> None:
        tx = self._tx()
        tx.remove_attribute(self._owned(object_id), key)
        self._execute(signer, tx)

    def invalidate_blob_id(self, signer: Account, certificate: Certificate) -> BlobId:
        tx = self._tx()
        tx.invalidate_blob_id(
            self._sys, certificate.signature, certificate.signers, certificate.message
        )
        self._execute(signer, tx)
        return BlobId(certificate.message[7:39])

    def transfer(self, signer: Account, object_id: str, recipient: str) -> None:
        tx = self._tx()
        tx.transfer([tx.obj(self._owned(object_id))], recipient)
        self._execute(signer, tx)

    def advance_epoch(self, signer: Account) -> int:
        tx = self._tx()
        tx.advance_epoch(self._sys)
        self._execute(signer, tx)
        return self.system().epoch

    def force_advance_epoch(self, admin: Account) -> int:
        tx = self._tx()
        tx.force_advance_epoch(self._sys, self._owned(self.admin_cap_id))
        self._execute(admin, tx)
        return self.system().epoch


def localnet_faucet(address: str, faucet_url: str = "") -> None:
    """Ask a localnet faucet for SUI (`faucet_url`, else HAULOUT_SUI_FAUCET_URL, else the
    localnet default http://127.0.0.1:9123)."""
    import os

    import httpx

    faucet_url = faucet_url or os.environ.get("HAULOUT_SUI_FAUCET_URL", "http://127.0.0.1:9123")
    httpx.post(
        f"{faucet_url}/v2/gas", json={"FixedAmountRequest": {"recipient": address}}, timeout=30
    ).raise_for_status()


def deploy_sui(
    rpc_url: str,
    workdir: Any,
    n_nodes: int = 4,
    n_shards: int = 100,
    base_port: int = 9300,
    epoch_duration_ms: int = 3_600_000,
    encoding_type: int | None = None,
    faucet_url: str = "",
) -> Deployment:
    """Publish the package, create the System, register nodes with PoPs and the committee
    (node i at http://127.0.0.1:`base_port + i`); accounts are funded by `faucet_url`'s
    faucet (see `localnet_faucet`)."""
    import base64
    from pathlib import Path

    from haulout import move_tools
    from haulout.deployment import Deployment, NodeConfig
    from haulout.protocol.bls import BlsKeyPair
    from haulout.protocol.committee import even_shards
    from haulout.protocol.messages import proof_of_possession

    try:
        built = move_tools.built_package()
    except move_tools.MoveBuildFailed as exc:
        raise ChainError(str(exc)) from exc
    admin, relayer = Account.generate(), Account.generate()
    localnet_faucet(admin.address, faucet_url)
    localnet_faucet(relayer.address, faucet_url)
    chain = SuiChain(rpc_url, "0x0", None)
    gas, price = chain._gas(admin)
    data = publish_transaction(
        [base64.b64decode(m) for m in built["modules"]],
        built["dependencies"],
        admin.address,
        gas,
        price,
        GAS_BUDGET,
    )
    from pysui.sui.sui_grpc.pgrpc_requests import ExecuteTransaction

    executed = chain._grpc(
        ExecuteTransaction(tx_bytestr=data, sig_array=[admin.sign_transaction(data)])
    )
    package_id = cap_id = ""
    for ch in executed.effects.changed_objects:
        o = chain._object(ch.object_id)
        kind = str(o.object_type)
        if kind == "package":
            package_id = str(ch.object_id)
        elif kind.endswith("::system::AdminCap"):
            cap_id = str(ch.object_id)
    chain.package_id = package_id
    tx = HauloutTransaction(package_id)
    tx.create_system(chain._owned(cap_id), n_shards, epoch_duration_ms, 1000, 2000, 1 << 40, 53)
    executed = chain._execute(admin, tx)
    system_id = chain._created(executed, "::system::System")
    version = int(chain._object(system_id).version)
    chain.system_ref, chain.admin_cap_id = SharedRef(system_id, version), cap_id
    nodes = []
    for i in range(n_nodes):
        key, account = BlsKeyPair.generate(), Account.generate()
        pop = key.sign(proof_of_possession(0, key.public_key, bytes.fromhex(account.address[2:])))
        url = f"http://127.0.0.1:{base_port + i}"
        nodes.append(NodeConfig(f"node-{i}", url, key.secret.hex(), account.seed.hex()))
        tx = HauloutTransaction(package_id)
        tx.register_node(
            chain.system_ref,
            chain._owned(cap_id),
            f"node-{i}",
            url,
            key.public_key,
            pop,
            account.address,
        )
        chain._execute(admin, tx)
    ids = [n.node_id for n in chain.system().nodes]
    for n, nid in zip(nodes, ids, strict=True):
        n.node_id = nid
    tx = HauloutTransaction(package_id)
    tx.set_committee(chain.system_ref, chain._owned(cap_id), ids, even_shards(n_shards, n_nodes))
    chain._execute(admin, tx)
    _ = Path(workdir)
    return Deployment(
        "sui",
        str(version),
        system_id,
        cap_id,
        admin.seed.hex(),
        relayer.seed.hex(),
        rpc_url,
        package_id,
        nodes,
        *([] if encoding_type is None else [encoding_type]),
    )
