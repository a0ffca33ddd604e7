"""A blob's bytes over one plain HTTP/1.1 GET, received straight into the bytes returned.

httpx (httpcore and h11 beneath it) hands a body over in 64 KiB pieces, copied through
several layers and joined at the end: reading a 128 MiB blob cost the client about 2 ms of
CPU per MiB, more than the relayer spent serving it. The standard library's `http.client`
reads a body of declared length with one buffered `read`, which fills a single bytes object
from the socket in C. `HauloutClient.read` goes through here for `http://` and `https://`
relayers when no proxy is configured (with a proxy, httpx handles the read as before, since
`http.client` does not look at proxy settings).

The bytes are the blob as stored: a `content-encoding` the blob carries as an attribute is
passed on to the caller's headers, never decoded here.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass

from haulout.protocol.params import MAX_BLOB_SIZE

IDLE_CONNECTIONS = 4
"""Keep-alive connections kept for reuse (a client used from several threads opens more,
and closes those it cannot keep)."""


class DownloadFailed(Exception):
    """The relayer could not be reached, or broke the connection before the whole answer."""


class AnswerTooLarge(DownloadFailed):
    """The answer declares or carries more bytes than any blob can have: refused."""


@dataclass(frozen=True)
class Download:
    """An answer: its status, headers (lower-case names) and the whole body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def usable(url: str) -> bool:
    """Whether downloads from `url` can go through here: plain or TLS HTTP, no credentials
    in the URL, and no proxy configured (environment, or the system's on macOS and
    Windows)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.username or parts.password:
        return False
    return not any(k != "no" for k in urllib.request.getproxies())  # `no_proxy` is no proxy


def _tls_context() -> ssl.SSLContext:
    """The certificates httpx trusts (certifi's bundle), so reads and stores agree."""
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - httpx depends on certifi
        return ssl.create_default_context()


class Downloader:
    """GETs against one relayer over a few reused keep-alive connections (thread-safe)."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        timeout: float,
        max_bytes: int = MAX_BLOB_SIZE,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.tls else 80)
        self.base_path = parts.path.rstrip("/")
        self.headers, self.timeout, self.max_bytes = dict(headers), timeout, max_bytes
        self._context = _tls_context() if self.tls else None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def get(self, path: str, params: dict[str, str], headers: dict[str, str]) -> Download:
        """`GET base_path + path?params`. A reused connection the server closed meanwhile is
        noticed when it gives no answer at all; the GET is then sent once more on a new one."""
        target = urllib.parse.quote(self.base_path + path, safe="/-_.~")
        if params:
            target += "?" + urllib.parse.urlencode(params)
        sent = {**self.headers, **headers, "accept-encoding": "identity"}
        for attempt in (0, 1):
            conn, reused = self._take(fresh=attempt > 0)
            answered = False
            try:
                conn.request("GET", target, headers=sent)
                resp = conn.getresponse()
                answered = True
                body = self._body(resp)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                if reused and not answered and attempt == 0:
                    self.close()  # the others idled as long: the server has closed them too
                    continue
                raise DownloadFailed(f"{type(exc).__name__}: {exc}") from exc
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise DownloadFailed(f"{type(exc).__name__}: {exc}") from exc
            except BaseException:
                conn.close()
                raise
            if resp.will_close:
                conn.close()
            else:
                self._give_back(conn)
            return Download(resp.status, [(k.lower(), v) for k, v in resp.getheaders()], body)
        raise AssertionError("unreachable")  # pragma: no cover

    def _body(self, resp: http.client.HTTPResponse) -> bytes:
        """The whole body, refused unread when it declares more than `max_bytes` (a body
        of declared length is allocated at once) and cut off when it passes them."""
        if resp.length is not None:
            if resp.length > self.max_bytes:
                raise AnswerTooLarge(
                    f"the answer declares {resp.length} bytes; no blob is over {self.max_bytes}"
                )
            return resp.read()
        body = resp.read(self.max_bytes + 1)
        if len(body) > self.max_bytes:
            raise AnswerTooLarge(f"the answer passes {self.max_bytes} bytes; no blob is larger")
        return body

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self, fresh: bool = False) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle and not fresh:
                return self._idle.pop(), True
        if self.tls:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self._context
            ), False
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout), False

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()
