"""What people and machines see: rich tables and progress on a terminal, plain lines in CI, JSON on request.

Secrets are masked twice (invariant 6). In the data first: what came from a secret source is replaced
by MASK before anything renders it (deploy masks values by path, redact_data every string of a document),
so YAML or JSON re-encoding cannot bring it back. Then, as the last net, every byte goes through one
redacting stream that knows the shapes a registered secret takes once YAML, JSON, base64 or a URL has
encoded it, folded over lines or not, and the userinfo of any URL.
"""

from __future__ import annotations

import base64
import bisect
import io
import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any, TextIO, cast
from urllib.parse import quote, quote_plus

from . import urls

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None  # every registered form, compiled on first use after a change
MASK = urls.MASK
MIN_LENGTH = 3  # shorter values are not masked: they would garble every line they happen to appear in
LINE_LENGTH = 8  # a line of a multi-line secret is masked on its own from this length on
ARMOUR = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]+-----")  # a PEM's header and footer lines are not secret
# Environment variables whose values are credentials whatever else happens (AWS keys, cluster tokens, ...).
SECRET_SUFFIXES = ("_TOKEN", "_PASSWORD", "_PASSWD", "_PASS", "_PASSPHRASE", "_SECRET", "_KEY", "_CREDENTIALS",
                   "_CERTIFICATE", "_AUTH", "_NETRC_USERNAME")


def is_credential(name: str) -> bool:
    """A variable that holds a credential by its name (…_TOKEN, …_PASSWORD, …_KEY, ...; Drone's DRONE_NETRC_*)."""
    name = f"_{name.upper()}"
    return name.endswith(SECRET_SUFFIXES) or "_NETRC_" in name


def add_secret(value: str) -> None:
    """Treat `value` as radioactive from now on: as it is, in every encoding, and each of its lines alone."""
    global _pattern
    if len(value.strip()) < MIN_LENGTH:
        return
    lines = [line.strip() for line in value.strip().splitlines()]
    # A PEM body line printed alone is a leak; its BEGIN/END lines and short lines are not secret.
    alone = [line for line in lines if len(line) >= LINE_LENGTH and not ARMOUR.fullmatch(line)] if len(lines) > 1 else []
    forms = {form for part in {value, value.strip(), *alone} for form in _encodings(part)
             if len(form.strip()) >= MIN_LENGTH}
    if not forms <= _secrets:  # compiled again only for a new one: a refreshed AWS token is registered on each request
        _secrets.update(forms)
        _pattern = None


def _encodings(value: str) -> set[str]:
    """`value` as YAML (single- and double-quoted), JSON, Go's %q (an API server's `Invalid value: "..."`), Helm's
    schema errors (%q in single quotes: `'O\\'Brien'`), base64 and URL-encoding write it. A value that is not UTF-8
    (an environment variable's bytes, each invalid one a surrogate escape) also as text decoded with replacement."""
    import yaml

    raw = value.encode(errors="surrogateescape")
    encoded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    escaped = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], _go_quoted(value)}
    forms = {
        value, value.replace("'", "''"), *escaped, *(e.replace('\\"', '"').replace("'", "\\'") for e in escaped),
        *encoded, *(text.rstrip("=") for text in encoded), quote(raw, safe=""), quote(raw), quote_plus(raw),
        raw.decode(errors="replace"),
    }
    for unicode in (False, True):
        double = yaml.safe_dump(value, default_style='"', width=math.inf, allow_unicode=unicode)
        forms.add(double[1:double.rindex('"')])
    return forms


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               '"': '\\"', "\\": "\\\\"}


def _go_quoted(value: str) -> str:
    """Go's strconv.Quote without its quotes: printable characters as they are (a space, not another blank),
    the rest escaped: \\t, \\x7f, \\u00a0."""
    def one(ch: str) -> str:
        if ch in _GO_ESCAPES:
            return _GO_ESCAPES[ch]
        if ch == " " or ch.isprintable() and not ch.isspace():
            return ch
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (a surrogate escape): Go writes it \xe9
            return f"\\x{code - 0xDC00:02x}"
        return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"

    return "".join(map(one, value))


# Where YAML breaks a long scalar: at a space, the space becoming a line break + indent (plain and
# single-quoted), or anywhere as `\` + line break + indent, a space after it written `\ ` (double-quoted);
# a line break inside a single-quoted scalar is a blank line. Secrets are searched in a view of the text
# where those breaks are gone and each run of whitespace is one space, so folding cannot hide them.
_CONTINUATION = re.compile(r"\\\r?\n[ \t]*(?:\\(?= ))?")
_FOLD = re.compile(rf"(?:{_CONTINUATION.pattern}|\s)+")


def _unfolded(text: str) -> str:
    """The view of `text` that secrets are searched in (bar leading and trailing space), at C speed."""
    if "\\\n" in text or "\\\r\n" in text:
        text = _CONTINUATION.sub("", text)
    return " ".join(text.split())


