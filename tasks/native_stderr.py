"""Helm's own lines on the process's stderr, redacted. Helm's Go code logs some warnings with Go's default logger
straight to file descriptor 2 (its kube client: "WARN resource exists on cluster but not in original release ...
name=web-<a secret>"), past sys.stderr and every logging filter. In the invoke process (tasks.py guards it before
anything is printed), fd 2 is a pipe whose lines reach the real stderr through ui.printable (redacted, control
characters escaped): Go's, and those of the commands a task runs. Go's log lines read as the tool's own: `warning:
helm: ...`, as the records helm.py bridges. Python's own output goes to the real stderr directly, as before (TTY,
colours, progress).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import os
import re
import sys
import threading

from . import ui

_pump: threading.Thread | None = None


def guard() -> None:
    """Route fd 2 through ui.redact, once a process; sys.stderr and the logging handlers on it write to the real
    stderr, in whole lines."""
    global _pump
    old = sys.stderr
    if _pump is not None or old is None:
        return
    try:
        real = os.dup(2)
    except OSError:  # no stderr at all: nothing to show, nothing to keep from it
        return
    old.flush()
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)
    sys.stderr = io.TextIOWrapper(io.FileIO(real, "w", closefd=False), encoding=old.encoding, errors=old.errors,
                                  line_buffering=True)
    for handler in logging.getLogger().handlers:  # invoke --debug's, set up before the tasks load
        if isinstance(handler, logging.StreamHandler) and handler.stream is old:
            handler.setStream(sys.stderr)
    _pump = threading.Thread(target=_redacted, args=(read, real), name="stderr-redaction", daemon=True)
    _pump.start()
    atexit.register(_drain, _pump)


# Go's log package ("2026/11/29 04:55:02 message") and its default slog handler ("... WARN message key=value")
_GO_LOG = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (?:(INFO) |(?:WARN|ERROR) )?")
# client-go's klog ("I1130 03:01:06.925426   17759 reflector.go:664] message"): I, W, E or F, then when and where
_KLOG = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [^\s\]]+:\d+\] ")


def _redacted(read: int, real: int) -> None:
    """Each line written to fd 2, redacted, to the real stderr, until every writer has closed the pipe. A line of
    Go's log that says what one already said is left out: Helm's loader warns on each load of a chart, and a
    publish loads one several times. client-go's INFO lines are its own workings (a watch that ended when Helm's
    wait did: "Warning: watch ended with error ... context canceled"), shown with `invoke --debug` only, as Helm's
    debug records are."""
    said: set[str] = set()
    with open(read, "rb") as pipe, open(real, "wb", closefd=False) as out:
        for line in pipe:
            text = line.decode("utf-8", "replace")
            klog = _KLOG.match(text)
            if klog and klog.group(1) == "I" and not logging.getLogger().isEnabledFor(logging.DEBUG):
                continue
            if klog or _GO_LOG.match(text):
                text = shown(text)
                if text in said:
                    continue
                said.add(text)
            with contextlib.suppress(OSError):  # whoever read stderr is gone: still read on, so no writer blocks
                out.write(ui.printable(text).encode("utf-8", "replace"))
                out.flush()


def shown(line: str) -> str:
    """A line of Go's log or client-go's as the tool's (Helm's, so `helm: `; a warning but at INFO); any other line
    as it is."""
    if klog := _KLOG.match(line):
        return f"{'' if klog.group(1) == 'I' else 'warning: '}helm: {line[klog.end():]}"
    go = _GO_LOG.match(line)
    if go is None:
        return line
    return f"{'' if go.group(1) else 'warning: '}helm: {line[go.end():].removeprefix('Warning: ')}"


def _drain(pump: threading.Thread) -> None:
    """At exit: fd 2 leads nowhere, so the pipe ends once its last lines are written; a line Go writes later is
    lost rather than shown unredacted."""
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    with open(os.devnull, "wb") as nowhere:
        os.dup2(nowhere.fileno(), 2)
    pump.join(timeout=5)  # bounded: a process a task started that outlives it may still hold the pipe
