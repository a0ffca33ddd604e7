"""SuiChain: the chain port on a Sui full node, over its `sui.rpc.v2` gRPC API.

The port's methods are `client.ChainClient`'s (written once for every chain); this module is
the thin backend: it resolves a described transaction's objects, encodes it to BCS
(`sui_tx`), signs and executes it, and reads effects, objects (their JSON views) and events.

pysui opens every gRPC channel with TLS; a localnet (`http://127.0.0.1:9000`) speaks
plaintext, so `SuiNode` opens its own grpclib channel (TLS only for `https`) and drives
pysui's generated stubs and messages over it, on one event-loop thread of its own, so any
thread may call. Events come from checkpoints: cursor = checkpoint << 24 | transaction << 12 |
event.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar
from urllib.parse import urlparse

from haulout.protocol.blob_id import BlobId
from haulout.protocol.committee import Committee, Member
from haulout.protocol.upload_relay import tx_digest_text

from .accounts import Account
from .calls import Transaction
from .calls.blob import BLOB
from .calls.bucket import BUCKET
from .calls.shared_blob import SHARED_BLOB
from .calls.storage_resource import STORAGE
from .calls.system import ADMIN_CAP, STAKED, SYSTEM
from .client import ChainClient, Executed
from .errors import (
    ChainError,
    MoveAbort,
    NotDeployed,
    ObjectNotFound,
    ObjectNotOwned,
)
from .events import ChainEvent, Event, parse_event
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
from .sui_gas import POOL_SIZE, GasCoin, GasPool
from .sui_ids import attributes_field_id
from .sui_tx import (
    OwnedRef,
    SharedRef,
    encode_kind,
    leading_pure_inputs,
    publish_kind,
    split_coins_kind,
    transaction_data,
)

GAS_BUDGET = 500_000_000
"""Most MIST of gas one transaction may burn (publishing the package is the costliest)."""
MIN_GAS_COIN = 2 * GAS_BUDGET
"""Coins below this are not lent for gas: the budget is reserved out of the coin, and fees
paid from it (`&mut Coin<SUI>`) need the rest."""
CHECKPOINT_BATCH = 32
"""Checkpoints fetched at once when reading events."""
MAX_CHECKPOINTS_PER_READ = 2048
"""Checkpoints one `events` call scans at most (the next call goes on from there)."""
SUI_COIN = "0x2::coin::Coin<0x2::sui::SUI>"
RPC_TIMEOUT_S = 30.0
T = TypeVar("T")

OBJECT_FIELDS = ["object_id", "version", "digest", "owner", "object_type", "json"]
EXECUTED_FIELDS = [
    "digest",
    "effects.status",
    "effects.gas_used",
    "effects.gas_object",
    "effects.changed_objects",
    "events.events.event_type",
    "events.events.sender",
    "events.events.json",
    "balance_changes",
]
READ_TX_FIELDS = [
    "digest",
    "transaction.bcs",
    "transaction.sender",
    "checkpoint",
    "timestamp",
    "transaction_index",
    "events.events.event_type",
    "events.events.sender",
    "events.events.json",
    "balance_changes",
]
"""What an upload relay reads of its client's registering transaction."""


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


def normalize_address(text: str) -> str:
    """`0x` and 64 lowercase hex digits, as Sui prints ids in full."""
    return "0x" + text.removeprefix("0x").lower().rjust(64, "0")


def short_type(object_type: str, package_id: str) -> str:
    """`0x<package>::module::Struct` → `module::Struct` for the package's own types (others,
    and generic types, are returned unchanged)."""
    head, sep, rest = str(object_type).partition("::")
    if sep and head.startswith("0x") and normalize_address(head) == normalize_address(package_id):
        return rest
    return str(object_type)


# -- transport ------------------------------------------------------------------------------


