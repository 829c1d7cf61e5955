"""Drone plugin entrypoint: a drop-in for the article's drone-helm step (and pelotech/drone-helm3's names).

Drone passes a plugin step's `settings:` as PLUGIN_<NAME> variables; this maps them to a release
environment and calls the release tasks, so a plugin step deploys exactly as `invoke release.deploy`
does. Settings it does not know, or knows but does not support, are named in a warning: never silence.

    steps:
      - name: helm_deploy_staging
        image: registry.example.com/helm-tasks-plugin
        settings:
          helm_repos: charts=s3://helm-repo.example.com
          chart: charts/hello-world
          values: image.tag=${DRONE_BRANCH}-${DRONE_COMMIT_SHA:0:7}
          release: ${DRONE_REPO_NAME}-${DRONE_BRANCH}
          namespace: staging
          prefix: STAGING
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ENVIRONMENT = "drone"
# PLUGIN_<NAME> -> what it means here; drone-helm's names first, then drone-helm3's where they mean the same.
SETTINGS = {
    "HELM_REPOS": "repos", "ADD_REPOS": "repos",
    "CHART": "chart", "CHART_VERSION": "version",
    "VALUES": "values", "VALUES_FILES": "values_files",
    "RELEASE": "release", "NAMESPACE": "namespace", "PREFIX": "prefix",
    "WAIT": "wait", "WAIT_FOR_UPGRADE": "wait", "TIMEOUT": "timeout", "DRY_RUN": "dry_run",
    "API_SERVER": "api_server", "KUBE_API_SERVER": "api_server",
    "KUBERNETES_TOKEN": "token", "KUBE_TOKEN": "token",
    "KUBERNETES_CERTIFICATE": "certificate", "KUBE_CERTIFICATE": "certificate",
    "MODE": "mode", "DEBUG": "debug", "ATOMIC_UPGRADE": "atomic",
}
UNSUPPORTED = {
    "STRING_VALUES": "use values (Helm's --set parser)",
    "SKIP_TLS_VERIFY": "give the cluster's CA as kubernetes_certificate instead",
    "FORCE_UPGRADE": "not offered: it replaces resources", "REUSE_VALUES": "values are always given in full",
    "RECREATE_PODS": "removed from Helm 3", "TILLER_NS": "Helm 3+ has no Tiller", "CLIENT_ONLY": "Helm 3+ has no Tiller",
    "CANARY_IMAGE": "Helm 3+ has no Tiller", "UPGRADE": "Helm 3+ has no Tiller", "PURGE": "uninstall always purges",
    "CLEANUP_FAILED_UPGRADE": "a failed upgrade is always rolled back", "HELM_COMMAND": "use mode",
    "UPDATE_DEPENDENCIES": "the chart comes packaged, dependencies included", "STABLE_REPO_URL": "no stable repo",
    "LINT_STRICTLY": "lint charts with invoke repo.lint", "CREATE_NAMESPACE": "namespaces are not created",
    "SERVICE_ACCOUNT": "use kube_token",
}
TRUE = ("1", "true", "yes", "on")
# The synthetic prefix under which credentials given directly as settings are handed to the release tasks.
DIRECT_PREFIX = "PLUGIN_DIRECT"


def read_settings(env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The known settings, and a warning for each unknown or unsupported one."""
    found: dict[str, str] = {}
    warnings = []
    for name, value in sorted(env.items()):
        if not name.startswith("PLUGIN_") or name.startswith(DIRECT_PREFIX):
            continue
        setting = name[len("PLUGIN_"):]
        if setting in SETTINGS:
            found[SETTINGS[setting]] = value
        elif setting in UNSUPPORTED:
            warnings.append(f"setting {setting.lower()} is not supported: {UNSUPPORTED[setting]}; ignored")
        else:
            warnings.append(f"setting {setting.lower()} is unknown; ignored")
    if found.get("atomic", "true").lower() not in TRUE:
        warnings.append("setting atomic_upgrade: false is not supported: a failed upgrade is always rolled back")
    return found, warnings


def split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def repository(chart: str, repos: str | None) -> tuple[str | None, str]:
    """(repository URL, chart name): `alias/chart` names one of the `alias=url` repos; ./path is local."""
    if chart.startswith(("./", "../", "/")):
        return None, chart
    aliases = dict(part.split("=", 1) for part in split(repos) if "=" in part)
    alias, _, name = chart.rpartition("/")
    if alias:
        if alias not in aliases:
            raise SystemExit(f"error: chart {chart!r}: repository {alias!r} is not in helm_repos "
                             f"({', '.join(aliases) or 'none given'}); add {alias}=URL")
        return aliases[alias], name
    if len(aliases) != 1:
        raise SystemExit(f"error: chart {chart!r}: name its repository as ALIAS/{chart} (helm_repos has "
                         f"{', '.join(aliases) or 'none'})")
    return next(iter(aliases.values())), name


def plan(settings: Mapping[str, str], env: Mapping[str, str], cwd: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(invoke config, task arguments, extra environment) for the release task."""
    for required in ("chart", "release", "namespace"):
        if not settings.get(required):
            raise SystemExit(f"error: setting {required} is required (PLUGIN_{required.upper()})")
    extra: dict[str, str] = {}
    prefix = settings.get("prefix")
    if not prefix:
        prefix = DIRECT_PREFIX
        extra = {f"{DIRECT_PREFIX}_{target}": settings[source] for source, target in (
            ("api_server", "API_SERVER"), ("token", "KUBERNETES_TOKEN"), ("certificate", "KUBERNETES_CERTIFICATE"))
            if settings.get(source)}
    url, chart = repository(settings["chart"], settings.get("repos"))
    config = {
        "release": {
            "environments": {ENVIRONMENT: {"namespace": settings["namespace"], "secrets_prefix": prefix}},
            "releases": {settings["release"]: {"chart": str((cwd / chart).resolve()) if url is None else chart}},
        },
        **({"repo": {"url": url}} if url else {}),
    }
    arguments: dict[str, Any] = {"env": ENVIRONMENT, "release": settings["release"]}
    if settings.get("mode", "upgrade") in ("upgrade", "installation"):
        arguments.update(
            version=settings.get("version") or None,
            set_=[settings["values"]] if settings.get("values") else [],
            values=[str((cwd / f).resolve()) for f in split(settings.get("values_files"))],
            wait=settings.get("wait", "true").lower() in TRUE,
            dry_run=settings.get("dry_run", "false").lower() in TRUE,
            yes=True,
        )
        if settings.get("timeout"):
            timeout = settings["timeout"]
            arguments["timeout"] = f"{timeout}s" if timeout.isdigit() else timeout  # drone-helm: seconds
    elif settings["mode"] == "uninstall":
        arguments["yes"] = True
    else:
        raise SystemExit(f"error: setting mode {settings['mode']!r} is not supported; use upgrade or uninstall")
    return config, arguments, extra


def main(env: Mapping[str, str] = os.environ) -> int:
    import logging

    from invoke import Config, Context, Exit

    import tasks
    from tasks import ui

    settings, warnings = read_settings(env)
    for warning in warnings:
        ui.warn(warning)
    config, arguments, extra = plan(settings, env, Path.cwd())
    os.environ.update(extra)
    if settings.get("debug", "").lower() in TRUE:
        logging.basicConfig(level=logging.DEBUG)
    task = tasks.ns["release.uninstall" if settings.get("mode") == "uninstall" else "release.deploy"]
    try:
        task(Context(Config(overrides=config)), **arguments)
    except Exit as stop:
        if stop.message:
            print(stop.message, file=sys.stderr)
        return int(stop.code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
