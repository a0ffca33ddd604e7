"""The relayer under hostile input (issue #11, items 1, 2, 9, 10), with real processes: a
relayer with a token, a 3 s body timeout and 12 upload slots, 4 nodes and DevChain.

Attributes are set directly on the ledger (bypassing the relayer, as anyone owning a blob can)
to check what reads do with them; uploads that stall or flood are raw sockets.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from haulout.chain.devchain import DevChain
from haulout.client import HauloutClient
from haulout.deployment import Deployment
from haulout.launcher import LocalSystem, free_port
from relayer.app import CACHE_CONTROL

from .conftest import start_system

pytestmark = pytest.mark.slow

TOKEN = "s3cret-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
BODY_TIMEOUT = 3
SLOTS = 12
RATE_WINDOW = 1.5  # seconds of waiting over which a body must bring 4096 bytes/s


@pytest.fixture(scope="module")
def hard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    s = start_system(
        tmp_path_factory.mktemp("hardening"),
        relayer_env={
            "HAULOUT_RELAYER_AUTH_TOKEN": TOKEN,
            "HAULOUT_RELAYER_BODY_TIMEOUT": str(BODY_TIMEOUT),
            "HAULOUT_RELAYER_MAX_CONCURRENT_UPLOADS": str(SLOTS),
            "HAULOUT_RELAYER_BODY_RATE_WINDOW": str(RATE_WINDOW),
        },
    )
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(hard: LocalSystem) -> Iterator[HauloutClient]:
    with HauloutClient(hard.relayer_url, token=TOKEN) as c:
        yield c


@pytest.fixture(scope="module")
def deployment(hard: LocalSystem) -> Deployment:
    return Deployment.load(hard.deployment_path)


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


def wait_metric(url: str, name: str, value: float, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while metric(url, name) != value:
        assert time.monotonic() < deadline, f"{name} never became {value}"
        time.sleep(0.05)


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (MB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def open_upload(url: str, length: int, first: bytes, headers: bytes = b"") -> socket.socket:
    """A PUT /v1/blobs that promises `length` bytes and sends only `first`."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    auth = f"Authorization: Bearer {TOKEN}\r\n".encode()
    sock.sendall(
        b"PUT /v1/blobs HTTP/1.1\r\nHost: x\r\n"
        + auth
        + headers
        + f"Content-Length: {length}\r\n\r\n".encode()
        + first
    )
    return sock


def read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """Status and raw bytes of the answer on `sock` (its head and Content-Length bytes)."""
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
            head, sep, body = out.partition(b"\r\n\r\n")
            length = [
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            ]
            if sep and length and len(body) >= length[0]:
                break
    except (ConnectionResetError, TimeoutError):
        pass
    return int(out.split(b" ", 2)[1]), out


def spool_work_dirs(system: LocalSystem) -> list[str]:
    return sorted(p.name for p in (system.workdir / "relayer").glob("upload-*"))


# -- item 1: attributes as headers --------------------------------------------------------

HOSTILE = {
    "transfer-encoding": "chunked",
    "connection": "close",
    "location": "https://evil.example/",
    "cache-control": "no-store",
    "access-control-allow-origin": "*",
    "set-cookie": "session=stolen",
    "x-note": "日本",
    "content-language": "€",  # allow-listed key, value no header may hold
    "content-location": "/a\r\nX-Injected: 1",
    "content-encoding": "gzip\r\n\r\nHTTP/1.1 200 OK",
}
GOOD = {
    "content-type": "text/plain",
    "content-disposition": 'attachment; filename="notes.txt"',
    "link": "<https://example.com/>; rel=canonical",
}