class SuiNode:
    """A gRPC connection to a Sui full node, callable from any thread: the channel lives on a
    private event-loop thread and calls are handed to it (`run_coroutine_threadsafe`)."""

    def __init__(self, rpc_url: str, timeout_s: float = RPC_TIMEOUT_S) -> None:
        u = urlparse(rpc_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ChainError(f"Sui RPC URL {rpc_url!r} is not an http(s) URL")
        self.rpc_url, self.timeout_s = rpc_url, timeout_s
        self._host = u.hostname
        self._port = u.port or (443 if u.scheme == "https" else 80)
        self._ssl = u.scheme == "https"
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._channel: Any = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name=f"sui-rpc {self.rpc_url}", daemon=True
                )
                thread.start()
                self._loop = loop
            return self._loop

    def _chan(self) -> Any:  # only ever called on the loop thread
        if self._channel is None:
            from grpclib.client import Channel

            self._channel = Channel(host=self._host, port=self._port, ssl=self._ssl)
        return self._channel

    def stub(self, service: str) -> Any:
        """A generated stub of `sui.rpc.v2` (`ledger`, `state`, `transaction`) on the channel
        (loop thread only)."""
        import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as sui_prot

        cls = {
            "ledger": sui_prot.LedgerServiceStub,
            "state": sui_prot.StateServiceStub,
            "transaction": sui_prot.TransactionExecutionServiceStub,
        }[service]
        return cls(self._chan(), timeout=self.timeout_s)

    def submit(self, make: Callable[[], Awaitable[T]]) -> Future[T]:
        """Start the coroutine `make()` on the loop thread; its future."""

        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self._running_loop())

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run `make()` on the loop thread and wait for it (from any other thread)."""
        try:
            return self.submit(make).result(self.timeout_s * 2)
        except ChainError:
            raise
        except Exception as exc:
            raise self.error(exc) from exc

    def call(self, service: str, method: str, request: Any) -> Any:
        """One unary call, e.g. `call("ledger", "get_object", GetObjectRequest(...))`."""
        return self.run(lambda: getattr(self.stub(service), method)(request))

    def call_many(
        self, service: str, method: str, requests: Sequence[Any], in_flight: int = 16
    ) -> list[Any]:
        """Several unary calls at once (at most `in_flight` outstanding); answers in order."""

        async def all_of() -> list[Any]:
            gate = asyncio.Semaphore(in_flight)
            stub = self.stub(service)

            async def one(request: Any) -> Any:
                async with gate:
                    return await getattr(stub, method)(request)

            return list(await asyncio.gather(*(one(r) for r in requests)))

        return self.run(all_of)

    def error(self, exc: BaseException) -> ChainError:
        """A failed call as one clear typed error."""
        from grpclib.const import Status
        from grpclib.exceptions import GRPCError

        if isinstance(exc, GRPCError):
            if exc.status == Status.NOT_FOUND:
                return ObjectNotFound(f"{exc.message or 'not found'} (Sui node at {self.rpc_url})")
            if exc.status != Status.UNAVAILABLE:
                return ChainError(
                    f"Sui node at {self.rpc_url} refused the request: "
                    f"{exc.status.name} {exc.message or ''}".rstrip()
                )
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return ChainError(
            f"no Sui node answers at {self.rpc_url} ({reason}); start one with "
            "`haulout localnet` or check the URL"
        )

    def close(self) -> None:
        """Close the channel and stop the loop thread."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return

        async def shut() -> None:
            if self._channel is not None:
                self._channel.close()
                self._channel = None

        asyncio.run_coroutine_threadsafe(shut(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)


def _mask(paths: Sequence[str]) -> Any:
    from pysui.sui.sui_grpc.suimsgs.google.protobuf import FieldMask

    return FieldMask(paths=list(paths))


def localnet_faucet(address: str, faucet_url: str = "") -> None:
    """Ask a localnet faucet for SUI."""
    import os

    import httpx

    faucet_url = faucet_url or os.environ.get("HAULOUT_SUI_FAUCET_URL", "http://127.0.0.1:9123")

    try:
        httpx.post(
            f"{faucet_url}/v2/gas", json={"FixedAmountRequest": {"recipient": address}}, timeout=30
        ).raise_for_status()
    except httpx.HTTPError as exc:
        raise ChainError(
            f"the localnet faucet at {faucet_url} did not answer ({exc}); "
            "is the localnet running (`haulout localnet`)?"
        ) from exc


# -- the backend ------------------------------------------------------------------------------


class SuiBackend:
    """The `client.Backend` primitives on a Sui full node."""

    def __init__(
        self,
        node: SuiNode,
        package_id: str,
        system: SharedRef | None,
        admin_cap_id: str = "",
        faucet_url: str = "",
        gas_coins: int = POOL_SIZE,
    ) -> None:
        self.node, self.package_id, self.system_ref = node, package_id, system
        self._admin_cap_id, self.faucet_url = admin_cap_id, faucet_url
        self._gas_price: int | None = None
        self.gas = GasPool(self.list_coins, self.split_coins, MIN_GAS_COIN, gas_coins)
        self._first_checkpoint: int | None = None
        self._scanned: tuple[int, int] | None = None  # (after, checkpoint): see `events`
        self._scan_lock = threading.Lock()

    @property
    def system_id(self) -> str:
        """The shared System's id."""
        if self.system_ref is None:
            raise NotDeployed(f"no System on {self.node.rpc_url} yet; run `haulout deploy --rpc`")
        return self.system_ref.object_id

    @property
    def admin_cap_id(self) -> str:
        """The AdminCap's id."""
        if not self._admin_cap_id:
            raise NotDeployed(f"the package is not published on {self.node.rpc_url}")
        return self._admin_cap_id

    # -- objects ------------------------------------------------------------------------------

    def object(self, object_id: str, fields: Sequence[str] = OBJECT_FIELDS) -> Any:
        """An object's current version (raises `ObjectNotFound`)."""
        import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as sui_prot

        try:
            r = self.node.call(
                "ledger",
                "get_object",
                sui_prot.GetObjectRequest(object_id=object_id, read_mask=_mask(fields)),
            )
        except ObjectNotFound as exc:
            raise ObjectNotFound(f"no live object {object_id} on {self.node.rpc_url}") from exc
        return r.object

    def _typed(self, object_id: str, type_: str) -> tuple[Any, dict[str, Any]]:
        o = self.object(object_id)
        if short_type(o.object_type or "", self.package_id) != type_:
            raise ObjectNotFound(f"no live {type_.split('::')[-1]} object {object_id}")
        return o, _to_py(o.json)

    def reference(self, object_id: str, signer: str) -> OwnedRef | SharedRef:
        """What a transaction of `signer` passes for an object: a shared object by its
        initial version; an owned one at its version, refused here when it is not the
        signer's (DevChain's refusal, before paying for a failed transaction)."""
        from pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 import OwnerOwnerKind

        if self.system_ref is not None and object_id == self.system_ref.object_id:
            return self.system_ref
        o = self.object(object_id, ["object_id", "version", "digest", "owner", "object_type"])
        kind = o.owner.kind if o.owner else None
        if kind == OwnerOwnerKind.SHARED:
            return SharedRef(o.object_id, int(o.owner.version))
        owner = o.owner.address if o.owner and kind == OwnerOwnerKind.ADDRESS else ""
        if kind in (OwnerOwnerKind.ADDRESS, OwnerOwnerKind.OBJECT) and owner != signer:
            raise ObjectNotOwned(
                f"object {object_id} ({short_type(o.object_type or '', self.package_id)}) is "
                f"owned by {owner or 'another object'}, not by the sender {signer}; only its "
                "owner may use it"
            )
        return OwnedRef(o.object_id, int(o.version), o.digest, owner)

    # -- transactions --------------------------------------------------------------------------

    def gas_price(self) -> int:
        """The reference gas price (read once)."""
        import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as sui_prot

        if self._gas_price is None:
            r = self.node.call(
                "ledger",
                "get_epoch",
                sui_prot.GetEpochRequest(read_mask=_mask(["reference_gas_price"])),
            )
            self._gas_price = int((r.epoch and r.epoch.reference_gas_price) or 1000)
        return self._gas_price

    def list_coins(self, address: str) -> list[GasCoin]:
        """The SUI coins of `address` (the first 500)."""
        import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as sui_prot

        coins: list[GasCoin] = []
        token: bytes | None = None
        for _ in range(5):
            r = self.node.call(
                "state",
                "list_owned_objects",
                sui_prot.ListOwnedObjectsRequest(
                    owner=address,
                    object_type=SUI_COIN,
                    page_size=100,
                    page_token=token,
                    read_mask=_mask(["object_id", "version", "digest", "balance"]),
                ),
            )
            coins.extend(
                GasCoin(
                    OwnedRef(o.object_id, int(o.version), o.digest, address), int(o.balance or 0)
                )
                for o in r.objects
            )
            token = r.next_page_token
            if not token:
                break
        return coins

    def split_coins(self, signer: Account, coin: GasCoin, amounts: list[int]) -> list[GasCoin]:
        """Split `amounts` off `coin` (paying gas with it); the coin after, and the new ones."""
        kind = split_coins_kind(signer.address, amounts)
        data = transaction_data(kind, signer.address, [coin.ref], self.gas_price(), GAS_BUDGET)
        executed = self.send(signer, data)
        rest = self.gas_after(executed, coin, signer.address, spent=sum(amounts))
        new = [
            GasCoin(OwnedRef(oid, version, digest, signer.address), amount)
            for (oid, version, digest), amount in zip(
                self._created_refs(executed), amounts, strict=False
            )
        ]
        return ([rest] if rest else []) + new

    @staticmethod
    def _created_refs(executed: Any) -> list[tuple[str, int, str]]:
        from pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 import ChangedObjectInputObjectState

        return [
            (str(ch.object_id), int(ch.output_version), str(ch.output_digest))
            for ch in executed.effects.changed_objects
            if ch.input_state == ChangedObjectInputObjectState.DOES_NOT_EXIST
            and ch.output_version is not None
        ]

    def gas_after(
        self, executed: Any, coin: GasCoin, address: str, spent: int = 0
    ) -> GasCoin | None:
        """The gas coin after a transaction, from its effects: new version and digest, the
        balance less what the account paid (and `spent` moved to its other coins)."""
        go = executed.effects.gas_object if executed.effects else None
        if go is None or go.output_version is None or not go.output_digest:
            return None
        ref = OwnedRef(str(go.object_id), int(go.output_version), str(go.output_digest), address)
        return GasCoin(ref, coin.balance - self.paid(executed, address) - spent)

    def send(self, signer: Account, data: bytes) -> Any:
        """Execute signed `data`; the executed transaction (aborts raise `MoveAbort`)."""
        executed = self.send_raw(signer, data)
        status = executed.effects.status
        if not status.success:
            raise _failure(status.error)
        return executed

    def simulate(self, data: bytes) -> None:
        """Dry-run `data` and raise what it would fail with (as Sui's SDKs do before they
        send): an executed failure would still pay gas and move its inputs to new versions."""
        import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as sui_prot

        simulated = self.node.call(
            "transaction",
            "simulate_transaction",
            sui_prot.SimulateTransactionRequest(
                transaction=sui_prot.Transaction(
                    bcs=sui_prot.Bcs(name="TransactionData", value=data)
                ),
                read_mask=_mask(["transaction.effects.status"]),
            ),
        ).transaction
        if not simulated.effects.status.success:
            raise _failure(simulated.effects.status.error)

    def send_raw(self, signer: Account, data: bytes) -> Any:
        """Execute signed `data`; the executed transaction, failed or not."""
        import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as sui_prot

        request = sui_prot.ExecuteTransactionRequest(
            transaction=sui_prot.Transaction(bcs=sui_prot.Bcs(name="TransactionData", value=data)),
            signatures=[
                sui_prot.UserSignature(
                    bcs=sui_prot.Bcs(name="UserSignature", value=signer.sign_transaction(data))
                )
            ],
            read_mask=_mask([f"transaction.{p}" for p in EXECUTED_FIELDS]),
        )
        return self.node.call("transaction", "execute_transaction", request).transaction

    def execute(self, signer: Account, tx: Transaction) -> Executed:
        """Resolve, encode, sign and execute a described transaction, paying gas with a coin
        of the signer's that no other transaction in flight uses."""
        enc = encode_kind(tx, self.package_id, lambda oid: self.reference(oid, signer.address))
        with self.gas.lend(signer) as lease:
            data = transaction_data(
                enc.kind, signer.address, [lease.coin.ref], self.gas_price(), GAS_BUDGET
            )
            self.simulate(data)
            executed = self.send_raw(signer, data)
            lease.returned = self.gas_after(executed, lease.coin, signer.address)
        status = executed.effects.status
        if not status.success:
            raise _failure(status.error)
        return self.executed(executed, signer.address)

    def executed(self, executed: Any, address: str) -> Executed:
        """What every chain reports of an executed transaction."""
        from pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 import (
            ChangedObjectInputObjectState,
            ChangedObjectOutputObjectState,
        )

        created = {
            str(ch.object_id): short_type(ch.object_type or "", self.package_id)
            for ch in executed.effects.changed_objects
            if ch.input_state == ChangedObjectInputObjectState.DOES_NOT_EXIST
            and ch.output_state == ChangedObjectOutputObjectState.OBJECT_WRITE
        }
        events = [
            e
            for ev in ((executed.events.events if executed.events else None) or [])
            if (e := self.event(ev)) is not None
        ]
        return Executed(str(executed.digest or ""), created, events, self.paid(executed, address))

    def event(self, ev: Any) -> Event | None:
        """A typed event, or None for another package's or module's."""
        head, sep, rest = str(ev.event_type or "").partition("::")
        if not sep or not head.startswith("0x"):
            return None
        if normalize_address(head) != normalize_address(self.package_id):
            return None
        module, _, name = rest.partition("::")
        if module != "events":
            return None
        return parse_event(name, _event_fields(name, _to_py(ev.json)))

    @staticmethod
    def paid(executed: Any, address: str) -> int:
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

    # -- deployment -----------------------------------------------------------------------------

    def fund(self, address: str, amount: int | None = None) -> None:
        """SUI from the localnet faucet (a fixed amount; `amount` is DevChain's only)."""
        localnet_faucet(address, self.faucet_url)

    def publish(self, admin: Account) -> str:
        """Build the Move package and publish it; the AdminCap's id."""
        from haulout import move_tools

        try:  # built once per source change
            built = move_tools.built_package()
        except move_tools.MoveBuildFailed as exc:
            raise ChainError(str(exc)) from exc
        kind = publish_kind(
            [base64.b64decode(m) for m in built["modules"]], built["dependencies"], admin.address
        )
        with self.gas.lend(admin) as lease:
            data = transaction_data(
                kind, admin.address, [lease.coin.ref], self.gas_price(), GAS_BUDGET
            )
            executed = self.send_raw(admin, data)
            lease.returned = self.gas_after(executed, lease.coin, admin.address)
        if not executed.effects.status.success:
            raise _failure(executed.effects.status.error)
        for ch in executed.effects.changed_objects:
            if str(ch.object_type or "") == "package":
                self.package_id = str(ch.object_id)
        self._admin_cap_id = self.executed(executed, admin.address).created_one(ADMIN_CAP)
        return self._admin_cap_id

    def transaction(self, digest: str) -> ExecutedTransaction:
        """An executed transaction read back by digest (Base58 as Sui writes it, or 64 hex
        digits as an upload relay's `tx_id` parser gives it), as Walrus's relay reads its
        client's registering transaction: the BCS `TransactionData` for its inputs, the
        checkpoint's time, balance changes and events (raises `ObjectNotFound`)."""
        import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as sui_prot

        try:
            text = tx_digest_text(digest)
        except ValueError:
            raise ObjectNotFound(f"no executed transaction {digest!r}: not a digest") from None
        try:
            tx = self.node.call(
                "ledger",
                "get_transaction",
                sui_prot.GetTransactionRequest(digest=text, read_mask=_mask(READ_TX_FIELDS)),
            ).transaction
        except ObjectNotFound as exc:
            raise ObjectNotFound(f"no executed transaction {text} on {self.node.rpc_url}") from exc
        data = tx.transaction.bcs.value if tx.transaction and tx.transaction.bcs else b""
        ts = (
            int(tx.timestamp.timestamp() * 1000) if tx.timestamp else int(time.time() * 1000)
        )  # executed, not yet in a checkpoint: now
        seq = int(tx.checkpoint or 0)
        index = tx.transaction_index
        if index is None and tx.checkpoint is not None:
            index = self._position(seq, text)
        changes: dict[str, int] = {}
        for c in tx.balance_changes or []:
            if str(c.coin_type or "").endswith("::sui::SUI"):
                address = normalize_address(str(c.address))
                changes[address] = changes.get(address, 0) + int(c.amount or 0)
        events = (tx.events.events if tx.events else None) or []
        return ExecutedTransaction(
            text,
            normalize_address(str(tx.transaction.sender if tx.transaction else "")),
            ts,
            leading_pure_inputs(bytes(data)),
            changes,
            tuple(self._transaction_events(seq, int(index or 0), text, ts, events, None)),
        )

    def _position(self, seq: int, digest: str) -> int:
        """Where a transaction sits in its checkpoint (for a node that does not say)."""
        (checkpoint,) = self.checkpoints([seq])
        digests = [str(t.digest) for t in checkpoint.transactions or []]
        return digests.index(digest) if digest in digests else 0

    def adopt_system(self, system_id: str) -> None:
        """Pass the System by its initial shared version from now on."""
        from pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 import OwnerOwnerKind

        o = self.object(system_id, ["object_id", "owner"])
        if not o.owner or o.owner.kind != OwnerOwnerKind.SHARED:
            raise ChainError(f"{system_id} is not a shared object")
        self.system_ref = SharedRef(system_id, int(o.owner.version))

    # -- reads --------------------------------------------------------------------------------

    def system(self) -> SystemState:
        """The System object (JSON view)."""
        _, d = self._typed(self.system_id, SYSTEM)
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
            self.system_id,
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
            _committee_view(
                d.get("previous_committee"), nodes, int(d["epoch"]), int(d["n_shards"])
            ),
            int(d.get("change_epoch", 0)),
            bool(d.get("changing", False)),
            tuple(str(x) for x in d.get("received", ())),
            tuple(
                PoolInfo(
                    e["key"],
                    int(e["value"]["stake"]),
                    int(e["value"]["shares"]),
                    bool(e["value"]["active"]),
                )
                for e in (d.get("pools") or {}).get("contents", ())
            ),
        )

    def get_staked(self, object_id: str) -> StakedView:
        """A stake receipt (`staking::StakedSui`)."""
        _, d = self._typed(object_id, STAKED)
        return StakedView(
            object_id,
            str(d["node_id"]),
            int(d["shares"]),
            int(d["principal"]),
            bool(d["withdrawing"]),
            int(d["withdraw_epoch"]),
            int(d["withdraw_amount"]),
        )

    def attributes(self, object_id: str) -> dict[str, str]:
        """A Blob's attributes: the `VecMap<String, String>` in its `b"attributes"` dynamic
        field, found by its derived id (no field listing); empty when the field is absent."""
        try:
            field = self.object(attributes_field_id(object_id))
        except ObjectNotFound:
            return {}
        entries = (_to_py(field.json).get("value") or {}).get("contents") or []
        return {str(e["key"]): str(e["value"]) for e in entries}

    def _blob(self, object_id: str, d: dict[str, Any], owner: str) -> BlobObject:
        s = d["storage"]
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

    def get_blob(self, object_id: str) -> BlobObject:
        """A Blob object with its attributes."""
        o, d = self._typed(object_id, BLOB)
        return self._blob(object_id, d, (o.owner.address if o.owner else "") or "")

    def get_storage(self, object_id: str) -> StorageResource:
        """A Storage object."""
        _, d = self._typed(object_id, STORAGE)
        return StorageResource(
            object_id, int(d["start_epoch"]), int(d["end_epoch"]), int(d["storage_size"])
        )

    def get_bucket(self, bucket_id: str) -> BucketObject:
        """A Bucket from the node's JSON view (tags are a `VecMap`)."""
        o, d = self._typed(bucket_id, BUCKET)
        version = int(d["version"])
        tags = {str(e["key"]): int(e["value"]) for e in (d["tags"].get("contents") or [])}
        return BucketObject(
            bucket_id,
            str(d["name"]),
            version,
            BlobId.from_int(int(d["manifest_blob_id"])) if version else None,
            tags,
            (o.owner.address if o.owner else "") or "",
        )

    def get_shared_blob(self, shared_blob_id: str) -> SharedBlobView:
        """A SharedBlob: its wrapped Blob (shown inside it) and funds (a `Balance`, a u64)."""
        _, d = self._typed(shared_blob_id, SHARED_BLOB)
        blob = self._blob(d["blob"]["id"], d["blob"], shared_blob_id)
        return SharedBlobView(shared_blob_id, blob, int(d["funds"]))

    def balance(self, address: str) -> int:
        """SUI balance."""
        import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as sui_prot

        r = self.node.call(
            "state",
            "get_balance",
            sui_prot.GetBalanceRequest(owner=address, coin_type="0x2::sui::SUI"),
        )
        return int((r.balance and r.balance.balance) or 0)

    def first_checkpoint(self) -> int:
        """The checkpoint that published the package: no event of ours is older."""
        import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as sui_prot

        if self._first_checkpoint is None:
            package = self.object(self.package_id, ["object_id", "previous_transaction"])
            r = self.node.call(
                "ledger",
                "get_transaction",
                sui_prot.GetTransactionRequest(
                    digest=package.previous_transaction, read_mask=_mask(["checkpoint"])
                ),
            )
            self._first_checkpoint = int(r.transaction.checkpoint or 0)
        return self._first_checkpoint

    def latest_checkpoint(self) -> int:
        """The newest checkpoint's sequence number."""
        import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as sui_prot

        r = self.node.call(
            "ledger",
            "get_checkpoint",
            sui_prot.GetCheckpointRequest(read_mask=_mask(["sequence_number"])),
        )
        return int(r.checkpoint.sequence_number)

    def checkpoints(self, sequence_numbers: Sequence[int]) -> list[Any]:
        """Checkpoints with their transactions' digests and events, fetched at once."""
        import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as sui_prot

        mask = _mask(
            [
                "sequence_number",
                "summary.timestamp",
                "transactions.digest",
                "transactions.events.events.event_type",
                "transactions.events.events.sender",
                "transactions.events.events.json",
            ]
        )
        requests = [
            sui_prot.GetCheckpointRequest(sequence_number=s, read_mask=mask)
            for s in sequence_numbers
        ]
        return [r.checkpoint for r in self.node.call_many("ledger", "get_checkpoint", requests)]

    def events(self, after: int | None, limit: int) -> list[ChainEvent]:
        """The package's events with cursor > `after`, oldest first: checkpoints are read
        from the later of the cursor's and the package's publish checkpoint, in batches,
        at most `MAX_CHECKPOINTS_PER_READ` per call. What was scanned without finding more
        is remembered, so a follower polling at the chain's tip reads only new checkpoints."""
        after_cursor = after or 0
        start = max(after_cursor >> 24, self.first_checkpoint())
        with self._scan_lock:
            if self._scanned is not None and after_cursor >= self._scanned[0]:
                start = max(start, self._scanned[1] + 1)
        end = min(self.latest_checkpoint(), start + MAX_CHECKPOINTS_PER_READ - 1)
        out: list[ChainEvent] = []
        seq = start
        while seq <= end:
            batch = list(range(seq, min(end, seq + CHECKPOINT_BATCH - 1) + 1))
            for number, checkpoint in zip(batch, self.checkpoints(batch), strict=True):
                out.extend(self._checkpoint_events(number, checkpoint, after))
                if len(out) >= limit:
                    return out[:limit]
            seq = batch[-1] + 1
        if end >= start:  # nothing newer than what we return, through checkpoint `end`
            with self._scan_lock:
                if self._scanned is None or end >= self._scanned[1]:
                    self._scanned = (out[-1].cursor if out else after_cursor, end)
        return out

    def _checkpoint_events(self, seq: int, checkpoint: Any, after: int | None) -> list[ChainEvent]:
        ts = (
            int(checkpoint.summary.timestamp.timestamp() * 1000)
            if checkpoint.summary and checkpoint.summary.timestamp
            else int(time.time() * 1000)
        )
        out = []
        for ti, tx in enumerate(checkpoint.transactions or []):
            events = (tx.events.events if tx.events else None) or []
            out.extend(self._transaction_events(seq, ti, str(tx.digest), ts, events, after))
        return out

    def _transaction_events(
        self, seq: int, index: int, digest: str, ts: int, events: Sequence[Any], after: int | None
    ) -> list[ChainEvent]:
        """The package's events of transaction `index` in checkpoint `seq`, cursor > `after`."""
        out = []
        for ei, ev in enumerate(events):
            cursor = seq << 24 | index << 12 | ei
            if after is not None and cursor <= after:
                continue
            typed = self.event(ev)
            if typed is not None:
                out.append(ChainEvent(cursor, digest, str(ev.sender), ts, typed))
        return out


