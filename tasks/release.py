"""Releases: deploy, rollback, history, status, diff, uninstall, one environment at a time."""

from __future__ import annotations

import os
import sys

import yaml
from invoke import Collection, Context

from . import cluster, manifests, settings, ui
from . import deploy as dep
from . import values as vals
from .cli import ROOT, task
from .errors import ToolError
from .store import open_store

ENV_HELP = "environment from invoke.yaml (release.environments), e.g. staging"
RELEASE_HELP = "release from invoke.yaml (release.releases); optional when there is only one"
WAIT_HELP = "wait until every resource is ready, rolling back on failure (default; --no-wait skips both)"
TIMEOUT_HELP = "how long to wait: 300s, 5m, 1h30m (default 5m)"
JSON_HELP = "print JSON for machines"
DEPLOY_HELP = {
    "env": ENV_HELP, "release": RELEASE_HELP,
    "version": "exact chart version or constraint (~0.1, ^1.2, >=1.2 <2); default: the release's version",
    "set_": "KEY=VALUE, repeatable; ${DRONE_*}/${CI_*} expanded (${DRONE_COMMIT_SHA:0:7} too). "
            f"Values layer: {vals.VALUES_ORDER}",
    "values": "values file, repeatable; above the release's and the environment's files, below --set",
    "set_secret": "KEY=ENV_VAR, repeatable: the value comes from that variable and is never printed",
    "dry_run": "render and validate against the cluster; change nothing, print the manifest (Secrets masked)",
    "wait": WAIT_HELP, "timeout": TIMEOUT_HELP,
    "yes": "confirm a deploy to a protected environment (required when not on a terminal)",
    "url": "chart repository (default: repo.url)",
}


def _plan(c: Context, env: str | None, release: str | None, url: str | None, version: str | None = None,
          set_: list[str] | None = None, values: list[str] | None = None,
          set_secret: list[str] | None = None) -> dep.Plan:
    environment, rel = settings.resolve_release(ROOT, c.config.get("release", {}), env_name=env, release_name=release)
    repo = settings.resolve_repo(ROOT, c.config.get("repo", {}), url=url)
    return dep.prepare(ROOT, environment, rel, store=open_store(repo.url), version=version, values_files=values or [],
                       sets=set_ or [], secrets=set_secret or [], env=os.environ, work_dir=repo.build_dir,
                       public_url=repo.public_url)


def _target(c: Context, env: str | None, release: str | None) -> tuple[settings.Environment, str, cluster.Access]:
    """The environment, the release's name and how to reach the cluster, for tasks that need no chart."""
    environment, rel = settings.resolve_release(ROOT, c.config.get("release", {}), env_name=env, release_name=release)
    vals.register_secrets(rel, os.environ)  # the release's notes and errors may hold them
    return environment, rel.name, cluster.cluster_access(environment, os.environ)


@task(help=DEPLOY_HELP, iterable=["set_", "values", "set_secret"])
def deploy(c, env=None, release=None, version=None, set_=None, values=None, set_secret=None, dry_run=False,
           wait=True, timeout="5m", yes=False, url=None):
    """Upgrade --install a release into an environment."""
    seconds = dep.timeout_seconds(timeout)
    plan = _plan(c, env, release, url, version, set_, values, set_secret)
    what = (f"{plan.chart} {plan.version} as {plan.release} to {plan.environment.name} "
            f"({plan.access.source}, namespace {plan.access.namespace})")
    if not dry_run:
        dep.confirm(plan.environment, f"deploy {what}", yes=yes, interactive=sys.stdin.isatty(), ask=input)
    ui.say(f"{'dry run: ' if dry_run else ''}deploying {what}")
    with ui.waiting(f"helm upgrade --install{' --wait' if wait and not dry_run else ''} ({timeout} at most)"):
        result = dep.run(plan, wait=wait, timeout=seconds, dry_run=dry_run)
    if dry_run:
        ui.say("values (secrets masked):\n" + yaml.safe_dump(plan.shown_values, sort_keys=True))
        ui.say(manifests.mask_secrets(result.get("manifest", "")))
        ui.say("dry run: nothing changed in the cluster")
        return result
    ui.table("deployed", ["release", "revision", "status", "chart", "namespace"], [(
        result["name"], result["revision"], result["status"], f"{result['chart_name']}-{result['chart_version']}",
        result["namespace"])])
    if result.get("notes"):
        ui.say(result["notes"].rstrip())
    return result


