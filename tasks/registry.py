"""An OCI registry as a chart repository: oci://HOST/PATH holds each chart as HOST/PATH/NAME:VERSION.

The contract is the classic repository's (invariant 2): a version the registry lacks is pushed; one it
holds with the same content is left alone (compared by the archive's digest, else by its files); one with
other content is refused, unless --force pushes over the tag, loudly. There is no index.yaml.
Credentials come from HELM_REGISTRY_USERNAME and HELM_REGISTRY_PASSWORD, or for an ECR host from ECR's
token through boto3's credential chain; the login lands in a private temporary folder removed at the end,
never in the user's Helm configuration. Plain HTTP is used for a loopback registry only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import archives, helm, publish, ui
from .charts import SEMVER, Package
from .errors import ToolError
from .publish import NEW, REPLACE, UNCHANGED, Step
from .settings import OCI_COMPONENT
from .store import ecr_credentials

USERNAME, PASSWORD = "HELM_REGISTRY_USERNAME", "HELM_REGISTRY_PASSWORD"
HOST = "HELM_REGISTRY_HOST"  # the registry (HOST[:PORT]) the credentials are for; needed when a command uses two
MAX_TAG = 128  # the OCI distribution spec's longest tag
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class Registry:
    url: str  # oci://HOST[:PORT]/PATH, as settings.normalize_repo_url left it
    client: Any
    work: Path  # the session's private folder: credentials, pulled archives

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def plain_http(self) -> bool:
        return urlsplit(self.url).hostname in _LOOPBACK

    def reference(self, chart: str) -> str:
        return f"{self.url}/{chart}"


def unlisted(name: str, version: str) -> str:
    """Why a registry could not take this chart, or keep this version immutable ("" when it can): a name is a part
    of an OCI reference (lowercase: Helm's push refuses `MyChart` too); Helm lists only strict SemVer 2 tags, so a
    push of `v1.2.3` or `1.2` could never be told from a new one, and would overwrite silently."""
    if not OCI_COMPONENT.fullmatch(name):
        return (f"name {name!r} cannot be part of an OCI reference (lowercase letters and digits, with . _ or - "
                "between them), so no registry takes it; rename the chart to push it")
    if not SEMVER.match(version):  # semver.org's: what Helm's tags() keeps
        return (f"version {version!r} is not strict SemVer 2 (MAJOR.MINOR.PATCH[-PRE][+BUILD]), the only versions an "
                "OCI registry lists, so its immutability could not be checked; give the chart such a version to push "
                "it")
    if len(tag(version)) > MAX_TAG:
        return (f"version {version!r} is longer than an OCI tag can be ({MAX_TAG} characters), so no registry takes "
                "it; shorten its pre-release or build part to push it")
    return ""


def tag(version: str) -> str:
    """OCI tags cannot hold '+': Helm pushes a SemVer build suffix as '_' (and its tags() maps it back), so the
    tag is for showing a reference; versions are compared as versions."""
    return version.replace("+", "_")


@contextmanager
def session(url: str, env: Mapping[str, str]) -> Iterator[Registry]:
    """A logged-in client for the registry (when there are credentials); nothing of it outlives the block."""
    with tempfile.TemporaryDirectory(prefix="invoke-oci-") as tmp:  # mode 0700: the login is for this run only
        work = Path(tmp)
        plain = urlsplit(url).hostname in _LOOPBACK
        registry = Registry(url, helm.registry_client(plain_http=plain, credentials_file=work / "config.json"), work)
        credentials = _credentials(registry.host, env)
        if credentials is not None:
            ui.add_secret(credentials[1])
            try:
                helm.registry_login(registry.client, registry.host, *credentials, plain_http=plain)
            except ToolError as exc:
                raise ToolError(f"{url}: login as {credentials[0]!r} refused ({_cause(exc)}); check "
                                f"{USERNAME} and {PASSWORD}") from None
        yield registry


def _credentials(host: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    """The user name and password for `host`: HELM_REGISTRY_USERNAME/_PASSWORD, for the registry HELM_REGISTRY_HOST
    names (any, when it is not set: one_registry keeps that to one registry a command); else ECR's token, for ECR."""
    if env.get(USERNAME) or env.get(PASSWORD):
        if not (env.get(USERNAME) and env.get(PASSWORD)):
            raise ToolError(f"oci://{host}: set both {USERNAME} and {PASSWORD}, or neither")
        if not env.get(HOST, "").strip() or env[HOST].strip().lower() == host.lower():
            return env[USERNAME], env[PASSWORD]
    return ecr_credentials(host)


def one_registry(urls: list[str], env: Mapping[str, str]) -> list[str]:
    """The registries of a command (`urls`, each once): credentials given without HELM_REGISTRY_HOST would be sent to
    every one of them, a password for one registry to all; two are refused before any is asked."""
    urls = list(dict.fromkeys(urls))
    hosts = sorted({urlsplit(url).netloc for url in urls})
    if len(hosts) > 1 and (env.get(USERNAME) or env.get(PASSWORD)) and not env.get(HOST, "").strip():
        raise ToolError(f"{USERNAME} and {PASSWORD} would be sent to each of {', '.join(hosts)}; set {HOST} to the "
                        "one they are for (the others are used without them, or with ECR's token)")
    return urls


def _cause(exc: ToolError) -> str:
    return str(exc).split(": ", 1)[-1]


def versions(registry: Registry, chart: str) -> list[str]:
    """The chart versions the registry holds, newest first, as Helm reads them from its tags ('_' back to '+',
    tags that are not SemVer left out); [] for a chart it has never seen."""
    try:
        return helm.registry_tags(registry.client, registry.reference(chart)) or []
    except ToolError as exc:
        raise ToolError(f"{registry.url}: cannot list {chart} ({_cause(exc)}); check the registry and its "
                        f"credentials ({USERNAME}, {PASSWORD})") from None


def fetch(registry: Registry, chart: str, version: str) -> bytes:
    """The archive the registry holds for CHART:VERSION."""
    folder = Path(tempfile.mkdtemp(dir=registry.work))
    try:
        return helm.registry_pull(registry.client, registry.reference(chart), version, folder,
                                  plain_http=registry.plain_http).read_bytes()
    except ToolError as exc:
        raise ToolError(f"{registry.reference(chart)}:{tag(version)}: cannot be pulled ({_cause(exc)})") from None


def plan(registry: Registry, packages: list[Package], force: bool) -> list[Step]:
    """What pushing `packages` means for this registry, as publish's steps."""
    steps = []
    for package in packages:
        if package.version not in versions(registry, package.name):
            steps.append(Step(package, NEW))
            continue
        held = fetch(registry, package.name, package.version)
        where = f"{registry.reference(package.name)}:{tag(package.version)}"
        if archives.digest(held) == package.digest:
            steps.append(Step(package, UNCHANGED, published=package.digest))
        else:
            steps.append(publish.compared(package, held, where, force, archives.digest(held)))
    return steps


def push(registry: Registry, steps: list[Step], advance: Callable[[Step], None] = lambda step: None) -> list[Step]:
    """Push the new and replacing versions; what was pushed, in order (a failure says what was)."""
    pushed: list[Step] = []
    for step in steps:
        if step.action not in (NEW, REPLACE):
            continue
        try:
            helm.registry_push(registry.client, step.package.path, registry.url, plain_http=registry.plain_http)
        except ToolError as exc:
            done = ", ".join(f"{s.package.name} {s.package.version}" for s in pushed) or "nothing"
            raise ToolError(f"{registry.url}: pushing {step.package.name} {step.package.version} failed "
                            f"({_cause(exc)}); pushed before it: {done}; run the publish again") from None
        pushed.append(step)
        advance(step)
    return pushed
