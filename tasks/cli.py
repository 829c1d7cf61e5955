"""Glue between Invoke and the plain modules: the task decorator and the project root."""

from __future__ import annotations

import atexit
import functools
import io
import logging
import os
import re
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import invoke

from . import interrupts, ui
from .errors import REMEDIES, Reported, ToolError

ROOT = Path(__file__).resolve().parent.parent  # where tasks.py lives: relative settings start here
INTERRUPTED = 130  # the shell's code for a process ended by SIGINT
CLOSED_PIPE = 141  # the shell's code for a process ended by SIGPIPE: what reads the output went away (| head)
EXIT_CODES = ("0 done; 1 refused (bad input, a failed chart or deploy: the error lines say why); 2 a bug "
              "(invoke --debug shows it), or release.diff --detailed-exitcode finding changes; 130 interrupted; "
              "141 the output's reader closed it (| head)")

# `invoke --debug` logs the command line and invoke.yaml before any task runs: redact from the start.
ui.guard(os.environ)
for argument in sys.argv:  # one by one: a password with a blank in it is one argument
    ui.add_url_secrets(argument)


# One short-flag scheme for every task (Helm's -f for values); every other flag is long only.
SHORT = {"env": "e", "release": "r", "values": "f", "set": "s", "output": "o", "yes": "y", "dry-run": "n",
         "chart": "c", "url": "u", "verbose": "v"}
INTEGERS = {"revision", "port", "parallel", "history-max"}  # typed: `--revision two` is refused by the parser
ACCEPTS = {"output": "table, json or yaml"}  # a flag's values, for the line saying it was given none
PLACEHOLDERS = {"values": "FILE", "set": "KEY=VALUE", "set-string": "KEY=VALUE", "set-json": "KEY=JSON",
                "set-file": "KEY=FILE", "set-secret": "KEY=ENV_VAR", "chart": "NAME"}


class _Task(invoke.Task):  # type: ignore[misc]
    """Flags named the same way in every task, integers as integers, repeatable flags with a placeholder."""

    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        long = opts["names"][0]
        if long in SHORT:
            opts["names"].append(SHORT[long])
        if long in INTEGERS:
            opts["kind"] = _integer(long)
        return opts


def _integer(flag: str) -> Callable[[str], int]:
    """An integer flag whose bad value is one line from the parser, not a ValueError traceback."""

    def parse(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise invoke.ParseError(f"--{flag} {text!r} is not a number") from None

    parse.placeholder = "INT"  # type: ignore[attr-defined]
    return parse


def task(help: dict[str, str], **options: Any) -> Callable[[Callable[..., Any]], invoke.Task]:
    """invoke.task, with every parameter documented and ToolError turned into one line and exit 1.

    Ctrl-C or SIGTERM: one `interrupted:` line (what the interrupted code left behind, when it says) and
    exit 130. `invoke --debug TASK` shows the traceback too, and logs each Helm call as its `helm ...`
    command; both pass through the same redaction as everything else.
    """

    def decorate(body: Callable[..., Any]) -> invoke.Task:
        name = body.__name__.rstrip("_")  # list_ is `list`

        @functools.wraps(body)
        def run(c: invoke.Context, *args: Any, **kwargs: Any) -> Any:
            ui.guard(os.environ)
            try:
                with _terminate_interrupts():
                    result = body(c, *args, **kwargs)
                sys.stdout.flush()  # a document that cannot be written fails here, said so, not at exit
                return result
            except Reported:
                raise invoke.Exit(code=1) from None
            except ToolError as exc:
                _traceback_if_debugging()
                raise invoke.Exit(ui.printable(f"error: {exc}", lines=False), code=1) from None
            except invoke.Exit:
                raise
            except BrokenPipeError:  # no bug: ended as Invoke's own output ends (exit 141), said where it may be read
                with suppress(OSError):  # a write fails anywhere: at the start, or after the work was done
                    sys.stderr.write(f"interrupted: what read the output closed it while {name} was writing, and "
                                     f"{name} stopped there, its work done or not; run it again to make sure\n")
                raise
            except KeyboardInterrupt as exc:
                detail = str(exc) or f"{name} stopped before it finished; run it again"
                raise invoke.Exit(ui.printable(f"interrupted: {detail}"), code=INTERRUPTED) from None
            except OSError as exc:
                _traceback_if_debugging()
                if isinstance(exc, OutputLost):
                    raise invoke.Exit(_lost_output(exc), code=1) from None
                fix = REMEDIES.get(exc.errno or 0) if exc.filename else None  # no file named: nothing to say of it
                if fix is None:
                    raise invoke.Exit(_bug(exc), code=2) from None
                message = f"error: {_refused_by_machine(exc, fix)}"
                raise invoke.Exit(ui.printable(message, lines=False), code=1) from None
            except Exception as exc:  # noqa: BLE001 - a bug: still one line, still redacted, the traceback with --debug
                _traceback_if_debugging()
                raise invoke.Exit(_bug(exc), code=2) from None

        return invoke.task(help=help, klass=_Task, auto_shortflags=False, **options)(run)

    return decorate


class OutputLost(OSError):
    """stdout refused a write (a full disk, a device that refuses; a closed pipe stays BrokenPipeError)."""


class _Stdout(io.FileIO):
    """File descriptor 1, whose failed writes say they are stdout's: then it is /dev/null from there on, so what is
    still buffered does not fail again (nor Python's own flush when it exits). `lost`: the failure, until said."""

    lost: OutputLost | None = None

    def write(self, data: Any) -> int:
        try:
            return super().write(data)
        except BrokenPipeError:
            raise
        except OSError as exc:
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.fileno())
            _Stdout.lost = OutputLost(exc.errno, exc.strerror)
            raise _Stdout.lost from None


