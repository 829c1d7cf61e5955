"""Values layering: the release's files and `set:`, the environment's files, then the flags, as Helm merges them.

${DRONE_*} and ${CI_*} expand in set expressions as Drone expands them, each into one value. Values from a
secret source (`secrets:`, --set-secret) are registered with ui.add_secret and never parsed (only their path is),
and their paths are kept: what is printed is rendered from a copy where they are masked (masked).
"""

from __future__ import annotations

import copy
import json
import math
import re
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import archives, helm, safe_yaml, ui
from .errors import ToolError
from .settings import Environment, Release

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
        return str(len(value))
    if operator == ":":
        if not all(_INTEGER.fullmatch(arg) for arg in args):
            raise ToolError(f"{where}: {variable.text}: offset and length must be whole numbers, as in "
                            f"${{{variable.name}:0:7}}")
        offset, length = int(args[0]), int(args[1]) if len(args) > 1 else None
        if length is not None and length < 0:
            raise ToolError(f"{where}: {variable.text}: a negative length makes Drone's substitution fail; use "
                            f"${{{variable.name}%GLOB}} to cut the end")
        start = max(len(value) + offset, 0) if offset < 0 else offset
        return value[start:] if length is None else value[start:start + length]
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
    glob = _glob(pattern, f"{where}: {variable.text}")
    sizes = range(len(value), 0, -1) if len(variable.operator) == 2 else range(1, len(value) + 1)
    size = next((n for n in sizes if glob.fullmatch(value[:n])), 0)
    return value[size:][::-1] if suffix else value[size:]


