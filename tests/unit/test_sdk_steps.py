"""A call written once (`haulout.sdk_steps`) runs the same on both clients' HTTP, and the
asynchronous driver keeps blocking work (chain calls, encoding) off the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx

from haulout.sdk_steps import Blocking, Http, Steps, arun_steps, run_steps


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"path": request.url.path, "body": request.content.decode()})


def call(seen: list[str]) -> Steps[tuple[Any, Any]]:
    """A request, blocking work that records its thread, a second request using both."""
    first = (yield Http("GET", "/v1/health")).json()
    worker = yield Blocking(lambda: seen.append(threading.current_thread().name) or "worked")
    second = (yield Http("PUT", "/v1/echo", {"content": f"{first['path']} {worker}"})).json()
    return first, second


def test_the_same_call_gives_the_same_answer_on_both_clients() -> None:
    sync_threads: list[str] = []
    with httpx.Client(base_url="http://relayer", transport=httpx.MockTransport(answer)) as http:
        sync = run_steps(call(sync_threads), http)

    async_threads: list[str] = []

    async def go() -> tuple[Any, Any]:
        transport = httpx.MockTransport(answer)
        async with httpx.AsyncClient(base_url="http://relayer", transport=transport) as http:
            loop_thread = threading.current_thread().name
            result = await arun_steps(call(async_threads), http)
            assert async_threads and async_threads[0] != loop_thread  # off the event loop
            return result

    assert (
        asyncio.run(go())
        == sync
        == (
            {"path": "/v1/health", "body": ""},
            {"path": "/v1/echo", "body": "/v1/health worked"},
        )
    )
    assert sync_threads == [threading.current_thread().name]  # the caller's thread
