"""A folder over HTTP on 127.0.0.1: `repo.serve` for `helm repo add` on a laptop, and Helm's client checks."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tasks.errors import ToolError
from tasks.store import INDEX, content_type


class _Handler(SimpleHTTPRequestHandler):
    def guess_type(self, path: str | Path) -> str:  # type: ignore[override]
        name = Path(path).name
        return content_type(name)[0] if name.endswith((".tgz", ".yaml")) else super().guess_type(path)

    def end_headers(self) -> None:
        if self.path.endswith(".yaml"):
            self.send_header("Cache-Control", content_type(INDEX)[1])
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving(folder: Path, port: int = 0, *, background: bool = True) -> Iterator[ThreadingHTTPServer]:
    """A server for `folder` on 127.0.0.1 (port 0: any free one), answering from a thread if `background`."""
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Handler, directory=str(folder)))
    if background:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        if background:
            server.shutdown()
        server.server_close()


def serve_folder(url: str, port: int, announce: Callable[[str], None]) -> None:
    if not url.startswith("file://"):
        raise ToolError(f"repo.url {url}: repo.serve serves a local folder repository only")
    folder = Path(url[len("file://"):])
    if not (folder / INDEX).exists():
        raise ToolError(f"{folder}/{INDEX}: not found; run `invoke repo.publish` first")
    with serving(folder, port, background=False) as server:
        announce(f"serving {folder} at http://127.0.0.1:{server.server_port} (Ctrl-C stops)")
        announce(f"  helm repo add local http://127.0.0.1:{server.server_port}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
