"""Environments and releases (invoke.yaml's release: section), resolved and checked: where each release deploys,
with what chart, values and secrets, and what it needs deployed before it. Every error names its setting."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from . import fields
from .errors import ToolError

DEFAULTS: dict[str, Any] = {
    "environments": {},
    "releases": {},
    "parallel": 4,  # releases of one environment deployed at once (those whose needs are met)
}
ENVIRONMENT_KEYS = ("namespace", "kube_context", "secrets_prefix", "values", "protected", "create_namespace",
                    "history_max", "verify_keyring")
RELEASE_KEYS = ("chart", "version", "values", "set", "secrets", "namespace", "environments", "needs")
_RELEASE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")  # Helm's rule
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # a DNS-1123 label: no dots, 63 at most
_PREFIX = re.compile(r"^[A-Z][A-Z0-9_]*$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HISTORY_MAX = 10  # Helm's own default for --history-max
# How a release's values layer, lowest first (tasks/values.py); here so task help can say it without loading that.
VALUES_ORDER = ("chart defaults < release values files and set < environment values files < --values < --set-json < "
                "--set < --set-string < --set-file < secrets")


class Environment(NamedTuple):
    name: str
    namespace: str
    kube_context: str | None
    secrets_prefix: str | None  # <PREFIX>_API_SERVER, <PREFIX>_KUBERNETES_TOKEN, ... (the drone-helm convention)
    values: tuple[Path, ...]
    protected: bool
    create_namespace: bool = False  # a release's first install creates the namespace (helm --create-namespace)
    history_max: int = HISTORY_MAX  # revisions Helm keeps per release (helm --history-max; 0: every one)
    verify_keyring: Path | None = None  # when set, only charts signed by a key in this public keyring deploy


class Release(NamedTuple):
    name: str
    chart: str  # a chart in the repository, or a folder under the project (./charts/NAME)
    version: str | None  # an exact version or a constraint (~0.1, ^1.2, >=1.2 <2); None: the newest
    values: tuple[Path, ...]
    set: tuple[str, ...]  # default --set expressions
    secrets: tuple[tuple[str, str], ...]  # (values path, environment variable) pairs
    namespace: str | None = None  # None: the environment's
    environments: tuple[str, ...] | None = None  # the environments it is deployed to; None: every one
    needs: tuple[str, ...] = ()  # releases deployed before it, when a whole environment is deployed

    def namespace_in(self, environment: Environment) -> str:
        return self.namespace or environment.namespace


def resolve_release(
    root: Path, config: Mapping[str, Any], *, env_name: str | None, release_name: str | None
) -> tuple[Environment, Release]:
    """One release of an environment: the one named, else the environment's only one; each error names its setting."""
    environment, releases = resolve_environment(root, config, env_name=env_name)
    names = [r.name for r in releases]
    if release_name is None:
        if len(releases) > 1:
            raise ToolError(f"--release is required: {environment.name} has {', '.join(names)}")
        return environment, releases[0]
    if release_name not in names:
        configured = fields.mapping(config, "releases", "release", "")
        if release_name in configured:
            raise ToolError(f"--release {release_name!r} is not deployed to {environment.name} (release.releases."
                            f"{release_name}.environments); {environment.name} has {', '.join(names)}")
        raise ToolError(f"--release {release_name!r}: not in invoke.yaml (release.releases); known: "
                        f"{', '.join(configured)}")
    return environment, releases[names.index(release_name)]


def resolve_environment(root: Path, config: Mapping[str, Any], *, env_name: str | None, any_releases: bool = False
                        ) -> tuple[Environment, list[Release]]:
    """An environment and the releases deployed to it, in invoke.yaml's order; their needs checked. None is an error
    unless `any_releases` (a listing of what is installed there shows others' releases too)."""
    fields.known(config, DEFAULTS, "release")
    environments = fields.mapping(config, "environments", "release", "environment name to its settings")
    raw_releases = fields.mapping(config, "releases", "release", "release name to its chart, version and values")
    if not env_name:
        raise ToolError(f"--env is required; environments in invoke.yaml: {', '.join(environments) or 'none'}")
    if env_name not in environments:
        raise ToolError(
            f"--env {env_name!r}: no such environment in invoke.yaml (release.environments); "
            f"known: {', '.join(environments) or 'none'}"
        )
    if not raw_releases and not any_releases:
        raise ToolError("release.releases in invoke.yaml is empty; add a release (see README, Releases)")
    releases = [release_settings(root, str(name), raw) for name, raw in raw_releases.items()]
    check_needs(releases, list(environments))
    chosen = [r for r in releases if r.environments is None or env_name in r.environments]
    if not chosen and not any_releases:
        raise ToolError(f"no release is deployed to {env_name}: every release lists other environments "
                        "(release.releases.NAME.environments)")
    return environment_settings(root, env_name, environments[env_name]), chosen


def check_needs(releases: list[Release], environments: list[str]) -> None:
    """Every environment and need names something that exists, each need is deployed wherever its release is,
    and needs form no cycle: otherwise one line naming the releases."""
    by_name = {r.name: r for r in releases}
    for release in releases:
        where = f"release.releases.{release.name}"
        for name in release.environments or ():
            if name not in environments:
                raise ToolError(f"{where}.environments: {name!r} is not an environment (release.environments); "
                                f"known: {', '.join(environments) or 'none'}")
        for need in release.needs:
            if need not in by_name:
                raise ToolError(f"{where}.needs: {need!r} is not a release; known: {', '.join(by_name)}")
            served = by_name[need].environments
            missing = [e for e in release.environments or environments if served is not None and e not in served]
            if missing:
                raise ToolError(f"{where}.needs: {need} is not deployed to {', '.join(missing)}, where {release.name} "
                                f"is; add {missing[0]} to release.releases.{need}.environments or remove the need")
    cycle = _cycle(by_name)
    if cycle:
        raise ToolError(f"release.releases: needs form a cycle: {' -> '.join(cycle)}; remove one of these needs")


