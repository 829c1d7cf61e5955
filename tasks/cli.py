"""Glue between Invoke and the plain modules: the task decorator and the project root."""

from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import invoke

from tasks import ui
from tasks.errors import Reported, ToolError

ROOT = Path(__file__).resolve().parent.parent  # where tasks.py lives: relative settings start here


def task(help: dict[str, str], **options: Any) -> Callable[[Callable[..., Any]], invoke.Task]:
    """invoke.task, with every parameter documented and ToolError turned into one line and exit 1.

    `invoke --debug TASK` shows the traceback too, and logs each Helm call as its `helm ...` command;
    both pass through the same redaction as everything else.
    """

    def decorate(body: Callable[..., Any]) -> invoke.Task:
        @functools.wraps(body)
        def run(c: invoke.Context, *args: Any, **kwargs: Any) -> Any:
            ui.guard(os.environ)
            try:
                return body(c, *args, **kwargs)
            except Reported:
                raise invoke.Exit(code=1) from None
            except ToolError as exc:
                _traceback_if_debugging()
                raise invoke.Exit(ui.redact(f"error: {exc}"), code=1) from None
            except (invoke.Exit, KeyboardInterrupt):
                raise
            except Exception as exc:  # a bug: still one line, still redacted, the traceback with --debug
                _traceback_if_debugging()
                detail = " ".join(str(exc).split())
                raise invoke.Exit(ui.redact(f"error: unexpected {type(exc).__name__}: {detail} (a bug; "
                                            "invoke --debug shows the traceback)"), code=2) from None

        return invoke.task(help=help, **options)(run)

    return decorate


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
