"""Helm's own lines on the process's stderr, redacted. Helm's Go code logs some warnings with Go's default logger
straight to file descriptor 2 (its kube client: "WARN resource exists on cluster but not in original release ...
name=web-<a secret>"), past sys.stderr and every logging filter. In a task, once Helm is loaded, fd 2 becomes a
pipe whose lines reach the real stderr through ui.redact; Python's own output goes there directly, as before.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import sys
import threading

from . import ui

_armed = False
_pump: threading.Thread | None = None
_installing = threading.Lock()  # releases deploy in threads: the first to load Helm installs it


def arm() -> None:
    """Every task arms it (cli); tests that call Helm in the test process keep their own fd 2."""
    global _armed
    _armed = True


def guard() -> None:
    """Route fd 2 through ui.redact, once a process, when armed (called as Helm is loaded)."""
    global _pump
    if not _armed or _pump is not None:
        return
    with _installing:
        if _pump is None:
            _pump = _install()


def _install() -> threading.Thread:
    sys.stderr.flush()
    real = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)
    sys.stderr = io.TextIOWrapper(io.FileIO(real, "w", closefd=False), encoding=sys.stderr.encoding,
                                  errors=sys.stderr.errors, line_buffering=True, write_through=True)
    pump = threading.Thread(target=_redacted, args=(read, real), name="stderr-redaction", daemon=True)
    pump.start()
    atexit.register(_drain, pump)
    return pump


def _redacted(read: int, real: int) -> None:
    """Each line written to fd 2, redacted, to the real stderr, until every writer has closed the pipe."""
    with open(read, "rb") as pipe, open(real, "wb", closefd=False) as out:
        for line in pipe:
            with contextlib.suppress(OSError):  # whoever read stderr is gone: still read on, so no writer blocks
                out.write(ui.redact(line.decode("utf-8", "replace")).encode("utf-8", "replace"))
                out.flush()


def _drain(pump: threading.Thread) -> None:
    """At exit: fd 2 leads nowhere, so the pipe ends once its last lines are written; a line Go writes later is
    lost rather than shown unredacted."""
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    with open(os.devnull, "wb") as nowhere:
        os.dup2(nowhere.fileno(), 2)
    pump.join(timeout=5)  # bounded: a process a task started that outlives it may still hold the pipe
