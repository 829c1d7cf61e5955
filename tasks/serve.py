"""`repo.serve`: a local folder repository over HTTP on 127.0.0.1, for `helm repo add` on a laptop."""

from __future__ import annotations

import functools
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tasks.errors import ToolError
from tasks.store import content_type


class _Handler(SimpleHTTPRequestHandler):
    def guess_type(self, path: str | Path) -> str:  # type: ignore[override]
        name = Path(path).name
        return content_type(name)[0] if name.endswith((".tgz", ".yaml")) else super().guess_type(path)

    def end_headers(self) -> None:
        if self.path.endswith(".yaml"):
            self.send_header("Cache-Control", content_type("index.yaml")[1])
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_folder(url: str, port: int, announce: Callable[[str], None]) -> None:
    if not url.startswith("file://"):
        raise ToolError(f"repo.url {url}: repo.serve serves a local folder repository only")
    folder = Path(url[len("file://"):])
    if not (folder / "index.yaml").exists():
        raise ToolError(f"{folder}/index.yaml: not found; run `invoke repo.publish` first")
    handler = functools.partial(_Handler, directory=str(folder))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        announce(f"serving {folder} at http://127.0.0.1:{server.server_port} (Ctrl-C stops)")
        announce(f"  helm repo add local http://127.0.0.1:{server.server_port}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
