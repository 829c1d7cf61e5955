"""Settings in one order of precedence (pick): task argument > Drone (PLUGIN_*) env > invoke config (invoke.yaml,
INVOKE_*) > defaults.

Tasks hand over what Invoke parsed and what its config holds; this module validates it and returns
immutable records, so every other module works on checked values and never on raw config. Here: the
defaults, the chart repository's settings, and invoke.yaml checked as a whole before Invoke reads it;
environments and releases are environments.py's, each value's type fields.py's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import SplitResult, urlsplit

from . import environments, fields, ui, urls
from .errors import ToolError

DEFAULTS: dict[str, Any] = {
    "repo": {
        "url": "dist/repo",
        "public_url": None,
        "charts_dir": "charts",
        "build_dir": "dist",
        "atomic": False,  # publish nothing unless every chart builds
        "dependency_repositories": {},  # alias -> URL or {url, username_env, password_env}
        "mirrors": [],  # oci://HOST/PATH registries every publish pushes to as well
        "sign": False,  # sign new packages (key in HELM_SIGNING_KEY) and publish NAME-VERSION.tgz.prov
    },
    "release": environments.DEFAULTS,
}

FIXED_EPOCH = 315532800  # 1980-01-01, the oldest date zip-based tools accept: every package's timestamps
# Drone passes a plugin step's `settings:` as PLUGIN_<NAME>; they rank above invoke.yaml.
DRONE_ENV = {"url": "PLUGIN_REPO_URL", "public_url": "PLUGIN_PUBLIC_URL"}

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class RepoSettings(NamedTuple):  # NamedTuples, not frozen dataclasses: ~0.4 ms to define at start-up, not ~2 ms
    root: Path
    url: str
    public_url: str | None
    charts_dir: Path
    build_dir: Path
    atomic: bool
    dependency_repositories: Mapping[str, Any]
    mirrors: tuple[str, ...]
    sign: bool
    sources: Mapping[str, str]  # setting -> where its value came from

    @property
    def packages_dir(self) -> Path:
        return self.build_dir / "packages"


def package_epoch(env: Mapping[str, str]) -> int:
    """The time every file of a package carries: SOURCE_DATE_EPOCH, else FIXED_EPOCH. Only what a tar header's
    11 octal digits hold: anything else would be written as a header Helm's loader refuses (invalid tar header)."""
    if not env.get("SOURCE_DATE_EPOCH"):
        return FIXED_EPOCH
    try:
        epoch = int(env["SOURCE_DATE_EPOCH"])
    except ValueError:
        raise ToolError(
            f"SOURCE_DATE_EPOCH={env['SOURCE_DATE_EPOCH']!r} is not a number of seconds; unset or fix it"
        ) from None
    most = 8**11 - 1  # 11 octal digits: 2242-03-16
    if not 0 <= epoch <= most:
        raise ToolError(f"SOURCE_DATE_EPOCH={epoch} is outside 0..{most}, the seconds a tar header can hold; "
                        "unset it or give a time in that range")
    return epoch


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
    mirrors: list[str] | None = None,
    sign: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> RepoSettings:
    env = os.environ if env is None else env
    fields.known(config, DEFAULTS["repo"], "repo")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, argument in (("url", url), ("public_url", public_url), ("charts_dir", None), ("build_dir", None),
                           ("atomic", atomic), ("dependency_repositories", None), ("mirrors", mirrors or None),
                           ("sign", sign)):
        values[name], sources[name] = pick(name, argument, DRONE_ENV.get(name), env, config, DEFAULTS["repo"], "repo")
    for name in ("url", "public_url", "charts_dir", "build_dir"):
        fields.text(values, name, "repo")
    if values["url"].strip() in ("file:", "file://"):
        raise ToolError("repo.url 'file://' names no folder; use file://PATH (relative to the project root) or a path")
    for flag in ("atomic", "sign"):
        if not isinstance(values[flag], bool):
            raise ToolError(f"repo.{flag} in invoke.yaml is {values[flag]!r}: use true or false")
    if isinstance(values["mirrors"], str) or not all(isinstance(m, str) for m in values["mirrors"]):
        raise ToolError("repo.mirrors in invoke.yaml must be a list of oci://HOST/PATH registries")
    named = "--mirror" if sources["mirrors"] == "flag" else "repo.mirrors"
    registries = tuple(normalize_repo_url(m, root, named) for m in values["mirrors"])
    if any(not m.startswith("oci://") for m in registries):
        raise ToolError(f"repo.mirrors: {', '.join(m for m in registries if not m.startswith('oci://'))}: a mirror "
                        "is an OCI registry, oci://HOST/PATH")
    if not isinstance(values["dependency_repositories"], Mapping):
        raise ToolError("repo.dependency_repositories in invoke.yaml must map a repository name to its URL")
    url = normalize_repo_url(_home(values["url"]), root)
    build_dir = fields.path(root, values["build_dir"]).resolve()
    _apart_from_builds(url, build_dir, "--url" if sources["url"] == "flag" else "repo.url")
    return RepoSettings(
        root=root,
        url=url,
        public_url=_public_url(values["public_url"]),
        charts_dir=fields.path(root, values["charts_dir"]).resolve(),
        build_dir=build_dir,
        atomic=values["atomic"],
        dependency_repositories=values["dependency_repositories"],
        mirrors=registries,
        sign=values["sign"],
        sources=sources,
    )


