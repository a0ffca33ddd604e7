"""`HauloutClient.read` over `haulout.blob_download` (one buffered read of the whole body):
the bytes are the blob as stored, errors keep their reason, and a keep-alive connection the
relayer closed meanwhile is replaced without the caller noticing."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gzip
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from haulout import blob_download
from haulout.client import AsyncHauloutClient, BlobNotFound, HauloutClient, HauloutError
from haulout.launcher import free_port

STORED = gzip.compress(b"a blob stored already compressed " * 100)


class Relayer(BaseHTTPRequestHandler):
    """Answers `GET /v1/blobs/<id>` as a relayer does, keeping connections alive."""

    protocol_version = "HTTP/1.1"
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        Relayer.seen.append({k.lower(): v for k, v in self.headers.items()})
        if self.path.startswith("/v1/blobs/huge"):  # a hostile relayer: 4 EiB "coming"
            self.send_response(200)
            self.send_header("content-length", str(1 << 62))
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.close_connection = True
            return
        if self.path.startswith(("/v1/blobs/gzipped", "/v1/blobs/by-object-id/0xgz")):
            body, status = STORED, 200
            extra = {"content-encoding": "gzip", "content-type": "text/plain"}
        else:
            error = {"code": 404, "message": "blob x is not stored", "status": "NOT_FOUND"}
            error["details"] = [{"reason": "BLOB_NOT_FOUND"}]  # type: ignore[assignment]
            body, status, extra = json.dumps({"error": error}).encode(), 404, {}
        self.send_response(status)
        for k, v in {**extra, "content-length": str(len(body))}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def relayer(port: int, idle: float | None = None) -> Iterator[str]:
    """A relayer on `port`; with `idle`, it closes a connection idle that long (as uvicorn
    does after 5 s)."""
    handler = type("Idle", (Relayer,), {"timeout": idle}) if idle else Relayer
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def test_read_returns_the_stored_bytes_not_decoded() -> None:
    """A blob whose `content-encoding` attribute says gzip is read back as stored (httpx
    would have unpacked it), with the token sent."""
    with relayer(free_port()) as url, HauloutClient(url, token="t0k", timeout=5) as client:
        assert client.read("gzipped") == STORED
        assert Relayer.seen[-1]["authorization"] == "Bearer t0k"
        assert Relayer.seen[-1]["accept-encoding"] == "identity"


def test_an_error_answer_keeps_its_reason() -> None:
    with relayer(free_port()) as url, HauloutClient(url, timeout=5) as client:
        with pytest.raises(BlobNotFound, match="BLOB_NOT_FOUND"):
            client.read("missing")
        assert client.read("gzipped") == STORED  # the connection is still usable


def test_connections_the_relayer_closed_are_replaced() -> None:
    """Two reads at once leave two kept connections; the relayer closes both while idle.
    The next read finds one dead and opens a new one, never trying the other dead one."""
    with relayer(free_port(), idle=0.2) as url, HauloutClient(url, timeout=5) as client:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            barrier = threading.Barrier(2)

            def read() -> bytes:
                barrier.wait()
                return client.read("gzipped")

            assert list(pool.map(lambda _: read(), range(2))) == [STORED, STORED]
        assert client._downloads is not None and len(client._downloads._idle) == 2
        time.sleep(0.6)  # both closed by the relayer
        for _ in range(3):
            assert client.read("gzipped") == STORED


def test_a_hostile_length_is_refused_unread() -> None:
    with relayer(free_port()) as url, HauloutClient(url, timeout=5) as client:
        with pytest.raises(HauloutError, match="declares 4611686018427387904 bytes"):
            client.read("huge")
        assert client.read("gzipped") == STORED


def test_every_read_returns_the_bytes_as_stored() -> None:
    """Streams, reads by object and the async client too (httpx would gzip-decode them)."""
    with relayer(free_port()) as url, HauloutClient(url, timeout=5) as client:
        assert b"".join(client.read_stream("gzipped")) == STORED
        body, headers = client.read_by_object("0xgz")
        assert body == STORED and headers["content-encoding"] == "gzip"

        async def go() -> bytes:
            async with AsyncHauloutClient(url, timeout=5) as a:
                return await a.read("gzipped")

        assert asyncio.run(go()) == STORED


def test_proxies_leave_downloads_to_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "localhost")  # names hosts to reach directly: no proxy
    assert blob_download.usable("http://127.0.0.1:1")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert not blob_download.usable("https://relayer.example")
    assert not blob_download.usable("unix:///tmp/socket")