def _view(text: str) -> tuple[str, list[tuple[int, int, int, bool]]]:
    """_unfolded(text), and its pieces: (start in the view, start and end in `text`, copied verbatim)."""
    view: list[str] = []
    pieces: list[tuple[int, int, int, bool]] = []
    at = last = 0
    for match in _FOLD.finditer(text):
        shown = " " if _CONTINUATION.sub("", match.group()) else ""
        pieces += [(at, last, match.start(), True), (at + match.start() - last, match.start(), match.end(), False)]
        view += [text[last:match.start()], shown]
        at += match.start() - last + len(shown)
        last = match.end()
    pieces.append((at, last, len(text), True))
    view.append(text[last:])
    return "".join(view), pieces


def _spans(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """Where `pattern` matches the unfolded view of `text`, as spans of `text` itself."""
    view, pieces = _view(text)
    starts = [piece[0] for piece in pieces]

    def origin(position: int, end: bool) -> int:
        at, start, stop, verbatim = pieces[bisect.bisect_right(starts, position) - 1]
        return start + position - at + end if verbatim else (stop if end else start)

    return [(origin(m.start(), False), origin(m.end() - 1, True)) for m in pattern.finditer(view)]


def guard(environ: Mapping[str, str]) -> None:
    """Register credential variables and URL credentials as secrets; mask log records too (`--debug`)."""
    for name, value in environ.items():
        if f"_{name.upper()}".endswith(SECRET_SUFFIXES) and len(value) >= 8:  # not a flag like USE_TOKEN=yes
            add_secret(value)
        add_url_secrets(value)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _RedactingFilter) for f in handler.filters):
            handler.addFilter(_RedactingFilter())


def add_url_secrets(text: str) -> None:
    """The userinfo of every URL in `text` is a secret from the moment it is read."""
    for credential in urls.credentials(text):
        add_secret(credential)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), ()
        if record.exc_info:  # the traceback is formatted after filters run: format it here, redacted
            record.exc_text, record.exc_info = redact(logging.Formatter().formatException(record.exc_info)), None
        return True


# What would act on a terminal or a log instead of showing: C0 and C1 controls (ESC clears the screen or retitles the
# window, CR overwrites a line) and the bidi overrides, in untrusted text (another tool's index, Helm's errors)
# with the bytes of a name that is not UTF-8 (surrogate escapes, as Python reads it): shown as the bytes they are
_CONTROL_OR_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\udc80-\udcff]")
_CONTROL = re.compile(f"(?![\t\n]){_CONTROL_OR_LINE.pattern}")  # a tab and a line break kept


def printable(text: str, *, lines: bool = True) -> str:
    """`text` redacted, then its control characters shown as escapes (\\x1b); line breaks too unless `lines` (a table
    cell, an error or a warning is one line). Redacted first: a secret holding one is found as it is."""
    pattern = _CONTROL if lines else _CONTROL_OR_LINE
    text = redact(text)
    return pattern.sub(_escape, text) if pattern.search(text) else text


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code % 0x100:02x}" if code < 0x100 or code >= 0xdc80 else f"\\u{code:04x}"


def redact(text: str) -> str:
    """`text` with every registered secret, in any of its shapes, and then every URL's userinfo replaced by ***
    (in that order: a password typed with a blank or an @ in it is registered whole, and the userinfo a URL
    pattern finds in text would be only part of it)."""
    if not holds_secret(text):
        return urls.redact(text)
    out, last = [], 0
    for start, end in _spans(text, _compiled()):
        out += [text[last:start], MASK]
        last = end
    return urls.redact("".join(out) + text[last:])