def _apart_from_builds(url: str, build_dir: Path, named: str) -> None:
    """A folder repository that is the build folder (where repo.index writes the merged index.yaml before any package
    is uploaded) or is in its packages/ (replaced whole by every build) would lose what it holds to the next build."""
    if not url.startswith("file://"):
        return
    folder = Path(url[len("file://"):]).resolve()
    packages = build_dir / "packages"
    if folder == build_dir or folder.is_relative_to(packages):
        what = "repo.build_dir" if folder == build_dir else f"in {packages} (repo.build_dir/packages)"
        raise ToolError(f"{named} {url} is {what}, which every build rewrites: the repository would lose its packages; "
                        f"use a folder of its own (the default is {build_dir.name}/repo)")


OCI_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")  # a path component of an OCI reference


def normalize_repo_url(url: str, root: Path, setting: str = "repo.url") -> str:
    """A folder path, file://PATH (relative to the project root), s3://BUCKET[/PREFIX] or http(s)://.

    Its userinfo (https://USER:PASSWORD@HOST) is a secret from here on: registered for redaction, and
    shown as *** in every error.
    """
    url = url.strip()
    if not url:
        raise ToolError(f"{setting} is empty: set it to a folder, file://PATH or s3://BUCKET[/PREFIX]")
    ui.add_url_secrets(url)
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if not scheme and url.lower().startswith("file:/"):  # RFC 8089's file:/PATH
        url = f"file://{url[len('file:'):]}"
        scheme = "file"
    typo = re.match(r"(s3|https?|oci|file):/?(?!/)", url, re.IGNORECASE) if not scheme else None
    if typo:  # `https:/host` (one slash) would be a folder named https: in the checkout; not shown: no URL pattern
        # finds the credentials it may hold
        raise ToolError(f"{setting}: {typo.group(1).lower()}: needs two slashes ({typo.group(1).lower()}://...; the "
                        "value is not shown, it may hold credentials); a folder of that name is written ./NAME")
    if scheme in ("", "file"):
        path = url[len("file://"):] if scheme else url
        return "file://" + str((root / path).resolve())
    _unblank(url, setting)
    userinfo = url.partition("://")[2].rpartition("@")[0]
    if scheme in ("s3", "http", "https", "oci") and urls.split(url)[1] is not None \
            and not (scheme == "oci" and "/" in userinfo):  # oci://HOST/PATH@sha256:...: a digest, refused below
        if scheme == "s3":
            raise ToolError(f"{setting} {urls.redact(url)!r}: credentials do not belong in the URL; remove them and "
                            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) instead")
        if scheme == "oci":
            raise ToolError(f"{setting} {urls.redact(url)!r}: credentials do not belong in the URL; remove them and "
                            "set HELM_REGISTRY_USERNAME and HELM_REGISTRY_PASSWORD (ECR needs neither)")
        if set("/?#") & set(userinfo):
            raise ToolError(f"{setting} {urls.redact(url)!r}: '@' after '/', '?' or '#' is ambiguous; percent-encode "
                            "them in a user name or password (/ %2F, ? %3F, # %23, @ %40)")
    if scheme == "s3":
        parts = _parsed(url, setting)
        if not _BUCKET.match(parts.netloc):
            raise ToolError(
                f"{setting} {url!r}: {parts.netloc!r} is not a valid S3 bucket name "
                "(3-63 lowercase letters, digits, dots, hyphens)"
            )
        prefix = parts.path.strip("/")
        return f"s3://{parts.netloc}/{prefix}" if prefix else f"s3://{parts.netloc}"
    if scheme == "oci":
        parts = _parsed(url, setting)
        path = parts.path.strip("/")
        if not parts.hostname or not path or parts.query or parts.fragment or "@" in path or ":" in path:
            raise ToolError(f"{setting} {url!r}: an OCI repository is oci://HOST[:PORT]/PATH, with no tag or digest "
                            "(charts are pushed as HOST/PATH/NAME:VERSION)")
        wrong = next((part for part in path.split("/") if not OCI_COMPONENT.fullmatch(part)), None)
        if wrong is not None:
            raise ToolError(f"{setting} {url!r}: {wrong!r} cannot be part of an OCI reference (lowercase letters and "
                            "digits, with . _ or - between them); no registry takes it")
        return f"oci://{parts.netloc.lower()}/{parts.path.strip('/')}"
    if scheme in ("http", "https"):
        if not _parsed(url, setting).hostname:
            raise ToolError(f"{setting} {urls.redact(url)!r}: no host; use http(s)://HOST[:PORT][/PATH]")
        return url.rstrip("/")
    raise ToolError(
        f"{setting} {urls.redact(url)!r}: unknown scheme {scheme!r}; use a folder path, file://PATH, s3://BUCKET[/PREFIX], "
        "oci://HOST/PATH or http(s):// (read only)"
    )


