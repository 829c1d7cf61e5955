"""A chart's dependencies, built as Helm builds them: offline when vendored, aliases resolved, real causes.

Helm's SDK registers the repository URLs a Chart.yaml names in a private configuration of its own, so
it cannot see an alias (`@name`, or a bare `name`: the form most real charts use) nor credentials.
Here an alias becomes its URL (repo.dependency_repositories first, else the user's own Helm repository
config, as `helm dependency build` reads it) and credentials travel in that URL's userinfo, which Helm's
HTTP client sends as basic auth. Helm then builds from a Chart.yaml in the scratch copy that names the
URL; the author's Chart.yaml and lock are put back before packaging, so the package holds what they wrote.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import yaml

from . import helm, safe_yaml, ui
from .charts import ChartSource, Dependency
from .errors import ToolError

READY = ("ok", "unpacked")  # helm dependency list: present in charts/, as an archive or a folder
# helm dependency list: present, but outside the version constraint (or one of the two is not a version Helm reads):
# `helm package` takes it as it is (it checks that each dependency is there by name, never its version)
OUTSIDE = ("wrong version", "invalid version")
_LFS = b"version https://git-lfs.github.com/spec/"  # what a clone without `git lfs` holds instead of a file
_LOCAL = ("file://",)
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Repository:
    name: str
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def for_helm(self) -> str:
        """The URL with the credentials in its userinfo (registered as secrets: never printed)."""
        if not self.username and not self.password:
            return self.url
        parts = urlsplit(self.url)
        userinfo = quote(self.username or "", safe="") + ":" + quote(self.password or "", safe="")
        return parts._replace(netloc=f"{userinfo}@{parts.netloc}").geturl()


class Repositories:
    """Where dependency repositories are: repo.dependency_repositories, then Helm's repositories.yaml."""

    def __init__(self, configured: Mapping[str, Any], env: Mapping[str, str]) -> None:
        self._configured, self._env = configured, env
        self._helm: dict[str, Repository] | None = None

    def resolve(self, dependency: Dependency, where: str) -> Repository | None:
        """The repository a dependency comes from; None for file:// and vendored-only dependencies."""
        text = dependency.repository.strip()
        if not text or text.startswith(_LOCAL):
            return None
        if "://" in text:
            url = text.rstrip("/")
            by_url = [r for r in self._all().values() if r.url == url]
            return by_url[0] if by_url else Repository(url, url)
        alias = text.removeprefix("@").removeprefix("alias:")
        found = self._all().get(alias)
        if found is None:
            raise ToolError(
                f"{where}: dependency {dependency.name} names repository {text!r}, which is not defined; add it "
                f"to repo.dependency_repositories in invoke.yaml ({alias}: URL) or to Helm's repositories "
                f"({helm_repository_config(self._env)})"
            )
        return found

    def _all(self) -> dict[str, Repository]:
        if self._helm is None:
            self._helm = _helm_repositories(helm_repository_config(self._env))
            self._helm.update({name: self._configured_one(name, raw) for name, raw in self._configured.items()})
        return self._helm

    def _configured_one(self, name: str, raw: Any) -> Repository:
        where = f"repo.dependency_repositories.{name}"
        raw = {"url": raw} if isinstance(raw, str) else raw
        if not isinstance(raw, Mapping) or not isinstance(raw.get("url"), str) or "://" not in raw["url"]:
            raise ToolError(f"{where} in invoke.yaml: expected a URL, or {{url: URL, username_env: VAR, "
                            "password_env: VAR}}")
        unknown = sorted(set(raw) - {"url", "username_env", "password_env"})
        if unknown:  # `password: ...` would be a secret in the repository, and silently unused
            hint = f"; name the variable that holds it: {unknown[0]}_env" if unknown[0] in ("username", "password") \
                else ": use url, username_env and password_env"
            raise ToolError(f"{where}.{unknown[0]} in invoke.yaml: not a setting{hint}")
        credentials = {}
        for key in ("username", "password"):
            variable = raw.get(f"{key}_env")
            if variable is not None:
                if not self._env.get(str(variable)):
                    raise ToolError(f"{where}.{key}_env: environment variable {variable} is not set; set it "
                                    "(a Drone secret) or remove the setting")
                credentials[key] = self._env[str(variable)]
        return _registered(Repository(name, raw["url"].rstrip("/"), **credentials))


