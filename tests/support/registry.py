"""Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1, with a throwaway config."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def oci_registry(folder: Path, user: str | None = None, password: str | None = None) -> Iterator[str]:
    """A registry serving until the block ends; its host:port. With `user`, it demands basic auth (htpasswd)."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise AssertionError("docker-registry is not installed: .ci/run installs Debian's docker-registry package")
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    auth = ""
    if user is not None:
        hashed = subprocess.run(["htpasswd", "-Bbn", user, password or ""], capture_output=True, text=True, check=True)
        (folder / "htpasswd").write_text(hashed.stdout)
        auth = f"auth:\n  htpasswd:\n    realm: charts\n    path: {folder / 'htpasswd'}\n"
    (folder / "config.yml").write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}")
    process = subprocess.Popen([binary, "serve", str(folder / "config.yml")], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        for _ in range(300):  # until it answers: an observed state, each probe bounded by its own timeout
            if process.poll() is not None:
                raise AssertionError(f"docker-registry exited: {process.stderr.read().decode() if process.stderr else ''}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)
                break
            except urllib.error.HTTPError:  # 401: up, and asking for credentials
                break
            except OSError:
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)
