"""The one resolver: task argument > Drone (PLUGIN_*) env > invoke config (invoke.yaml, INVOKE_*) > defaults.

Tasks hand over what Invoke parsed and what its config holds; this module validates it and returns
immutable records, so every other module works on checked values and never on raw config.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import SplitResult, urlsplit

from . import ui, urls
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
    "release": {
        "environments": {},
        "releases": {},
        "parallel": 4,  # releases of one environment deployed at once (those whose needs are met)
    },
}

# Drone passes a plugin step's `settings:` as PLUGIN_<NAME>; they rank above invoke.yaml.
FIXED_EPOCH = 315532800  # 1980-01-01, the oldest date zip-based tools accept: every package's timestamps
DRONE_ENV = {"url": "PLUGIN_REPO_URL", "public_url": "PLUGIN_PUBLIC_URL"}

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RELEASE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")  # Helm's rule
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # a DNS-1123 label: no dots, 63 at most
_PREFIX = re.compile(r"^[A-Z][A-Z0-9_]*$")


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
    _known(config, DEFAULTS["repo"], "repo")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, argument in (("url", url), ("public_url", public_url), ("charts_dir", None), ("build_dir", None),
                           ("atomic", atomic), ("dependency_repositories", None), ("mirrors", mirrors or None),
                           ("sign", sign)):
        values[name], sources[name] = pick(name, argument, DRONE_ENV.get(name), env, config, DEFAULTS["repo"], "repo")
    for name in ("url", "public_url", "charts_dir", "build_dir"):
        _text(values, name, "repo")
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
    return RepoSettings(
        root=root,
        url=normalize_repo_url(_home(values["url"]), root),
        public_url=_public_url(values["public_url"]),
        charts_dir=_path(root, values["charts_dir"]).resolve(),
        build_dir=_path(root, values["build_dir"]).resolve(),
        atomic=values["atomic"],
        dependency_repositories=values["dependency_repositories"],
        mirrors=registries,
        sign=values["sign"],
        sources=sources,
    )


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
    if scheme in ("", "file"):
        path = url[len("file://"):] if scheme else url
        return "file://" + str((root / path).resolve())
    if scheme in ("s3", "http", "https", "oci") and urls.split(url)[1] is not None:
        userinfo = url.partition("://")[2].rpartition("@")[0]
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
        if not parts.hostname or not parts.path.strip("/") or parts.query or parts.fragment:
            raise ToolError(f"{setting} {url!r}: an OCI repository is oci://HOST[:PORT]/PATH (charts are pushed as "
                            "HOST/PATH/NAME:VERSION)")
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
    if urlsplit(text).scheme not in ("http", "https") or not urlsplit(text).netloc:
        raise ToolError(f"repo.public_url {text!r} is not an http(s) URL; set it to where clients fetch the repository")
    return text


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
        configured = _mapping(config, "releases", "release", "")
        if release_name in configured:
            raise ToolError(f"--release {release_name!r} is not deployed to {environment.name} (release.releases."
                            f"{release_name}.environments); {environment.name} has {', '.join(names)}")
        raise ToolError(f"--release {release_name!r}: not in invoke.yaml (release.releases); known: "
                        f"{', '.join(configured)}")
    return environment, releases[names.index(release_name)]


def resolve_environment(root: Path, config: Mapping[str, Any], *, env_name: str | None) -> tuple[Environment, list[Release]]:
    """An environment and the releases deployed to it, in invoke.yaml's order; their needs checked."""
    _known(config, DEFAULTS["release"], "release")
    environments = _mapping(config, "environments", "release", "environment name to its settings")
    raw_releases = _mapping(config, "releases", "release", "release name to its chart, version and values")
    if not env_name:
        raise ToolError(f"--env is required; environments in invoke.yaml: {', '.join(environments) or 'none'}")
    if env_name not in environments:
        raise ToolError(
            f"--env {env_name!r}: no such environment in invoke.yaml (release.environments); "
            f"known: {', '.join(environments) or 'none'}"
        )
    if not raw_releases:
        raise ToolError("release.releases in invoke.yaml is empty; add a release (see README, Releases)")
    releases = [release_settings(root, str(name), raw) for name, raw in raw_releases.items()]
    check_needs(releases, list(environments))
    chosen = [r for r in releases if r.environments is None or env_name in r.environments]
    if not chosen:
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
    value = flag if flag is not None else config.get("parallel", DEFAULTS["release"]["parallel"])
    where = "--parallel" if flag is not None else "release.parallel"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ToolError(f"{where} is {_kind(value)}; use a whole number of releases, 1 or more (1: one at a time)")
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
                        f"not {_kind(raw)}")
    _known(raw, ENVIRONMENT_KEYS, where)
    namespace = _text(raw, "namespace", where)
    if not namespace or not _NAMESPACE.match(namespace):
        raise ToolError(f"{where}.namespace is {'missing' if not namespace else repr(namespace) + ' (invalid)'}; "
                        "set it to the Kubernetes namespace to deploy into")
    prefix = _text(raw, "secrets_prefix", where)
    if prefix is not None and not _PREFIX.match(prefix):
        raise ToolError(f"{where}.secrets_prefix {prefix!r} must be an environment variable prefix like STAGING")
    return Environment(
        name=name, namespace=namespace, kube_context=_text(raw, "kube_context", where),
        secrets_prefix=prefix or None, values=_paths(root, raw.get("values"), f"{where}.values"),
        protected=_flag(raw, "protected", where), create_namespace=_flag(raw, "create_namespace", where),
        history_max=_count(raw, "history_max", where, HISTORY_MAX),
        verify_keyring=_keyring(root, _text(raw, "verify_keyring", where)),
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
                        f"not {_kind(raw)}")
    _known(raw, RELEASE_KEYS, where)
    sets = _mapping(raw, "set", where, "a values path (a.b.c) to its value")
    secrets = _mapping(raw, "secrets", where, "a values path (a.b.c) to the environment variable holding it")
    for key, value in sets.items():
        if isinstance(value, Mapping | list):
            raise ToolError(f"{where}.set.{key} is {_kind(value)}; set takes one value per dotted path (a.b.c: value)")
    for key, value in secrets.items():
        if not isinstance(value, str) or not _VARIABLE.match(value):
            raise ToolError(f"{where}.secrets.{key} is {_kind(value)}; name the environment variable holding the "
                            "secret (e.g. DB_PASSWORD)")
    version = raw.get("version")
    if version is not None and not isinstance(version, str):
        raise ToolError(f"{where}.version in invoke.yaml is {_kind(version)}, not text; quote it (\"~0.1\", \"1.10.0\"): YAML "
                        "reads an unquoted 1.10 as the number 1.1")
    namespace = _text(raw, "namespace", where)
    if namespace is not None and not _NAMESPACE.match(namespace):
        raise ToolError(f"{where}.namespace {namespace!r} is not a Kubernetes namespace (a DNS label: lowercase "
                        "letters, digits and '-', 63 at most); fix it or remove it to use the environment's")
    environments = _names(raw, "environments", where)
    return Release(
        name=name, chart=_text(raw, "chart", where) or name, version=version,
        values=_paths(root, raw.get("values"), f"{where}.values"),
        set=tuple(f"{k}={_scalar(v)}" for k, v in sets.items()),
        secrets=tuple((str(k), str(v)) for k, v in secrets.items()),
        namespace=namespace, environments=environments, needs=_names(raw, "needs", where) or (),
    )


