"""Values layering: the release's files and `set:`, the environment's files, then the flags, as Helm merges them.

Files are read as Helm reads them (values_files); ${DRONE_*} and ${CI_*} in set expressions expand as Drone expands
them (drone_subst), each into one value. Values from a secret source (`secrets:`, --set-secret) are registered with
ui.add_secret and never parsed (only their path is), and their paths are kept: what is printed is rendered from a copy
where they are masked (masked).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import archives, helm, ui, urls
from .drone_subst import expand
from .environments import Environment, Release
from .errors import ToolError
from .values_files import read_bytes, read_values


@dataclass(frozen=True)
class Overrides:
    """What the command line puts over invoke.yaml's values, each flag repeatable, layered in Helm's order."""

    values: tuple[str, ...] = ()  # -f files, relative to where you are (as helm -f)
    set_json: tuple[str, ...] = ()
    set: tuple[str, ...] = ()
    set_string: tuple[str, ...] = ()
    set_file: tuple[str, ...] = ()
    set_secret: tuple[str, ...] = ()


ValuesPath = tuple[str | int, ...]  # where a value is in the values: map keys and list indexes
Layer = dict[str, Any] | list[tuple[ValuesPath, Any]]  # a values file (merged), or what a --set sets (set into them)


def layered_values(
    release: Release, environment: Environment, overrides: Overrides, env: Mapping[str, str],
    typed_set: Mapping[str, Any],
) -> tuple[dict[str, Any], list[tuple[str | int, ...]]]:
    """(values layered in VALUES_ORDER, the paths that hold secrets); secret values registered before anything is
    parsed (a --set's error may quote one). `typed_set` is the release's `set:` as invoke.yaml types it (release.set
    has it as --set text)."""
    sources = [(path, variable, f"release.releases.{release.name}.secrets.{path}")
               for path, variable in release.secrets]
    sources += [(*_secret_flag(text, env), f"--set-secret {text!r}") for text in overrides.set_secret]
    secrets = [(path, _secret(variable, env, where), where) for path, variable, where in sources]
    layers: list[Layer] = []
    layers += [read_values(p, f"release.releases.{release.name}.values") for p in release.values]
    layers += [[_typed(str(key), value, env, f"release.releases.{release.name}.set.{key}")]
               for key, value in typed_set.items()]
    layers += [read_values(p, f"release.environments.{environment.name}.values") for p in environment.values]
    layers += [read_values(Path(p), "--values") for p in overrides.values]
    for flag in ("set-json", "set", "set-string"):
        layers += [_set(expand(s, env, f"--{flag} {s}", json_values=flag == "set-json"), flag,
                        f"--{flag} {s!r}" if ui.redact(s) == s else f"--{flag} #{n} (not shown: it holds a secret)")
                   for n, s in enumerate(getattr(overrides, flag.replace("-", "_")), 1)]
    layers += [[_set_file(s)] for s in overrides.set_file]
    secret_paths: list[tuple[str | int, ...]] = []
    for path, value, where in secrets:
        where_it_goes = _literal(path, value, f"{where}: not a values path; use dotted keys like db.password "
                                              "(list items as hosts[0])")[1]
        layers.append([(where_it_goes, value)])
        secret_paths.append(where_it_goes)
    values: dict[str, Any] = {}
    for layer in layers:
        if isinstance(layer, dict):
            merge(values, layer)
        for where_set, what in layer if isinstance(layer, list) else ():
            _set_into(values, where_set, what)
    return values, secret_paths + [path for path in leaves(values) if path not in secret_paths
                                   and _holds_secret(_slot(values, path)[path[-1]])]


def _holds_secret(value: Any) -> bool:
    """Whether a text that came in as no secret holds one all the same: a URL's credentials (a values file's or a
    --set's database URL; urls.credentials_in, not an @ in a path), registered from now on, or a registered secret
    (`--set dsn=$API_TOKEN` in a shell). Its path is a secret's then: what the templates make of it (its base64, its
    password alone) is masked too. Not a number or a boolean: masked to ***, it would turn a template's `if` around."""
    if not isinstance(value, str):
        return False
    if urls.credentials_in(value):
        ui.add_url_secrets(value)
        return True
    return ui.holds_secret(value)


