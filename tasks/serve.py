"""A folder over HTTP on 127.0.0.1: `repo.serve` for `helm repo add` on a laptop, and Helm's client checks."""

from __future__ import annotations

import errno
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ToolError
from .store import INDEX, content_type


class _Handler(SimpleHTTPRequestHandler):
    """The repository as the S3 website serves it: index.html at /, no directory listings, no dot files."""

    def send_head(self):  # type: ignore[no-untyped-def]
        if any(part.startswith(".") for part in urlsplit(self.path).path.split("/")):
            self.send_error(404)  # .lock, a publisher's .tmp- files: nothing for clients
            return None
        return super().send_head()

    def list_directory(self, path: str) -> None:  # type: ignore[override]
        self.send_error(404, "no listing: open index.html, or index.yaml with Helm")

    def guess_type(self, path: str | Path) -> str:  # type: ignore[override]
        name = Path(path).name
        return content_type(name)[0] if name.endswith((".tgz", ".yaml", ".html")) else super().guess_type(path)

    def end_headers(self) -> None:
        if self.path.endswith((".yaml", ".html", "/")):
            self.send_header("Cache-Control", content_type(INDEX)[1])
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


DEFAULT_PORT = 8879  # Helm 2's `helm serve` port


def _bind(folder: Path, port: int) -> ThreadingHTTPServer:
    """A server for `folder` on 127.0.0.1:`port` (0: any free one); a port that cannot be had is one clear line."""
    try:
        return ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Handler, directory=str(folder)))
    except OSError as exc:
        why = {errno.EADDRINUSE: "is in use (another repo.serve?); stop that, or pass --port with a free port",
               errno.EACCES: "needs privileges; pass --port with a port above 1023"}
        raise ToolError(f"127.0.0.1:{port} {why.get(exc.errno or 0, f'cannot be served ({exc.strerror})')}") from None


@contextmanager
def serving(folder: Path, port: int = 0, *, background: bool = True) -> Iterator[ThreadingHTTPServer]:
    """A server for `folder` on 127.0.0.1 (port 0: any free one), answering from a thread if `background`."""
    server = _bind(folder, port)
    if background:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        if background:
            server.shutdown()
        server.server_close()


def serve_folder(url: str, port: str | int | None, announce: Callable[[str], None]) -> None:
    """`repo.serve`: the folder repository on 127.0.0.1:`port` (a flag's text; None: DEFAULT_PORT) until Ctrl-C."""
    if not url.startswith("file://"):
        raise ToolError(f"repo.url {url}: repo.serve serves a local folder repository only")
    text = str(DEFAULT_PORT if port is None else port).strip()
    if not text.isdigit() or int(text) > 65535:
        raise ToolError(f"--port {port!r}: not a port number; use 1-65535 (0: any free port)")
    folder = Path(url[len("file://"):])
    if not (folder / INDEX).exists():
        raise ToolError(f"{folder}/{INDEX}: not found; run `invoke repo.publish` first")
    with serving(folder, int(text), background=False) as server:
        announce(f"serving {folder} at http://127.0.0.1:{server.server_port} (Ctrl-C stops)")
        announce(f"  helm repo add local http://127.0.0.1:{server.server_port}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
