"""The one resolver: task argument > Drone (PLUGIN_*) env > invoke config (invoke.yaml, INVOKE_*) > defaults.

Tasks hand over what Invoke parsed and what its config holds; this module validates it and returns
frozen dataclasses, so every other module works on checked values and never on raw config.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tasks.errors import ToolError

DEFAULTS: dict[str, Any] = {
    "repo": {
        "url": "dist/repo",
        "public_url": None,
        "charts_dir": "charts",
        "build_dir": "dist",
        "atomic": False,  # publish nothing unless every chart builds
        "dependency_repositories": {},  # alias -> URL or {url, username_env, password_env}
    },
    "release": {
        "environments": {},
        "releases": {},
    },
}

# Drone passes a plugin step's `settings:` as PLUGIN_<NAME>; they rank above invoke.yaml.
DRONE_ENV = {"url": "PLUGIN_REPO_URL", "public_url": "PLUGIN_PUBLIC_URL"}

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RELEASE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")  # Helm's rule
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # a DNS-1123 label: no dots, 63 at most
_PREFIX = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class RepoSettings:
    root: Path
    url: str
    public_url: str | None
    charts_dir: Path
    build_dir: Path
    atomic: bool = False
    dependency_repositories: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def packages_dir(self) -> Path:
        return self.build_dir / "packages"


def pick(
    name: str, argument: Any, env_name: str | None, env: Mapping[str, str], config: Mapping[str, Any],
    defaults: Mapping[str, Any], section: str,
) -> tuple[Any, str]:
    """One setting and where it came from, in the documented order of precedence."""
    if argument is not None:
        return argument, "flag"
    if env_name and env.get(env_name):
        return env[env_name], f"env {env_name}"
    value = config.get(name)
    invoke_env = f"INVOKE_{section}_{name}".upper()
    if value is not None and env.get(invoke_env) is not None:
        return value, f"env {invoke_env}"
    if value is not None and value != defaults.get(name):
        return value, "invoke.yaml"
    return defaults.get(name), "default"


def resolve_repo(
    root: Path,
    config: Mapping[str, Any],
    *,
    url: str | None = None,
    public_url: str | None = None,
    atomic: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> RepoSettings:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, argument in (("url", url), ("public_url", public_url), ("charts_dir", None), ("build_dir", None),
                           ("atomic", atomic), ("dependency_repositories", None)):
        values[name], sources[name] = pick(name, argument, DRONE_ENV.get(name), env, config, DEFAULTS["repo"], "repo")
    if not isinstance(values["atomic"], bool):
        raise ToolError(f"repo.atomic in invoke.yaml is {values['atomic']!r}: use true or false")
    if not isinstance(values["dependency_repositories"], Mapping):
        raise ToolError("repo.dependency_repositories in invoke.yaml must map a repository name to its URL")
    return RepoSettings(
        root=root,
        url=normalize_repo_url(str(values["url"]), root),
        public_url=_public_url(values["public_url"]),
        charts_dir=(root / str(values["charts_dir"])).resolve(),
        build_dir=(root / str(values["build_dir"])).resolve(),
        atomic=values["atomic"],
        dependency_repositories=values["dependency_repositories"],
        sources=sources,
    )


def normalize_repo_url(url: str, root: Path) -> str:
    """A folder path, file://PATH (relative to the project root), s3://BUCKET[/PREFIX] or http(s)://."""
    url = url.strip()
    if not url:
        raise ToolError("repo.url is empty: set it to a folder, file://PATH or s3://BUCKET[/PREFIX]")
    scheme = urlsplit(url).scheme if "://" in url else ""
    if scheme in ("", "file"):
        path = url[len("file://"):] if scheme else url
        return "file://" + str((root / path).resolve())
    if scheme == "s3":
        parts = urlsplit(url)
        if not _BUCKET.match(parts.netloc):
            raise ToolError(
                f"repo.url {url!r}: {parts.netloc!r} is not a valid S3 bucket name "
                "(3-63 lowercase letters, digits, dots, hyphens)"
            )
        prefix = parts.path.strip("/")
        return f"s3://{parts.netloc}/{prefix}" if prefix else f"s3://{parts.netloc}"
    if scheme in ("http", "https"):
        return url.rstrip("/")
    raise ToolError(
        f"repo.url {url!r}: unknown scheme {scheme!r}; use a folder path, file://PATH, s3://BUCKET[/PREFIX] "
        "or http(s):// (read only)"
    )


