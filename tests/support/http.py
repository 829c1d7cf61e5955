"""A folder served over HTTP on 127.0.0.1 behind Basic auth: a private chart repository, as Nexus or Artifactory serve one."""

from __future__ import annotations

import base64
import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class AuthServer(ThreadingHTTPServer):
    expected = ""
    authorized = 0
    unauthorized = 0

    @property
    def port(self) -> int:
        return self.server_port


class _Handler(SimpleHTTPRequestHandler):
    server: AuthServer

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != self.server.expected:
            self.server.unauthorized += 1
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.server.authorized += 1
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def basic_auth_server(folder: Path, user: str, password: str) -> Iterator[AuthServer]:
    """`folder` on a free port of 127.0.0.1; every request without `user:password` gets 401."""
    server = AuthServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(folder)))
    server.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
