"""SDK calls written once for the synchronous and the asynchronous client.

A call is a generator of steps: it yields `Http` (a request to the relayer) and receives the
response, or `Blocking` (chain calls, encoding) and receives its result, and returns what the
call returns. `run_steps` drives it with an `httpx.Client` on the caller's thread;
`arun_steps` with an `httpx.AsyncClient`, running blocking work in a worker thread so the
event loop never waits on the chain. The logic of a call (what to send, how to read the
answer, which checks) lives in one place whichever client runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


@dataclass(frozen=True)
class Http:
    """One request to the relayer (`httpx` keyword arguments: params, content, files…); the
    step's answer is the `httpx.Response`, unchecked."""

    method: str
    path: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Blocking:
    """Work that blocks (a chain call, encoding a blob); the step's answer is its result."""

    work: Callable[[], Any]


Step = Http | Blocking
Steps = Generator[Step, Any, T]
"""A call: yields steps, receives each one's answer, returns the call's result."""


@dataclass(frozen=True)
class _Done:
    value: Any


def _next(steps: Steps[Any], answer: Any) -> Step | _Done:
    """Hand the last step's answer to the call: its next step, or its result."""
    try:
        return steps.send(answer)
    except StopIteration as done:
        return _Done(done.value)


def undecoded(
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
    request: httpx.Request | None = None,
) -> httpx.Response:
    """An answer holding `body` as it came off the wire. httpx decodes a body by its
    `content-encoding` header, and a blob stored with that attribute (say gzip) would come
    back unpacked: a blob store returns what was stored. The header itself is kept."""
    encoding = [v for k, v in headers if k.lower() == "content-encoding"]
    plain = [(k, v) for k, v in headers if k.lower() != "content-encoding"]
    out = httpx.Response(status, headers=plain, content=body, request=request)
    if encoding:  # set after the body is read, so nothing decodes it
        out.headers["content-encoding"] = encoding[0]
    return out


def raw_response(resp: httpx.Response, body: bytes) -> httpx.Response:
    """`resp` holding `body` as read raw off its stream (see `undecoded`)."""
    return undecoded(resp.status_code, resp.headers.multi_items(), body, resp.request)


def get_raw(http: httpx.Client, path: str, **options: Any) -> httpx.Response:
    """GET whose answer's body is never content-decoded (see `raw_response`)."""
    with http.stream("GET", path, **options) as resp:
        if resp.is_stream_consumed:  # a transport that answered with its body read already
            return resp
        return raw_response(resp, b"".join(resp.iter_raw()))


async def aget_raw(http: httpx.AsyncClient, path: str, **options: Any) -> httpx.Response:
    """`get_raw` for the async client."""
    async with http.stream("GET", path, **options) as resp:
        if resp.is_stream_consumed:  # a transport that answered with its body read already
            return resp
        return raw_response(resp, b"".join([piece async for piece in resp.aiter_raw()]))


def run_steps(steps: Steps[T], http: httpx.Client) -> T:
    """Run a call synchronously."""
    step = _next(steps, None)
    while not isinstance(step, _Done):
        if isinstance(step, Http) and step.method == "GET":
            step = _next(steps, get_raw(http, step.path, **step.options))
        elif isinstance(step, Http):
            step = _next(steps, http.request(step.method, step.path, **step.options))
        else:
            step = _next(steps, step.work())
    result: T = step.value
    return result


async def arun_steps(steps: Steps[T], http: httpx.AsyncClient) -> T:
    """Run a call on the event loop; blocking steps go to a worker thread."""
    step = _next(steps, None)
    while not isinstance(step, _Done):
        if isinstance(step, Http) and step.method == "GET":
            answer = await aget_raw(http, step.path, **step.options)
        elif isinstance(step, Http):
            answer = await http.request(step.method, step.path, **step.options)
        else:
            answer = await asyncio.to_thread(step.work)
        step = _next(steps, answer)
    result: T = step.value
    return result
