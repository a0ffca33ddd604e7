"""SuiChain's plumbing, offline: one gRPC event-loop thread any thread may call, a pool that
lends each gas coin to one transaction at a time, and events read in batches from the
package's publish checkpoint, never re-reading what a follower already scanned."""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import threading
import time
from typing import Any

import base58
import pysui.sui.sui_grpc.suimsgs.sui.rpc.v2 as sui_prot
import pytest
from pysui.sui.sui_grpc.suimsgs.google.protobuf import Value

from haulout.chain.accounts import Account
from haulout.chain.errors import ChainError, MoveAbort
from haulout.chain.events import EpochAdvanced, PricesUpdated
from haulout.chain.sui import SuiBackend, SuiNode
from haulout.chain.sui_gas import GasCoin, GasPool
from haulout.chain.sui_tx import OwnedRef

DIGEST = base58.b58encode(bytes(range(32))).decode()
SUI = 10**9
PACKAGE = "0x" + "ab" * 32
OTHER_PACKAGE = "0x" + "cd" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the transport ----------------------------------------------------------------------------


def test_calls_from_many_threads_share_one_loop_thread() -> None:
    """The old adapter ran its private loop with run_until_complete: a second thread got
    'This event loop is already running'."""
    node = SuiNode("http://127.0.0.1:9000")
    loop_threads: set[int] = set()

    def call(i: int) -> int:
        async def work() -> int:
            loop_threads.add(threading.get_ident())
            await asyncio.sleep(0.02)
            return i * i

        return node.run(work)

    results: dict[int, int] = {}
    threads = [threading.Thread(target=lambda i=i: results.update({i: call(i)})) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    node.close()
    assert results == {i: i * i for i in range(8)}
    assert len(loop_threads) == 1 and threading.get_ident() not in loop_threads


def test_no_node_is_one_clear_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    node = SuiNode(url, timeout_s=5)
    with pytest.raises(ChainError) as err:
        node.call("ledger", "get_object", sui_prot.GetObjectRequest(object_id="0x2"))
    node.close()
    assert f"no Sui node answers at {url}" in str(err.value) and "\n" not in str(err.value)


# -- the gas pool -----------------------------------------------------------------------------


def coin(n: int, balance: int, version: int = 1) -> GasCoin:
    return GasCoin(OwnedRef(f"0x{n:064x}", version, DIGEST), balance)


class Wallet:
    """An account's coins as a node would list them; `split` adds coins."""

    def __init__(self, coins: list[GasCoin]) -> None:
        self.coins = {c.ref.object_id: c for c in coins}
        self.splits: list[list[int]] = []
        self.listed = 0

    def list(self, address: str) -> list[GasCoin]:
        self.listed += 1
        return list(self.coins.values())

    def split(self, signer: Account, source: GasCoin, amounts: list[int]) -> list[GasCoin]:
        self.splits.append(amounts)
        rest = coin(int(source.ref.object_id, 16), source.balance - sum(amounts), 2)
        new = [coin(1000 + len(self.coins) + i, a) for i, a in enumerate(amounts)]
        self.coins.update({c.ref.object_id: c for c in [rest, *new]})
        return [rest, *new]


def test_concurrent_transactions_of_one_account_each_get_their_own_coin() -> None:
    wallet = Wallet([coin(1, 100 * SUI)])
    pool = GasPool(wallet.list, wallet.split, min_balance=SUI, size=8)
    signer = Account.generate()
    in_use: set[str] = set()
    clashes, peak, lock = [], [0], threading.Lock()

    def transaction() -> None:
        with pool.lend(signer) as lease:
            oid = lease.coin.ref.object_id
            with lock:
                if oid in in_use:
                    clashes.append(oid)
                in_use.add(oid)
                peak[0] = max(peak[0], len(in_use))
            time.sleep(0.05)
            with lock:
                in_use.discard(oid)
            ref = lease.coin.ref
            lease.returned = GasCoin(
                OwnedRef(ref.object_id, ref.version + 1, DIGEST), lease.coin.balance - 1000
            )

    threads = [threading.Thread(target=transaction) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert clashes == []
    assert len(wallet.splits) == 1 and len(wallet.splits[0]) == 7  # split once, into 8 coins
    assert peak[0] == 8 and wallet.listed == 1


def test_a_coin_comes_back_at_its_new_version() -> None:
    wallet = Wallet([coin(1, 3 * SUI)])
    pool = GasPool(wallet.list, wallet.split, min_balance=SUI, size=1)
    signer = Account.generate()
    with pool.lend(signer) as lease:
        lease.returned = coin(1, 2 * SUI, version=9)
    assert pool.acquire(signer).ref.version == 9


def test_a_coin_of_unknown_fate_is_listed_again() -> None:
    wallet = Wallet([coin(1, 3 * SUI)])
    pool = GasPool(wallet.list, wallet.split, min_balance=SUI, size=1)
    signer = Account.generate()
    with pytest.raises(RuntimeError), pool.lend(signer):
        raise RuntimeError("the node went away mid-transaction")
    assert pool.acquire(signer).ref.object_id == coin(1, 0).ref.object_id
    assert wallet.listed == 2


def test_busy_coins_make_a_transaction_wait_then_give_up() -> None:
    wallet = Wallet([coin(1, 3 * SUI)])
    pool = GasPool(wallet.list, wallet.split, min_balance=SUI, size=1, wait_s=0.3)
    signer = Account.generate()
    held = pool.acquire(signer)
    threading.Timer(0.1, pool.release, (signer.address, held)).start()
    assert pool.acquire(signer) == held  # waited for the release
    with pytest.raises(ChainError, match="stayed busy"):
        pool.acquire(signer)


def test_an_account_without_gas_is_told_to_fund_itself() -> None:
    wallet = Wallet([coin(1, SUI // 2)])  # below the minimum
    pool = GasPool(wallet.list, wallet.split, min_balance=SUI)
    with pytest.raises(MoveAbort, match="EInsufficientPayment"):
        pool.acquire(Account.generate())


# -- events -----------------------------------------------------------------------------------


def event(package: str, name: str, fields: dict[str, Any]) -> sui_prot.Event:
    return sui_prot.Event(
        event_type=f"{package}::events::{name}",
        sender="0x" + "01" * 32,
        json=Value.from_json(json.dumps(fields)),
    )


class LedgerNode:
    """Checkpoints as a full node serves them; records what was asked."""

    rpc_url = "http://fake"

    def __init__(self, latest: int, publish: int, events_at: dict[int, list[sui_prot.Event]]):
        self.latest, self.publish, self.events_at = latest, publish, events_at
        self.fetched: list[list[int]] = []

    def call(self, service: str, method: str, request: Any) -> Any:
        if method == "get_object":
            return sui_prot.GetObjectResponse(
                object=sui_prot.Object(object_id=request.object_id, previous_transaction="Dpub")
            )
        if method == "get_transaction":
            assert request.digest == "Dpub"
            return sui_prot.GetTransactionResponse(
                transaction=sui_prot.ExecutedTransaction(checkpoint=self.publish)
            )
        assert method == "get_checkpoint" and request.sequence_number is None
        return sui_prot.GetCheckpointResponse(
            checkpoint=sui_prot.Checkpoint(sequence_number=self.latest)
        )

    def call_many(self, service: str, method: str, requests: list[Any]) -> list[Any]:
        seqs = [r.sequence_number for r in requests]
        assert all(self.publish <= s <= self.latest for s in seqs)
        self.fetched.append(seqs)
        stamp = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
        return [
            sui_prot.GetCheckpointResponse(
                checkpoint=sui_prot.Checkpoint(
                    sequence_number=s,
                    summary=sui_prot.CheckpointSummary(timestamp=stamp),
                    transactions=[
                        sui_prot.ExecutedTransaction(
                            digest=f"T{s}",
                            events=sui_prot.TransactionEvents(events=self.events_at.get(s, [])),
                        )
                    ],
                )
            )
            for s in seqs
        ]


def backend(node: LedgerNode) -> SuiBackend:
    return SuiBackend(node, PACKAGE, None)  # type: ignore[arg-type]


def test_events_start_at_the_publish_checkpoint_and_come_in_batches() -> None:
    node = LedgerNode(
        latest=1_100,
        publish=1_000,
        events_at={
            1_000: [
                event(
                    PACKAGE, "PricesUpdated", {"epoch": 0, "storage_price": "5", "write_price": "6"}
                )
            ],
            1_050: [
                event(OTHER_PACKAGE, "EpochAdvanced", {"epoch": 9, "start_ms": "1"}),
                event(PACKAGE, "EpochAdvanced", {"epoch": 1, "start_ms": "1735689600000"}),
            ],
        },
    )
    got = backend(node).events(None, 100)
    assert [type(e.event) for e in got] == [PricesUpdated, EpochAdvanced]
    assert got[1].event == EpochAdvanced(1, 1735689600000)
    assert got[1].cursor == 1_050 << 24 | 0 << 12 | 1 and got[1].tx_digest == "T1050"
    assert got[1].timestamp_ms == 1735689600000
    assert node.fetched[0][0] == 1_000  # nothing before the package existed
    assert max(len(b) for b in node.fetched) == 32
    assert sum(len(b) for b in node.fetched) == 101


def test_a_follower_at_the_tip_reads_only_new_checkpoints() -> None:
    node = LedgerNode(
        latest=200,
        publish=100,
        events_at={150: [event(PACKAGE, "EpochAdvanced", {"epoch": 1, "start_ms": "5"})]},
    )
    chain = backend(node)
    (first,) = chain.events(None, 100)
    node.fetched.clear()
    assert chain.events(first.cursor, 100) == []  # scanned already: nothing fetched
    assert node.fetched == []
    node.latest = 205
    node.events_at[204] = [event(PACKAGE, "EpochAdvanced", {"epoch": 2, "start_ms": "6"})]
    (second,) = chain.events(first.cursor, 100)
    assert second.event == EpochAdvanced(2, 6) and node.fetched == [[201, 202, 203, 204, 205]]


def test_events_stop_at_the_limit_and_resume_after_the_cursor() -> None:
    evs = [event(PACKAGE, "EpochAdvanced", {"epoch": i, "start_ms": str(i)}) for i in range(5)]
    node = LedgerNode(latest=10, publish=0, events_at={3: evs})
    chain = backend(node)
    two = chain.events(None, 2)
    rest = chain.events(two[-1].cursor, 100)
    assert [e.event.epoch for e in two + rest] == [0, 1, 2, 3, 4]  # type: ignore[attr-defined]


# -- failed transactions ------------------------------------------------------------------------


def test_a_failed_transaction_becomes_the_typed_error_devchain_raises() -> None:
    from haulout.chain.sui import _failure

    Kind = sui_prot.ExecutionErrorExecutionErrorKind
    abort = sui_prot.ExecutionError(
        kind=Kind.MOVE_ABORT,
        abort=sui_prot.MoveAbort(abort_code=3, location=sui_prot.MoveLocation(module="system")),
    )
    err = _failure(abort)
    assert isinstance(err, MoveAbort) and (err.module, err.name) == (
        "system",
        "EInsufficientPayment",
    )
    poor = _failure(sui_prot.ExecutionError(kind=Kind.INSUFFICIENT_COIN_BALANCE))
    assert isinstance(poor, MoveAbort) and poor.name == "EInsufficientPayment"
    gas = _failure(sui_prot.ExecutionError(kind=Kind.INSUFFICIENT_GAS, description="out of gas"))
    assert type(gas) is ChainError and "out of gas" in str(gas)


def test_effects_say_what_was_created_emitted_paid_and_where_the_gas_coin_went() -> None:
    In, Out = sui_prot.ChangedObjectInputObjectState, sui_prot.ChangedObjectOutputObjectState
    me = "0x" + "0e" * 32
    blob_id, gas_id = "0x" + "b1" * 32, "0x" + "9a" * 32
    executed = sui_prot.ExecutedTransaction(
        digest="Dtx",
        effects=sui_prot.TransactionEffects(
            changed_objects=[
                sui_prot.ChangedObject(
                    object_id=blob_id,
                    input_state=In.DOES_NOT_EXIST,
                    output_state=Out.OBJECT_WRITE,
                    object_type=f"{PACKAGE}::blob::Blob",
                ),
                sui_prot.ChangedObject(  # the System, only mutated
                    object_id="0x" + "11" * 32,
                    input_state=In.EXISTS,
                    output_state=Out.OBJECT_WRITE,
                    object_type=f"{PACKAGE}::system::System",
                ),
            ],
            gas_object=sui_prot.ChangedObject(
                object_id=gas_id, output_version=12, output_digest=DIGEST
            ),
        ),
        events=sui_prot.TransactionEvents(
            events=[event(PACKAGE, "EpochAdvanced", {"epoch": 4, "start_ms": "9"})]
        ),
        balance_changes=[
            sui_prot.BalanceChange(address=me, coin_type="0x2::sui::SUI", amount="-700")
        ],
    )
    chain = backend(LedgerNode(0, 0, {}))
    e = chain.executed(executed, me)
    assert e.created == {blob_id: "blob::Blob"} and e.digest == "Dtx" and e.paid == 700
    assert e.event(EpochAdvanced) == EpochAdvanced(4, 9)
    after = chain.gas_after(executed, GasCoin(OwnedRef(gas_id, 11, DIGEST), 5_000), me)
    assert after == GasCoin(OwnedRef(gas_id, 12, DIGEST, me), 4_300)
