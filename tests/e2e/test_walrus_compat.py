"""Walrus client compatibility: the relayer driven with the requests and checked against the
responses of Walrus's `publisher_openapi.yaml`, `aggregator_openapi.yaml`,
`upload_relay_openapi.yaml` and its daemon source (`routes.rs`, `responses.rs`, `auth.rs`),
route by route. Where Haulout deliberately differs, `docs/walrus-parity.md` says why and the
test pins Haulout's behaviour (marked "kept difference")."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import httpx
import pytest

from haulout.launcher import LocalSystem

pytestmark = pytest.mark.slow

BLOB_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")
OBJECT_ID = re.compile(r"^0x[0-9a-f]{64}$")
PATCH_ID = re.compile(r"^[A-Za-z0-9_-]{50}$")  # quilt id ‖ version ‖ start ‖ end, URL-safe
CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=3600"  # routes.rs


@pytest.fixture(scope="module")
def http(system: LocalSystem) -> httpx.Client:
    return httpx.Client(base_url=system.relayer_url, timeout=60)


@pytest.fixture(scope="module")
def stored(http: httpx.Client) -> dict[str, Any]:
    """One blob stored as a Walrus client would (`PUT /v1/blobs?epochs=2`, octet-stream)."""
    data = os.urandom(12_345)
    r = http.put(
        "/v1/blobs",
        params={"epochs": 2},
        content=data,
        headers={"content-type": "application/octet-stream"},
    )
    assert r.status_code == 200, r.text
    return {"data": data, "body": r.json()}


WALRUS_STATUS = {
    400: {"INVALID_ARGUMENT", "FAILED_PRECONDITION"},
    401: {"UNAUTHENTICATED"},
    403: {"PERMISSION_DENIED", "SIZE_EXCEEDED"},
    404: {"NOT_FOUND"},
    416: {"RANGE_NOT_SATISFIABLE"},
    429: {"RESOURCE_EXHAUSTED"},
    451: {"UNAVAILABLE_FOR_LEGAL_REASONS"},
    500: {"INTERNAL"},
    503: {"UNAVAILABLE"},
    504: {"DEADLINE_EXCEEDED"},
}
"""Walrus's `StatusCode` table (`status_codes!`): its client reads an error only when the
(code, status) pair is one of these."""


def walrus_error(resp: httpx.Response, status: int, reason: str) -> None:
    """Walrus's `Status` JSON (walrus-storage-node-client api/errors.rs): code, status text
    (a pair of its table), message, and an `ErrorInfo` detail with reason, domain and
    metadata."""
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == status and isinstance(error["message"], str)
    assert error["status"] in WALRUS_STATUS[status], error["status"]
    info = error["details"][0]
    assert info["@type"] == "ErrorInfo" and info["reason"] == reason
    assert isinstance(info["domain"], str) and info["metadata"] == {}


def test_store_answers_blob_store_result(stored: dict[str, Any]) -> None:
    """`BlobStoreResult::NewlyCreated` (walrus-sdk node_client/responses.rs), camelCase."""
    created = stored["body"]["newlyCreated"]
    assert set(created) >= {"blobObject", "resourceOperation", "cost"}
    obj = created["blobObject"]
    assert BLOB_ID.match(obj["blobId"]) and OBJECT_ID.match(obj["id"])
    assert obj["size"] == 12_345 and obj["deletable"] is True  # deletable by default
    assert isinstance(obj["certifiedEpoch"], int) and isinstance(obj["registeredEpoch"], int)
    assert set(obj["storage"]) == {"id", "startEpoch", "endEpoch", "storageSize"}
    assert obj["storage"]["endEpoch"] - obj["storage"]["startEpoch"] == 2
    (operation,) = created["resourceOperation"]
    assert operation in {"registerFromScratch", "reuseStorage", "reuseRegistration"}


def test_store_again_answers_already_certified(http: httpx.Client) -> None:
    """`AlreadyCertified {blobId, event | object, endEpoch}` for a permanent blob."""
    data = os.urandom(2000)
    first = http.put("/v1/blobs", params={"permanent": "true"}, content=data).json()
    again = http.put("/v1/blobs", params={"permanent": "true"}, content=data).json()
    certified = again["alreadyCertified"]
    assert certified["blobId"] == first["newlyCreated"]["blobObject"]["blobId"]
    assert isinstance(certified["endEpoch"], int)
    assert ("event" in certified) != ("object" in certified)
    if "event" in certified:
        assert set(certified["event"]) == {"txDigest", "eventSeq"}


def test_read_headers_as_walrus_aggregator(http: httpx.Client, stored: dict[str, Any]) -> None:
    """`populate_response_headers_from_request`: nosniff, Cache-Control, the bare blob id as
    ETag; HEAD gives the same headers and no body."""
    blob_id = stored["body"]["newlyCreated"]["blobObject"]["blobId"]
    r = http.get(f"/v1/blobs/{blob_id}")
    assert r.status_code == 200 and r.content == stored["data"]
    assert r.headers["etag"] == blob_id  # no quotes
    assert r.headers["cache-control"] == CACHE_CONTROL
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-type"] == "application/octet-stream"
    head = http.head(f"/v1/blobs/{blob_id}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == blob_id and head.headers["content-length"] == "12345"


def test_ranges(http: httpx.Client, stored: dict[str, Any]) -> None:
    """`bytes=start-end` → 206 with Content-Range and Content-Length (as Walrus); a range
    past the end → 416 INVALID_BYTE_RANGE (as Walrus), with `Content-Range: bytes */size`
    (kept difference: RFC 9110), and an unparseable Range is ignored (kept difference: Walrus
    answers it with 416 INVALID_BYTE_RANGE)."""
    blob_id = stored["body"]["newlyCreated"]["blobObject"]["blobId"]
    data = stored["data"]
    part = http.get(f"/v1/blobs/{blob_id}", headers={"range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == "bytes 100-199/12345"
    assert part.headers["content-length"] == "100"
    past = http.get(f"/v1/blobs/{blob_id}", headers={"range": "bytes=20000-20001"})
    walrus_error(past, 416, "INVALID_BYTE_RANGE")
    assert past.headers["content-range"] == "bytes */12345"
    ignored = http.get(f"/v1/blobs/{blob_id}", headers={"range": "pages=1-2"})
    assert ignored.status_code == 200 and ignored.content == data
    byte_range = http.get(
        f"/v1/blobs/{blob_id}/byte-range", params={"start": 5, "length": 10}
    )  # aggregator_openapi.yaml: 200 (cacheable), ETag `<id>-<start>-<length>`
    assert byte_range.status_code == 200 and byte_range.content == data[5:15]
    assert byte_range.headers["etag"] == f"{blob_id}-5-10"


def test_by_object_id_serves_the_blob_and_allowed_attributes(
    http: httpx.Client, stored: dict[str, Any]
) -> None:
    """`GET /v1/blobs/by-object-id/{blob_object_id}`: the blob with Walrus's headers, plus
    the attributes on the allow-list (content-type here); HEAD too."""
    obj = stored["body"]["newlyCreated"]["blobObject"]
    oid, blob_id = obj["id"], obj["blobId"]
    set_attr = http.put(
        f"/v1/blobs/by-object-id/{oid}/attributes/content-type", content=b"text/plain"
    )
    assert set_attr.status_code == 200
    r = http.get(f"/v1/blobs/by-object-id/{oid}")
    assert r.status_code == 200 and r.content == stored["data"]
    assert r.headers["etag"] == blob_id and r.headers["content-type"].startswith("text/plain")
    assert r.headers["cache-control"] == CACHE_CONTROL
    head = http.head(f"/v1/blobs/by-object-id/{oid}")
    assert head.status_code == 200 and head.content == b""
    walrus_error(http.get(f"/v1/blobs/by-object-id/0x{'0' * 64}"), 404, "BLOB_NOT_FOUND")


def test_head_on_every_get_route(http: httpx.Client, stored: dict[str, Any]) -> None:
    """axum answers HEAD on every GET route of Walrus's daemon: so does the relayer, with
    the GET's headers and no body."""
    blob_id = stored["body"]["newlyCreated"]["blobObject"]["blobId"]
    get_routes = [
        p
        for p, ops in http.get("/v1/api", headers={"accept": "application/json"})
        .json()["paths"]
        .items()
        if "get" in ops and "{" not in p
    ]
    assert {"/v1/health", "/v1/tip-config", "/status"} <= set(get_routes)
    for path in [*get_routes, f"/v1/blobs/{blob_id}/status", f"/v1/blobs/{blob_id}/byte-range"]:
        params = {"start": 0, "length": 1} if path.endswith("byte-range") else {}
        get, head = http.get(path, params=params), http.head(path, params=params)
        assert head.status_code == get.status_code, path
        assert head.content == b"", path
        assert head.headers.get("content-type") == get.headers.get("content-type"), path


