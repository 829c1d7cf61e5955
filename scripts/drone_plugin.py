"""Drone plugin entrypoint: a drop-in for drone-helm and pelotech/drone-helm3 steps, run by the release tasks.

Drone passes a plugin step's `settings:` as PLUGIN_<NAME> variables; like both upstream plugins, a setting
may also come from the step's `environment:` as plain <NAME> (KUBE_API_SERVER, KUBE_TOKEN). `translate`
turns them into one task call (release.deploy, release.uninstall or repo.lint), so a plugin step deploys
exactly as `invoke release.deploy` does.

Safe by default: a setting that would change what is deployed (or where) and that this tool does not do
fails the step with one line naming it; so does an unknown setting (a typo such as `chart_verison` would
otherwise deploy the newest version). Only settings that change nothing deployed here are ignored, each
with a warning that says why. A value of `values` that is exactly $NAME or ${NAME} is a secret reference:
the value is read from the environment (PREFIX_NAME with drone-helm's prefix) and masked everywhere
(--set-secret PATH=NAME); one that Helm's --set types (true, false, null, 2) is set typed, as drone-helm3's
--set sets it; a $ anywhere else in a value is refused, never deployed literally.

    steps:
      - name: deploy
        image: registry.example.com/helm-tasks-plugin
        settings:
          mode: upgrade
          chart: ./charts/hello-world            # or REPO/CHART with add_repos: REPO=https://...
          release: hello-world
          namespace: staging
          values: image.tag=${DRONE_COMMIT_SHA:0:7},db.password=$DB_PASSWORD
        environment:
          KUBE_API_SERVER: {from_secret: kube_api_server}
          KUBE_TOKEN: {from_secret: kube_token}
          DB_PASSWORD: {from_secret: db_password}
"""

from __future__ import annotations

import base64
import difflib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ENVIRONMENT = "drone"  # the release environment a plugin step deploys to, built from its settings
TOOL_PREFIX = "PLUGIN"  # credentials given as settings reach the tasks as PLUGIN_API_SERVER, ... (drone-helm's names)
DEFAULT_NAMESPACE = "default"  # Helm's, and both upstream plugins'
CREDENTIALS = {"kube_api_server": "API_SERVER", "kube_token": "KUBERNETES_TOKEN",
               "kube_certificate": "KUBERNETES_CERTIFICATE"}  # setting -> <PREFIX>_ variable the tasks read

# Other names of a setting (drone-helm's, or drone-helm3's older ones) -> drone-helm3's canonical name.
ALIASES = {
    "helm_command": "mode", "helm_repos": "add_repos", "api_server": "kube_api_server",
    "kubernetes_token": "kube_token", "kubernetes_certificate": "kube_certificate",
    "service_account": "kube_service_account", "wait": "wait_for_upgrade", "force": "force_upgrade",
}
SUPPORTED = frozenset({
    "mode", "add_repos", "chart", "chart_version", "release", "namespace", "values", "string_values",
    "values_files", "secrets", "history_max",
    "prefix", "kube_api_server", "kube_token", "kube_certificate", "wait_for_upgrade", "timeout", "dry_run",
    "debug", "create_namespace", "atomic_upgrade", "update_dependencies", "dependencies_action", "repo_url",
    "public_url",
})
# Settings that change nothing deployed here: ignored, with this reason.
IGNORED = {
    "kube_service_account": "with a token the account is the token's; the name only labels a kubeconfig entry",
    "cleanup_failed_upgrade": "a failed deploy is rolled back, which removes what it created",
    "recreate_pods": "removed in Helm 3", "purge": "an uninstall always removes the history (Helm 3)",
    "tiller_ns": "Helm 3+ has no Tiller", "client_only": "Helm 3+ has no Tiller",
    "canary_image": "Helm 3+ has no Tiller", "upgrade": "Helm 3+ has no Tiller",
    "stable_repo_url": "Helm 3+ has no stable repository",
}
# Settings that would change what is deployed, or where, and that this tool does not do: the step fails.
# Booleans fail only when true (false is what the tool does anyway).
REFUSED = {
    "force_upgrade": "it replaces resources by deleting them; remove it",
    "reuse_values": "values are always given in full (values, values_files, secrets); remove it",
    "skip_crds": "CRDs in the chart are always installed; remove it",
    "skip_tls_verify": "the cluster's certificate is always verified (the tool has no way to skip it); "
                       "give the cluster's CA, base64-encoded, as kube_certificate",
    "skip_kubeconfig": "the kubeconfig is always built from kube_api_server and kube_token; give those",
    "kube_config": "a kubeconfig file is not read; give kube_api_server and kube_token",
    "eks_cluster": "EKS authentication is not supported; give kube_api_server and kube_token",
    "eks_role_arn": "EKS authentication is not supported; give kube_api_server and kube_token",
    "chart_name_selector": "one step deploys one release; name it with release",
    "ignore_releases": "one step deploys one release; name it with release",
    "keep_history": "an uninstall always removes the history; remove it",
    "lint_strictly": "lint fails on errors, not on warnings; remove it",
    "repo_certificate": "the chart repository's certificate must be one the image trusts",
    "repo_ca_certificate": "the chart repository's certificate must be one the image trusts",
    "repo_ca_file": "the chart repository's certificate must be one the image trusts",
}
BOOLEAN = frozenset({
    "wait_for_upgrade", "dry_run", "debug", "create_namespace", "atomic_upgrade", "update_dependencies",
    "force_upgrade", "reuse_values", "skip_crds", "skip_tls_verify", "skip_kubeconfig", "keep_history",
    "lint_strictly", "cleanup_failed_upgrade", "recreate_pods", "purge", "client_only", "canary_image", "upgrade",
})
KNOWN = SUPPORTED | set(IGNORED) | set(REFUSED)
NAMES = sorted(KNOWN | set(ALIASES))
DEPLOY_ONLY = ("add_repos", "chart", "chart_version", "values", "string_values", "values_files", "secrets",
               "create_namespace",
               "atomic_upgrade", "update_dependencies", "dependencies_action", "repo_url")  # no meaning to uninstall
