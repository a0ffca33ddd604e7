"""The gRPC services of the stand-in (`sui.rpc.v2`, the messages pysui ships) over grpclib.

Served methods:
- LedgerService: GetServiceInfo, GetObject, BatchGetObjects, GetTransaction, GetCheckpoint,
  GetEpoch, ListCheckpoints (server stream);
- StateService: ListOwnedObjects, GetBalance, ListBalances;
- TransactionExecutionService: ExecuteTransaction, SimulateTransaction.
Anything else answers UNIMPLEMENTED, as grpclib does for an unknown method.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpclib.const
import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as rpc
from grpclib.exceptions import GRPCError
from grpclib.server import Stream

from haulout.chain.ledger import Ledger

from .executor import REFERENCE_GAS_PRICE, SUI_TYPE, Executor, Rejected
from .ledger import Objects, Row
from .move_types import Package, parse_type
from .values import canonical_address
from .views import (
    CHECKPOINT_MASK_DEFAULT,
    OBJECT_MASK_DEFAULT,
    checkpoint_proto,
    latest_checkpoint,
    mask_tree,
    object_proto,
    paths,
    prune,
)

log = logging.getLogger("haulout.standin")
MAX_PAGE = 1000
"""Largest page ListOwnedObjects and ListCheckpoints answer (larger requests are cut)."""
CHAIN_ID = "4btiuiMPvEENsttpZC7CZ53DruC3MAgfznDbASZ7DR6S"


def _bad(message: str) -> GRPCError:
    return GRPCError(grpclib.const.Status.INVALID_ARGUMENT, message)


def _object_id(text: str | None) -> str:
    try:
        if not text or len(text.removeprefix("0x")) > 64:
            raise ValueError(text)
        int(text.removeprefix("0x"), 16)
    except ValueError as exc:
        raise _bad(f"invalid object_id: {text!r}") from exc
    return canonical_address(text)


class Services:
    """Every served method, over one DevChain ledger."""

    def __init__(self, chain: Ledger, pkg: Package) -> None:
        self.chain, self.pkg = chain, pkg
        self.executor = Executor(chain, pkg)

    def _objs(self) -> Objects:
        return Objects(self.chain.conn(), self.pkg)

    # -- LedgerService --------------------------------------------------------------------

    def get_service_info(self, _: rpc.GetServiceInfoRequest) -> rpc.GetServiceInfoResponse:
        conn = self.chain.conn()
        tip = latest_checkpoint(conn)
        cp = checkpoint_proto(conn, tip)
        return rpc.GetServiceInfoResponse(
            chain_id=CHAIN_ID,
            chain="localnet",
            epoch=0,
            checkpoint_height=tip,
            timestamp=cp.summary.timestamp if cp and cp.summary else None,
            lowest_available_checkpoint=0,
            lowest_available_checkpoint_objects=0,
            server="haulout-sui-standin",
        )

    def _get_object(self, object_id: str | None, version: int | None, mask: Any) -> rpc.Object:
        oid = _object_id(object_id)
        row = self._objs().get(oid)
        if row is None or (version is not None and row.version != version):
            suffix = f" with version {version}" if version is not None else ""
            raise GRPCError(grpclib.const.Status.NOT_FOUND, f"Object {oid}{suffix} not found")
        return prune(object_proto(row, self.pkg), mask_tree(paths(mask), OBJECT_MASK_DEFAULT))

    def get_object(self, req: rpc.GetObjectRequest) -> rpc.GetObjectResponse:
        return rpc.GetObjectResponse(
            object=self._get_object(req.object_id, req.version, req.read_mask)
        )

    def batch_get_objects(self, req: rpc.BatchGetObjectsRequest) -> rpc.BatchGetObjectsResponse:
        import pysui.sui.sui_grpc.suimsgs.google.rpc as grpc_status

        if len(req.requests) > MAX_PAGE:
            raise _bad(f"at most {MAX_PAGE} objects per request")
        out = []
        for r in req.requests:
            try:
                out.append(
                    rpc.GetObjectResult(
                        object=self._get_object(r.object_id, r.version, req.read_mask)
                    )
                )
            except GRPCError as exc:
                out.append(
                    rpc.GetObjectResult(
                        error=grpc_status.Status(code=exc.status.value, message=exc.message or "")
                    )
                )
        return rpc.BatchGetObjectsResponse(objects=out)

    def get_transaction(self, req: rpc.GetTransactionRequest) -> rpc.GetTransactionResponse:
        row = (
            self.chain.conn()
            .execute("SELECT executed FROM sui_transactions WHERE digest = ?", (req.digest or "",))
            .fetchone()
        )
        if row is None:
            raise GRPCError(grpclib.const.Status.NOT_FOUND, f"Transaction {req.digest} not found")
        tx = rpc.ExecutedTransaction.FromString(row[0])
        return rpc.GetTransactionResponse(
            transaction=prune(tx, mask_tree(paths(req.read_mask), ["digest"]))
        )

    def get_checkpoint(self, req: rpc.GetCheckpointRequest) -> rpc.GetCheckpointResponse:
        conn = self.chain.conn()
        if req.digest:
            row = conn.execute(
                "SELECT seq FROM sui_checkpoints WHERE digest = ?", (req.digest,)
            ).fetchone()
            seq = row[0] if row else -1
        else:
            seq = latest_checkpoint(conn) if req.sequence_number is None else req.sequence_number
        cp = checkpoint_proto(conn, seq)
        if cp is None:
            raise GRPCError(
                grpclib.const.Status.NOT_FOUND,
                f"Checkpoint {req.sequence_number if req.digest is None else req.digest} not found",
            )
        return rpc.GetCheckpointResponse(
            checkpoint=prune(cp, mask_tree(paths(req.read_mask), CHECKPOINT_MASK_DEFAULT))
        )

    def list_checkpoints(
        self, req: rpc.ListCheckpointsRequest
    ) -> list[rpc.ListCheckpointsResponse]:
        conn = self.chain.conn()
        tip = latest_checkpoint(conn)
        start = req.start_checkpoint or 0
        end = min(tip + 1, req.end_checkpoint if req.end_checkpoint is not None else tip + 1)
        limit = min(MAX_PAGE, (req.options.limit if req.options and req.options.limit else 50))
        tree = mask_tree(paths(req.read_mask), CHECKPOINT_MASK_DEFAULT)
        frames: list[rpc.ListCheckpointsResponse] = []
        seq = start
        while seq < end and len(frames) < limit:
            cp = checkpoint_proto(conn, seq)
            if cp is not None:
                frames.append(
                    rpc.ListCheckpointsResponse(
                        checkpoint=prune(cp, tree),
                        watermark=rpc.Watermark(cursor=seq.to_bytes(8, "big"), checkpoint=seq),
                    )
                )
            seq += 1
        reason = (
            rpc.QueryEndReason.ITEM_LIMIT
            if seq < end
            else (
                rpc.QueryEndReason.LEDGER_TIP
                if end == tip + 1
                else rpc.QueryEndReason.CHECKPOINT_BOUND
            )
        )
        last = rpc.Watermark(
            cursor=(seq - 1).to_bytes(8, "big", signed=True), checkpoint=max(seq - 1, 0)
        )
        if frames and reason == rpc.QueryEndReason.ITEM_LIMIT:
            frames[-1].end = rpc.QueryEnd(reason=reason)
        else:
            frames.append(
                rpc.ListCheckpointsResponse(watermark=last, end=rpc.QueryEnd(reason=reason))
            )
        return frames

    def get_epoch(self, req: rpc.GetEpochRequest) -> rpc.GetEpochResponse:
        if req.epoch not in (None, 0):
            raise GRPCError(grpclib.const.Status.NOT_FOUND, f"Epoch {req.epoch} not found")
        epoch = rpc.Epoch(
            epoch=0,
            first_checkpoint=0,
            reference_gas_price=REFERENCE_GAS_PRICE,
            system_state=rpc.SystemState(
                version=2, epoch=0, reference_gas_price=REFERENCE_GAS_PRICE
            ),
        )
        return rpc.GetEpochResponse(epoch=prune(epoch, mask_tree(paths(req.read_mask), ["epoch"])))

    # -- StateService ---------------------------------------------------------------------

    def list_owned_objects(self, req: rpc.ListOwnedObjectsRequest) -> rpc.ListOwnedObjectsResponse:
        owner = _object_id(req.owner)
        size = min(MAX_PAGE, req.page_size or 50)
        after = req.page_token.decode() if req.page_token else ""
        wanted = None
        if req.object_type:
            try:
                wanted = parse_type(req.object_type).tag("")
            except (IndexError, ValueError) as exc:
                raise _bad(f"invalid object_type: {req.object_type!r}") from exc
        rows: list[Row] = []
        after_id = after
        while len(rows) <= size:  # filter by the full type tag, page by object id
            batch = self._objs().owned_by(owner, None, after_id, MAX_PAGE)
            if not batch:
                break
            rows += [r for r in batch if wanted is None or r.type_tag() == wanted]
            after_id = batch[-1].id
        tree = mask_tree(paths(req.read_mask), OBJECT_MASK_DEFAULT)
        page = rows[:size]
        return rpc.ListOwnedObjectsResponse(
            objects=[prune(object_proto(r, self.pkg), tree) for r in page],
            next_page_token=page[-1].id.encode() if len(rows) > size else None,
        )

    def _balance(self, owner: str) -> rpc.Balance:
        total, _ = self._objs().balance(owner)
        return rpc.Balance(coin_type=SUI_TYPE, balance=total, coin_balance=total, address_balance=0)

    def get_balance(self, req: rpc.GetBalanceRequest) -> rpc.GetBalanceResponse:
        owner = _object_id(req.owner)
        if parse_type(req.coin_type or "0x2::sui::SUI").tag("") != SUI_TYPE:
            return rpc.GetBalanceResponse(balance=rpc.Balance(coin_type=req.coin_type, balance=0))
        return rpc.GetBalanceResponse(balance=self._balance(owner))

    def list_balances(self, req: rpc.ListBalancesRequest) -> rpc.ListBalancesResponse:
        balance = self._balance(_object_id(req.owner))
        return rpc.ListBalancesResponse(balances=[balance] if balance.balance else [])

    # -- TransactionExecutionService ------------------------------------------------------

    def _run(
        self, transaction: rpc.Transaction | None, sigs: list[bytes], simulate: bool
    ) -> rpc.ExecutedTransaction:
        if transaction is None or transaction.bcs is None or not transaction.bcs.value:
            raise _bad("transaction: a BCS TransactionData is required")
        try:
            return self.executor.execute(bytes(transaction.bcs.value), sigs, simulate)
        except Rejected as exc:
            raise GRPCError(exc.status, str(exc)) from exc

    def execute_transaction(
        self, req: rpc.ExecuteTransactionRequest
    ) -> rpc.ExecuteTransactionResponse:
        sigs = []
        for s in req.signatures:
            if s.bcs is None or s.bcs.value is None:
                raise _bad("signatures: BCS UserSignature bytes are required")
            sigs.append(bytes(s.bcs.value))
        executed = self._run(req.transaction, sigs, simulate=False)
        tree = mask_tree(paths(req.read_mask), ["effects.status", "checkpoint"])
        tree = tree.get("transaction", tree) if "transaction" in tree and len(tree) == 1 else tree
        return rpc.ExecuteTransactionResponse(transaction=prune(executed, tree))

    def simulate_transaction(
        self, req: rpc.SimulateTransactionRequest
    ) -> rpc.SimulateTransactionResponse:
        executed = self._run(req.transaction, [], simulate=True)
        tree = mask_tree(paths(req.read_mask), ["transaction.effects.status"])
        tree = tree.get("transaction", tree) if "transaction" in tree and len(tree) == 1 else tree
        return rpc.SimulateTransactionResponse(transaction=prune(executed, tree))

    # -- grpclib plumbing -----------------------------------------------------------------

    def handlers(self) -> list[Any]:
        """grpclib handler objects, one per service."""
        spec = {
            "LedgerService": [
                (
                    "GetServiceInfo",
                    self.get_service_info,
                    rpc.GetServiceInfoRequest,
                    rpc.GetServiceInfoResponse,
                ),
                ("GetObject", self.get_object, rpc.GetObjectRequest, rpc.GetObjectResponse),
                (
                    "BatchGetObjects",
                    self.batch_get_objects,
                    rpc.BatchGetObjectsRequest,
                    rpc.BatchGetObjectsResponse,
                ),
                (
                    "GetTransaction",
                    self.get_transaction,
                    rpc.GetTransactionRequest,
                    rpc.GetTransactionResponse,
                ),
                (
                    "GetCheckpoint",
                    self.get_checkpoint,
                    rpc.GetCheckpointRequest,
                    rpc.GetCheckpointResponse,
                ),
                ("GetEpoch", self.get_epoch, rpc.GetEpochRequest, rpc.GetEpochResponse),
                (
                    "ListCheckpoints",
                    self.list_checkpoints,
                    rpc.ListCheckpointsRequest,
                    rpc.ListCheckpointsResponse,
                ),
            ],
            "StateService": [
                (
                    "ListOwnedObjects",
                    self.list_owned_objects,
                    rpc.ListOwnedObjectsRequest,
                    rpc.ListOwnedObjectsResponse,
                ),
                ("GetBalance", self.get_balance, rpc.GetBalanceRequest, rpc.GetBalanceResponse),
                (
                    "ListBalances",
                    self.list_balances,
                    rpc.ListBalancesRequest,
                    rpc.ListBalancesResponse,
                ),
            ],
            "TransactionExecutionService": [
                (
                    "ExecuteTransaction",
                    self.execute_transaction,
                    rpc.ExecuteTransactionRequest,
                    rpc.ExecuteTransactionResponse,
                ),
                (
                    "SimulateTransaction",
                    self.simulate_transaction,
                    rpc.SimulateTransactionRequest,
                    rpc.SimulateTransactionResponse,
                ),
            ],
        }
        return [_Service(name, methods) for name, methods in spec.items()]


class _Service:
    """One gRPC service for grpclib's Server (its `__mapping__` protocol)."""

    def __init__(self, name: str, methods: list[tuple[Any, ...]]) -> None:
        self.name, self.methods = name, methods

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        out = {}
        for method, fn, req_type, resp_type in self.methods:
            stream = method.startswith("List") and method == "ListCheckpoints"
            out[f"/sui.rpc.v2.{self.name}/{method}"] = grpclib.const.Handler(
                _handler(fn, stream),
                grpclib.const.Cardinality.UNARY_STREAM
                if stream
                else grpclib.const.Cardinality.UNARY_UNARY,
                req_type,
                resp_type,
            )
        return out


def _handler(fn: Callable[[Any], Any], stream: bool) -> Callable[[Stream[Any, Any]], Any]:
    async def handle(s: Stream[Any, Any]) -> None:
        request = await s.recv_message()
        try:
            answer = fn(request)
        except GRPCError:
            raise
        except Exception as exc:  # a bug here is an INTERNAL answer, logged, never a hang
            log.exception("stand-in %s failed", fn.__name__)
            raise GRPCError(grpclib.const.Status.INTERNAL, f"{type(exc).__name__}: {exc}") from exc
        for message in answer if stream else [answer]:
            await s.send_message(message)

    return handle
