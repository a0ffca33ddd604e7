"""The SDK turns an unreachable relayer into a HauloutError that says what to check."""

from __future__ import annotations

import asyncio

import pytest

from haulout.client import AsyncHauloutClient, HauloutClient, HauloutError
from haulout.launcher import free_port


def test_unreachable_relayer_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with HauloutClient(url, timeout=2) as c:
        for call in (
            lambda: c.status("A" * 43),
            lambda: c.read("A" * 43),
            lambda: c.store(b"x"),
            c.health,
        ):
            with pytest.raises(HauloutError, match=r"cannot reach the relayer .*haulout up"):
                call()

    async def go() -> None:
        async with AsyncHauloutClient(url, timeout=2) as a:
            with pytest.raises(HauloutError, match="cannot reach the relayer"):
                await a.read("A" * 43)

    asyncio.run(go())