LINT_USES = ("mode", "chart", "chart_version", "add_repos", "debug", "update_dependencies", "dependencies_action",
             "lint_strictly")  # false is how repo.lint lints (true is refused): honoured, not ignored
UPGRADE_EVENTS = ("push", "tag", "deployment", "pull_request", "promote", "rollback")  # drone-helm3's inference
TRUE, FALSE = ("true", "t", "1", "yes", "on"), ("false", "f", "0", "no", "off")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_VARIABLE = re.compile(rf"\$(?:({_NAME})|\{{({_NAME})\}})")  # $NAME or ${NAME}
_REFERENCE = re.compile(rf"^{_VARIABLE.pattern}$")  # a whole value that is one
_BUILD_VARIABLE = re.compile(r"\$(\{#?)?(?:DRONE|CI)_")  # ${DRONE_*}, ${#CI_*}, $CI_*: the tasks expand them in --set
_BUILD_VARIABLE_NAME = re.compile(r"\w*")  # the rest of $DRONE_NAME
_DURATION = re.compile(r"^(?:\d+h)?(?:\d+m)?(?:\d+s)?$")
_PLAIN = re.compile(r"[A-Za-z0-9+-]+")  # none of what Helm's --set parser reads as syntax (, \ = { } [ ]), nor a $


class PluginError(Exception):
    """A setting that cannot be honoured: one line naming it, and nothing deployed."""


@dataclass(frozen=True)
class Setting:
    value: str
    source: str  # what the user wrote, for messages: "setting kube_token" or "KUBE_TOKEN (environment)"


@dataclass(frozen=True)
class Call:
    """One task call: its name, keyword arguments, invoke config and the variables it reads."""

    task: str
    arguments: dict[str, Any]
    config: dict[str, Any]
    environment: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)  # tool variable -> what the user wrote, for errors
    secrets: tuple[str, ...] = ()  # values in the arguments (typed values references) to mask before the task runs


