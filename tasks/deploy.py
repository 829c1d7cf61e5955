"""Release actions: plan a deploy, then deploy, roll back, inspect and uninstall one release.

The plan is made before anything touches the cluster, so bad input (unknown environment, missing
values file, malformed --set, missing credentials, no matching version) fails with nothing deployed.
Values layering (values.py), cluster access (cluster.py), manifests and their diff (manifests.py) and
the chart's source (chart_source.py) are modules of their own.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import chart_source, helm
from .cluster import Access, cluster_access, connect
from .errors import ToolError
from .git import git
from .manifests import diff
from .settings import Environment, Release
from .store import Store
from .values import layered_values, masked

GOOD = ("deployed", "superseded")  # statuses a rollback may return to
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass
class Plan:
    release: str
    environment: Environment
    access: Access
    chart: str
    version: str
    archive: bytes = field(repr=False)
    values: dict[str, Any] = field(repr=False)
    description: str
    labels: dict[str, str]
    secret_paths: tuple[tuple[str | int, ...], ...] = ()  # where values from a secret source went

    @property
    def shown_values(self) -> dict[str, Any]:
        """The values as they may be printed: masked in the data, so no YAML or JSON encoding can reveal them."""
        return masked(self.values, self.secret_paths)


# --- flags -----------------------------------------------------------------------------------------

def timeout_seconds(text: str) -> int:
    """Helm's duration syntax (5m, 90s, 1h30m) or plain seconds."""
    text = str(text).strip()
    if text.isdigit():
        return int(text)
    match = _DURATION.match(text)
    if not text or not match:
        raise ToolError(f"--timeout {text!r}: use a duration like 300s, 5m or 1h30m")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


# --- what the cluster says ----------------------------------------------------------------------