def test_hostile_attributes_on_chain_never_become_headers(
    hard: LocalSystem, client: HauloutClient, deployment: Deployment
) -> None:
    data = b"attribute payload " * 50
    stored = client.store(data, epochs=2, deletable=True)
    chain = DevChain(deployment.ledger)
    for key, value in {**HOSTILE, **GOOD}.items():  # straight to the ledger, as any owner may
        chain.set_attribute(deployment.relayer, stored.object_id, key, value)
    paths = [f"/v1/blobs/{stored.blob_id}", f"/v1/blobs/by-object-id/{stored.object_id}"]
    with httpx.Client(base_url=hard.relayer_url, timeout=30) as http:
        for path in paths:
            for method in ("GET", "HEAD"):
                r = http.request(method, path)
                assert r.status_code == 200, (method, path, r.text)
                assert r.content == (data if method == "GET" else b"")
                h = r.headers
                for key in ("transfer-encoding", "location", "access-control-allow-origin"):
                    assert key not in h, (method, path, key)
                for key in ("set-cookie", "x-note", "content-language", "content-location"):
                    assert key not in h, (method, path, key)
                assert "x-injected" not in h and "content-encoding" not in h
                assert h["cache-control"] == CACHE_CONTROL
                assert h["content-length"] == str(len(data))
                assert h.get("connection", "keep-alive") != "close"
                assert h["content-type"].startswith("text/plain")
                assert h["content-disposition"] == GOOD["content-disposition"]
                assert h["link"] == GOOD["link"]
                assert h["etag"] == stored.blob_id
            part = http.get(path, headers={"range": "bytes=0-9"})
            assert part.status_code == 206 and part.content == data[:10]


def test_the_relayer_refuses_attributes_it_could_not_serve(
    hard: LocalSystem, client: HauloutClient, deployment: Deployment
) -> None:
    stored = client.store(b"refusals " * 20, epochs=2, deletable=True)
    base = f"{hard.relayer_url}/v1/blobs/by-object-id/{stored.object_id}/attributes"
    refused: list[tuple[str, bytes, str]] = [
        ("x-note", "日本".encode(), "printable ASCII"),
        ("x-note", "€".encode(), "printable ASCII"),
        ("x-note", b"a\r\nSet-Cookie: x=1", "printable ASCII"),
        ("x-note", b" padded", "white space"),
        ("x-note", b"\xff\xfe", "UTF-8"),
        ("x-note", b"v" * 1025, "longer than 1024"),
        ("x-note", b"v" * (10 << 20), "longer than 1024"),
        ("bad%20key", b"ok", "HTTP token"),
        ("%E6%97%A5", b"ok", "HTTP token"),
        ("k" * 129, b"ok", "longer than 128"),
    ]
    for key, value, why in refused:
        r = httpx.put(f"{base}/{key}", content=value, headers=AUTH, timeout=30)
        assert r.status_code == 400, (key, value[:20], r.text)
        error = r.json()["error"]
        assert error["details"][0]["reason"] == "INVALID_ATTRIBUTE" and why in error["message"]
    ok = httpx.put(f"{base}/content-type", content=b"text/csv", headers=AUTH, timeout=30)
    assert ok.status_code == 200, ok.text
    attributes = DevChain(deployment.ledger).get_blob(stored.object_id).attributes
    assert attributes == {"content-type": "text/csv"}  # nothing refused reached the chain


# -- item 2: memory, threads, slow bodies -------------------------------------------------


def test_connections_promising_32_mib_do_not_grow_the_relayer(hard: LocalSystem) -> None:
    """10 uploads that declare 32 MiB and send 8 bytes: the relayer holds their sockets,
    not 32 MiB (or 3x that in slivers) each. Before, RSS went from ~70 MB to ~1 GB."""
    pid = hard.procs["relayer"].pid
    before = rss_mb(pid)
    socks = [open_upload(hard.relayer_url, 33554432, b"x" * 8) for _ in range(10)]
    peak = before
    try:
        end = time.monotonic() + BODY_TIMEOUT - 0.5  # while all ten are held
        while time.monotonic() < end:
            peak = max(peak, rss_mb(pid))
            time.sleep(0.05)
    finally:
        for sock in socks:
            sock.close()
    print(f"relayer RSS {before:.0f} MB, peak {peak:.0f} MB with 10 idle 32 MiB uploads")
    assert peak < 250, f"relayer RSS rose from {before:.0f} MB to {peak:.0f} MB"
    wait_metric(hard.relayer_url, "haulout_relayer_uploads_in_flight", 0)


@pytest.mark.parametrize("sent", [5000, 3 << 19])  # under and over one 1 MiB piece
def test_a_stalled_body_gets_408_stores_nothing_and_frees_its_slot(
    hard: LocalSystem, sent: int
) -> None:
    url = hard.relayer_url
    wait_metric(url, "haulout_relayer_uploads_in_flight", 0)
    failed = metric(url, "haulout_relayer_uploads_failed")
    with open_upload(url, 4 << 20, b"x" * sent) as sock:
        status, answer = read_answer(sock)
    assert status == 408 and b"BODY_TIMEOUT" in answer, answer[:300]
    assert metric(url, "haulout_relayer_uploads_failed") == failed + 1
    wait_metric(url, "haulout_relayer_uploads_in_flight", 0)
    assert spool_work_dirs(hard) == []