def read_settings(env: Mapping[str, str]) -> dict[str, Setting]:
    """Every setting given, by canonical name: PLUGIN_<NAME> or plain <NAME>, under any alias; no two may differ.
    The userinfo of each URL in a value is registered as a secret here, before anything can print it."""
    unknown = sorted(k[len("PLUGIN_"):].lower() for k, v in env.items()
                     if k.startswith("PLUGIN_") and v and k[len("PLUGIN_"):].lower() not in NAMES)
    if unknown:
        close = difflib.get_close_matches(unknown[0], NAMES, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise PluginError(f"setting {unknown[0]} is unknown; {hint}remove it (supported settings: README, Plugin mode)")
    from tasks import ui

    found: dict[str, Setting] = {}
    for name in NAMES:
        canonical = ALIASES.get(name, name)
        for variable, source in ((f"PLUGIN_{name.upper()}", f"setting {name}"),
                                 (name.upper(), f"{name.upper()} (environment)")):
            value = env.get(variable, "")
            if not value:
                continue
            ui.add_url_secrets(value)  # a URL's credentials are secrets as read: whole, before any list is split
            if canonical in found and not _same(canonical, found[canonical].value, value):
                raise PluginError(f"{found[canonical].source} and {source} differ; keep one of them")
            found.setdefault(canonical, Setting(value, source))
    return found


def _same(name: str, one: str, other: str) -> bool:
    """Two values of one setting agree: a boolean's by what they mean (False and false, as Go's ParseBool reads
    both), any other's as written."""
    if name in BOOLEAN:
        one, other = one.strip().lower(), other.strip().lower()
        return one == other or {one, other} <= set(TRUE) or {one, other} <= set(FALSE)
    return one == other


def translate(settings: Mapping[str, Setting], env: Mapping[str, str], cwd: Path, work: Path) -> Call:
    """The task call these settings mean; PluginError for any that would deploy something else than asked."""
    warnings = [f"{s.source} is ignored: {IGNORED[k]}" for k, s in settings.items() if k in IGNORED]
    for name, why in REFUSED.items():
        if name in settings and (name not in BOOLEAN or flag(settings, name)):
            shown = f"{settings[name].source}{': true' if name in BOOLEAN else ''}"
            raise PluginError(f"{shown} is not supported: {why}")
    for name in BOOLEAN & set(settings):
        flag(settings, name)  # each boolean is checked, used or not
    if _value(settings, "dependencies_action") not in (None, "build", "update"):
        raise PluginError(f"{settings['dependencies_action'].source} must be build or update")
    mode = _mode(settings, env)
    repos = _repos(settings, env)
    if mode == "help":
        return Call("help", {}, {}, warnings=tuple(warnings))
    if mode == "lint":
        for name in ("values", "string_values", "values_files", "secrets"):
            if name in settings:
                raise PluginError(f"{settings[name].source} is not supported with mode lint: the chart is linted "
                                  "with its own values (invoke repo.lint); remove it")
        warnings += [f"{s.source} is ignored with mode lint: it lints the chart, and deploys nothing" for k, s in
                     settings.items() if k not in LINT_USES and k not in IGNORED]
        folder = _local_chart(settings, cwd)
        _check_local(settings, folder)
        config = {"repo": {"charts_dir": str(folder), "build_dir": str(work),
                           "dependency_repositories": repos}}
        return Call("repo.lint", {"chart": None}, config, warnings=tuple(warnings))
    release = _required(settings, "release")
    environment, credentials, sources = _cluster(settings, env)
    environment["namespace"] = _value(settings, "namespace") or DEFAULT_NAMESPACE
    sources.update({f"release.environments.{ENVIRONMENT}.namespace": "setting namespace",
                    f"release.releases.{release}": "setting release"})
    timeout = _timeout(settings)
    wait = flag(settings, "wait_for_upgrade", default=True)
    if mode == "uninstall":
        warnings += [f"{settings[k].source} is ignored with mode uninstall" for k in DEPLOY_ONLY if k in settings]
        if flag(settings, "dry_run"):
            raise PluginError(f"{settings['dry_run'].source}: true is not supported with mode uninstall "
                              "(an uninstall has no dry run); remove it, or the step")
        config = {"release": {"environments": {ENVIRONMENT: environment}, "releases": {release: {}}}}
        arguments = {"env": ENVIRONMENT, "release": release, "wait": wait, "timeout": timeout, "yes": True}
        return Call("release.uninstall", arguments, config, credentials, tuple(warnings), sources)
    if "atomic_upgrade" in settings and not flag(settings, "atomic_upgrade"):
        raise PluginError(f"{settings['atomic_upgrade'].source}: false is not supported: a failed deploy is always "
                          "rolled back; remove it")
    url, chart = _chart(_required(settings, "chart"), repos, _value(settings, "repo_url"), cwd)
    if url is None:
        _check_local(settings, Path(chart))
    elif flag(settings, "update_dependencies") or "dependencies_action" in settings:
        warnings.append("dependencies are not updated: a chart from a repository holds them already")
    environment["create_namespace"] = flag(settings, "create_namespace")
    if "history_max" in settings:
        environment["history_max"] = _count(settings, "history_max")
    values, strings = (_values(settings, name, env, _prefix(settings)) for name in ("values", "string_values"))
    set_secrets = values.secrets + strings.secrets + [_secret(entry, settings["secrets"].source, env)
                                                      for entry in _list(settings, "secrets")]
    given = {"--set-secret": "secrets", "--set": "values", "--values": "values_files", "--set-string": "string_values",
             "--version": "chart_version"}
    sources.update({name: settings[setting].source for name, setting in given.items() if setting in settings})
    sources.update(values.named | strings.named)
    sources[f"release.environments.{ENVIRONMENT}.create_namespace"] = "setting create_namespace"  # what to set
    if url is not None:
        sources["repo.url"] = settings["add_repos" if url in repos.values() else "repo_url"].source
    config = {
        "release": {"environments": {ENVIRONMENT: environment}, "releases": {release: {"chart": chart}}},
        "repo": {"build_dir": str(work), "dependency_repositories": repos},
    }
    arguments = {
        "env": ENVIRONMENT, "release": release, "url": url, "version": _value(settings, "chart_version"),
        "set_": values.sets, "set_string": strings.sets, "set_secret": set_secrets,
        "values": [str(cwd / f) for f in _list(settings, "values_files")],
        "wait": wait or flag(settings, "atomic_upgrade"),  # Helm: --atomic implies --wait
        "dry_run": flag(settings, "dry_run"), "timeout": timeout, "yes": True,
    }
    return Call("release.deploy", arguments, config, credentials, tuple(warnings), sources, tuple(values.typed))


def rename(message: str, sources: Mapping[str, str]) -> str:
    """A task's error line with the names the tasks use (PLUGIN_API_SERVER, --set) replaced by what the user wrote.

    A flag is renamed where a task names it as the culprit (`--set 'x': ...`, `--version: ...`), not in the Helm
    command a message quotes (`helm upgrade ... --version 0.1.0`): that one is Helm's flag, not the user's setting.
    """
    for name in sorted(sources, key=len, reverse=True):
        after = r"(?=:| ')" if name.startswith("--") else r"(?![\w-])"
        message = re.sub(rf"(?<![\w.-]){re.escape(name)}{after}", sources[name].replace("\\", r"\\"), message)
    return message


def flag(settings: Mapping[str, Setting], name: str, default: bool = False) -> bool:
    if name not in settings:
        return default
    text = settings[name].value.strip().lower()
    if text not in TRUE + FALSE:
        raise PluginError(f"{settings[name].source} is {settings[name].value!r}, not a boolean; use true or false")
    return text in TRUE


def _value(settings: Mapping[str, Setting], name: str) -> str | None:
    return settings[name].value.strip() if name in settings else None


def _required(settings: Mapping[str, Setting], name: str) -> str:
    if not _value(settings, name):
        raise PluginError(f"setting {name} is required")
    return settings[name].value.strip()


def _count(settings: Mapping[str, Setting], name: str) -> int:
    text = settings[name].value.strip()
    if not text.isdigit():
        raise PluginError(f"{settings[name].source} is {settings[name].value!r}, not a whole number; use e.g. 10 "
                          "(0 keeps every revision)")
    return int(text)


def _list(settings: Mapping[str, Setting], name: str, split: Callable[[str], list[str]] = lambda text: text.split(",")
          ) -> list[str]:
    """A list setting's members. Drone passes a YAML list as one comma-separated string (so members hold no commas,
    as upstream); a JSON list, as some write it ('["a=1","b=2"]'), is read as that list, not split into '["a=1"'.
    Space around a member is layout (`a=1, b=2`), never part of a key. A setting written as one quoted string
    (`values: '"a=1,b=2"'`) is unquoted first, as drone-helm's unQuote did (else the key would be `"a`)."""
    text = _value(settings, name) or ""
    if len(text) > 1 and text[0] == text[-1] == '"':
        try:
            quoted = json.loads(text)
        except ValueError:
            quoted = None
        text = quoted if isinstance(quoted, str) else text
    if text.startswith("["):
        try:
            members = json.loads(text)
        except ValueError:
            members = None
        if not isinstance(members, list) or not all(isinstance(member, str) for member in members):
            raise PluginError(f"{settings[name].source} starts with [ but is not a JSON list of strings; write a YAML "
                              f"list ({name}: [a, b]) or one string (a,b)")
        parts = [part for member in members for part in split(member)]
    else:
        parts = split(text)
    return [part.strip() for part in parts if part.strip()]


def _mode(settings: Mapping[str, Setting], env: Mapping[str, str]) -> str:
    """upgrade, uninstall, lint or help; without a mode, drone-helm3's choice by the build's event."""
    mode = _value(settings, "mode")
    if mode is None:
        event = env.get("DRONE_BUILD_EVENT", "")
        if event == "delete":
            return "uninstall"
        if event and event not in UPGRADE_EVENTS:
            raise PluginError(f"setting mode is not set and a {event} build implies none; set mode: upgrade")
        return "upgrade"
    modes = {"upgrade": "upgrade", "install": "upgrade", "installation": "upgrade", "uninstall": "uninstall",
             "delete": "uninstall", "lint": "lint", "help": "help"}
    if mode not in modes:
        raise PluginError(f"{settings['mode'].source} {mode!r} is not a mode; use upgrade, uninstall (delete) or lint")
    return modes[mode]


def _timeout(settings: Mapping[str, Setting]) -> str:
    """drone-helm's seconds (300) or a duration (5m30s), as the tasks' --timeout takes it."""
    text = (_value(settings, "timeout") or "5m").lower()
    if text.isdigit():
        return f"{text}s"
    if not text or not _DURATION.match(text):
        raise PluginError(f"{settings['timeout'].source} {text!r}: use seconds (300) or a duration like 5m30s")
    return text


def _cluster(settings: Mapping[str, Setting], env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str],
                                                                                 dict[str, str]]:
    """(environment config, variables for the tasks, tool variable -> what the user wrote).

    drone-helm's `prefix: STAGING` reads STAGING_API_SERVER, ... and nothing else: a credential given
    another way as well is refused, never a fall back that could reach another cluster.
    """
    prefix = _prefix(settings)
    direct = [settings[k].source for k in CREDENTIALS if k in settings]
    if prefix:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", prefix):
            raise PluginError(f"{settings['prefix'].source} {prefix!r} is not a variable prefix; use one like STAGING")
        if direct:
            raise PluginError(f"setting prefix ({prefix}) and {direct[0]} both say which cluster; keep one (prefix "
                              f"reads {prefix}_API_SERVER and {prefix}_KUBERNETES_TOKEN)")
        for name in ("API_SERVER", "KUBERNETES_TOKEN"):
            if not env.get(f"{prefix}_{name}"):
                raise PluginError(f"{prefix}_{name} is not set (setting prefix is {prefix}); add it to the step's "
                                  f"environment (from_secret: {prefix.lower()}_{name.lower()})")
        return {"secrets_prefix": prefix}, {}, {f"release.environments.{ENVIRONMENT}.secrets_prefix": "setting prefix"}
    for name, example in (("kube_api_server", "https://kubernetes.example.com"),
                          ("kube_token", "{from_secret: kube_token}")):
        if name not in settings:
            raise PluginError(f"setting {name} is not set; give it in settings ({name}: {example}) or as "
                              f"{name.upper()} in the step's environment, or use prefix")
    if "kube_certificate" in settings:
        try:  # `base64` wraps at 76 columns; the tasks drop the line breaks, as Go's decoder (kubectl's) does
            base64.b64decode("".join(settings["kube_certificate"].value.split()), validate=True)
        except ValueError:
            raise PluginError(f"{settings['kube_certificate'].source} is not base64; give the cluster CA's PEM, "
                              "base64-encoded") from None
    variables = {f"{TOOL_PREFIX}_{v}": settings[k].value for k, v in CREDENTIALS.items() if k in settings}
    sources = {f"{TOOL_PREFIX}_{v}": settings[k].source for k, v in CREDENTIALS.items() if k in settings}
    return {"secrets_prefix": TOOL_PREFIX}, variables, sources