def helm_repository_config(env: Mapping[str, str]) -> Path:
    """Helm's repositories.yaml: HELM_REPOSITORY_CONFIG, else Helm's default path for this platform."""
    if env.get("HELM_REPOSITORY_CONFIG"):
        return Path(env["HELM_REPOSITORY_CONFIG"])
    if env.get("HELM_CONFIG_HOME"):
        return Path(env["HELM_CONFIG_HOME"]) / "repositories.yaml"
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Preferences"
    elif sys.platform == "win32":
        base = Path(env.get("APPDATA") or Path.home())
    else:
        base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "helm" / "repositories.yaml"


def _helm_repositories(path: Path) -> dict[str, Repository]:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=safe_yaml.TextLoader) or {}
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ToolError(f"{path}: Helm's repository config cannot be read ({type(exc).__name__}); fix or remove it") \
            from None
    found = {}
    for entry in doc.get("repositories") or [] if isinstance(doc, dict) else []:
        if isinstance(entry, dict) and entry.get("name") and entry.get("url"):
            found[str(entry["name"])] = _registered(Repository(
                str(entry["name"]), str(entry["url"]).rstrip("/"), entry.get("username") or None,
                entry.get("password") or None))
    return found


def _registered(repository: Repository) -> Repository:
    for secret in (repository.password, quote(repository.password or "", safe="")):
        if secret:
            ui.add_secret(secret)
    return repository


def ready(chart: ChartSource) -> bool:
    """Every dependency already in charts/ (vendored, the air-gapped way): Helm packages it as it is, one outside its
    version constraint too (`helm package` checks names only), which is said once as a warning."""
    chart_dir = chart.path
    try:
        listed = helm.dependency_list(chart_dir)
    except ToolError:
        for archive in sorted((chart_dir / "charts").glob("*.tgz")):
            with open(archive, "rb") as handle:
                if handle.read(len(_LFS)) == _LFS:  # a clone without `git lfs`: what Helm calls a bad gzip header
                    raise ToolError(f"{archive}: a Git LFS pointer, not the chart archive; run `git lfs pull` (in "
                                    "CI: fetch LFS files in the clone step)") from None
        raise
    if not all(d["status"] in READY + OUTSIDE for d in listed):
        return False
    for d in listed:
        if d["status"] in OUTSIDE:
            how = "is outside" if d["status"] == "wrong version" else \
                "cannot be checked against (not a version, or not a constraint, Helm reads)"
            _warn_once(f"{chart.where}/{_vendored(chart_dir, str(d['name']))}: the vendored {d['name']} {how} the "
                       f"constraint {d['version']!r} of {chart.where}/{chart.declared_in}; it is packaged as it is, as "
                       "`helm package` does: vendor a version that satisfies it, or change the constraint")
    return True


_said: set[str] = set()


def _warn_once(message: str) -> None:
    """A chart's warning, once a run however many charts use it through file://."""
    if message not in _said:
        _said.add(message)
        ui.warn(message)


def _vendored(chart_dir: Path, name: str) -> str:
    """Where in the chart a dependency is vendored, found as `helm dependency list` finds it: the one archive
    NAME-*.tgz (of several, the one whose suffix is a version), else a folder (charts/NAME, or charts/)."""
    found = sorted((chart_dir / "charts").glob(f"{glob.escape(name)}-*.tgz"))
    if len(found) > 1:
        found = [a for a in found if re.fullmatch(r"\d+\.\d+\.\d+([-+].*)?", a.name[len(name) + 1:-4])]
    if len(found) == 1:
        return f"charts/{found[0].name}"
    return f"charts/{name}" if (chart_dir / "charts" / name).is_dir() else "charts"