def test_a_trickling_upload_gets_408_too_slow_and_frees_its_slot(hard: LocalSystem) -> None:
    """8 bytes every 0.2 s never pause for the body timeout: before the rate bound such an
    upload held its slot for as long as its client liked (a slowloris; 20 of them starved the
    stores of `bench.load --slow-body 20`)."""
    url = hard.relayer_url
    wait_metric(url, "haulout_relayer_uploads_in_flight", 0)
    sock = open_upload(url, 4 << 20, b"x" * 8)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.2):
            try:
                sock.sendall(b"x" * 8)
            except OSError:
                return

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        status, answer = read_answer(sock)
    finally:
        stop.set()
        sender.join()
        sock.close()
    assert status == 408 and b"BODY_TOO_SLOW" in answer, answer[:300]
    wait_metric(url, "haulout_relayer_uploads_in_flight", 0)
    assert metric(url, "haulout_relayer_uploads_too_slow") >= 1
    assert spool_work_dirs(hard) == []


def test_uploads_over_the_limit_get_503_with_retry_after(
    hard: LocalSystem, client: HauloutClient
) -> None:
    url = hard.relayer_url
    earlier = os.urandom(3000)
    blob_id = client.store(earlier).blob_id
    # half of them sent more than a piece, so their encoders are waiting on worker threads
    socks = [open_upload(url, 4 << 20, b"x" * (10 if i % 2 else 3 << 19)) for i in range(SLOTS)]
    try:
        wait_metric(url, "haulout_relayer_uploads_in_flight", SLOTS)
        r = httpx.put(f"{url}/v1/blobs", content=b"one too many", headers=AUTH, timeout=30)
        assert r.status_code == 503 and int(r.headers["retry-after"]) > 0
        assert r.json()["error"]["details"][0]["reason"] == "UPLOADS_BUSY"
        assert httpx.get(f"{url}/v1/health", timeout=30).status_code == 200  # reads still go
        assert client.read(blob_id) == earlier
    finally:
        for sock in socks:
            sock.close()
    wait_metric(url, "haulout_relayer_uploads_in_flight", 0)
    data = os.urandom(2000)
    assert client.read(client.store(data).blob_id) == data