def _prefix(settings: Mapping[str, Setting]) -> str:
    return (_value(settings, "prefix") or "").upper()  # drone-helm upper-cases it too


def _repos(settings: Mapping[str, Setting], env: Mapping[str, str]) -> dict[str, str]:
    """add_repos `NAME=URL` pairs; $NAME and ${NAME} in a URL (a password) come from the environment. A name given
    twice with other URLs is refused, as Helm's repo add refuses it: which one a chart comes from is not a guess.

    The list is split at every comma, as drone-helm3 splits it (envconfig's []string) and Drone joins a YAML list: a
    comma typed in a URL's user name or password (a whole add_repos from_secret) would cut the credential in two, so
    it is refused with the fix, and an entry that is not NAME=URL is shown only when it can hold no part of one."""
    from tasks import urls

    repos: dict[str, str] = {}
    written: dict[str, str] = {}  # name -> its URL as given, $NAME unexpanded: what a message may show
    source = settings["add_repos"].source if "add_repos" in settings else ""
    text = _value(settings, "add_repos") or ""
    if any("," in found and found in text for found in urls.credentials(text)):  # as typed: %2C is no comma
        raise PluginError(f"{source}: a URL's user name or password holds a comma, which splits the list there (a "
                          "list setting is comma-separated, as Drone passes it): percent-encode it as %2C")
    for number, entry in enumerate(_list(settings, "add_repos"), 1):
        name, _, url = (part.strip() for part in entry.partition("="))
        if not name or not url or "/" in name:  # Helm's repo add refuses a name with a /
            shown = repr(entry) if "@" not in entry and "://" not in entry else (
                f"entry {number} (not shown: it may hold a URL's credentials)")
            raise PluginError(f"{source}: {shown} is not NAME=URL (e.g. charts=https://...)")
        if written.setdefault(name, url) != url:
            raise PluginError(f"{source}: {name} is given twice, as {urls.redact_value(written[name])} and "
                              f"{urls.redact_value(url)}; give each repository its own name")
        for match in _VARIABLE.finditer(url):
            if not env.get(match.group(1) or match.group(2)):
                raise PluginError(f"{source}: {match.group(1) or match.group(2)} (in {name}'s URL) is not set; add it "
                                  "to the step's environment (from_secret)")
        repos[name] = _expand(url, env)
    return repos