def _committee_view(raw: Any, nodes: dict[str, Any], epoch: int, n_shards: int) -> Committee | None:
    """A `committee::Committee` JSON view (None when absent or empty)."""
    if not raw or not raw.get("members"):
        return None
    return Committee(
        epoch,
        n_shards,
        tuple(
            Member(
                m["node_id"],
                nodes[m["node_id"]]["name"],
                nodes[m["node_id"]]["url"],
                _vec_u8(m["public_key"]),
                tuple(int(s) for s in m["shards"]),
            )
            for m in raw["members"]
        ),
    )


def _failure(error: Any) -> ChainError:
    """A failed transaction's status as a typed error: a Move abort as `MoveAbort`; a coin
    too small for what the transaction splits off it as DevChain's `EInsufficientPayment`."""
    from pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 import ExecutionErrorExecutionErrorKind as Kind

    description = str(getattr(error, "description", None) or "")
    abort = getattr(error, "abort", None) if error is not None else None
    if abort is not None and abort.location is not None and abort.abort_code is not None:
        return MoveAbort(str(abort.location.module), int(abort.abort_code), description)
    if error is not None and error.kind == Kind.INSUFFICIENT_COIN_BALANCE:
        return MoveAbort.named("system", "EInsufficientPayment", description)
    return ChainError(f"transaction failed: {description or error}")