def _secret(variable: str, env: Mapping[str, str], where: str) -> str:
    """The value of a secret's variable, registered (ui.add_secret) before anything else sees it."""
    value = env.get(variable)
    if value is None:
        raise ToolError(f"{where}: environment variable {variable} is not set; set it (a Drone secret)")
    ui.add_secret(value)
    try:
        value.encode()
    except UnicodeEncodeError:  # os.environ keeps bytes that are not UTF-8 as surrogate escapes
        raise ToolError(f"{where}: environment variable {variable} is not UTF-8 text, which Helm's values must be; "
                        "set it as UTF-8 (binary data base64-encoded, decoded in the template with b64dec)") from None
    return value


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values: maps merge key by key, anything else is replaced."""
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def register_secrets(release: Release, env: Mapping[str, str]) -> None:
    """The release's `secrets:` values are secrets for tasks that only read the release too (its notes, errors)."""
    for _, variable in release.secrets:
        if env.get(variable):
            ui.add_secret(env[variable])


def register_stored(values: Mapping[str, Any], paths: Iterable[tuple[str | int, ...]]) -> None:
    """A revision's stored values at its secret paths are secrets too: one rotated since is in no environment,
    yet a rollback applies it again and an error from Helm or the API server may quote it."""
    for path in paths:
        slot = _slot(values, path) if path else None
        if slot is not None and isinstance(slot[path[-1]], str | int | float):
            ui.add_secret(str(slot[path[-1]]))