def _expand(url: str, env: Mapping[str, str]) -> str:
    """`url` with its $NAME and ${NAME} read from the environment. What that puts in the userinfo (a password, whatever
    its variable is called) and every credential of the URL it makes (one with a blank too) are registered as secrets
    as they are read: Invoke logs its config, this URL in it, before any task runs (--debug)."""
    from tasks import ui

    start, end = url.find("://"), url.rfind("@")

    def value(match: re.Match[str]) -> str:
        text = env[match.group(1) or match.group(2)]
        if -1 < start < match.start() and match.end() <= end:
            ui.add_secret(text)
        return text

    expanded = _VARIABLE.sub(value, url)
    ui.add_url_secrets(expanded)
    return expanded


def _chart(chart: str, repos: Mapping[str, str], repo_url: str | None, cwd: Path) -> tuple[str | None, str]:
    """(repository URL, chart name), or (None, folder) for a chart in the workspace. As Helm: a path that
    exists is a local chart; REPO/NAME names a chart of add_repos' REPO. Both at once is refused."""
    folder = (cwd / chart).resolve()
    local = (folder / "Chart.yaml").is_file()
    alias, _, name = chart.rpartition("/")
    if "://" in chart:
        raise PluginError(f"setting chart {chart!r}: a URL is not supported; add_repos: NAME=URL and chart: NAME/CHART")
    if chart.startswith(("./", "../", "/")) or chart in (".", ".."):
        if not local:
            raise PluginError(f"setting chart {chart!r}: {folder}/Chart.yaml not found; a local chart is a folder "
                              "with a Chart.yaml, relative to the workspace")
        return None, str(folder)
    if alias in repos:
        if local:
            raise PluginError(f"setting chart {chart!r} is both a folder of the workspace and chart {name} of "
                              f"repository {alias}; write ./{chart} for the folder, or rename the repository")
        return repos[alias], name
    if local:
        return None, str(folder)
    if alias:
        raise PluginError(f"setting chart {chart!r}: repository {alias!r} is not in add_repos "
                          f"({', '.join(repos) or 'none given'}); add {alias}=URL")
    candidates = list(repos.values()) + ([repo_url] if repo_url else [])
    if len(candidates) != 1:
        raise PluginError(f"setting chart {chart!r}: name its repository as NAME/{chart} (add_repos has "
                          f"{', '.join(repos) or 'none'})")
    return candidates[0], chart


