"""Glue between Invoke and the plain modules: the task decorator and the project root."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import invoke

from tasks import ui
from tasks.errors import Reported, ToolError

ROOT = Path(__file__).resolve().parent.parent  # where tasks.py lives: relative settings start here
INTERRUPTED = 130  # the shell's code for a process ended by SIGINT

# `invoke --debug` logs the command line and invoke.yaml before any task runs: redact from the start.
ui.guard(os.environ)
ui.add_url_secrets(" ".join(sys.argv))


def task(help: dict[str, str], **options: Any) -> Callable[[Callable[..., Any]], invoke.Task]:
    """invoke.task, with every parameter documented and ToolError turned into one line and exit 1.

    Ctrl-C or SIGTERM: one `interrupted:` line (what the interrupted code left behind, when it says) and
    exit 130. `invoke --debug TASK` shows the traceback too, and logs each Helm call as its `helm ...`
    command; both pass through the same redaction as everything else.
    """

    def decorate(body: Callable[..., Any]) -> invoke.Task:
        @functools.wraps(body)
        def run(c: invoke.Context, *args: Any, **kwargs: Any) -> Any:
            ui.guard(os.environ)
            try:
                with _terminate_interrupts():
                    return body(c, *args, **kwargs)
            except Reported:
                raise invoke.Exit(code=1) from None
            except ToolError as exc:
                _traceback_if_debugging()
                raise invoke.Exit(ui.redact(f"error: {exc}"), code=1) from None
            except invoke.Exit:
                raise
            except KeyboardInterrupt as exc:
                detail = str(exc) or f"{body.__name__.rstrip('_')} stopped before it finished; run it again"
                raise invoke.Exit(ui.redact(f"interrupted: {detail}"), code=INTERRUPTED) from None
            except Exception as exc:  # noqa: BLE001 - a bug: still one line, still redacted, the traceback with --debug
                _traceback_if_debugging()
                detail = " ".join(str(exc).split())
                raise invoke.Exit(ui.redact(f"error: unexpected {type(exc).__name__}: {detail} (a bug; "
                                            "invoke --debug shows the traceback)"), code=2) from None

        return invoke.task(help=help, **options)(run)

    return decorate


@contextmanager
def _terminate_interrupts() -> Iterator[None]:
    """SIGTERM (a cancelled Drone build, `docker stop`) stops a task the way Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _traceback_if_debugging() -> None:
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        sys.stderr.write(ui.redact(traceback.format_exc()))


def check_project() -> None:
    """invoke.yaml checked before Invoke merges it (Invoke's errors there are tracebacks): one line, exit 1."""
    from tasks import settings

    try:
        settings.check_project_file(ROOT, invoke.Config.global_defaults())
    except ToolError as exc:
        sys.exit(ui.redact(f"error: {exc}"))