def build(chart: ChartSource, stage_dir: Path, repositories: Repositories, generated: str) -> None:
    """Fill the scratch copy's charts/ as `helm dependency build` (a committed lock) or `update` would.

    A lock Helm writes here (none was committed) gets `generated` in place of the current time, so the
    package stays reproducible, and keeps the lock Helm would keep in the archive.
    """
    resolved = [repositories.resolve(d, f"{chart.where}/{chart.declared_in}") for d in chart.dependencies]
    declaring = chart.declared_in
    lock_name = "requirements.lock" if chart.api == "v1" else "Chart.lock"  # the lock Helm's update writes
    oci = [urlsplit(r.url).hostname for r in resolved if r and r.url.startswith("oci://")]
    plain_http = bool(oci) and all(host in _LOOPBACK for host in oci)
    try:
        if all(r is None or r.for_helm == d.repository for r, d in zip(resolved, chart.dependencies)):
            helm.build_dependencies(stage_dir, locked=chart.lock is not None, plain_http=plain_http)
        else:
            _build_through_urls(chart, stage_dir, resolved, declaring, lock_name, plain_http)
    except ToolError as exc:
        raise _cause(chart, resolved, exc) from None
    if chart.lock is None and (stage_dir / lock_name).is_file():
        lock = stage_dir / lock_name
        lock.write_text(re.sub(r"(?m)^generated: .*$", f'generated: "{generated}"', lock.read_text()))


def _build_through_urls(chart: ChartSource, stage_dir: Path, resolved: list[Repository | None], declaring: str,
                        lock_name: str, plain_http: bool) -> None:
    """Helm's update, from a Chart.yaml (or requirements.yaml) naming each alias by its URL (and pinned to the
    committed lock, if any, which is then kept as it was). `lock_name`: the lock Helm's update writes."""
    declared_file, lock_file = stage_dir / declaring, stage_dir / lock_name
    original = declared_file.read_bytes()
    committed = {name: (stage_dir / name).read_bytes() for name in ("Chart.lock", "requirements.lock")
                 if (stage_dir / name).is_file()}
    original_lock = committed.get(chart.lock) if chart.lock else None
    doc = _first_document(original)
    lock = _first_document(original_lock) if original_lock else None
    if lock is not None and lock.get("digest") != lock_digest(doc.get("dependencies"), lock.get("dependencies")):
        raise ToolError(f"{chart.where}/{chart.lock} is out of sync with {declaring}; run helm dependency update "
                        "in the chart and commit the lock")
    pinned = {d["name"]: d.get("version") for d in (lock or {}).get("dependencies") or []}
    for entry, repository in zip(doc["dependencies"], resolved):
        if repository is not None:
            entry["repository"] = repository.for_helm
        if entry.get("name") in pinned:
            entry["version"] = pinned[entry["name"]]
    try:
        declared_file.write_text(yaml.safe_dump(doc, sort_keys=False))
        for name in committed:
            (stage_dir / name).unlink()
        helm.build_dependencies(stage_dir, locked=False, plain_http=plain_http)
    finally:
        declared_file.write_bytes(original)
    if committed:  # the committed locks as they were, and not the one Helm wrote beside them
        lock_file.unlink(missing_ok=True)
        for name, data in committed.items():
            (stage_dir / name).write_bytes(data)
        return
    written = _first_document(lock_file.read_bytes())  # what Helm resolved, told in the author's terms
    authored = _first_document(original)["dependencies"]
    for entry, author in zip(written["dependencies"], authored):
        entry["repository"] = author.get("repository", "")
    written["digest"] = lock_digest(authored, written["dependencies"])
    lock_file.write_text(yaml.safe_dump(written, sort_keys=True))