def test_status_route(http: httpx.Client) -> None:
    """`/status` (routes.rs `status`): `OK`, no chain call."""
    r = http.get("/status")
    assert r.status_code == 200 and r.text == "OK"


def test_errors_in_walrus_shape(http: httpx.Client) -> None:
    """`GetBlobError::BlobNotFound` (404 BLOB_NOT_FOUND), `INVALID_BLOB_PERSISTENCE`,
    `INVALID_BYTE_RANGE`, and the upload relay's refusals, all in the one `Status` shape."""
    walrus_error(http.get(f"/v1/blobs/{'A' * 43}"), 404, "BLOB_NOT_FOUND")
    both = http.put("/v1/blobs", params={"deletable": "true", "permanent": "true"}, content=b"x")
    walrus_error(both, 400, "INVALID_BLOB_PERSISTENCE")
    r = http.get(f"/v1/blobs/{'A' * 43}/byte-range", params={"start": 0, "length": 0})
    walrus_error(r, 400, "INVALID_BYTE_RANGE")
    unregistered = http.post(
        "/v1/blob-upload-relay", params={"blob_id": "B" * 42 + "A"}, content=b"some bytes"
    )  # no tip asked here (no_tip): a blob nobody registered is still refused
    walrus_error(unregistered, 401, "BLOB_ID_NOT_REGISTERED")