def _parsed(url: str, setting: str) -> SplitResult:
    """urlsplit, with a port that is no number refused too; a bad URL is one line that never shows credentials."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError as exc:
        raise ToolError(f"{setting} {urls.redact(url)!r}: not a valid URL ({exc}); "
                        "use a folder path, file://PATH, s3://BUCKET[/PREFIX] or http(s)://HOST[/PATH]") from None
    return parts


def _public_url(value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip().rstrip("/")
    ui.add_url_secrets(text)
    _unblank(text, "repo.public_url")
    if urlsplit(text).scheme not in ("http", "https") or not urlsplit(text).netloc:
        raise ToolError(f"repo.public_url {urls.redact(text)!r} is not an http(s) URL; set it to where clients fetch "
                        "the repository")
    if urls.split(text)[1] is not None:
        raise ToolError(f"repo.public_url {urls.redact(text)!r}: credentials do not belong in it: it is written into "
                        "index.yaml and index.html for every client to read; remove them (clients log in with helm "
                        "repo add --username/--password)")
    return text


def _unblank(url: str, setting: str) -> None:
    """A URL holds no space nor other blank: in any text a blank ends a URL, so a user name or password with one in
    it would not be found to mask (ui.add_url_secrets registered it whole when the setting was read). Refused,
    the URL unnamed."""
    if any(c.isspace() for c in url):
        raise ToolError(f"{setting} holds a space or another blank, which a URL cannot: percent-encode it (a space is "
                        "%20), in a user name or password too")


def _home(url: str) -> str:
    """~ in a folder repository's URL is the home folder, not a folder named ~ in the checkout."""
    for scheme in ("", "file://"):
        if url.startswith(scheme + "~"):
            return scheme + os.path.expanduser(url[len(scheme):])
    return url