def _check_local(settings: Mapping[str, Setting], folder: Path) -> None:
    """What a local chart deploys is its folder: a chart_version it does not have, or a dependency update
    its Chart.lock would not give, is refused rather than silently not honoured. Its Chart.yaml is read as the
    deploy reads it (charts.read: Helm's YAML, alias limit and checks), so a broken one is the same one line."""
    if "chart_version" in settings:
        from tasks import charts
        from tasks.errors import ToolError

        try:
            version = charts.read(folder, folder.parent).version
        except ToolError as exc:
            raise PluginError(str(exc)) from None
        if version != settings["chart_version"].value.strip():
            raise PluginError(f"{settings['chart_version'].source} is {settings['chart_version'].value.strip()} but "
                              f"the chart folder {folder} holds version {version}; fix one of them")
    update = flag(settings, "update_dependencies") or _value(settings, "dependencies_action") == "update"
    if update and any((folder / lock).is_file() for lock in ("Chart.lock", "requirements.lock")):
        source = settings["update_dependencies" if "update_dependencies" in settings else "dependencies_action"].source
        raise PluginError(f"{source} (helm dependency update) is not supported for a chart with a Chart.lock: "
                          "dependencies are built from the lock; update and commit it, or use "
                          "dependencies_action: build")


def split_set(text: str) -> list[str]:
    """Helm's --set items: split on commas, except escaped (\\,) ones and those inside a {a,b} list."""
    items, current, depth, escaped = [], "", 0, False
    for char in text:
        if not escaped and char == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        current += char
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "{}":
            depth = max(0, depth + (1 if char == "{" else -1))
    return [item for item in [*items, current] if item]