@task(help={"env": ENV_HELP, "release": RELEASE_HELP, "revision": "roll back to this revision "
            "(default: the newest earlier one that was deployed or superseded)", "wait": WAIT_HELP,
            "timeout": TIMEOUT_HELP, "yes": "confirm a rollback in a protected environment"})
def rollback(c, env=None, release=None, revision=None, wait=True, timeout="5m", yes=False):
    """Roll back to the last good revision."""
    seconds = dep.timeout_seconds(timeout)
    environment, name, access = _target(c, env, release)
    dep.confirm(environment, f"roll back {name} in {environment.name}", yes=yes, interactive=sys.stdin.isatty(),
                ask=input)
    if revision is not None and not str(revision).isdigit():
        raise ToolError(f"--revision {revision!r}: a revision number, as invoke release.history lists them")
    current, target, now = dep.roll_back(access, environment.name, name, int(revision) if revision else None,
                                         wait=wait, timeout=seconds)
    ui.say(f"rolled back {name} in {environment.name} from revision {current['revision']} "
           f"({current['status']}, {current['chart_name']}-{current['chart_version']}) to revision "
           f"{target['revision']} ({target['chart_name']}-{target['chart_version']}): now revision "
           f"{now['revision']} {now['status']}")


@task(help={"env": ENV_HELP, "release": RELEASE_HELP, "json": JSON_HELP})
def history(c, env=None, release=None, json=False):
    """List a release's revisions with status and chart."""
    _, name, access = _target(c, env, release)
    revisions = dep.history(access, name)
    rows = [{"revision": r["revision"], "updated": r["deployed_at"], "status": r["status"],
             "chart": f"{r['chart_name']}-{r['chart_version']}", "app_version": r.get("app_version", ""),
             "description": " ".join(r["description"].split())} for r in revisions]
    if json:
        ui.emit_json(rows)
    else:
        ui.table(f"history of {name}", ["revision", "updated", "status", "chart", "app version", "description"],
                 [tuple(r.values()) for r in rows])


@task(help={"env": ENV_HELP, "release": RELEASE_HELP, "json": JSON_HELP})
def status(c, env=None, release=None, json=False):
    """Show a release's status, chart and notes."""
    _, name, access = _target(c, env, release)
    found = dep.status(access, name)
    if json:
        ui.emit_json(found)
        return
    notes = found.pop("notes")
    ui.table(f"status of {name}", ["field", "value"], [(k.replace("_", " "), v) for k, v in found.items()])
    if notes:
        ui.say(notes)


@task(help={k: v for k, v in DEPLOY_HELP.items() if k not in ("dry_run", "wait", "timeout", "yes")},
      iterable=["set_", "values", "set_secret"])
def diff(c, env=None, release=None, version=None, set_=None, values=None, set_secret=None, url=None):
    """Show what a deploy would change (manifest diff)."""
    plan = _plan(c, env, release, url, version, set_, values, set_secret)
    changes = dep.render_diff(plan)
    ui.say(changes or f"no changes: {plan.release} already runs what {plan.chart} {plan.version} renders")


@task(help={"env": ENV_HELP, "release": RELEASE_HELP, "wait": WAIT_HELP, "timeout": TIMEOUT_HELP,
            "yes": "confirm: required for a protected environment, and whenever not on a terminal"})
def uninstall(c, env=None, release=None, wait=True, timeout="5m", yes=False):
    """Remove a release and its history."""
    seconds = dep.timeout_seconds(timeout)
    environment, name, access = _target(c, env, release)
    dep.confirm(environment, f"uninstall {name} from {environment.name}", yes=yes,
                interactive=sys.stdin.isatty(), ask=input, always=True)
    dep.uninstall(access, name, wait=wait, timeout=seconds)
    ui.say(f"uninstalled {name} from {environment.name} (namespace {access.namespace})")


ns = Collection("release", deploy, rollback, history, status, diff, uninstall)