def test_the_spool_is_swept_at_start(hard: LocalSystem, tmp_path: Path) -> None:
    """What a killed relayer leaves (upload-*/read-* work directories) goes at the next
    start; nothing else in the spool is touched."""
    spool = tmp_path / "spool"
    for name in ("upload-k1ll3d", "read-k1ll3d"):
        (spool / name).mkdir(parents=True)
        (spool / name / "0.sliver").write_bytes(os.urandom(1 << 20))
    (spool / "keep.txt").write_text("not the relayer's")
    port = free_port()
    env = {
        **os.environ,
        "HAULOUT_RELAYER_DEPLOYMENT": str(hard.deployment_path),
        "HAULOUT_RELAYER_PORT": str(port),
        "HAULOUT_RELAYER_SPOOL_DIR": str(spool),
        "HAULOUT_RELAYER_STATE_DIR": str(tmp_path / "state"),
    }
    log = open(tmp_path / "relayer.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "relayer"], env=env, stdout=log, stderr=log)
    try:
        hard.wait_healthy([f"http://127.0.0.1:{port}/v1/health"], 60)
        assert sorted(p.name for p in spool.iterdir()) == ["keep.txt"]
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


# -- item 9: ranges and numbers --------------------------------------------------------------


def test_ranges_with_huge_or_unparseable_numbers(hard: LocalSystem, client: HauloutClient) -> None:
    data = os.urandom(10_000)
    stored = client.store(data, epochs=2, deletable=True)
    huge = "9" * 5000
    for path in (f"/v1/blobs/{stored.blob_id}", f"/v1/blobs/by-object-id/{stored.object_id}"):
        url = hard.relayer_url + path
        for method in ("GET", "HEAD"):
            past = httpx.request(method, url, headers={"range": f"bytes={huge}-"}, timeout=30)
            assert past.status_code == 416, past.text
            assert past.headers["content-range"] == "bytes */10000"
            whole = httpx.request(method, url, headers={"range": "bytes=abc"}, timeout=30)
            assert whole.status_code == 200 and whole.headers["content-length"] == "10000"
            capped = httpx.request(method, url, headers={"range": f"bytes=10-{huge}"}, timeout=30)
            assert capped.status_code == 206
            assert capped.headers["content-range"] == "bytes 10-9999/10000"
        assert httpx.get(url, headers={"range": "bytes=5-2"}).content == data  # invalid: ignored
        assert httpx.get(url, headers={"range": f"bytes=-{huge}"}).content == data


# -- item 10: errors, auth, logs -------------------------------------------------------------


def test_auth_comes_before_anything_else(hard: LocalSystem, client: HauloutClient) -> None:
    url = hard.relayer_url
    stored = client.store(b"auth " * 10, epochs=2, deletable=True)
    for headers in ({}, {"authorization": "Bearer wrong-token!"}, {"authorization": TOKEN}):
        for method, path, body in [
            ("PUT", "/v1/blobs?epochs=0&deletable=maybe", b"x"),
            ("PUT", "/v1/blobs/by-object-id/not-an-id/attributes/a%20b", "日本".encode()),
            ("POST", "/v1/blobs/by-object-id/x/extend?epochs=-1", b""),
            ("DELETE", f"/v1/blobs/by-object-id/{stored.object_id}", b""),
        ]:
            r = httpx.request(method, url + path, content=body, headers=headers, timeout=30)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.json()["error"]["details"][0]["reason"] == "UNAUTHENTICATED"
            assert r.headers["www-authenticate"] == "Bearer"
    r = httpx.put(f"{url}/v1/blobs?epochs=0", content=b"x", headers=AUTH, timeout=30)
    assert r.status_code == 400  # with the token, the query is looked at
    assert client.read(stored.blob_id) == b"auth " * 10  # still there: the DELETEs were refused
    assert httpx.get(f"{url}/v1/blobs/{stored.blob_id}").status_code == 200  # reads are public


def test_a_clients_mistake_is_4xx_and_the_routine_is_not_logged_at_info(
    hard: LocalSystem, client: HauloutClient
) -> None:
    stored = client.store(os.urandom(3000), epochs=2, deletable=False)
    r = httpx.delete(
        f"{hard.relayer_url}/v1/blobs/by-object-id/{stored.object_id}", headers=AUTH, timeout=30
    )
    assert r.status_code == 409 and "ENotDeletable" in r.json()["error"]["details"][0]["reason"]
    log = (hard.workdir / "logs" / "relayer.log").read_text()
    assert "HTTP Request:" not in log  # httpx's line per internal call is DEBUG only
    assert '"msg": "registered"' not in log and '"msg": "encoded"' not in log  # routine steps
    assert '"msg": "certified"' in log  # one INFO line per store remains


def test_status_of_a_deleted_blob_says_deleted(hard: LocalSystem, client: HauloutClient) -> None:
    stored = client.store(os.urandom(1500), epochs=2, deletable=True)
    assert client.status(stored.blob_id)["status"] == "certified"
    client.delete(stored.object_id)
    assert client.status(stored.blob_id)["status"] == "nonexistent"  # was "registered"


# -- schemathesis on the relayer's OpenAPI document -------------------------------------------


def test_schemathesis_finds_no_server_errors(hard: LocalSystem, client: HauloutClient) -> None:
    """Every documented operation, with generated ids, queries, Range headers and bodies (and
    half the time a real stored blob's ids): no answer is a 5xx, every error has the shape."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    stored = client.store(os.urandom(5000), epochs=2, deletable=True)
    real = {"blob_id": stored.blob_id, "object_id": stored.object_id}
    schema = schemathesis.openapi.from_url(f"{hard.relayer_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:
        writes = operation.method.upper() not in ("GET", "HEAD")

        @given(case=operation.as_strategy(), use_real=st.booleans())
        @settings(
            max_examples=8 if writes else 20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case, use_real: bool) -> None:  # type: ignore[no-untyped-def]
            if use_real and case.path_parameters and case.method.upper() != "DELETE":
                for name, value in real.items():
                    if name in case.path_parameters:
                        case.path_parameters[name] = value
            response = case.call(base_url=hard.relayer_url, headers=AUTH, timeout=60)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query} {case.headers} "
                f"→ {response.status_code}: {response.text[:300]}"
            )
            if response.status_code >= 400 and case.method.upper() != "HEAD":
                body = response.json()
                assert set(body["error"]) >= {"code", "status", "message", "details"}
                assert body["error"]["code"] == response.status_code
                assert "Traceback" not in response.text

        check()
