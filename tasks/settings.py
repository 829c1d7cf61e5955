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
    },
}

# Drone passes a plugin step's `settings:` as PLUGIN_<NAME>; they rank above invoke.yaml.
DRONE_ENV = {"url": "PLUGIN_REPO_URL", "public_url": "PLUGIN_PUBLIC_URL"}

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class RepoSettings:
    root: Path
    url: str
    public_url: str | None
    charts_dir: Path
    build_dir: Path
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def packages_dir(self) -> Path:
        return self.build_dir / "packages"


def pick(
    name: str, argument: Any, env_name: str | None, env: Mapping[str, str], config: Mapping[str, Any],
    defaults: Mapping[str, Any],
) -> tuple[Any, str]:
    """One setting and where it came from, in the documented order of precedence."""
    if argument is not None:
        return argument, "flag"
    if env_name and env.get(env_name):
        return env[env_name], f"env {env_name}"
    value = config.get(name)
    if value is not None and value != defaults.get(name):
        return value, "invoke config"
    return defaults.get(name), "default"


def resolve_repo(
    root: Path,
    config: Mapping[str, Any],
    *,
    url: str | None = None,
    public_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> RepoSettings:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, argument in (("url", url), ("public_url", public_url), ("charts_dir", None), ("build_dir", None)):
        values[name], sources[name] = pick(name, argument, DRONE_ENV.get(name), env, config, DEFAULTS["repo"])
    return RepoSettings(
        root=root,
        url=normalize_repo_url(str(values["url"]), root),
        public_url=_public_url(values["public_url"]),
        charts_dir=(root / str(values["charts_dir"])).resolve(),
        build_dir=(root / str(values["build_dir"])).resolve(),
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