def _public_url(value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip().rstrip("/")
    if urlsplit(text).scheme not in ("http", "https") or not urlsplit(text).netloc:
        raise ToolError(f"repo.public_url {text!r} is not an http(s) URL; set it to where clients fetch the repository")
    return text


@dataclass(frozen=True)
class Environment:
    name: str
    namespace: str
    kube_context: str | None
    secrets_prefix: str | None  # <PREFIX>_API_SERVER, <PREFIX>_KUBERNETES_TOKEN, ... (the drone-helm convention)
    values: tuple[Path, ...]
    protected: bool
    create_namespace: bool = False  # a release's first install creates the namespace (helm --create-namespace)


@dataclass(frozen=True)
class Release:
    name: str
    chart: str  # a chart in the repository, or a folder under the project (./charts/NAME)
    version: str | None  # an exact version or a constraint (~0.1, ^1.2, >=1.2 <2); None: the newest
    values: tuple[Path, ...]
    set: tuple[str, ...]  # default --set expressions
    secrets: tuple[tuple[str, str], ...]  # (values path, environment variable) pairs


def resolve_release(
    root: Path, config: Mapping[str, Any], *, env_name: str | None, release_name: str | None
) -> tuple[Environment, Release]:
    """The environment and release a release.* task works on, checked: each error names its setting."""
    environments = config.get("environments") or {}
    releases = config.get("releases") or {}
    if not env_name:
        raise ToolError(f"--env is required; environments in invoke.yaml: {', '.join(environments) or 'none'}")
    if env_name not in environments:
        raise ToolError(
            f"--env {env_name!r}: no such environment in invoke.yaml (release.environments); "
            f"known: {', '.join(environments) or 'none'}"
        )
    if not releases:
        raise ToolError("release.releases in invoke.yaml is empty; add a release (see README, Releases)")
    if release_name is None:
        if len(releases) > 1:
            raise ToolError(f"--release is required: invoke.yaml has {', '.join(releases)}")
        release_name = next(iter(releases))
    if release_name not in releases:
        raise ToolError(f"--release {release_name!r}: not in invoke.yaml (release.releases); known: {', '.join(releases)}")
    return environment_settings(root, env_name, environments[env_name]), release_settings(root, release_name, releases[release_name])


def environment_settings(root: Path, name: str, raw: Any) -> Environment:
    where = f"release.environments.{name}"
    if not isinstance(raw, Mapping):
        raise ToolError(f"{where} in invoke.yaml must be a mapping (namespace, kube_context, secrets_prefix, ...)")
    namespace = raw.get("namespace")
    if not namespace or not _NAMESPACE.match(str(namespace)):
        raise ToolError(f"{where}.namespace is {'missing' if not namespace else repr(namespace) + ' (invalid)'}; "
                        "set it to the Kubernetes namespace to deploy into")
    prefix = raw.get("secrets_prefix")
    if prefix is not None and not _PREFIX.match(str(prefix)):
        raise ToolError(f"{where}.secrets_prefix {prefix!r} must be an environment variable prefix like STAGING")
    return Environment(
        name=name, namespace=str(namespace), kube_context=raw.get("kube_context"),
        secrets_prefix=str(prefix) if prefix else None, values=_paths(root, raw.get("values"), f"{where}.values"),
        protected=bool(raw.get("protected", False)), create_namespace=bool(raw.get("create_namespace", False)),
    )


def release_settings(root: Path, name: str, raw: Any) -> Release:
    where = f"release.releases.{name}"
    if len(name) > 53 or not _RELEASE.match(name):
        raise ToolError(f"{where}: release name {name!r} is invalid: at most 53 lowercase letters, digits, '-' and '.'")
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise ToolError(f"{where} in invoke.yaml must be a mapping (chart, version, values, set, secrets)")
    sets = raw.get("set") or {}
    secrets = raw.get("secrets") or {}
    if not isinstance(sets, Mapping) or not isinstance(secrets, Mapping):
        raise ToolError(f"{where}.set and .secrets must map a values path to a value (secrets: to an env var name)")
    version = raw.get("version")
    return Release(
        name=name, chart=str(raw.get("chart") or name), version=str(version) if version is not None else None,
        values=_paths(root, raw.get("values"), f"{where}.values"),
        set=tuple(f"{k}={v}" for k, v in sets.items()),
        secrets=tuple((str(k), str(v)) for k, v in secrets.items()),
    )


def _paths(root: Path, raw: Any, where: str) -> tuple[Path, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str) or not all(isinstance(p, str) for p in raw):
        raise ToolError(f"{where} in invoke.yaml must be a list of file paths")
    return tuple(root / p for p in raw)