def _paths(root: Path, raw: Any, where: str) -> tuple[Path, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        raise ToolError(f"{where} in invoke.yaml must be a list of file paths, not {_kind(raw)}"
                        + ("; write it as [PATH]" if isinstance(raw, str) else ""))
    return tuple(_path(root, p) for p in raw)


def _path(root: Path, text: str) -> Path:
    """A path setting: relative to the project root; ~ is the home folder, as in a shell."""
    return root / Path(text).expanduser()


def _home(url: str) -> str:
    """~ in a folder repository's URL is the home folder, not a folder named ~ in the checkout."""
    for scheme in ("", "file://"):
        if url.startswith(scheme + "~"):
            return scheme + os.path.expanduser(url[len(scheme):])
    return url


# --- types and names, checked as invoke.yaml is read ------------------------------------------------

ENVIRONMENT_KEYS = ("namespace", "kube_context", "secrets_prefix", "values", "protected", "create_namespace",
                    "history_max", "verify_keyring")
RELEASE_KEYS = ("chart", "version", "values", "set", "secrets", "namespace", "environments", "needs")
PROJECT_FILES = ("invoke.yaml", "invoke.yml", "invoke.json")  # what Invoke looks for next to tasks.py, in its order
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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

    from . import safe_yaml

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else safe_yaml.load(text, safe_yaml.SAFE_LOADER)
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
        raise ToolError(f"{path.name} must be a mapping of settings (repo:, release:), not {_kind(data)}")
    _merges(data, {**framework, **DEFAULTS}, "")
    repo = data.get("repo") or {}
    _known(repo, DEFAULTS["repo"], "repo")
    for name in ("url", "public_url", "charts_dir", "build_dir"):
        _text(repo, name, "repo")
    release = data.get("release") or {}
    _known(release, DEFAULTS["release"], "release")
    for name, raw in (release.get("environments") or {}).items():
        environment_settings(root, str(name), raw)
    releases = [release_settings(root, str(name), raw) for name, raw in (release.get("releases") or {}).items()]
    check_needs(releases, [str(name) for name in release.get("environments") or {}])
    if "parallel" in release:
        resolve_parallel(release, None)
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
                raise ToolError(f"{name} in invoke.yaml must be a mapping, not {_kind(value)}{empty}")
            _merges(value, defaults[key], f"{name}.")
        elif isinstance(value, Mapping):
            raise ToolError(f"{name} in invoke.yaml must be a single value, not a mapping")


def _known(raw: Mapping[str, Any], known: Iterable[str], where: str) -> None:
    """An unknown key is a typo until proven otherwise: named, with the closest known key."""
    known = list(known)
    for key in raw:
        if key not in known:
            import difflib

            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
            raise ToolError(f"{where}.{key} in invoke.yaml is not a setting; {hint}")


def _mapping(raw: Mapping[str, Any], key: str, where: str, what: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ToolError(f"{where}.{key} in invoke.yaml must be a mapping of {what}, not {_kind(value)}")
    return value


def _text(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise ToolError(f"{where}.{key} in invoke.yaml is {_kind(value)}, not text; quote it")
    return value


def _count(raw: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ToolError(f"{where}.{key} in invoke.yaml is {_kind(value)}; write a whole number, 0 or more")
    return value


def _names(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    """A list of names (environments, releases); None when the key is absent."""
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ToolError(f"{where}.{key} in invoke.yaml must be a list of names, not {_kind(value)}"
                        + (f"; write it as [{value}]" if isinstance(value, str) else ""))
    return tuple(value)


def _flag(raw: Mapping[str, Any], key: str, where: str) -> bool:
    value = raw.get(key)
    if value is not None and not isinstance(value, bool):
        raise ToolError(f"{where}.{key} in invoke.yaml is {_kind(value)}, not a boolean; write true or false, "
                        "without quotes")
    return bool(value)


def _kind(value: Any) -> str:
    """A value's YAML type, for messages: `the text 'false'` says why it is not the boolean false."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if value is None:
        return "empty"
    return "a mapping" if isinstance(value, Mapping) else "a list" if isinstance(value, list) else type(value).__name__


def _scalar(value: Any) -> str:
    """A `set:` value as --set would take it: YAML's true, 3, null as Helm spells them."""
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
