"""Requests waiting for a registration: woken by the follower, bounded, never polling."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from storage_node.waiters import NodeBusy, RegistrationWaiters


def test_a_waiter_is_woken_by_notify_from_another_thread() -> None:
    waiters = RegistrationWaiters(limit=4)
    registered = threading.Event()
    checks = []

    def ready() -> bool:
        checks.append(1)
        return registered.is_set()

    def follower() -> None:
        time.sleep(0.2)
        registered.set()
        waiters.notify(["blob-a", "blob-b"])

    async def go() -> bool:
        threading.Thread(target=follower).start()
        return await waiters.wait_until("blob-a", ready, timeout=30)

    assert asyncio.run(go()) is True
    assert len(checks) <= 3  # checked on arrival, on joining, once woken: no polling
    assert waiters.count == 0


def test_a_wait_ends_false_when_nothing_arrives() -> None:
    waiters = RegistrationWaiters(limit=4)
    assert asyncio.run(waiters.wait_until("x", lambda: False, timeout=0.1)) is False
    assert asyncio.run(waiters.wait_until("x", lambda: True, timeout=0)) is True
    assert waiters.count == 0


def test_waiters_past_the_limit_are_refused_with_retry_after() -> None:
    waiters = RegistrationWaiters(limit=2)

    async def go() -> None:
        parked = [
            asyncio.create_task(waiters.wait_until(f"b{i}", lambda: False, timeout=30))
            for i in range(2)
        ]
        await asyncio.sleep(0.1)
        assert waiters.count == 2
        with pytest.raises(NodeBusy) as err:
            await waiters.wait_until("b9", lambda: False, timeout=30)
        assert err.value.status == 503 and err.value.retry_after == 1
        assert err.value.reason == "TOO_MANY_WAITERS" and waiters.rejected == 1
        for t in parked:
            t.cancel()
        await asyncio.gather(*parked, return_exceptions=True)
        assert waiters.count == 0  # a cancelled wait (client gone) frees its slot

    asyncio.run(go())