def test_upload_relay_shapes(http: httpx.Client) -> None:
    """upload_relay_openapi.yaml: `TipConfig` is `"no_tip"` or `{send_tip: …}`; the relay
    route takes Walrus's query (`blob_id`, `tx_id`, `nonce`, `deletable_blob_object`,
    `encoding_type`). The full relay round trip is tests/e2e/test_upload_relay.py."""
    assert http.get("/v1/tip-config").json() == "no_tip"
    doc = http.get("/v1/api", headers={"accept": "application/json"}).json()
    params = {p["name"] for p in doc["paths"]["/v1/blob-upload-relay"]["post"]["parameters"]}
    assert params == {"blob_id", "tx_id", "nonce", "deletable_blob_object", "encoding_type"}


@pytest.fixture(scope="module")
def quilt(http: httpx.Client) -> dict[str, Any]:
    """Two files stored as Walrus's docs do (`curl -F "contract-v2=@document.pdf" -F
    "logo-2024=@image.png" -F '_metadata=[…]'`): each field named by its identifier, whatever
    the file's name; `_metadata` a plain text field; a tag value that is not a string."""
    files = {"contract-v2": b"%PDF-1.7 " + os.urandom(3000), "logo-2024": os.urandom(7000)}
    meta = [
        {"identifier": "contract-v2", "tags": {"content-type": "application/pdf", "v": 2}},
        {"identifier": "logo-2024", "tags": {"creator": "walrus"}},
    ]
    r = http.put(
        "/v1/quilts",
        params={"epochs": 2, "quilt_version": "V1", "reuse_resources": "true"},
        files=[
            ("contract-v2", ("document.pdf", files["contract-v2"], "application/pdf")),
            ("logo-2024", ("image.png", files["logo-2024"], "image/png")),
        ],
        data={"_metadata": json.dumps(meta)},
    )
    assert r.status_code == 200, r.text
    return {"files": files, "body": r.json()}


def test_quilt_store_answers_quilt_store_result(quilt: dict[str, Any]) -> None:
    """`QuiltStoreResult` (walrus-sdk responses.rs, camelCase): `blobStoreResult` as for a blob
    and `storedQuiltBlobs`, one `StoredQuiltPatch {identifier, quiltPatchId, range}` per file
    in the quilt's (identifier) order, `range` the patch's sliver columns [start, end)."""
    body = quilt["body"]
    assert set(body) == {"blobStoreResult", "storedQuiltBlobs"}
    obj = body["blobStoreResult"]["newlyCreated"]["blobObject"]
    quilt_id = obj["blobId"]
    assert BLOB_ID.match(quilt_id) and OBJECT_ID.match(obj["id"]) and obj["deletable"] is True
    patches = body["storedQuiltBlobs"]
    assert [p["identifier"] for p in patches] == ["contract-v2", "logo-2024"]
    end = None
    for p in patches:
        assert set(p) == {"identifier", "quiltPatchId", "range"}
        assert PATCH_ID.match(p["quiltPatchId"]) and p["quiltPatchId"].startswith(quilt_id)
        start, stop = p["range"]
        assert isinstance(start, int) and isinstance(stop, int) and start < stop
        assert end is None or start == end  # patches take whole, adjacent columns
        end = stop