class SuiDeployment(Protocol):
    """What SuiChain reads of a deployment record (`haulout.deployment.Deployment`)."""

    rpc_url: str
    package_id: str
    system_id: str
    admin_cap_id: str
    ledger: str


class SuiChain(ChainClient):
    """The chain port on a Sui full node."""

    backend: SuiBackend

    def __init__(
        self,
        rpc_url: str,
        package_id: str = "0x0",
        system: SharedRef | None = None,
        admin_cap_id: str = "",
        gas_coins: int = POOL_SIZE,
        faucet_url: str = "",
    ) -> None:
        self.rpc_url = rpc_url
        backend = SuiBackend(
            SuiNode(rpc_url), package_id, system, admin_cap_id, faucet_url, gas_coins=gas_coins
        )
        super().__init__(backend)

    @classmethod
    def from_deployment(cls, dep: SuiDeployment) -> SuiChain:
        """The adapter a Sui deployment file names (its `ledger` is the System's initial
        shared version)."""
        version = int(dep.ledger) if dep.ledger.isdigit() else 1
        return cls(dep.rpc_url, dep.package_id, SharedRef(dep.system_id, version), dep.admin_cap_id)

    @property
    def package_id(self) -> str:
        """The published package."""
        return self.backend.package_id

    def fund(self, address: str, amount: int | None = None) -> None:
        """SUI from the localnet faucet."""
        self.backend.fund(address, amount)

    def deployment_fields(self) -> dict[str, str]:
        """What a deployment record keeps of this chain."""
        ref = self.backend.system_ref
        return {
            "chain": "sui",
            "ledger": str(ref.initial_version if ref else ""),
            "rpc_url": self.rpc_url,
            "package_id": self.package_id,
        }

    def close(self) -> None:
        """Close the gRPC channel."""
        self.backend.node.close()
