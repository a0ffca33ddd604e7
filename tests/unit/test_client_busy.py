"""The SDK waits out the relayer's upload bound (503 UPLOADS_BUSY with Retry-After) and sends
bytes again, instead of failing a store the relayer would take a moment later."""

from __future__ import annotations

import httpx
import pytest

from haulout.client import HauloutClient, HauloutError

CREATED = {
    "newlyCreated": {
        "blobObject": {"blobId": "B" * 43, "id": "0x" + "1" * 64, "storage": {"endEpoch": 3}}
    }
}
BUSY = {"error": {"code": 503, "message": "busy", "details": [{"reason": "UPLOADS_BUSY"}]}}


def client_with(answers: list[httpx.Response], bodies: list[bytes]) -> HauloutClient:
    def relayer(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        return answers.pop(0)

    client = HauloutClient("http://relayer")
    client.http = httpx.Client(base_url="http://relayer", transport=httpx.MockTransport(relayer))
    return client


def test_bytes_are_sent_again_after_uploads_busy() -> None:
    bodies: list[bytes] = []
    busy = httpx.Response(503, json=BUSY, headers={"retry-after": "0"})
    client = client_with([busy, httpx.Response(200, json=CREATED)], bodies)
    stored = client.store(b"payload" * 100)
    assert stored.blob_id == "B" * 43
    assert bodies == [b"payload" * 100, b"payload" * 100]  # the whole body, both times


def test_other_503s_are_not_retried() -> None:
    bodies: list[bytes] = []
    other = {"error": {"code": 503, "message": "x", "details": [{"reason": "EPOCH_CHANGED"}]}}
    answers = [httpx.Response(503, json=other, headers={"retry-after": "0"})]
    client = client_with(answers, bodies)
    with pytest.raises(HauloutError):
        client.store(b"data")
    assert len(bodies) == 1