def _lost_output(exc: OSError) -> str:
    _Stdout.lost = None  # said
    return ui.printable(f"error: stdout cannot be written ({exc.strerror or exc}): what the command did is done, what "
                        "it printed is lost; send it where it can be written", lines=False)


def standard_streams() -> None:
    """A closed stdin, stdout or stderr (`>&-`) is /dev/null: else the next file opened takes its number, and what
    Helm's Go code writes to 1 or 2 lands in that file. And stdout's failed writes are OutputLost."""
    for number, name in enumerate(("stdin", "stdout", "stderr")):
        try:
            os.fstat(number)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free number: this one
            setattr(sys, name, open(number, "r" if number == 0 else "w", closefd=False))  # noqa: SIM115 - for good
    old = sys.stdout
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(_Stdout(1, "w", closefd=False)), encoding=old.encoding,
                                  errors=old.errors, line_buffering=bool(old.line_buffering))
    atexit.register(_flushed)  # first registered, so run last: after native_stderr's


def _flushed() -> None:
    """At exit, what is still buffered for stdout (Invoke's --list, --help) written, or one line and exit 1 when it
    could not be, here or before (where Invoke or Python swallowed the error and would exit 0)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (| head): as output_failed ends it
        os._exit(CLOSED_PIPE)
    except OutputLost:
        pass
    if _Stdout.lost is not None:
        sys.stderr.write(_lost_output(_Stdout.lost) + "\n")
        sys.stderr.flush()
        os._exit(1)


def _bug(exc: BaseException) -> str:
    detail = " ".join(str(exc).split())
    return ui.printable(f"error: unexpected {type(exc).__name__}: {detail} (a bug; invoke --debug shows the traceback)",
                        lines=False)


_TEMPORARY = re.compile(r"(?:\.tmp-|tmp)[a-z0-9_]{8}")  # tempfile's names: a store's .tmp-*, a build's tmp*


def _refused_by_machine(exc: OSError, fix: str) -> str:
    """A file system's refusal in one line: the file (the folder, for a temporary file of ours), why, what to do."""
    path = str(exc.filename)
    shown = f"{os.path.dirname(path)} (writing a file in it)" if _TEMPORARY.fullmatch(os.path.basename(path)) else path
    return f"{shown}: {exc.strerror}; {fix}"


