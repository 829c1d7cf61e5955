"""CI variables in --set expressions, expanded as Drone's own substitution (github.com/drone/envsubst) expands them.

Users copy ${DRONE_*} and ${CI_*} expressions from their pipelines, so each gives what Drone gives it, and what Drone
evaluates in a way nobody means is refused. Each expansion stays one value, whatever it holds (a branch name cannot
add a --set item), and variables that hold a credential are never expanded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from . import ui
from .errors import ToolError
from .globs import go_pattern

_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # $NAME, as the shell of a Drone step reads it
_DRONE_NAME = re.compile(r"\w+")  # ${NAME}: Drone's envsubst takes letters, digits and _
_INTEGER = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi reads
_OPERATORS = ("##", "#", "%%", "%", "//", "/#", "/%", "/", ":-", ":=", "=", "^^", "^", ",,", ",", ":")
_DEFAULTS = (":-", ":=", "=")
_FORMS = ("${NAME}, ${#NAME}, ${NAME:OFFSET:LENGTH}, ${NAME:-DEFAULT}, ${NAME#GLOB}, ${NAME%GLOB}, ${NAME/TEXT/NEW}, "
          "${NAME^^}, ${NAME,,}, ...: see README, Values")


def expand(text: str, env: Mapping[str, str], where: str, *, json_values: bool = False, literal: bool = False) -> str:
    """${DRONE_*} and ${CI_*} in every form Drone's own substitution (github.com/drone/envsubst) evaluates (README,
    Values), with its results; $NAME as a Drone step's shell reads it; $$ is a literal $. Users copy these from pipelines.

    Only CI variables, and none that holds a credential (DRONE_NETRC_PASSWORD, CI_JOB_TOKEN, ...): expanding
    those would let `--set x=${...}` put a secret into values that are printed and stored unmasked. An unset one
    is an error (Drone makes it empty) unless a default is given. What Drone evaluates in a way nobody means (its
    :+ and :? are :-, a negative length fails it, a non-numeric offset or a [class] in a %-pattern changes nothing)
    is refused. And each expansion stays one value (or one key segment) whatever it holds: Drone expands before
    Helm parses, so a branch named `x,image.repository=evil` would otherwise set a second value (_escaped). A
    `literal` text is a whole value that nothing parses (a `set:` entry's), so its expansions go in as they are.
    """
    out: list[str] = []
    at, reader = 0, _Substitution(text, where)
    while (start := text.find("$", at)) != -1:
        out.append(text[at:start])
        node, at = reader.dollar(start)
        if isinstance(node, str) or literal:
            out.append(node if isinstance(node, str) else _evaluate(node, env, where))
        else:
            out.append(_escaped(_evaluate(node, env, where), "".join(out), json_values, f"{where}: {node.text}"))
    return "".join(out) + text[at:]


@dataclass(frozen=True)
class _Variable:
    """One ${...} (or $NAME): the variable, Drone's operator ("" for none), its arguments, the text written."""

    name: str
    operator: str
    args: tuple[tuple[str | _Variable, ...], ...]
    text: str


class _Substitution:
    """A recursive-descent reader of Drone's ${...} grammar (drone/envsubst's parse package), arguments nested."""

    def __init__(self, text: str, where: str) -> None:
        self.text, self.where = text, where

    def dollar(self, at: int) -> tuple[str | _Variable, int]:
        """What starts at the $ at `at`, and where it ends: a literal $, or a variable."""
        following = self.text[at + 1:at + 2]
        if following == "$":
            return "$", at + 2
        if following == "{":
            return self.braced(at)
        name = _SHELL_NAME.match(self.text, at + 1)
        if name is None:
            return "$", at + 1
        return self.variable(name.group(), "", (), at, name.end()), name.end()

    def braced(self, at: int) -> tuple[_Variable, int]:
        text, here = self.text, at + 2
        length = text.startswith("#", here)
        name = _DRONE_NAME.match(text, here + length)
        if name is None:
            raise self.refused(at, "a variable name must follow ${")
        here = name.end()
        operator = "#len" if length else next((o for o in _OPERATORS if text.startswith(o, here)), "")
        here += len(operator) * (not length)
        if operator == ":" and text[here:here + 1] in ("?", "+"):
            raise self.refused(at, f"Drone evaluates :{text[here]} as :- (unlike a shell), so it is not used; "
                                   f"write ${{{name.group()}:-DEFAULT}}")
        if operator in ("", "#len", "^^", "^", ",,", ","):  # no argument
            end = self.closed(at, here) + 1
            return self.variable(name.group(), operator, (), at, end), end
        escapes = operator.startswith("/")  # Drone reads \/ as / and \\ as \ in a replacement's two parts
        stops = ":}" if operator == ":" else "/" if escapes else "}"
        first, here = self.argument(at, here, stops, escapes)
        args = [first]
        if operator == ":" and text.startswith(":", here):
            second, here = self.argument(at, here + 1, "}", escapes)
            args.append(second)
        elif escapes:
            if not text.startswith("/", here):
                raise self.refused(at, "expected /NEW after the text to replace (/ is written \\/ inside it)")
            second, here = self.argument(at, here + 1, "}", escapes)
            args.append(second)
        closing = self.closed(at, here)
        variable = self.variable(name.group(), operator, tuple(args), at, closing + 1)
        if operator not in _DEFAULTS and not args[0]:
            raise self.refused(at, "its pattern or offset is empty, which Drone refuses")
        if operator in ("/#", "/%") and not args[1]:
            raise self.refused(at, f"Drone leaves the value unchanged when NEW is empty (unlike a shell); write "
                                   f"${{{name.group()}{'#' if operator == '/#' else '%'}TEXT}} to remove TEXT")
        if operator in ("%", "%%") and any(isinstance(p, str) and ("[" in p or "\\" in p) for p in args[0]):
            raise self.refused(at, "Drone matches a %-pattern reversed, so [ and \\ in it do not mean what they say; "
                                   "use * and ? there")
        return variable, closing + 1

    def argument(self, at: int, here: int, stops: str, escapes: bool) -> tuple[tuple[str | _Variable, ...], int]:
        """The parts of one argument up to a stop character: text, $$ as $, and nested variables."""
        parts: list[str | _Variable] = []
        while here < len(self.text) and self.text[here] not in stops:
            char = self.text[here]
            if char == "$":
                part, here = self.dollar(here)
            elif escapes and char == "\\" and self.text[here + 1:here + 2] in ("/", "\\"):
                part, here = self.text[here + 1], here + 2
            else:
                part, here = char, here + 1
            if isinstance(part, str) and parts and isinstance(parts[-1], str):
                parts[-1] += part
            else:
                parts.append(part)
        return tuple(parts), here

    def closed(self, at: int, here: int) -> int:
        """Where the } that ends the variable at `at` is: at `here`, or it is refused."""
        if self.text.startswith("}", here):
            return here
        if here >= len(self.text):
            raise self.refused(at, "the ${ is never closed; write $$ for a literal $")
        raise self.refused(at, f"{self.text[here]!r} is not part of a substitution Drone evaluates ({_FORMS})")

    def variable(self, name: str, operator: str, args: tuple[tuple[str | _Variable, ...], ...], at: int,
                 end: int) -> _Variable:
        """The variable, once its name is one the values may take."""
        if not name.startswith(("DRONE_", "CI_")):
            raise ToolError(f"{self.where}: ${{{name}}} is not expanded: only ${{DRONE_*}} and ${{CI_*}} are; write $$ "
                            "for a literal $")
        if ui.is_credential(name):
            raise ToolError(f"{self.where}: ${{{name}}} is a credential (DRONE_NETRC_* and names ending in _TOKEN, "
                            f"_PASSWORD, _KEY, ... are never expanded); to pass a secret, use --set-secret PATH={name}")
        return _Variable(name, operator, args, self.text[at:end])

    def refused(self, at: int, reason: str) -> ToolError:
        shown = self.text[at:self.text.find("}", at) + 1 or None]
        return ToolError(f"{self.where}: {shown}: {reason}")


def _evaluate(variable: _Variable, env: Mapping[str, str], where: str) -> str:
    """A variable's value through its operator, as drone/envsubst's functions compute it (funcs.go)."""
    def joined(parts: tuple[str | _Variable, ...]) -> str:
        return "".join(p if isinstance(p, str) else _evaluate(p, env, where) for p in parts)

    operator, value = variable.operator, env.get(variable.name)
    if operator in _DEFAULTS:
        return value or joined(variable.args[0])
    if value is None:
        raise ToolError(f"{where}: ${{{variable.name}}} is not set; set it, give a default (${{{variable.name}:-"
                        "DEFAULT}), or write $$ for a literal $")
    args = [joined(arg) for arg in variable.args]
    if not operator:
        return value
    if operator == "#len":
        return str(len(_utf8(value)))  # Go's len: bytes
    if operator == ":":
        if not all(_INTEGER.fullmatch(arg) for arg in args):
            raise ToolError(f"{where}: {variable.text}: offset and length must be whole numbers, as in "
                            f"${{{variable.name}:0:7}}")
        offset, length = int(args[0]), int(args[1]) if len(args) > 1 else None
        if length is not None and length < 0:
            raise ToolError(f"{where}: {variable.text}: a negative length makes Drone's substitution fail; use "
                            f"${{{variable.name}%GLOB}} to cut the end")
        data = _utf8(value)
        start = max(len(data) + offset, 0) if offset < 0 else offset
        return _cut(data, start, len(data) if length is None else start + length, variable, where)
    if operator in ("^^", ",,"):
        return "".join(_case(char, operator == "^^") for char in value)
    if operator in ("^", ","):
        return _case(value[:1], operator == "^") + value[1:]
    if operator.startswith("/"):
        old, new = args
        if operator == "/#":
            return new + value[len(old):] if value.startswith(old) else value
        if operator == "/%":
            return value[:len(value) - len(old)] + new if value.endswith(old) else value
        return value.replace(old, new, -1 if operator == "//" else 1)
    return _trimmed(value, args[0], variable, where)


def _case(char: str, upper: bool) -> str:
    """Go's unicode.ToUpper/ToLower: one character for one (ß stays ß, where Python's upper() makes SS)."""
    changed = char.upper() if upper else char.lower()
    return changed if len(changed) == 1 else char


def _trimmed(value: str, pattern: str, variable: _Variable, where: str) -> str:
    """${NAME#GLOB} (##: longest) and ${NAME%GLOB} (%%: longest) as Drone trims: a suffix by matching the reversed
    value with the reversed pattern, and never an empty match."""
    suffix = variable.operator.startswith("%")
    if suffix:
        value, pattern = value[::-1], pattern[::-1]
    glob = go_pattern(pattern)
    if glob is None:
        raise ToolError(f"{where}: {variable.text}: {pattern!r} is not a pattern Drone can match (an unclosed [ or a \\ "
                        "at the end)")
    data = _utf8(value)  # Drone tries prefixes by bytes: one cut inside a character is a character to '?'
    sizes = range(len(data), 0, -1) if len(variable.operator) == 2 else range(1, len(data) + 1)
    size = next((n for n in sizes if glob.fullmatch(data[:n].decode("utf-8", "surrogateescape"))), 0)
    kept = _cut(data, size, len(data), variable, where)
    return kept[::-1] if suffix else kept


def _utf8(value: str) -> bytes:
    """A value as Go holds it: its UTF-8 bytes (an environment's stray bytes kept as they came)."""
    return value.encode("utf-8", "surrogateescape")


def _cut(data: bytes, start: int, end: int, variable: _Variable, where: str) -> str:
    """data[start:end], as Drone cuts a value: by bytes. Refused where a cut falls inside a character: Drone
    would then hand on broken UTF-8 (or U+FFFD in its place), which nobody means. Nothing kept cuts nothing."""
    if start < end and any(0x80 <= byte < 0xC0 for byte in data[start:start + 1] + data[end:end + 1]):
        raise ToolError(f"{where}: {variable.text}: Drone counts bytes, not characters, and would cut a character of "
                        f"${{{variable.name}}} in two here; cut where a character ends (one outside ASCII is 2-4 bytes)")
    return data[start:end].decode("utf-8", "surrogateescape")


_STRUCTURE = re.compile(r"[\\,=.\[\]{}]")  # what Helm's strvals parser reads as structure in a key or a value
_JSON_SCALAR = re.compile(r"-?[0-9]+|true|false|null")  # JSON values with none of that structure in them


def _escaped(value: str, before: str, json_values: bool, where: str) -> str:
    """An expanded value made into one value or key segment where `before` leaves it.

    Helm's strvals parser (--set, --set-string, a key of --set-json) splits at `,` `=` `.` `[` `]`, reads a
    leading `{` as a list, and takes a backslash as escaping the next character anywhere: so each of those is
    escaped. A --set-json value is JSON: inside a JSON string the value is JSON-escaped; outside one only a
    number, true, false or null is one value.
    """
    state, escaping = "strvals", False  # strvals (a key, or any --set value), json, or string (inside a JSON one)
    for char in before:
        if escaping:
            escaping = False
        elif char == "\\" and state != "json":
            escaping = True
        elif json_values and state == "strvals" and char == "=":
            state = "json"
        elif char == '"' and state != "strvals":
            state = "string" if state == "json" else "json"
    if escaping:
        raise ToolError(f"{where}: the backslash before it would escape the first character of its value; remove it")
    if state == "string":
        return json.dumps(value)[1:-1]
    if state == "json":
        if not _JSON_SCALAR.fullmatch(value):
            raise ToolError(f"{where}: outside a JSON string it must hold a whole number, true, false or null; put it "
                            "inside quotes to make its text a JSON string")
        return value
    return _STRUCTURE.sub(lambda found: "\\" + found.group(), value)