def _cycle(releases: Mapping[str, Release]) -> list[str]:
    """A cycle of needs as [a, b, ..., a], or [] when there is none (a depth-first search)."""
    state: dict[str, str] = {}  # visiting | done
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = "visiting"
        path.append(name)
        for need in releases[name].needs:
            if state.get(need) == "visiting":
                return [*path[path.index(need):], need]
            if need not in state and (found := visit(need)):
                return found
        path.pop()
        state[name] = "done"
        return []

    for name in releases:
        if name not in state and (found := visit(name)):
            return found
    return []


def resolve_parallel(config: Mapping[str, Any], flag: int | None) -> int:
    """How many releases of an environment deploy at once: --parallel > release.parallel (INVOKE_RELEASE_PARALLEL)."""
    value = flag if flag is not None else config.get("parallel", DEFAULTS["parallel"])
    where = "--parallel" if flag is not None else "release.parallel"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ToolError(f"{where} is {fields.kind(value)}; use a whole number of releases, 1 or more "
                        "(1: one at a time)")
    return value


def resolve_history_max(environment: Environment, flag: int | None) -> int:
    """Revisions Helm keeps per release: --history-max > the environment's history_max > Helm's 10."""
    if flag is None:
        return environment.history_max
    if flag < 0:
        raise ToolError(f"--history-max {flag}: use 0 (keep every revision) or more")
    return flag


def environment_settings(root: Path, name: str, raw: Any) -> Environment:
    where = f"release.environments.{name}"
    if not isinstance(raw, Mapping):
        raise ToolError(f"{where} in invoke.yaml must be a mapping (namespace, kube_context, secrets_prefix, ...), "
                        f"not {fields.kind(raw)}")
    fields.known(raw, ENVIRONMENT_KEYS, where)
    namespace = fields.text(raw, "namespace", where)
    if not namespace or not _NAMESPACE.match(namespace):
        raise ToolError(f"{where}.namespace is {'missing' if not namespace else repr(namespace) + ' (invalid)'}; "
                        "set it to the Kubernetes namespace to deploy into")
    prefix = fields.text(raw, "secrets_prefix", where)
    if prefix is not None and not _PREFIX.match(prefix):
        raise ToolError(f"{where}.secrets_prefix {prefix!r} must be an environment variable prefix like STAGING")
    return Environment(
        name=name, namespace=namespace, kube_context=fields.text(raw, "kube_context", where),
        secrets_prefix=prefix or None, values=fields.paths(root, raw.get("values"), f"{where}.values"),
        protected=fields.flag(raw, "protected", where), create_namespace=fields.flag(raw, "create_namespace", where),
        history_max=fields.count(raw, "history_max", where, HISTORY_MAX),
        verify_keyring=_keyring(root, fields.text(raw, "verify_keyring", where)),
    )


def _keyring(root: Path, text: str | None) -> Path | None:
    """A keyring path as written (~ is the home folder; relative to the project root)."""
    return (root / Path(text).expanduser()).resolve() if text else None


def release_settings(root: Path, name: str, raw: Any) -> Release:
    where = f"release.releases.{name}"
    if len(name) > 53 or not _RELEASE.match(name):
        raise ToolError(f"{where}: release name {name!r} is invalid: at most 53 lowercase letters, digits, '-' and '.'")
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise ToolError(f"{where} in invoke.yaml must be a mapping (chart, version, values, set, secrets), "
                        f"not {fields.kind(raw)}")
    fields.known(raw, RELEASE_KEYS, where)
    sets = fields.mapping(raw, "set", where, "a values path (a.b.c) to its value")
    secrets = fields.mapping(raw, "secrets", where, "a values path (a.b.c) to the environment variable holding it")
    for key, value in sets.items():
        if isinstance(value, Mapping | list):
            raise ToolError(f"{where}.set.{key} is {fields.kind(value)}; set takes one value per dotted path "
                            "(a.b.c: value)")
        if isinstance(value, float) and not math.isfinite(value) or not isinstance(value, str | bool | int | float | None):
            raise ToolError(f"{where}.set.{key} is {value}, which Helm cannot take (YAML read it as a "
                            f"{type(value).__name__}); quote it in invoke.yaml to make it text")
    for key, value in secrets.items():
        if not isinstance(value, str) or not _VARIABLE.match(value):
            raise ToolError(f"{where}.secrets.{key} is {fields.kind(value)}; name the environment variable holding the "
                            "secret (e.g. DB_PASSWORD)")
    version = raw.get("version")
    if version is not None and not isinstance(version, str):
        raise ToolError(f"{where}.version in invoke.yaml is {fields.kind(version)}, not text; quote it (\"~0.1\", "
                        "\"1.10.0\"): YAML reads an unquoted 1.10 as the number 1.1")
    namespace = fields.text(raw, "namespace", where)
    if namespace is not None and not _NAMESPACE.match(namespace):
        raise ToolError(f"{where}.namespace {namespace!r} is not a Kubernetes namespace (a DNS label: lowercase "
                        "letters, digits and '-', 63 at most); fix it or remove it to use the environment's")
    environments = fields.names(raw, "environments", where)
    return Release(
        name=name, chart=fields.text(raw, "chart", where) or name, version=version,
        values=fields.paths(root, raw.get("values"), f"{where}.values"),
        set=tuple(f"{k}={fields.scalar(v)}" for k, v in sets.items()),
        secrets=tuple((str(k), str(v)) for k, v in secrets.items()),
        namespace=namespace, environments=environments, needs=fields.names(raw, "needs", where) or (),
    )
