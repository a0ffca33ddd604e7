"""`HauloutClient.read` over `haulout.blob_download` (one buffered read of the whole body):
the bytes are the blob as stored, errors keep their reason, and a keep-alive connection the
relayer closed meanwhile is replaced without the caller noticing."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from haulout import blob_download
from haulout.client import BlobNotFound, HauloutClient
from haulout.launcher import free_port

STORED = gzip.compress(b"a blob stored already compressed " * 100)


class Relayer(BaseHTTPRequestHandler):
    """Answers `GET /v1/blobs/<id>` as a relayer does, keeping connections alive."""

    protocol_version = "HTTP/1.1"
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        Relayer.seen.append({k.lower(): v for k, v in self.headers.items()})
        if self.path.startswith("/v1/blobs/gzipped"):
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
def relayer(port: int) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", port), Relayer)
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


def test_a_connection_the_relayer_closed_is_replaced() -> None:
    port = free_port()
    with HauloutClient(f"http://127.0.0.1:{port}", timeout=5) as client:
        with relayer(port):
            assert client.read("gzipped") == STORED
        with relayer(port):  # a restarted relayer: the kept connection is dead
            assert client.read("gzipped") == STORED


def test_proxies_leave_downloads_to_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    assert blob_download.usable("http://127.0.0.1:1")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert not blob_download.usable("https://relayer.example")
    assert not blob_download.usable("unix:///tmp/socket")