PROJECT_FILES = ("invoke.yaml", "invoke.yml", "invoke.json")  # what Invoke looks for next to tasks.py, in its order


def check_project_file(root: Path, framework: Mapping[str, Any]) -> tuple[Path, Mapping[str, Any]] | None:
    """The project's invoke.yaml, checked before Invoke merges it into its configuration; the file and
    what it holds, once checked (None: no file, or an empty one).

    Invoke's own errors there are tracebacks (a list where it merges a mapping raises AmbiguousMergeError),
    and its YAML loader has no alias limit. So the file is read here first, with Helm's limit, its shape
    checked against Invoke's defaults (`framework`) and ours, and every repo and release setting in it
    checked as the tasks will read it: one bad setting stops every task, before anything is done.
    """
    _check_numbers(os.environ)
    path = next((root / name for name in PROJECT_FILES if (root / name).is_file()), None)
    if path is None:
        return None
    import json

    import yaml

    from . import safe_yaml, values_files

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else safe_yaml.load(  # `set:` typed as Helm types YAML
            text, safe_yaml.unique_keys(values_files.HelmYAML))
    except safe_yaml.AliasError as exc:
        raise ToolError(f"{path.name}: {exc}, which Helm refuses too; write the values out instead of aliasing them")
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ToolError(f"{path.name}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}{at} "
                        f"({getattr(exc, 'problem', None) or str(exc).splitlines()[0]}); fix it") from None
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise ToolError(f"{path.name} must be a mapping of settings (repo:, release:), not {fields.kind(data)}")
    fields.known(data, [*DEFAULTS, *framework], "")  # `repos:` would leave repo.url at its default, unsaid
    _merges(data, {**framework, **DEFAULTS}, "")
    repo = data.get("repo") or {}
    fields.known(repo, DEFAULTS["repo"], "repo")
    for name in ("url", "public_url", "charts_dir", "build_dir"):
        fields.text(repo, name, "repo")
    release = data.get("release") or {}
    fields.known(release, DEFAULTS["release"], "release")
    for name, raw in (release.get("environments") or {}).items():
        environments.environment_settings(root, str(name), raw)
    releases = [environments.release_settings(root, str(name), raw)
                for name, raw in (release.get("releases") or {}).items()]
    environments.check_needs(releases, [str(name) for name in release.get("environments") or {}])
    if "parallel" in release:
        environments.resolve_parallel(release, None)
    return path, data


def _check_numbers(env: Mapping[str, str]) -> None:
    """INVOKE_* variables of number settings: Invoke casts them with int(), a traceback for anything else."""
    for section, defaults in DEFAULTS.items():
        for name, default in defaults.items():
            variable = f"INVOKE_{section}_{name}".upper()
            if isinstance(default, int) and not isinstance(default, bool) and variable in env \
                    and not env[variable].strip().isdigit():
                raise ToolError(f"{variable} {env[variable]!r} is not a whole number; set it to one (e.g. {default}) "
                                "or unset it")


def _merges(data: Mapping[str, Any], defaults: Mapping[str, Any], where: str) -> None:
    """What Invoke can merge: a mapping where its defaults have a mapping, a single value where they have one."""
    for key, value in data.items():
        if key not in defaults:
            continue
        name = f"{where}{key}"
        if isinstance(defaults[key], dict):
            if not isinstance(value, Mapping):
                empty = "; write {} or remove the key" if value is None else ""
                raise ToolError(f"{name} in invoke.yaml must be a mapping, not {fields.kind(value)}{empty}")
            _merges(value, defaults[key], f"{name}.")
        elif isinstance(value, Mapping):
            raise ToolError(f"{name} in invoke.yaml must be a single value, not a mapping")