def _compiled() -> re.Pattern[str]:
    global _pattern
    if _pattern is None:
        forms = {_unfolded(form).strip() for form in tuple(_secrets)}  # a snapshot: other threads add to it
        _pattern = re.compile("|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True) if form))
    return _pattern


def holds_secret(text: str) -> bool:
    """Whether `text` holds a registered secret, in any of its shapes (not a URL's userinfo: redact masks those)."""
    return bool(_secrets) and _compiled().search(_unfolded(text)) is not None


def redact_data(data: Any) -> Any:
    """A copy of `data` with every string (keys too) redacted: masked before JSON or YAML re-encodes it."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, Mapping):
        return {redact_data(key): redact_data(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(value) for value in data]
    return data


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


OUTPUTS = ("table", "json", "yaml")
_documents_only = False  # --output json/yaml: stdout holds the document alone, messages go to stderr


def _flag(name: str) -> bool:
    """An environment variable as a boolean: unset, empty, 0, false, no and off are false."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def interactive(stream: TextIO | None = None) -> bool:
    """A person at the terminal `stream` (stdout unless said) writes to: rich tables and progress. CI (CI=true), pipes,
    files and NO_COLOR (any value, as no-color.org says) get plain lines with no escape code at all."""
    stream = stream or sys.stdout
    return stream.isatty() and not _flag("CI") and not os.environ.get("NO_COLOR")


def output_format(output: str | None, as_json: bool = False) -> str:
    """The --output of a task (--json is its alias); json and yaml keep stdout for the document alone."""
    global _documents_only
    from .errors import ToolError

    if output is not None and not output.strip():  # `-o "$UNSET"`: a script that wants a document gets an error
        raise ToolError("--output '': use table, json or yaml")
    chosen = (output or ("json" if as_json else "table")).strip().lower()
    if chosen not in OUTPUTS:
        raise ToolError(f"--output {output!r}: use table, json or yaml")
    if as_json and chosen != "json":  # `--json -o yaml`: neither wins silently
        raise ToolError(f"--json and --output {output} disagree; give one of them")
    _documents_only = chosen != "table"
    return chosen


def render(document: Any, output: str, table: Callable[[], None]) -> None:
    """`document` for machines (json, yaml), else what `table` prints for people."""
    if output == "json":
        emit_json(document)
    elif output == "yaml":
        emit_yaml(document)
    else:
        table()


def _console(stream: TextIO) -> Any:
    from rich.console import Console

    return Console(file=cast(IO[str], _Redacting(stream)), highlight=False)


def _width(text: str) -> int:
    """The columns a terminal gives `text`: two for a wide character (CJK, most emoji), none for a combining one."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _line(stream: TextIO, text: str, *, lines: bool = True) -> None:
    stream.write(printable(text, lines=lines) + "\n")
    stream.flush()


def _out() -> TextIO:
    """Where a message goes: stdout, or stderr when stdout is kept for a document (--output json or yaml)."""
    return sys.stderr if _documents_only else sys.stdout


def say(message: str) -> None:
    stream = _out()
    if interactive(stream):
        _console(stream).print(printable(message), markup=False)  # redacted before rich wraps it over lines
    else:
        _line(stream, message)


_warned: set[str] = set()


def warn(message: str) -> None:
    """A warning, said once a run: the same words again (a --set read for each release of an environment) add none."""
    if message not in _warned:
        _warned.add(message)
        _on_stderr(f"warning: {message}", "yellow")


def error(message: str) -> None:
    """One failure among others that go on (a chart of the tree): the run still ends non-zero."""
    _on_stderr(f"error: {message}", "red")


def _on_stderr(line: str, style: str) -> None:
    """A warning or an error: one line, coloured only where stderr is a terminal (stdout may be one, stderr not)."""
    if interactive(sys.stderr):
        _console(sys.stderr).print(printable(line, lines=False), markup=False, style=style)
    else:
        _line(sys.stderr, line, lines=False)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A boxed table on a terminal; elsewhere the title and aligned plain columns, one line per row."""
    rows = [[printable(str(cell), lines=False) for cell in row] for row in rows]
    if not interactive(_out()):
        say(f"{title}:" if rows else f"{title}: none")
        if rows:
            widths = [max(_width(c) for c in column) for column in zip(columns, *rows)]
            for row in [list(columns), *rows]:
                say("  ".join(cell + " " * (width - _width(cell)) for cell, width in zip(row, widths)).rstrip())
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=printable(title), box=box.ROUNDED)
    for column in columns:  # a narrow terminal folds a long cell onto more lines: an ellipsis would hide a version
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*(Text(cell) for cell in row))  # Text: a "[x]" in a value is not markup
    if rows:
        _console(_out()).print(grid)


def _masked(document: Any) -> Any:
    unescaped = json.dumps(document, ensure_ascii=False)  # compact: the C encoder
    if urls.redact(unescaped) != unescaped or holds_secret(unescaped):  # mask in the data, before it is encoded
        return redact_data(document)
    return document


def emit_json(document: Any) -> None:
    sys.stdout.write(redact(json.dumps(_masked(document), indent=2, sort_keys=True)) + "\n")


def emit_yaml(document: Any) -> None:
    import yaml

    sys.stdout.write(redact(yaml.safe_dump(_masked(document), sort_keys=True, allow_unicode=True)))


def progress(items: Sequence[Any], label: str, describe: Callable[[Any], str]) -> Callable[[Any], None]:
    """Returns advance(item): a progress bar on a terminal (stderr's), one plain line per item elsewhere."""
    if not interactive(sys.stderr) or not items:
        return lambda item: say(f"{label}: {describe(item)}")
    from rich.progress import Progress

    bar = Progress(console=_console(sys.stderr), transient=True)
    task = bar.add_task(label, total=len(items))
    bar.start()

    def advance(item: Any) -> None:
        bar.update(task, advance=1, description=redact(f"{label} {describe(item)}"))
        if bar.finished:
            bar.stop()

    return advance


@contextmanager
def waiting(message: str) -> Iterator[None]:
    """A spinner on a terminal (stderr's) while something slow runs (Helm waiting for pods); nothing elsewhere."""
    if not interactive(sys.stderr):
        yield
        return
    with _console(sys.stderr).status(redact(message)):
        yield