def test_quilt_patch_reads_as_walrus_aggregator(http: httpx.Client, quilt: dict[str, Any]) -> None:
    """`build_quilt_patch_response`, by patch id and by quilt id and identifier: the bytes,
    the aggregator's headers with the quilt id as ETag, `X-Quilt-Patch-Identifier`, and the
    tags on the allow-list as headers (others are not); HEAD gives the headers alone."""
    quilt_id = quilt["body"]["blobStoreResult"]["newlyCreated"]["blobObject"]["blobId"]
    for p in quilt["body"]["storedQuiltBlobs"]:
        data = quilt["files"][p["identifier"]]
        for path in (
            f"/v1/blobs/by-quilt-patch-id/{p['quiltPatchId']}",
            f"/v1/blobs/by-quilt-id/{quilt_id}/{p['identifier']}",
        ):
            r = http.get(path)
            assert r.status_code == 200 and r.content == data, path
            assert r.headers["etag"] == quilt_id
            assert r.headers["x-quilt-patch-identifier"] == p["identifier"]
            assert r.headers["cache-control"] == CACHE_CONTROL
            assert r.headers["x-content-type-options"] == "nosniff"
            assert "v" not in r.headers and "creator" not in r.headers
            head = http.head(path)
            assert head.status_code == 200 and head.content == b""
            assert head.headers["etag"] == quilt_id
            assert head.headers["content-length"] == str(len(data))
            wanted = "application/pdf" if p["identifier"] == "contract-v2" else None
            assert r.headers["content-type"] == (wanted or "application/octet-stream")


def test_quilt_patches_list_as_quilt_patch_items(http: httpx.Client, quilt: dict[str, Any]) -> None:
    """`GET /v1/quilts/{quilt_id}/patches`: `QuiltPatchItem {identifier, patch_id, tags}`
    (snake case: Walrus gives this struct no rename), tag values as strings (a JSON number
    in `_metadata` becomes its text, as `parse_multipart_quilt` does)."""
    quilt_id = quilt["body"]["blobStoreResult"]["newlyCreated"]["blobObject"]["blobId"]
    r = http.get(f"/v1/quilts/{quilt_id}/patches")
    assert r.status_code == 200
    items = r.json()
    assert all(set(item) == {"identifier", "patch_id", "tags"} for item in items)
    assert [(i["identifier"], i["patch_id"]) for i in items] == [
        (p["identifier"], p["quiltPatchId"]) for p in quilt["body"]["storedQuiltBlobs"]
    ]
    assert items[0]["tags"] == {"content-type": "application/pdf", "v": "2"}
    assert items[1]["tags"] == {"creator": "walrus"}


def test_quilt_errors_in_walrus_shape(http: httpx.Client, quilt: dict[str, Any]) -> None:
    """`GetBlobError::QuiltPatchNotFound` (404 QUILT_PATCH_NOT_FOUND), `BlobNotFound` for an
    unknown quilt, and `StoreBlobError::MalformedRequest` (400) for a form without files or
    with an identifier twice in `_metadata`, all in the one `Status` shape."""
    quilt_id = quilt["body"]["blobStoreResult"]["newlyCreated"]["blobObject"]["blobId"]
    walrus_error(
        http.get(f"/v1/blobs/by-quilt-id/{quilt_id}/no-such-file"), 404, "QUILT_PATCH_NOT_FOUND"
    )
    walrus_error(http.get(f"/v1/quilts/{'A' * 43}/patches"), 404, "BLOB_NOT_FOUND")
    empty = http.put("/v1/quilts", files=[("_metadata", (None, b"[]"))])  # multipart, no file
    walrus_error(empty, 400, "MALFORMED_REQUEST")
    assert "no files" in empty.json()["error"]["message"]
    twice = [{"identifier": "a", "tags": {}}, {"identifier": "a", "tags": {}}]
    duplicate = http.put(
        "/v1/quilts", files=[("a", ("a", b"x"))], data={"_metadata": json.dumps(twice)}
    )
    walrus_error(duplicate, 400, "MALFORMED_REQUEST")
    stray = [{"identifier": "b", "tags": {"k": "v"}}]  # kept difference: Walrus drops its tags
    unknown = http.put(
        "/v1/quilts", files=[("a", ("a", b"x"))], data={"_metadata": json.dumps(stray)}
    )
    walrus_error(unknown, 400, "MALFORMED_REQUEST")


def test_a_blob_no_node_serves_is_blob_unavailable(system: LocalSystem, http: httpx.Client) -> None:
    """`GetBlobError::BlobUnavailable`: a certified blob whose metadata or slivers no node
    serves is 503 BLOB_UNAVAILABLE, which Walrus's clients retry with backoff. Last in this
    module: it stops the storage nodes."""
    stored = http.put("/v1/blobs", content=os.urandom(3000)).json()
    blob_id = stored["newlyCreated"]["blobObject"]["blobId"]
    for name in [n for n in system.procs if n.startswith("node-")]:
        system.stop_service(name)
    walrus_error(http.get(f"/v1/blobs/{blob_id}"), 503, "BLOB_UNAVAILABLE")