def leaves(tree: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """The path of every value in a tree of values (None, as list padding Helm adds for a[2]=x, is no value)."""
    if not isinstance(tree, dict | list):
        yield path
        return
    for key, value in tree.items() if isinstance(tree, dict) else enumerate(tree):
        if value is not None:
            yield from leaves(value, (*path, key))


def masked(values: dict[str, Any], paths: Iterable[tuple[str | int, ...]],
           changed: Iterable[tuple[str | int, ...]] = (), *, lines: bool = False) -> dict[str, Any]:
    """A copy of `values` with the value at each path replaced by the mask (`*** (changed)` at the `changed` ones,
    so a diff of two renders shows that a secret changed, never how), and every other string redacted. With
    `lines`, a mask has as many lines as the value it replaces: a render keeps the lines of one from the values."""
    shown, changed = copy.deepcopy(values), set(changed)
    for path in paths:
        slot = _slot(shown, path)
        if slot is not None:
            count = str(slot[path[-1]]).count("\n") + 1 if lines else 1
            slot[path[-1]] = "\n".join([ui.MASK + (" (changed)" if path in changed else "")] * count)
    return ui.redact_data(shown)


_CLASSES = ("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789")


def shaped(values: dict[str, Any], paths: Iterable[tuple[str | int, ...]]) -> dict[str, Any]:
    """A copy of `values` with each secret replaced by a stand-in of its shape (each letter and digit another of its
    kind, drawn at random, the rest kept: the same length, the same classes of characters), which a chart that checks
    a secret's shape takes where it refuses ***; every letter and digit differs, so all a template makes of one
    differs too. A stand-in is a secret as well (it tells the shape): registered, never shown."""
    import secrets

    def other(ch: str) -> str:
        kind = next((k for k in _CLASSES if ch in k), "")
        return secrets.choice(kind.replace(ch, "")) if kind else ch

    copied = copy.deepcopy(values)
    for path in paths:
        slot = _slot(copied, path)
        if slot is not None and isinstance(slot[path[-1]], str):
            slot[path[-1]] = "".join(map(other, slot[path[-1]]))
            ui.add_secret(slot[path[-1]])
    return copied


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


_STAND_IN = "value"  # what a key set literally is parsed with, in place of its real value


def _literal(key: str, value: Any, refused: str) -> tuple[dict[str, Any], tuple[str | int, ...]]:
    """({key: value} with the value as it is, the value's path). The key is parsed on its own as --set parses keys
    (`a\\.b` is the key `a.b`, as for --set-file: it was `a\\` then `b`, so a value moved from `set:` to `secrets:`
    landed elsewhere), with a stand-in for the value, so no part of the value (a secret) ever reaches Helm's parser or
    the errors it writes."""
    try:
        parsed = helm.parse_set(f"{key}={_STAND_IN}", "set")
    except ToolError:
        parsed = {}
    paths = list(leaves(parsed))
    slot = _slot(parsed, paths[0]) if len(paths) == 1 else None
    if slot is None or slot[paths[0][-1]] != _STAND_IN:  # `a=b`: the key ends at its `=`, the rest is no path
        raise ToolError(refused)
    slot[paths[0][-1]] = value
    return parsed, paths[0]


def _typed(key: str, value: Any, env: Mapping[str, str], where: str) -> tuple[ValuesPath, Any]:
    """A `set:` entry of invoke.yaml: its dotted key parsed as --set parses one, its value of the type YAML gave it
    (a quoted "2024" stays text, 2024 is a number), as --set-json would set it. Never parsed again as --set text,
    which would make "2024" a number and "a,b" two keys. (A value Helm cannot take, a date, .inf, is refused with
    invoke.yaml, environments.release_settings.)"""
    if isinstance(value, str):
        value = expand(value, env, where, literal=True)
    return _literal(expand(key, env, where), value, f"{where}: {key!r} is not a values path; use dotted keys like "
                                                    "image.tag (list items as hosts[0])")[1], value


def _set(expression: str, flag: str, where: str) -> list[tuple[ValuesPath, Any]]:
    """--set, --set-json or --set-string (`flag`) as what each of its items sets where, its errors naming which
    flag (`where`): with several, Helm's own `helm --set <value>: key "b" has no value` does not say. An item whose
    key has an empty part (`.a=1`, `[0]=x`, the `=2` of `a=1,=2`) is refused, as --set-file and --set-secret refuse
    one: Helm's parser drops it unsaid. So is an item whose secret Helm's parser would not keep whole (split at a
    comma into keys and values a dry run shows, unescaped, made a list): that is what --set-secret is for."""
    json_values = flag == "set-json"
    if "=" not in expression or expression.startswith("="):
        example = "config={\"debug\":true}" if json_values else "image.tag=v1.2.3"
        raise ToolError(f"{where}: expected KEY={'JSON' if json_values else 'VALUE'} (e.g. {example})")
    items = list(_items(expression, json_values))
    secret = ui.redact(expression) != expression
    whole = (f"{where}: a secret in it would not reach Helm whole (its parser reads a comma, a backslash or a "
             "{list} in it as syntax); pass it with --set-secret PATH=VARIABLE")
    if secret and [key for _, key, _ in _items(ui.redact(expression), json_values)] != [key for _, key, _ in items]:
        raise ToolError(whole)
    keyless = next((item for item, key, parts in items if key is not None
                    and any(not part or part.startswith("[") for part in parts)), None)
    if keyless is not None:
        shown = repr(keyless) if ui.redact(keyless) == keyless else "an item"
        raise ToolError(f"{where}: {shown} sets nothing (a part of its key is empty, and Helm's parser skips it); use "
                        "dotted keys like image.tag (list items as hosts[0])")
    try:
        helm.parse_set(expression, flag)  # as a whole first: Helm's own words for what it refuses
    except ToolError as exc:
        raise ToolError(f"{where}: {str(exc).removeprefix(f'helm --{flag} <value>: ')}") from None
    assignments = [_assignment(item, key, flag) for item, key, _ in items if key is not None]
    if any(ui.redact(item) != item and not _kept_whole(value, item[len(key or "") + 1:])
           for (item, key, _), (_, value) in zip(items, assignments)):
        raise ToolError(whole)
    for path, value in assignments:
        scalars = [_slot(value, at)[at[-1]] for at in leaves(value)] if isinstance(value, dict | list) else [value]
        if any(isinstance(leaf, int) and not isinstance(leaf, bool) and abs(leaf) >= 10**6 for leaf in scalars):
            ui.warn(f"{where}: {'.'.join(map(str, path))} is a whole number of 7 digits or more, which the templates "
                    "get as a decimal printed in exponent form (20240101 as 2.0240101e+07): Helm's SDK takes values as "
                    "JSON, where helm --set keeps whole numbers; if it is text (an image tag, an id), use --set-string")
    return assignments


def _kept_whole(value: Any, text: str) -> bool:
    """Whether Helm's parser kept a secret in an item whole: the value it set holds the secret, or is one Helm typed
    (true, 8080) from an item's text that is the secret itself (a drone-helm3 `values: replicas=$REPLICAS`)."""
    if isinstance(value, str):
        return ui.redact(value) != value
    return isinstance(value, bool | int | None) and ui.redact(text) == ui.MASK


def _assignment(item: str, key: str, flag: str) -> tuple[ValuesPath, Any]:
    """(where one item of a --set expression puts its value, the value), by Helm's own parser: its key parsed alone
    with a stand-in value shows the path (list indexes included), the item parsed whole gives what lands there (a
    {list} or a JSON value is one value)."""
    paths = list(leaves(helm.parse_set(f"{key}={json.dumps(_STAND_IN) if flag == 'set-json' else _STAND_IN}", flag)))
    slot = _slot(helm.parse_set(item, flag), paths[0])
    return paths[0], slot[paths[0][-1]] if slot is not None else None


def _set_into(values: dict[str, Any], path: ValuesPath, value: Any) -> None:
    """One --set item written into the values as Helm's strvals.ParseInto writes it: down `path` through what they
    hold, a map or a list kept and written into (another item of the list, another key of the map, stays), anything
    else there replaced by an empty one; then the value set at the end (a {list} or JSON value replaces whole)."""
    node: Any = values
    for key, after in itertools.pairwise(path):
        child = node.get(key) if isinstance(node, dict) else node[int(key)] if int(key) < len(node) else None
        if not isinstance(child, list if isinstance(after, int) else dict):
            child = [] if isinstance(after, int) else {}
            _put(node, key, child)
        node = child
    _put(node, path[-1], copy.deepcopy(value))


def _put(node: dict[str, Any] | list[Any], key: str | int, value: Any) -> None:
    if isinstance(node, list):
        node.extend([None] * (int(key) + 1 - len(node)))
        node[int(key)] = value
    else:
        node[str(key)] = value


def _items(expression: str, json_values: bool) -> Iterator[tuple[str, str | None, list[str]]]:
    """Each item of a --set expression as (its text, its key, the key's dotted parts), read as strvals reads them:
    a backslash escapes the next character, a key ends at `=`, its value at a `,` outside a leading {list} (or
    after one JSON value). An item with no value (key None) ends them: Helm's parser refuses it in its own words."""
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
            yield expression[start:at], None, parts
            return
        key_end, at = at, _value_end(expression, at + 1, json_values)
        yield expression[start:at], expression[start:key_end], parts
        at += expression.startswith(",", at)


def _value_end(expression: str, at: int, json_values: bool) -> int:
    """Where the value that starts at `at` ends: at the `,` before the next item, or the end."""
    if json_values:
        at = len(expression) - len(expression[at:].lstrip())
        if not expression.startswith(",", at) and at < len(expression):
            try:
                at = json.JSONDecoder().raw_decode(expression, at)[1]
            except ValueError:
                return len(expression)  # Helm's parser refuses it in its own words
            at = len(expression) - len(expression[at:].lstrip())
        return at
    closing = "}" if expression.startswith("{", at) else ","
    while at < len(expression) and expression[at] != closing:
        at += 2 if expression[at] == "\\" else 1
    return at + (closing == "}")


def _set_file(text: str) -> tuple[ValuesPath, Any]:
    """--set-file KEY=FILE: the file's text is the value, verbatim, as helm --set-file reads it (not a secret:
    use --set-secret for one). Read within Helm's 5 MiB limit for a file."""
    key, _, name = text.partition("=")
    if not key or not name:
        raise ToolError(f"--set-file {text!r}: expected KEY=FILE (e.g. config.script=start.sh)")
    path = Path(name).expanduser()
    data = read_bytes(path, f"--set-file {text!r}", missing="", folder="; name a file", limit=archives.MAX_FILE)
    if len(data) > archives.MAX_FILE:
        raise ToolError(f"--set-file {text!r}: {path} is over 5 MiB, Helm's limit for a file; a release is stored in "
                        "one Secret of at most 1 MiB anyway: mount big files from a ConfigMap or volume of their own")
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(f"--set-file {text!r}: {path} is not UTF-8 text; base64-encode binary content "
                        "(and b64dec it in the template)") from None
    return _literal(key, content, f"--set-file {text!r}: {key!r} is not a values path; use dotted keys like "
                                  "config.script")[1], content


def _secret_flag(text: str, env: Mapping[str, str]) -> tuple[str, str]:
    """(path, variable) of --set-secret PATH=VARIABLE. What follows the `=` is shown only when it is a variable's name,
    set or not, that is no other variable's value: given the secret itself by mistake, the error says so without it."""
    path, _, variable = text.partition("=")
    itself = next((name for name, value in env.items() if value == variable), None) if variable not in env else None
    if not path or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable) or itself:
        shown = f"{path}=..." if variable else text
        what = (f"what follows = is the value of {itself}, not a variable's name" if itself else
                "what follows = is not a variable's name (not shown: it may be the secret itself)" if variable else
                "expected KEY=ENV_VAR_NAME")
        raise ToolError(f"--set-secret {shown!r}: {what}; pass the variable's name (e.g. db.password=DB_PASSWORD)")
    return path, variable