def _first_document(data: bytes) -> Any:
    """A YAML file's first document, the one Helm reads (a Chart.yaml may end in `---`, or hold a second one)."""
    return next(iter(yaml.load_all(data, Loader=safe_yaml.TextLoader)), None)


def lock_digest(declared: Any, locked: Any) -> str:
    """Helm's resolver.HashReq: sha256 of Go's JSON of [declared dependencies, locked dependencies]."""
    fields = ("name", "version", "repository", "condition", "tags", "enabled", "import-values", "alias")
    always = ("name", "repository")

    def go(dependencies: Any) -> list[dict[str, Any]]:
        return [{k: d.get(k, "") if k in always else d[k] for k in fields if k in always or d.get(k) not in
                 (None, "", [], False)} for d in dependencies or []]

    text = json.dumps([go(declared), go(locked)], separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


_VENDORED = {  # helm dependency list's words for a vendored archive it cannot use, and what to do
    "too many matches": "charts/ holds more than one archive of {name} (NAME-*.tgz), and Helm cannot tell which to "
                        "package; keep the one {version} wants",
    "misnamed": "the archive vendored as {name} in charts/ holds another chart; vendor {name}'s own archive",
}


def _cause(chart: ChartSource, resolved: list[Repository | None], exc: ToolError) -> ToolError:
    """The dependency that failed, said as what to fix: a vendored archive Helm cannot use, a chart used through
    file:// that Helm cannot load (its own file named, not the Chart.yaml that uses it), or a remote repository:
    Helm's dependency manager hides why one failed ("no cached repository ... try 'helm repo update'"), so Helm's
    repository client is asked, for each dependency not vendored, to find the real cause. A lock out of sync with the
    dependencies is the lock's to fix, said as _build_through_urls says it."""
    if "is out of sync with the dependencies file" in str(exc):
        return ToolError(f"{chart.where}/{chart.lock} is out of sync with {chart.declared_in}; run helm dependency "
                         "update in the chart and commit the lock")
    try:
        status = {str(d["name"]): str(d["status"]) for d in helm.dependency_list(chart.path)}
    except ToolError:
        status = {}
    for dependency, repository in zip(chart.dependencies, resolved):
        state = status.get(dependency.name, "")
        if state in _VENDORED:
            return ToolError(f"{chart.where}/{chart.declared_in}: dependency {dependency.name}: "
                             + _VENDORED[state].format(name=dependency.name, version=dependency.version))
        if dependency.repository.startswith(_LOCAL):
            target = chart.path / dependency.repository.removeprefix("file://")
            shown = os.path.relpath(os.path.realpath(target), chart.checkout)
            if not (target / "Chart.yaml").is_file():
                return ToolError(f"{chart.where}/{chart.declared_in}: dependency {dependency.name}: "
                                 f"{dependency.repository} leads to {shown}, which holds no chart; fix the path")
            try:
                helm.dependency_list(target)  # loads the chart there, as the build did
            except ToolError as failed:
                return ToolError(f"{chart.where}/{chart.declared_in}: dependency {dependency.name} ({shown}, "
                                 f"file://) cannot be loaded ({str(failed).split(': ', 1)[-1]}); fix it in {shown}")
        if state in READY + OUTSIDE or repository is None or not repository.url.startswith(("http://", "https://")):
            continue
        try:
            helm.repo_index(repository.for_helm)
        except ToolError as failed:
            cause = str(failed).split(": ", 1)[-1]
            return ToolError(
                f"{chart.where}/{chart.declared_in}: dependency {dependency.name} {dependency.version} from "
                f"{repository.url} cannot be fetched ({cause}); check the repository URL and credentials, or "
                "vendor the dependency in the chart's charts/ folder"
            )
    return ToolError(f"{chart.where}/{chart.declared_in}: dependencies cannot be built ({exc}); check them "
                     f"(and {chart.lock or 'the lock'})")