@dataclass
class _Items:
    """What the values or string_values setting gives the tasks: its --set (or --set-string) items, its
    --set-secret PATH=VARIABLE items, and each item as a task's error names it -> as the user wrote it."""

    sets: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    named: dict[str, str] = field(default_factory=dict)
    typed: list[str] = field(default_factory=list)  # secrets' values in `sets`, to register as secrets

    def add(self, flag: str, item: str, written: str) -> None:
        """`item` for `flag`. The tasks name an item `--set 'a=1'`, `--set a=${DRONE_X}` (drone_subst) or `--set #2
        (not shown: ...)` (one holding a secret), a secret `--set-secret 'PATH=VARIABLE'`: flags and forms the user
        never wrote, each renamed to the setting and the item as written (`setting values 'a=$X'`)."""
        items = self.secrets if flag == "--set-secret" else self.sets
        items.append(item)
        forms = [f"{item!r}"] if flag == "--set-secret" else [f"{item!r}", item,
                                                               f"#{len(items)} (not shown: it holds a secret)"]
        self.named.update({f"{flag} {form}": written for form in forms})


def _values(settings: Mapping[str, Setting], setting: str, env: Mapping[str, str], prefix: str) -> _Items:
    """The items of the values or string_values setting.

    A value that is exactly $NAME or ${NAME} (drone-helm3's `db=$DB_PASSWORD`) is the secret NAME, or
    PREFIX_NAME with drone-helm's `prefix` (_secret), set as text (--set-secret); in `values`, one that Helm's
    --set types (_typed_by_helm: `enabled=$FLAG` false, `replicas=$N` 2) is a --set item, as drone-helm3 expands
    $NAME and passes it to --set: false as text is true to `{{ if }}`, and 2 a string to a schema's integer.
    ${DRONE_*} and ${CI_*} are build variables the tasks expand; any other $ is refused.
    """
    out = _Items()
    where = settings[setting].source if setting in settings else ""
    flag = "--set" if setting == "values" else "--set-string"
    for item in _list(settings, setting, split_set):
        path, _, value = item.partition("=")
        reference = _REFERENCE.match(value.strip())
        name = reference and (reference.group(1) or reference.group(2))
        written = f"{where} {item!r}"
        if name and not (name.startswith(("DRONE_", "CI_")) and not _credential(name)):
            entry = _secret(f"{path}={name}", where, env, prefix)
            key, _, variable = entry.partition("=")
            typed = _typed_by_helm(env[variable]) if setting == "values" else None
            if typed is not None:
                out.typed += [env[variable], typed]  # TRUE as Helm writes it too: true
                out.add("--set", f"{key}={env[variable]}", written)
            else:
                out.add("--set-secret", entry, written)
            continue
        if name:
            out.add(flag, f"{path}=${{{name}}}", written)
            continue
        left = _without_build_variables(value)
        if "$" in left:
            found = _VARIABLE.search(left)
            shown = found.group(0) if found else "$"
            raise PluginError(f"{where}: {path} holds {shown} inside its value, which would be deployed literally; "
                              f"a secret is a whole value ({path}=$NAME) or a secrets entry ({path}=NAME), "
                              "and a literal $ is written $$")
        out.add(flag, item, written)
    return out


def _typed_by_helm(value: str) -> str | None:
    """What Helm's --set parser makes of `value` when that is not text (true, false, null, a whole number), as JSON
    writes it (TRUE is true, +8080 is 8080), asked of Helm's own parser; None for text. Only a value it keeps whole is
    asked: one with none of its syntax, nor a $ the tasks would expand; every other stays on --set-secret, which sets it
    as text and keeps its path a secret's."""
    from tasks import helm

    typed = helm.parse_set(f"value={value}")["value"] if _PLAIN.fullmatch(value) else value
    return None if isinstance(typed, str) else json.dumps(typed)


