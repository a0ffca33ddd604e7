"""Walrus publisher/aggregator routes that Haulout lacked (issue #15), against real processes
(DevChain, 4 nodes, relayer): `/v1/api`, `/byte-range`, `skip_consistency_check`, `force`,
deletable by default with `permanent=true`, and `share` with a SharedBlob that another
account funds and extends."""

from __future__ import annotations

import os

import httpx
import pytest

from haulout.chain.accounts import Account
from haulout.chain.devchain import DevChain
from haulout.client import HauloutClient, HauloutError
from haulout.launcher import LocalSystem
from relayer.app import CACHE_CONTROL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def http(system: LocalSystem) -> httpx.Client:
    return httpx.Client(base_url=system.relayer_url, timeout=60)


@pytest.fixture(scope="module")
def stored(client: HauloutClient) -> tuple[str, bytes]:
    data = os.urandom(5000)
    return client.store(data, epochs=2).blob_id, data


def reason(resp: httpx.Response) -> str:
    return str(resp.json()["error"]["details"][0]["reason"])


def test_api_is_the_openapi_document(http: httpx.Client) -> None:
    doc = http.get("/v1/api", headers={"accept": "application/json"})
    assert doc.status_code == 200
    body = doc.json()
    assert body["openapi"].startswith("3.")
    for path in ("/v1/blobs", "/v1/blobs/{blob_id}", "/v1/blobs/{blob_id}/byte-range"):
        assert path in body["paths"]
    params = {p["name"] for p in body["paths"]["/v1/blobs"]["put"]["parameters"]}
    assert {"permanent", "force", "share", "send_object_to"} <= params
    page = http.get("/v1/api")  # a browser gets Walrus's Redoc page with the document inside
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Redoc.init" in page.text and '"/v1/blobs/{blob_id}/byte-range"' in page.text


def test_byte_range_answers_as_walrus(http: httpx.Client, stored: tuple[str, bytes]) -> None:
    blob_id, data = stored
    r = http.get(f"/v1/blobs/{blob_id}/byte-range", params={"start": 10, "length": 100})
    assert r.status_code == 200  # not 206: CDNs cache it
    assert r.content == data[10:110]
    assert r.headers["etag"] == f"{blob_id}-10-100"
    assert r.headers["cache-control"] == CACHE_CONTROL
    assert r.headers["content-length"] == "100"
    last = http.get(f"/v1/blobs/{blob_id}/byte-range", params={"start": 4999, "length": 1})
    assert last.content == data[-1:]
    head = http.head(f"/v1/blobs/{blob_id}/byte-range", params={"start": 0, "length": 7})
    assert head.status_code == 200 and head.headers["content-length"] == "7"


@pytest.mark.parametrize(
    ("params", "status", "why"),
    [
        ({"start": 0, "length": 0}, 400, "INVALID_BYTE_RANGE"),
        ({"start": 4990, "length": 11}, 400, "INVALID_BYTE_RANGE"),
        ({"start": 5000, "length": 1}, 400, "INVALID_BYTE_RANGE"),
        ({"start": 2**63 - 1, "length": 2**63 - 1}, 400, "INVALID_BYTE_RANGE"),
    ],
)
def test_byte_range_errors(
    http: httpx.Client,
    stored: tuple[str, bytes],
    params: dict[str, int],
    status: int,
    why: str,
) -> None:
    r = http.get(f"/v1/blobs/{stored[0]}/byte-range", params=params)
    assert r.status_code == status and reason(r) == why
    assert "etag" not in r.headers


def test_byte_range_needs_start_and_length_and_a_stored_blob(
    http: httpx.Client, stored: tuple[str, bytes]
) -> None:
    assert http.get(f"/v1/blobs/{stored[0]}/byte-range", params={"start": 0}).status_code == 400
    r = http.get(f"/v1/blobs/{'A' * 43}/byte-range", params={"start": 0, "length": 1})
    assert r.status_code == 404 and reason(r) == "BLOB_NOT_FOUND"


def test_skip_consistency_check(
    http: httpx.Client, client: HauloutClient, stored: tuple[str, bytes]
) -> None:
    blob_id, data = stored
    assert client.read(blob_id, skip_check=True) == data
    assert client.read_byte_range(blob_id, 1, 3) == data[1:4]
    both = {"strict_consistency_check": "true", "skip_consistency_check": "true"}
    for path, extra in (
        (f"/v1/blobs/{blob_id}", {}),
        (f"/v1/blobs/{blob_id}/byte-range", {"start": "0", "length": "1"}),
    ):
        r = http.get(path, params={**both, **extra})
        assert r.status_code == 400 and reason(r) == "INVALID_CONSISTENCY_CHECK"


