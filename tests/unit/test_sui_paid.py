"""SuiChain reads what a transaction paid from its own effects (not a balance difference)."""

from __future__ import annotations

from types import SimpleNamespace

from haulout.chain.sui import SuiBackend

ME = "0x" + "ab" * 32
OTHER = "0x" + "cd" * 32


def executed(changes: list[SimpleNamespace], gas: SimpleNamespace | None = None) -> SimpleNamespace:
    return SimpleNamespace(balance_changes=changes, effects=SimpleNamespace(gas_used=gas))


def test_cost_is_the_signers_sui_balance_change_in_the_effects() -> None:
    changes = [
        SimpleNamespace(address=ME, coin_type="0x2::sui::SUI", amount="-1234567"),
        SimpleNamespace(address=OTHER, coin_type="0x2::sui::SUI", amount="1000000"),
        SimpleNamespace(address=ME, coin_type="0xabc::wal::WAL", amount="-5"),
    ]
    assert SuiBackend.paid(executed(changes), ME) == 1234567


def test_without_balance_changes_the_gas_summary_is_the_cost() -> None:
    gas = SimpleNamespace(
        computation_cost=1000, storage_cost=3000, storage_rebate=500, non_refundable_storage_fee=5
    )
    assert SuiBackend.paid(executed([], gas), ME) == 3500