@contextmanager
def _terminate_interrupts() -> Iterator[None]:
    """SIGTERM (a cancelled Drone build, `docker stop`) stops a task the way Ctrl-C does."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with interrupts.taken_by(interrupt, signal.SIGTERM):
        yield


def _traceback_if_debugging() -> None:
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        sys.stderr.write(ui.redact(traceback.format_exc()))


def customize(collection: invoke.Collection) -> None:
    """What Invoke says, in this tool's terms: "No idea what 'X' is!" becomes one `error:` line with the
    closest task or flag; `--help TASK` shows a placeholder on repeatable flags (Invoke shows none, so
    they read like booleans) and the exit codes."""
    import difflib
    import re

    from invoke.parser import ParserContext

    original = ParserContext.help_for

    def help_for(context: ParserContext, flag: str) -> tuple[str, str]:
        names, text = original(context, flag)
        if hasattr(context.flags[flag].kind, "placeholder"):
            names = ", ".join(f"{n}=INT" if n.startswith("--") else f"{n} INT" for n in names.split(", "))
        if context.flags[flag].kind is list:
            value = PLACEHOLDERS.get(max(context.flags[flag].names, key=len).strip("-"), "VALUE")
            names = ", ".join(f"{n} {value}" if len(n) == 2 else f"{n}={value}" for n in names.split(", "))
            text = text if "repeatable" in text else f"{text} (repeatable)"
        return names, text

    ParserContext.help_for = help_for  # type: ignore[method-assign,assignment]
    task_help = invoke.Program.print_task_help

    def print_task_help(program: invoke.Program, name: str) -> None:
        task_help(program, name)
        print(f"Exit codes:\n{program.leading_indent}{EXIT_CODES}\n")

    invoke.Program.print_task_help = print_task_help  # type: ignore[method-assign,assignment]

    def message(error: invoke.ParseError) -> str:
        text = Exception.__str__(error)
        valueless = re.fullmatch(r"Flag <Argument: ([\w-]+)(?: \((\w)\))?[^>]*> needed value and was not given one!",
                                 text)
        if valueless:  # `-o` with nothing after it
            flag, short = valueless.groups()
            takes = ACCEPTS.get(flag) or PLACEHOLDERS.get(flag) or ("INT" if flag in INTEGERS else "VALUE")
            where = f" (invoke --help {error.context.name})" if error.context is not None and error.context.name else ""
            return f"error: --{flag}{f' (-{short})' if short else ''} needs a value: {takes}{where}"
        unknown = re.fullmatch(r"No idea what '(.+)' is!", text)
        if not unknown:
            return f"error: {text}"
        word, context = unknown.group(1), error.context
        if word.startswith("-") and context is not None and context.name:
            flags = sorted(name for name in context.flags if name.startswith("--"))
            close = difflib.get_close_matches(word, flags, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            return f"error: {word} is not a flag of {context.name}{hint} (invoke --help {context.name})"
        close = difflib.get_close_matches(word, collection.task_names, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"error: {word!r} is not a task{hint} (invoke --list shows them all)"

    invoke.ParseError.__str__ = message  # type: ignore[method-assign,assignment]
    _parse_without_copies()
    hook = sys.excepthook

    def output_failed(kind: type[BaseException], value: BaseException, trace: Any) -> None:
        """`invoke --list | head`, `invoke repo.list | head`: once the reader has gone, end as `yes | head`
        does, with no traceback (Invoke's own listing and help raise BrokenPipeError up to here). A stdout that
        refuses writes (OutputLost): one line, not a traceback."""
        if issubclass(kind, BrokenPipeError):
            os._exit(CLOSED_PIPE)  # not sys.exit: flushing the rest of stdout at exit would fail again
        if isinstance(value, OutputLost):
            sys.stderr.write(_lost_output(value) + "\n")
            return
        hook(kind, value, trace)

    sys.excepthook = output_failed


def _parse_without_copies() -> None:
    """Invoke's parse of a command line deep-copies every task's flags, and formats them all for a debug line,
    before it reads a word: ~6 ms of every command with this collection's 140 flags. The copy guards nothing:
    the parse copies a task's flags again when the command line names the task, and reads the rest only."""
    from invoke.parser.parser import Lexicon, ParseMachine

    init = ParseMachine.__init__

    def parse_machine(machine: ParseMachine, initial: Any, contexts: Lexicon, ignore_unknown: bool) -> None:
        init(machine, initial, Lexicon(), ignore_unknown)
        machine.contexts = contexts

    ParseMachine.__init__ = parse_machine  # type: ignore[method-assign,assignment]


def check_project() -> None:
    """invoke.yaml checked before Invoke merges it (Invoke's errors there are tracebacks): one line, exit 1. And
    TMPDIR: Helm writes there, and one that cannot be written failed every chart with dependencies, each alone; and
    the checkout's path, which Helm's SDK takes in UTF-8 only (another encoding failed every chart)."""
    from . import settings

    if not str(ROOT).isascii():
        try:
            str(ROOT).encode()
        except UnicodeEncodeError:
            sys.exit(ui.printable(f"error: {ROOT}: the checkout's path is not UTF-8, which Helm's SDK cannot take; "
                                  "rename or move it", lines=False))
    temporary = os.environ.get("TMPDIR")
    if temporary and not (os.path.isdir(temporary) and os.access(temporary, os.W_OK | os.X_OK)):
        sys.exit(ui.printable(f"error: TMPDIR={temporary} is not a folder this user can write, where Helm and this "
                              "tool keep temporary files; create it, or unset TMPDIR", lines=False))
    try:
        checked = settings.check_project_file(ROOT, invoke.Config.global_defaults())
    except ToolError as exc:
        sys.exit(ui.printable(f"error: {exc}", lines=False))
    if checked and checked[0].suffix != ".json":
        _parsed_once(*checked)


def _parsed_once(path: Path, data: Mapping[str, Any]) -> None:
    """Invoke reads the project's YAML file again, with its pure-Python loader (~4 ms): it gets the document
    just checked instead (the same safe YAML, read by libyaml). Other files (~/.invoke.yaml) it reads itself."""
    load = invoke.Config._load_yaml

    def load_yaml(config: invoke.Config, file: Any) -> Any:
        return data if Path(file) == path else load(config, file)

    invoke.Config._load_yaml = invoke.Config._load_yml = load_yaml  # type: ignore[method-assign,assignment]
