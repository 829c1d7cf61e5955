"""Values layering: the release's files and `set:`, the environment's files, then the flags, as Helm merges them.

${DRONE_*} and ${CI_*} expand in set expressions as Drone expands them; values from a secret source
(`secrets:`, --set-secret) are registered with ui.add_secret before they are parsed, and their paths are
kept so every printed copy of the values masks them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from . import helm, safe_yaml, ui
from .errors import ToolError
from .settings import Environment, Release

VALUES_ORDER = "chart defaults < release values files and set < environment values files < --values < --set"
_EXPANSION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::(-?\d+)(?::(\d+))?)?\}")


def expand(text: str, env: Mapping[str, str], where: str) -> str:
    """${DRONE_*} and ${CI_*} as in Drone (${NAME}, ${NAME:OFFSET}, ${NAME:OFFSET:LENGTH}); $$ is a literal $.

    Only CI variables, and none that holds a credential (DRONE_NETRC_PASSWORD, CI_JOB_TOKEN, ...): expanding
    those would let `--set x=${...}` put a secret into values that are printed and stored unmasked.
    """

    def one(match: re.Match[str]) -> str:
        name, offset, length = match.groups()
        if name is None:
            return "$"
        if not name.startswith(("DRONE_", "CI_")):
            raise ToolError(f"{where}: ${{{name}}} is not expanded: only ${{DRONE_*}} and ${{CI_*}} are")
        if ui.is_credential(name):
            raise ToolError(f"{where}: ${{{name}}} is a credential (DRONE_NETRC_* and names ending in _TOKEN, "
                            f"_PASSWORD, _KEY, ... are never expanded); to pass a secret, use --set-secret PATH={name}")
        if name not in env:
            raise ToolError(f"{where}: ${{{name}}} is not set; set it, or write $${{{name}}} for a literal")
        value = env[name]
        start = int(offset or 0)
        return value[start:start + int(length)] if length is not None else value[start:]

    return _EXPANSION.sub(one, text)


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values: maps merge key by key, anything else is replaced."""
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def read_values(path: Path, where: str) -> dict[str, Any]:
    """A values file as Helm reads one (-f): a YAML mapping, its aliases within Helm's limit."""
    try:
        loaded = safe_yaml.load(path.read_text(encoding="utf-8"), yaml.SafeLoader)
    except FileNotFoundError:
        raise ToolError(f"{where}: {path} not found; create it or remove it from the list") from None
    except IsADirectoryError:
        raise ToolError(f"{where}: {path} is a folder, not a values file; name a YAML file") from None
    except OSError as exc:
        raise ToolError(f"{where}: {path} cannot be read ({exc.strerror}); check it") from None
    except UnicodeDecodeError:
        raise ToolError(f"{where}: {path} is not UTF-8 text") from None
    except safe_yaml.AliasError as exc:
        raise ToolError(f"{where}: {path}: {exc}, which Helm refuses too; write the values out instead of aliasing "
                        "them") from None
    except yaml.YAMLError as exc:
        raise ToolError(f"{where}: {path} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ToolError(f"{where}: {path} must hold a mapping of values")
    return loaded or {}


def layered_values(
    release: Release, environment: Environment, values_files: Iterable[str], sets: Iterable[str],
    secrets: Iterable[str], env: Mapping[str, str],
) -> tuple[dict[str, Any], list[tuple[str | int, ...]]]:
    """(values layered in VALUES_ORDER, the paths that hold secrets); secret values registered before parsing."""
    layers: list[dict[str, Any]] = []
    layers += [read_values(p, f"release.releases.{release.name}.values") for p in release.values]
    where = f"release.releases.{release.name}.set"
    layers += [_set(expand(s, env, where), where) for s in release.set]
    layers += [read_values(p, f"release.environments.{environment.name}.values") for p in environment.values]
    layers += [read_values(Path(p), "--values") for p in values_files]  # like helm -f: relative to where you are
    layers += [_set(expand(s, env, f"--set {s}"), "--set") for s in sets]
    secret_paths: list[tuple[str | int, ...]] = []
    for path, variable in [*release.secrets, *(_secret_flag(s) for s in secrets)]:
        value = env.get(variable)
        if value is None:
            raise ToolError(f"secret {path}: environment variable {variable} is not set; set it (a Drone secret)")
        ui.add_secret(value)
        parsed = helm.parse_set(f"{path}={value}", literal=True)
        if not parsed:
            raise ToolError(f"secret {path!r}: not a values path; use dotted keys like db.password")
        layers.append(parsed)
        secret_paths += _leaves(parsed)
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


def masked(values: dict[str, Any], paths: Iterable[tuple[str | int, ...]]) -> dict[str, Any]:
    """A copy of `values` with the value at each path replaced by the mask, and every other string redacted."""
    shown = copy.deepcopy(values)
    for path in paths:
        node: Any = shown
        for key in path[:-1]:
            node = node[key] if _has(node, key) else None
        if _has(node, path[-1]):
            node[path[-1]] = ui.MASK
    return ui.redact_data(shown)


def _has(node: Any, key: str | int) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)


def _set(expression: str, where: str) -> dict[str, Any]:
    if "=" not in expression or expression.startswith("="):
        raise ToolError(f"{where} {expression!r}: expected KEY=VALUE (e.g. image.tag=v1.2.3)")
    return helm.parse_set(expression)


def _secret_flag(text: str) -> tuple[str, str]:
    path, _, variable = text.partition("=")
    if not path or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", variable):
        raise ToolError(f"--set-secret {text!r}: expected KEY=ENV_VAR_NAME (e.g. db.password=DB_PASSWORD)")
    return path, variable