def _glob(pattern: str, where: str) -> re.Pattern[str]:
    """A pattern as Drone's path.Match reads it: * any run, ? any character (/ too), [a-z] and [^a-z] classes,
    \\ escaping the next character. A malformed one is refused (Drone would leave the value unchanged)."""
    bad = ToolError(f"{where}: {pattern!r} is not a pattern Drone can match (an unclosed [ or a \\ at the end)")

    def single(at: int) -> tuple[str, int]:  # getEsc: a class's character, maybe escaped, never at the end
        if at >= len(pattern) or pattern[at] in "-]":
            raise bad
        at += pattern[at] == "\\"
        if at + 1 >= len(pattern):
            raise bad
        return pattern[at], at + 1

    regex, at = [], 0
    while at < len(pattern):
        char = pattern[at]
        at += 1
        if char in "*?":
            regex.append(".*" if char == "*" else ".")
        elif char == "\\":
            if at == len(pattern):
                raise bad
            regex.append(re.escape(pattern[at]))
            at += 1
        elif char == "[":
            negated = pattern.startswith("^", at)
            at += negated
            ranges: list[str] = []
            count = 0
            while not (pattern.startswith("]", at) and count):
                low, at = single(at)
                high, at = single(at + 1) if pattern[at] == "-" else (low, at)
                ranges += [f"{re.escape(low)}-{re.escape(high)}"] if low <= high else []
                count += 1
            at += 1
            regex.append(f"[{'^' if negated else ''}{''.join(ranges)}]" if ranges else "." if negated else "(?!)")
        else:
            regex.append(re.escape(char))
    return re.compile("".join(regex), re.DOTALL)


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


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values: maps merge key by key, anything else is replaced."""
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _read(path: Path, where: str, *, missing: str, folder: str, limit: int | None = None) -> bytes:
    """A file's bytes (at most limit + 1 of them, so a caller can tell it is over); a file that cannot be read
    is one line naming `where` and the path, with `missing` or `folder` saying what to do."""
    try:
        with path.open("rb") as stream:
            return stream.read(-1 if limit is None else limit + 1)
    except FileNotFoundError:
        raise ToolError(f"{where}: {path} not found{missing}") from None
    except IsADirectoryError:
        raise ToolError(f"{where}: {path} is a folder{folder}") from None
    except OSError as exc:
        raise ToolError(f"{where}: {path} cannot be read ({exc.strerror}); check it") from None


def read_values(path: Path, where: str) -> dict[str, Any]:
    """A values file as Helm reads one (-f): a YAML mapping, its aliases within Helm's limit, its scalars and keys
    as Helm's decoder makes them (_HelmYAML), and no infinity or NaN, which Helm's JSON step refuses."""
    data = _read(path, where, missing="; create it or remove it from the list",
                 folder=", not a values file; name a YAML file")
    try:
        loaded = safe_yaml.load(data.decode("utf-8"), _HelmYAML)
    except UnicodeDecodeError:
        raise ToolError(f"{where}: {path} is not UTF-8 text") from None
    except safe_yaml.AliasError as exc:
        raise ToolError(f"{where}: {path}: {exc}, which Helm refuses too; write the values out instead of aliasing "
                        "them") from None
    except yaml.YAMLError as exc:
        raise ToolError(f"{where}: {path} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ToolError(f"{where}: {path} must hold a mapping of values")
    found = next(_non_finite(loaded or {}), None)
    if found:
        shown = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in found[0]).lstrip(".")
        raise ToolError(f"{where}: {path}: {shown} is {_go_float32(found[1])}, which Helm refuses (JSON has no "
                        "infinity or NaN); quote it to make it text, or write a number")
    return loaded or {}


_GO_SPECIAL = {**dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
               **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
               **dict.fromkeys(("", "~", "null", "Null", "NULL")),
               **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
               **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
               **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf)}
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_GO_OCTAL = re.compile(r"[-+]?0[0-7]+")
_PLAIN = "tag:yaml.org,2002:plain"  # an untagged, unquoted scalar, resolved by _go_scalar


def _go_scalar(text: str) -> Any:
    """A plain scalar as go-yaml v2 (Helm's decoder, behind sigs.k8s.io/yaml) resolves it into interface{}.

    Unlike PyYAML: y/n are booleans, there are no base-60 numbers (`20:30` is text), `1e3` is a number, and a
    timestamp stays the text it is (go-yaml keeps it a string for interface{}, so `2024-01-01` is never a date).
    """
    if text in _GO_SPECIAL:
        return _GO_SPECIAL[text]
    if text[0] == ".":
        return float(text) if _GO_FLOAT.fullmatch(text) else text
    if not (text[0].isdigit() and text[0].isascii()) and text[0] not in "+-":
        return text
    plain = text.replace("_", "")
    try:
        return int(plain, 8) if _GO_OCTAL.fullmatch(plain) else int(plain, 0)  # Go's ParseInt(plain, 0, 64)
    except ValueError:
        return float(plain) if _GO_FLOAT.fullmatch(plain) else text


def _go_key(key: Any, node: yaml.Node) -> str:
    """A mapping key as sigs.k8s.io/yaml makes it a JSON key: `1:` is "1", `true:` is "true" (two keys, where
    Python's dict would merge 1 and True into one), a float is Go's shortest float32 text."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return _go_float32(key)
    kind = "null" if key is None else type(key).__name__
    raise yaml.constructor.ConstructorError(
        None, None, f"a {kind} key on line {node.start_mark.line + 1}, which Helm refuses; quote it", node.start_mark)


def _go_float32(number: float) -> str:
    """strconv.FormatFloat(number, 'g', -1, 32), with YAML's names for infinity and NaN (sigs.k8s.io/yaml's)."""
    single = struct.unpack("f", struct.pack("f", number))[0]  # beyond float32's range: an infinity, as in Go
    if not math.isfinite(single):
        return ".nan" if math.isnan(single) else ".inf" if single > 0 else "-.inf"
    text = next(t for t in (f"{single:.{d}e}" for d in range(9)) if struct.unpack("f", struct.pack("f", float(t)))[0]
                == single)
    mantissa, exponent = text.split("e")
    digits, point = len(mantissa.lstrip("-").replace(".", "")), int(exponent)
    return text if point < -4 or point >= 6 else f"{single:.{max(digits - point - 1, 0)}f}"


class _HelmYAML(safe_yaml.SAFE_LOADER):  # type: ignore[misc, valid-type]
    """YAML read into the values Helm reads from it: chartutil.ReadValues decodes with go-yaml v2 into interface{},
    then sigs.k8s.io/yaml turns that into JSON. So scalars resolve as go-yaml does (_go_scalar), keys become
    strings (_go_key), !!binary is its decoded text, and a tag go-yaml does not know keeps its node's plain value."""

    def resolve(self, kind: Any, value: str, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return "tag:yaml.org,2002:merge" if value == "<<" else _PLAIN
        resolved: str = super().resolve(kind, value, implicit)
        return resolved

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
        self.flatten_mapping(node)
        return {_go_key(self.construct_object(key, deep=deep), key): self.construct_object(value, deep=deep)
                for key, value in node.value}

    def construct_binary_text(self, node: yaml.ScalarNode) -> str:
        """The decoded bytes as a Go string; JSON then writes each byte that is not UTF-8 as U+FFFD."""
        text = self.construct_yaml_binary(node).decode("utf-8", "surrogateescape")
        return re.sub("[\udc80-\udcff]", "\ufffd", text)

    def construct_untagged(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return self.construct_sequence(node, deep=True)
        return self.construct_scalar(node)


_HelmYAML.add_constructor(_PLAIN, lambda loader, node: _go_scalar(loader.construct_scalar(node)))
_HelmYAML.add_constructor("tag:yaml.org,2002:timestamp", _HelmYAML.construct_scalar)
_HelmYAML.add_constructor("tag:yaml.org,2002:binary", _HelmYAML.construct_binary_text)
for _tag in (None, "tag:yaml.org,2002:set", "tag:yaml.org,2002:omap", "tag:yaml.org,2002:pairs"):
    _HelmYAML.add_constructor(_tag, _HelmYAML.construct_untagged)


def _non_finite(tree: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], float]]:
    """Where `tree` holds an infinity or a NaN."""
    if isinstance(tree, float) and not math.isfinite(tree):
        yield path, tree
    for key, value in tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ():
        yield from _non_finite(value, (*path, key))


@dataclass(frozen=True)
class Overrides:
    """What the command line puts over invoke.yaml's values, each flag repeatable, layered in Helm's order."""

    values: tuple[str, ...] = ()  # -f files, relative to where you are (as helm -f)
    set_json: tuple[str, ...] = ()
    set: tuple[str, ...] = ()
    set_string: tuple[str, ...] = ()
    set_file: tuple[str, ...] = ()
    set_secret: tuple[str, ...] = ()


def layered_values(
    release: Release, environment: Environment, overrides: Overrides, env: Mapping[str, str],
    typed_set: Mapping[str, Any],
) -> tuple[dict[str, Any], list[tuple[str | int, ...]]]:
    """(values layered in VALUES_ORDER, the paths that hold secrets); secret values registered before parsing.
    `typed_set` is the release's `set:` as invoke.yaml types it (release.set has it as --set text)."""
    layers: list[dict[str, Any]] = []
    layers += [read_values(p, f"release.releases.{release.name}.values") for p in release.values]
    layers += [_typed(str(key), value, env, f"release.releases.{release.name}.set.{key}")
               for key, value in typed_set.items()]
    layers += [read_values(p, f"release.environments.{environment.name}.values") for p in environment.values]
    layers += [read_values(Path(p), "--values") for p in overrides.values]
    for flag in ("set-json", "set", "set-string"):
        layers += [_set(expand(s, env, f"--{flag} {s}", json_values=flag == "set-json"), flag,
                        f"--{flag} {s!r}" if ui.redact(s) == s else f"--{flag} #{n} (not shown: it holds a secret)")
                   for n, s in enumerate(getattr(overrides, flag.replace("-", "_")), 1)]
    layers += [_set_file(s) for s in overrides.set_file]
    secret_paths: list[tuple[str | int, ...]] = []
    sources = [(path, variable, f"release.releases.{release.name}.secrets.{path}") for path, variable in release.secrets]
    sources += [(*_secret_flag(text), f"--set-secret {text!r}") for text in overrides.set_secret]
    for path, variable, where in sources:
        value = env.get(variable)
        if value is None:
            raise ToolError(f"{where}: environment variable {variable} is not set; set it (a Drone secret)")
        ui.add_secret(value)
        layer, where_it_goes = _literal(path, value, f"{where}: not a values path; use dotted keys like db.password "
                                                     "(list items as hosts[0])")
        layers.append(layer)
        secret_paths.append(where_it_goes)
    values: dict[str, Any] = {}
    for layer in layers:
        merge(values, layer)
    return values, secret_paths


def register_secrets(release: Release, env: Mapping[str, str]) -> None:
    """The release's `secrets:` values are secrets for tasks that only read the release too (its notes, errors)."""
    for _, variable in release.secrets:
        if env.get(variable):
            ui.add_secret(env[variable])


def _leaves(tree: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """The path of every value in a parsed --set tree (list padding Helm adds for a[2]=x is not a value)."""
    if not isinstance(tree, dict | list):
        yield path
        return
    for key, value in tree.items() if isinstance(tree, dict) else enumerate(tree):
        if value is not None:
            yield from _leaves(value, (*path, key))


def masked(values: dict[str, Any], paths: Iterable[tuple[str | int, ...]],
           changed: Iterable[tuple[str | int, ...]] = ()) -> dict[str, Any]:
    """A copy of `values` with the value at each path replaced by the mask (`*** (changed)` at the `changed` ones,
    so a diff of two renders shows that a secret changed, never how), and every other string redacted."""
    shown, changed = copy.deepcopy(values), set(changed)
    for path in paths:
        slot = _slot(shown, path)
        if slot is not None:
            slot[path[-1]] = ui.MASK + (" (changed)" if path in changed else "")
    return ui.redact_data(shown)


def changed_secrets(before: dict[str, Any], after: dict[str, Any],
                    paths: Iterable[tuple[str | int, ...]]) -> list[tuple[str | int, ...]]:
    """The secret paths that hold a value in both `before` and `after`, and not the same one."""
    slots = [(path, _slot(before, path), _slot(after, path)) for path in paths]
    return [path for path, old, new in slots if old is not None and new is not None and old[path[-1]] != new[path[-1]]]


def _slot(tree: Any, path: tuple[str | int, ...]) -> Any:
    """The dict or list that holds the value at `path` in `tree`; None when there is no value there."""
    node = tree
    for key in path:
        parent, node = node, node[key] if _has(node, key) else None
    return parent if _has(parent, path[-1]) else None


def _has(node: Any, key: str | int) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)


_STAND_IN = "value"  # what a --set-literal key is parsed with, in place of its real value


def _literal(key: str, value: Any, refused: str, flag: str = "set-literal") -> tuple[dict[str, Any], tuple[str | int, ...]]:
    """({key: value} as --set-literal sets it, the value's path). The key is parsed on its own (as `flag` parses
    keys), with a stand-in for the value, so no part of the value (a secret) ever reaches Helm's parser or the errors
    it writes."""
    try:
        parsed = helm.parse_set(f"{key}={_STAND_IN}", flag)
    except ToolError:
        parsed = {}
    paths = list(_leaves(parsed))
    slot = _slot(parsed, paths[0]) if len(paths) == 1 else None
    if slot is None or slot[paths[0][-1]] != _STAND_IN:  # `a=b`: the key ends at its `=`, the rest is no path
        raise ToolError(refused)
    slot[paths[0][-1]] = value
    return parsed, paths[0]


def _typed(key: str, value: Any, env: Mapping[str, str], where: str) -> dict[str, Any]:
    """A `set:` entry of invoke.yaml: its dotted key parsed as --set parses one, its value of the type YAML gave it
    (a quoted "2024" stays text, 2024 is a number), as --set-json would set it. Never parsed again as --set text,
    which would make "2024" a number and "a,b" two keys."""
    if isinstance(value, str):
        value = expand(value, env, where, literal=True)
    elif isinstance(value, float) and not math.isfinite(value) or not isinstance(value, bool | int | float | None):
        raise ToolError(f"{where} is {value}, which Helm cannot take (YAML read it as a {type(value).__name__}); "
                        "quote it in invoke.yaml to make it text")
    return _literal(expand(key, env, where), value, f"{where}: {key!r} is not a values path; use dotted keys like "
                                                    "image.tag (list items as hosts[0])", "set")[0]


def _set(expression: str, flag: str, where: str) -> dict[str, Any]:
    """--set, --set-json or --set-string (`flag`), its errors naming which one (`where`): with several, Helm's own
    `helm --set <value>: key "b" has no value` does not say. An item whose key has an empty part (`.a=1`, `[0]=x`,
    the `=2` of `a=1,=2`) is refused, as --set-file and --set-secret refuse one: Helm's parser drops it unsaid."""
    if "=" not in expression or expression.startswith("="):
        example = "config={\"debug\":true}" if flag == "set-json" else "image.tag=v1.2.3"
        raise ToolError(f"{where}: expected KEY={'JSON' if flag == 'set-json' else 'VALUE'} (e.g. {example})")
    keyless = _keyless(expression, flag == "set-json")
    if keyless is not None:
        shown = repr(keyless) if ui.redact(keyless) == keyless else "an item"
        raise ToolError(f"{where}: {shown} sets nothing (a part of its key is empty, and Helm's parser skips it); use "
                        "dotted keys like image.tag (list items as hosts[0])")
    try:
        return helm.parse_set(expression, flag)
    except ToolError as exc:
        raise ToolError(f"{where}: {str(exc).removeprefix(f'helm --{flag} <value>: ')}") from None


def _keyless(expression: str, json_values: bool) -> str | None:
    """The first item of a --set expression with an empty key part, which Helm's strvals skips (its set() ignores
    an empty key); None when there is none. Items are read as strvals reads them: a backslash escapes the next
    character, a key ends at `=`, its value at a `,` outside a leading {list} (or after one JSON value)."""
    at = 0
    while at < len(expression):
        start, parts = at, [""]
        while at < len(expression) and expression[at] not in "=,":
            escaped = expression[at] == "\\"
            if expression[at] == "." and not escaped:
                parts.append("")
            else:
                parts[-1] += expression[at:at + 1 + escaped]
            at += 1 + escaped
        if at == len(expression) or expression[at] == ",":
            return None  # a key with no value: Helm's parser refuses it in its own words
        at = _value_end(expression, at + 1, json_values)
        if any(not part or part.startswith("[") for part in parts):
            return expression[start:at].removesuffix(",")
    return None


def _value_end(expression: str, at: int, json_values: bool) -> int:
    """Where the next item starts after the value that starts at `at` (past its `,`)."""
    if json_values:
        at = len(expression) - len(expression[at:].lstrip())
        if not expression.startswith(",", at) and at < len(expression):
            try:
                at = json.JSONDecoder().raw_decode(expression, at)[1]
            except ValueError:
                return len(expression)  # Helm's parser refuses it in its own words
            at = len(expression) - len(expression[at:].lstrip())
        return at + expression.startswith(",", at)
    closing = "}" if expression.startswith("{", at) else ","
    while at < len(expression) and expression[at] != closing:
        at += 2 if expression[at] == "\\" else 1
    if closing == "}":
        at += 1
    return at + expression.startswith(",", at)


def _set_file(text: str) -> dict[str, Any]:
    """--set-file KEY=FILE: the file's text is the value, verbatim, as helm --set-file reads it (not a secret:
    use --set-secret for one). Read within Helm's 5 MiB limit for a file."""
    key, _, name = text.partition("=")
    if not key or not name:
        raise ToolError(f"--set-file {text!r}: expected KEY=FILE (e.g. config.script=start.sh)")
    path = Path(name).expanduser()
    data = _read(path, f"--set-file {text!r}", missing="", folder="; name a file", limit=archives.MAX_FILE)
    if len(data) > archives.MAX_FILE:
        raise ToolError(f"--set-file {text!r}: {path} is over 5 MiB, Helm's limit for a file; a release is stored in "
                        "one Secret of at most 1 MiB anyway: mount big files from a ConfigMap or volume of their own")
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(f"--set-file {text!r}: {path} is not UTF-8 text; base64-encode binary content "
                        "(and b64dec it in the template)") from None
    return _literal(key, content, f"--set-file {text!r}: {key!r} is not a values path; use dotted keys like "
                                  "config.script")[0]


def _secret_flag(text: str) -> tuple[str, str]:
    path, _, variable = text.partition("=")
    if not path or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", variable):
        raise ToolError(f"--set-secret {text!r}: expected KEY=ENV_VAR_NAME (e.g. db.password=DB_PASSWORD)")
    return path, variable