def test_blobs_are_deletable_unless_permanent(http: httpx.Client) -> None:
    def put(params: dict[str, str]) -> httpx.Response:
        return http.put("/v1/blobs", params=params, content=os.urandom(300))

    default = put({}).json()["newlyCreated"]["blobObject"]
    assert default["deletable"] is True
    old_client = put({"deletable": "true"}).json()["newlyCreated"]["blobObject"]
    assert old_client["deletable"] is True
    permanent = put({"permanent": "true"}).json()["newlyCreated"]["blobObject"]
    assert permanent["deletable"] is False
    both = put({"deletable": "true", "permanent": "true"})
    assert both.status_code == 400 and reason(both) == "INVALID_BLOB_PERSISTENCE"


def test_force_stores_again(client: HauloutClient) -> None:
    data = os.urandom(2000)
    first = client.store(data, deletable=False)
    again = client.store(data, deletable=False)
    assert first.newly_created and not again.newly_created  # alreadyCertified
    forced = client.store(data, deletable=False, force=True)
    assert forced.newly_created and forced.object_id != first.object_id
    assert forced.blob_id == first.blob_id
    d = os.urandom(1500)  # deletable ones too: the relayer's own certified object is not reused
    one = client.store(d)
    assert not client.store(d).newly_created
    assert client.store(d, force=True).object_id not in (None, one.object_id)


def test_shared_blob_is_funded_and_extended_by_another_account(
    client: HauloutClient, chain: DevChain, http: httpx.Client
) -> None:
    data = os.urandom(4000)
    stored = client.store(data, epochs=2, share=True)
    shared_id = stored.shared_object_id
    assert shared_id is not None and stored.newly_created
    shared = chain.get_shared_blob(shared_id)
    assert shared.blob.id == stored.object_id and shared.funds == 0
    assert chain.owner_of(shared_id) is None  # a shared object: no one's

    stranger = Account.generate()
    chain.faucet(stranger.address)
    before = shared.blob.end_epoch
    chain.fund_shared_blob(stranger, shared_id, 10**9)
    after = chain.extend_shared_blob(stranger, shared_id, 3)
    assert after.blob.end_epoch == before + 3
    assert 0 < after.funds < 10**9

    by_shared = http.get(f"/v1/blobs/by-object-id/{shared_id}")  # Walrus reads those too
    assert by_shared.status_code == 200 and by_shared.content == data
    assert client.read(stored.blob_id) == data


def test_share_and_send_object_to_are_exclusive(http: httpx.Client) -> None:
    r = http.put(
        "/v1/blobs",
        params={"share": "true", "send_object_to": "0x" + "ab" * 32},
        content=b"x",
    )
    assert r.status_code == 400 and reason(r) == "INVALID_ARGUMENT"


def test_sdk_error_for_a_range_past_the_end(
    client: HauloutClient, stored: tuple[str, bytes]
) -> None:
    with pytest.raises(HauloutError) as err:
        client.read_byte_range(stored[0], 4999, 2)
    assert err.value.status == 400


def test_status_is_ok(http: httpx.Client) -> None:
    r = http.get("/status")
    assert r.status_code == 200 and r.text == "OK"
    for path in ("/status", "/v1/api"):  # HEAD on every GET route, as axum gives Walrus
        head = http.head(path)
        assert head.status_code == 200 and head.content == b""


def test_errors_carry_walrus_error_info(http: httpx.Client) -> None:
    """Walrus's client deserialises `ErrorInfo` with its `metadata` map: without it, a Walrus
    client cannot read our errors."""
    r = http.get(f"/v1/blobs/{'A' * 43}")
    info = r.json()["error"]["details"][0]
    assert info["@type"] == "ErrorInfo" and info["metadata"] == {}
    assert info["reason"] == "BLOB_NOT_FOUND"


def test_cors_as_walrus_daemon(http: httpx.Client, stored: tuple[str, bytes]) -> None:
    """Browser apps call Walrus publishers and aggregators from any origin."""
    pre = http.options(
        "/v1/blobs",
        headers={
            "origin": "https://app.example",
            "access-control-request-method": "PUT",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "*"
    assert "PUT" in pre.headers["access-control-allow-methods"]
    assert pre.headers["access-control-max-age"] == "86400"
    r = http.get(f"/v1/blobs/{stored[0]}", headers={"origin": "https://app.example"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