def _without_build_variables(value: str) -> str:
    """`value` without what the tasks expand in it: $$, and each ${DRONE_*} or ${CI_*} (to its closing brace, so in
    any of Drone's forms: ${DRONE_TAG##v}, ${CI_X:-default}, ...) or $DRONE_*; the tasks check those themselves."""
    out, at = [], 0
    while (start := value.find("$", at)) != -1:
        out.append(value[at:start])
        found = _BUILD_VARIABLE.match(value, start)
        if value.startswith("$$", start):
            at = start + 2
        elif found and found.group(1):  # to the brace that closes it
            depth, at = 0, start + 1
            while at < len(value) and not (value[at] == "}" and depth == 1):
                depth += {"{": 1, "}": -1}.get(value[at], 0)
                at += 1
            at += 1
        elif found:
            at = _BUILD_VARIABLE_NAME.match(value, found.end()).end()  # type: ignore[union-attr]
        else:
            out.append("$")
            at = start + 1
    return "".join(out) + value[at:]


def _secret(entry: str, where: str, env: Mapping[str, str], prefix: str = "") -> str:
    """PATH=VARIABLE, its variable set. With a `prefix`, NAME is PREFIX_NAME upper-cased, as drone-helm's
    resolveEnvVar reads a reference in values first (a build variable, or a name that has the prefix already, is as
    written). drone-helm then falls back to NAME; here that is refused: another environment's secret would be deployed
    unsaid, as the cluster credentials never fall back either. drone-helm's `secrets` was Drone 0.8's list of secrets
    to inject, never prefixed: its entries come without one."""
    path, _, name = (part.strip() for part in entry.partition("="))
    if not path or not re.fullmatch(_NAME, name):
        raise PluginError(f"{where}: {entry!r} is not PATH=ENV_VAR (e.g. db.password=DB_PASSWORD); the variable "
                          "comes from the step's environment (from_secret)")
    variable = f"{prefix}_{name}".upper() if prefix and not name.startswith(("DRONE_", "CI_", f"{prefix}_")) else name
    if env.get(variable) is None and variable != name:
        raise PluginError(f"{where}: {path} reads {variable} (${name} with setting prefix {prefix}), which is not set; "
                          f"add {variable} to the step's environment (from_secret: ...); {name} is not read instead: "
                          "with a prefix, unprefixed variables never are (as for the cluster credentials)")
    if env.get(variable) is None:
        raise PluginError(f"{where}: {path} reads {name}, which is not set; add {name} to the step's environment "
                          "(from_secret: ...)")
    return f"{path}={variable}"


def _credential(name: str) -> bool:
    from tasks import ui

    return ui.is_credential(name)


def _local_chart(settings: Mapping[str, Setting], cwd: Path) -> Path:
    chart = _required(settings, "chart")
    folder = (cwd / chart).resolve()
    if not (folder / "Chart.yaml").is_file():
        raise PluginError(f"setting chart {chart!r}: {folder}/Chart.yaml not found; mode lint takes a chart folder "
                          "of the workspace")
    return folder


def usage() -> str:
    def names(table: Any) -> str:
        return ", ".join(f"{n} ({'/'.join(a for a, c in ALIASES.items() if c == n)})" if n in ALIASES.values() else n
                         for n in sorted(table))

    return (f"{__doc__}\nsupported: {names(SUPPORTED)}\nignored (they change nothing deployed): "
            f"{names(IGNORED)}\nrefused (the step fails): {names(REFUSED)}\n")


def main(argv: list[str], env: Mapping[str, str]) -> int:
    import logging

    from invoke import Config, Context, Exit

    import tasks
    from tasks import cluster, ui

    if {"-h", "--help"} & set(argv):
        print(usage())
        return 0
    work = Path(tempfile.mkdtemp(prefix="helm-tasks-plugin-"))
    try:
        settings = read_settings(env)
        call = translate(settings, env, Path.cwd(), work)
        for value in call.secrets:
            ui.add_secret(value)
        for warning in call.warnings:
            ui.warn(warning)
        if call.task == "help":
            print(usage())
            return 0
        os.environ.update(call.environment)
        cluster.show_variables_as({variable: call.sources[variable] for variable in call.environment})
        if flag(settings, "debug"):
            logging.basicConfig(level=logging.DEBUG)
            ui.guard(os.environ)  # its handler masks too, from the first record on (Invoke logs its config)
        try:
            tasks.ns[call.task](Context(Config(overrides=call.config)), **call.arguments)
        except Exit as stop:
            if stop.message:
                print(rename(str(stop.message), call.sources), file=sys.stderr)
            return int(stop.code)
    except PluginError as exc:
        print(ui.redact(f"error: {exc}"), file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