def rollback_target(revisions: list[dict[str, Any]], revision: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(current, target): the newest revision before the current one that was deployed or superseded.

    Not simply current-1 as `helm rollback` picks: that one may have failed too.
    """
    if not revisions:
        raise ToolError("nothing to roll back: the release has no revisions")
    current = revisions[-1]
    if revision is not None:
        chosen = [r for r in revisions if r["revision"] == revision]
        if not chosen:
            raise ToolError(f"--revision {revision}: no such revision; known: {', '.join(str(r['revision']) for r in revisions)}")
        return current, chosen[0]
    earlier = [r for r in revisions[:-1] if r.get("status") in GOOD]
    if not earlier:
        raise ToolError(f"nothing to roll back to: no revision before {current['revision']} was deployed")
    return current, earlier[-1]


def refuse_if_stuck(revisions: list[dict[str, Any]], recover: str) -> None:
    """A pending release is another deploy still running, or one that was killed; never deploy over it."""
    if revisions and revisions[-1].get("status") in PENDING:
        last = revisions[-1]
        raise ToolError(
            f"release {last['name']} is {last['status']} since {last.get('deployed_at', '?')} (revision "
            f"{last['revision']}): another deploy is running, or one was interrupted; if none is running, "
            f"recover with: {recover}"
        )


def deployer(env: Mapping[str, str], root: Path) -> dict[str, str]:
    """Who and what deployed: recorded in the release's description and labels."""
    commit = env.get("DRONE_COMMIT_SHA") or git(root, "rev-parse", "HEAD")
    who = env.get("DRONE_COMMIT_AUTHOR") or git(root, "config", "user.email") or getpass.getuser()
    return {"commit": commit, "who": who, "build": env.get("DRONE_BUILD_LINK", "")}


def label_value(text: str) -> str:
    """Kubernetes label values: 63 characters of [A-Za-z0-9_.-], starting and ending alphanumeric."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:63].strip("_.-")


def describe(chart: str, version: str, origin: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    parts = [f"{chart}-{version}"]
    parts += [f"commit {origin['commit'][:12]}"] if origin.get("commit") else []
    parts += [f"by {origin['who']}"] if origin.get("who") else []
    parts += [origin["build"]] if origin.get("build") else []
    labels = {"chart-version": label_value(version), "git-commit": label_value(origin.get("commit", "")),
              "deployed-by": label_value(origin.get("who", ""))}
    return "; ".join(parts), {k: v for k, v in labels.items() if v}


def confirm(environment: Environment, what: str, *, yes: bool, interactive: bool, ask: Callable[[str], str],
            always: bool = False) -> None:
    """A protected environment (or an `always` action) needs a yes: typed on a terminal, or --yes elsewhere."""
    if yes or not (environment.protected or always):
        return
    if not interactive:
        reason = f"environment {environment.name} is protected" if environment.protected else f"{what} needs a yes"
        raise ToolError(f"{reason}: pass --yes to {what} (not on a terminal, so nobody can confirm)")
    if ask(f"{what[0].upper()}{what[1:]}? [y/N] ").strip().lower() not in ("y", "yes"):
        raise ToolError(f"{what}: not confirmed; nothing changed")


# --- plan, then act -----------------------------------------------------------------------------

def prepare(
    root: Path, environment: Environment, release: Release, *, store: Store, version: str | None,
    values_files: Iterable[str], sets: Iterable[str], secrets: Iterable[str], env: Mapping[str, str], work_dir: Path,
    public_url: str | None = None,
) -> Plan:
    """Everything a deploy needs, checked, before the cluster is touched."""
    access = cluster_access(environment, env)
    values, secret_paths = layered_values(release, environment, values_files, sets, secrets, env)
    where = f"release.releases.{release.name}"
    if chart_source.is_local(release.chart):
        chart_version, archive = chart_source.local_chart(root, release.chart, work_dir)
        chart = Path(release.chart).name
    else:
        chart = release.chart
        chart_version, archive = chart_source.fetch_chart(store, chart, version or release.version,
                                             f"{where}.version" if not version else "--version", public_url)
    description, labels = describe(chart, chart_version, deployer(env, root))
    return Plan(release.name, environment, access, chart, chart_version, archive, values, description, labels,
                tuple(secret_paths))


def recovery(plan_env: str, release: str, revisions: list[dict[str, Any]]) -> str:
    if any(r.get("status") in GOOD for r in revisions[:-1]):
        return f"invoke release.rollback --env {plan_env} --release {release}"
    return f"invoke release.uninstall --env {plan_env} --release {release} (no earlier revision was deployed)"


def left_at(environment: str, release: str, before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str:
    """Where an interrupted deploy left the release, and the one command that recovers it when one is needed."""
    if not after:
        return "the release is not installed; nothing to recover"
    last = after[-1]
    state = f"the release is at revision {last['revision']} ({last['status']}, {last['chart_name']}-{last['chart_version']})"
    if last["status"] == "deployed":
        return f"{'Helm rolled it back: ' if len(after) > len(before) + 1 else ''}{state}; nothing to recover"
    return f"{state}; recover with: {recovery(environment, release, after)}"


def run(plan: Plan, *, wait: bool, timeout: int, dry_run: bool) -> dict[str, Any]:
    """helm upgrade --install with rollback on failure; a failure reports where the release ended up."""
    with connect(plan.access) as config:
        revisions = helm.history(config, plan.release)
        refuse_if_stuck(revisions, recovery(plan.environment.name, plan.release, revisions))
        shown = f"{plan.chart} --version {plan.version} --namespace {plan.access.namespace} ({plan.access.source})"
        try:
            return helm.upgrade_install(
                config, plan.archive, plan.release, plan.values, install=not revisions, wait=wait, timeout=timeout,
                description=plan.description, labels=plan.labels, dry_run=dry_run,
                create_namespace=plan.environment.create_namespace, shown=shown,
            )
        except KeyboardInterrupt:
            stopped = f"{'dry run' if dry_run else 'deploy'} of {plan.chart} {plan.version} as {plan.release} stopped"
            if dry_run:
                raise KeyboardInterrupt(f"{stopped}; nothing changed in the cluster") from None
            after = helm.history(config, plan.release)
            raise KeyboardInterrupt(f"{stopped}; {left_at(plan.environment.name, plan.release, revisions, after)}") \
                from None
        except ToolError as exc:
            after = helm.history(config, plan.release)
            now = f"; the release is now at revision {after[-1]['revision']} ({after[-1]['status']})" if after else ""
            if f'namespaces "{plan.access.namespace}" not found' in str(exc):
                now += (f"; create the namespace, or set release.environments.{plan.environment.name}"
                        ".create_namespace: true")
            raise ToolError(f"deploy of {plan.chart} {plan.version} as {plan.release} failed: {exc}{now}") from exc


def render_diff(plan: Plan) -> str:
    with connect(plan.access) as config:
        revisions = helm.history(config, plan.release)
        deployed = helm.revision_info(config, plan.release, revisions[-1]["revision"])["summary"].get("manifest", "") \
            if revisions else ""
        proposed = helm.render(config, plan.archive, plan.release, plan.values, install=not revisions)
    return diff(deployed, proposed, plan.release)


def roll_back(
    access: Access, environment: str, release: str, revision: int | None, *, wait: bool, timeout: int,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(from, to, now): roll back to the last good revision (or --revision), the recovery for a stuck one too."""
    with connect(access) as config:
        revisions = helm.history(config, release)
        if not revisions:
            raise ToolError(f"release {release} is not installed in {environment} ({access.source}, "
                            f"namespace {access.namespace})")
        current, target = rollback_target(revisions, revision)
        helm.rollback(config, release, target["revision"], wait=wait, timeout=timeout)
        return current, target, helm.history(config, release)[-1]


def history(access: Access, release: str) -> list[dict[str, Any]]:
    """Each revision with its description (from `helm get all`)."""
    with connect(access) as config:
        revisions = helm.history(config, release)
        if not revisions:
            raise ToolError(f"release {release} is not installed ({access.source}, namespace {access.namespace})")
        return [{**r, "description": helm.revision_info(config, release, r["revision"])["info"].get("description", "")}
                for r in revisions]


def status(access: Access, release: str) -> dict[str, Any]:
    """Status, revision, chart, last deployed and notes; never values or the manifest (they may hold secrets)."""
    with connect(access) as config:
        revisions = helm.history(config, release)
        if not revisions:
            raise ToolError(f"release {release} is not installed ({access.source}, namespace {access.namespace})")
        info = helm.revision_info(config, release, revisions[-1]["revision"])
    summary, details = info["summary"], info["info"]
    return {
        "release": release, "namespace": access.namespace, "status": summary["status"],
        "revision": summary["revision"], "chart": f"{summary['chart_name']}-{summary['chart_version']}",
        "app_version": summary.get("app_version", ""), "last_deployed": details.get("last_deployed", ""),
        "description": details.get("description", ""), "notes": details.get("notes", ""),
    }


def uninstall(access: Access, release: str, *, wait: bool, timeout: int) -> None:
    with connect(access) as config:
        if not helm.history(config, release):
            raise ToolError(f"release {release} is not installed ({access.source}, namespace {access.namespace})")
        helm.uninstall(config, release, wait=wait, timeout=timeout)
