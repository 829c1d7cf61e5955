"""A fault-injecting HTTP proxy on 127.0.0.1 in front of the moto S3 server (tests and benchmarks only).

Each request, with probability `rate` (seeded, so a run can be replayed), gets one fault:
  500 / 503       an S3 error answer; the request never reaches the server
  reset           the connection is closed before anything is forwarded
  delay           the request is forwarded after a pause
  drop            the request IS applied by the server, then the connection closes with no answer
`delay_only` turns every fault into a delay. The proxy serves at most `max_requests` and stops with its
context manager. A `Trap` set on the proxy is sprung by the first request it matches: its action runs (a
test kills the publisher there) before that request reaches the server, or after the server applied it,
and the client never gets an answer; so a test acts on observed progress, never on a guess of the time.
"""

from __future__ import annotations

import http.client
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("500", "503", "reset", "delay", "drop")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class Trap:
    """Sprung once, by the first `method` request whose object key satisfies `key`."""

    method: str
    key: Callable[[str], bool]
    after: bool  # False: before the request reaches the server; True: once the server has applied it
    action: Callable[[], None]
    sprung: threading.Event = field(default_factory=threading.Event)


class FaultProxy:
    trap: Trap | None = None

    def __init__(self, upstream: str, rate: float, seed: int, *, delay_only: bool = False,
                 max_requests: int = 20000) -> None:
        self.upstream = urlsplit(upstream)
        self.rate, self.delay_only, self.max_requests = rate, delay_only, max_requests
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.requests = 0

    def choose(self) -> str | None:
        with self.lock:
            self.requests += 1
            if self.requests > self.max_requests:
                return "reset"
            if self.random.random() >= self.rate:
                return None
            fault = "delay" if self.delay_only else self.random.choice(FAULTS)
            self.injected[fault] += 1
            return fault

    def spring(self, method: str, path: str) -> Trap | None:
        """The trap this request springs, if any; each trap is sprung by one request only."""
        key = urlsplit(path).path.rsplit("/", 1)[-1]
        with self.lock:
            trap = self.trap
            if trap is None or trap.sprung.is_set() or trap.method != method or not trap.key(key):
                return None
            trap.sprung.set()
            return trap

    def pause(self) -> float:
        with self.lock:
            return self.random.uniform(0.05, 0.3)

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=30)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            trap = proxy.spring(self.command, self.path)
            if trap and not trap.after:
                trap.action()
                self._cut()
                return
            fault = None if trap else proxy.choose()  # a trapped request is the test's, not a fault's
            if fault in ("500", "503"):
                code = "InternalError" if fault == "500" else "SlowDown"
                payload = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                self.send_response(int(fault))
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            if fault == "reset":
                self._cut()
                return
            if fault == "delay":
                time.sleep(proxy.pause())
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            status, response_headers, payload = proxy.forward(self.command, self.path, headers, body)
            if trap:
                trap.action()
                self._cut()
                return
            if fault == "drop":
                self._cut()  # applied upstream, never answered
                return
            self.send_response(status)
            for key, value in response_headers:
                if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _cut(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

    return Handler


@contextmanager
def fault_proxy(upstream: str, rate: float, seed: int, **options: object) -> Iterator[tuple[str, FaultProxy]]:
    """(the proxy's URL, the proxy), serving until the block ends."""
    proxy = FaultProxy(upstream, rate, seed, **options)  # type: ignore[arg-type]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", proxy
    finally:
        server.shutdown()
        server.server_close()
