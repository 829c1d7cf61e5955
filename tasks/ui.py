"""What people and machines see: rich tables and progress on a terminal, plain lines in CI, JSON on request.

Every byte goes through one redacting stream, so a value registered with add_secret() cannot reach
stdout or stderr from anywhere, tables and error messages included (invariant 6).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any, TextIO, cast

_secrets: set[str] = set()
MASK = "***"
# Environment variables whose values are credentials whatever else happens (AWS keys, cluster tokens, ...).
SECRET_SUFFIXES = ("_SECRET_ACCESS_KEY", "_SESSION_TOKEN", "_TOKEN", "_PASSWORD", "_SECRET")


def add_secret(value: str) -> None:
    """Treat `value` (and its base64, as it appears in Secret manifests) as radioactive from now on."""
    if len(value) >= 3:
        _secrets.update({value, base64.b64encode(value.encode()).decode()})


def guard(environ: Mapping[str, str]) -> None:
    """Register credential variables as secrets and mask log records too (`--debug` logs to stderr)."""
    for name, value in environ.items():
        if name.endswith(SECRET_SUFFIXES) and len(value) >= 8:  # a real credential; not a flag like USE_TOKEN=yes
            add_secret(value)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _RedactingFilter) for f in handler.filters):
            handler.addFilter(_RedactingFilter())


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), ()
        return True


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class _Redacting(io.TextIOBase):
    """A text stream wrapper that masks secrets in everything written through it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(redact(text))

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()


def interactive() -> bool:
    """A person at a terminal: rich output. CI, pipes and files get plain lines."""
    return sys.stdout.isatty() and not os.environ.get("CI")


def _console(stream: TextIO) -> Any:
    from rich.console import Console

    plain = not interactive()
    return Console(
        file=cast(IO[str], _Redacting(stream)), no_color=plain or bool(os.environ.get("NO_COLOR")),
        force_terminal=False if plain else None, width=200 if plain else None, highlight=False,
        soft_wrap=plain,
    )


def say(message: str) -> None:
    _console(sys.stdout).print(message, markup=False)


def warn(message: str) -> None:
    _console(sys.stderr).print(f"warning: {message}", markup=False, style="yellow")


def error(message: str) -> None:
    """One failure among others that go on (a chart of the tree): the run still ends non-zero."""
    _console(sys.stderr).print(f"error: {message}", markup=False, style="red")


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    rows = list(rows)
    if not interactive():
        say(f"{title}:" if rows else f"{title}: none")
    grid = Table(
        *columns, title=title if interactive() else None, box=box.ROUNDED if interactive() else None,
        show_edge=interactive(), pad_edge=interactive(),
    )
    for row in rows:
        grid.add_row(*(Text(str(cell)) for cell in row))  # Text: a "[x]" in a value is not rich markup
    if rows:
        _console(sys.stdout).print(grid)


def emit_json(document: Any) -> None:
    sys.stdout.write(redact(json.dumps(document, indent=2, sort_keys=True)) + "\n")


def progress(items: Sequence[Any], label: str, describe: Callable[[Any], str]) -> Callable[[Any], None]:
    """Returns advance(item): a progress bar on a terminal, one plain line per item elsewhere."""
    if not interactive() or not items:
        return lambda item: say(f"{label}: {describe(item)}")
    from rich.progress import Progress

    bar = Progress(console=_console(sys.stderr), transient=True)
    task = bar.add_task(label, total=len(items))
    bar.start()

    def advance(item: Any) -> None:
        bar.update(task, advance=1, description=f"{label} {describe(item)}")
        if bar.finished:
            bar.stop()

    return advance


@contextmanager
def waiting(message: str) -> Iterator[None]:
    """A spinner on a terminal while something slow runs (Helm waiting for pods); one line elsewhere."""
    if not interactive():
        yield
        return
    with _console(sys.stderr).status(message):
        yield
