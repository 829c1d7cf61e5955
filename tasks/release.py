"""Releases: deploy, diff, status and list one release or every release of an environment; rollback, test,
history and uninstall one release. The tasks declare their flags; release_commands does the work."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke import Collection

from . import environments, ui
from .cli import task
from .deferred import lazy

if TYPE_CHECKING:
    from . import release_commands as commands
else:  # imported when a task runs: `invoke --list` and the repo tasks never compile it
    (commands,) = lazy("release_commands")

ENV_HELP = "environment from invoke.yaml (release.environments), e.g. staging"
RELEASE_HELP = "release from invoke.yaml (release.releases); optional when the environment has only one"
ALL_HELP = "release from invoke.yaml (release.releases); default: every release of the environment"
WAIT_HELP = ("wait until every resource is ready, rolling back on failure (default; --no-wait skips both: Helm "
             "can only roll back what it waits for)")
TIMEOUT_HELP = "how long to wait: 300s, 5m, 1h30m (default 5m)"
OUTPUT_HELP = {"output": "table (default), json or yaml", "json": "the same as --output json"}
PARALLEL_HELP = "releases deployed at once, once their needs are (default: release.parallel, 4)"
HISTORY_HELP = "revisions Helm keeps per release (default: the environment's history_max, 10; 0: all)"
VALUES_HELP = {
    "version": "exact chart version or constraint (~0.1, ^1.2, >=1.2 <2), or checkout: the version this checkout's "
               "charts/ holds (a promoted build deploys what its commit published); default: the release's version",
    "values": "values file, as helm -f; above the release's and the environment's files, below the --set flags",
    "set_json": "a value as JSON, as helm --set-json",
    "set_": "a value, as helm --set; ${DRONE_*}/${CI_*} expanded (${DRONE_COMMIT_SHA:0:7} too). "
            f"Values layer: {environments.VALUES_ORDER}",
    "set_string": "a value that stays text, as helm --set-string (image.tag=2024 is not a number)",
    "set_file": "a file's text as the value, as helm --set-file (not a secret: see --set-secret)",
    "set_secret": "the value of that environment variable, never printed",
    "url": "chart repository (default: repo.url)",
}
RESET_HELP = ("set a workload a HorizontalPodAutoscaler scales to the replicas the chart says (default: refused, as "
              "it would stop the pods beyond that count until the autoscaler scales back)")
DEPLOY_HELP = {
    "env": ENV_HELP, "release": ALL_HELP, **VALUES_HELP,
    "dry_run": "change nothing; check the chart, values and release state, render as Helm does (values.schema.json, "
               "lookups, kinds the cluster serves, objects owned by others), have the API server check each object "
               "as a server-side apply dry run (fields its kind does not declare, values of the wrong type, changes "
               "Kubernetes cannot make in place, validation) and print the manifest (Secrets masked)",
    "wait": WAIT_HELP, "timeout": TIMEOUT_HELP, "history_max": HISTORY_HELP, "parallel": PARALLEL_HELP,
    "yes": "confirm a deploy to a protected environment (required when not on a terminal)", **OUTPUT_HELP,
    "reset_replicas": RESET_HELP,
}
ITERABLE = ["values", "set_json", "set_", "set_string", "set_file", "set_secret"]


@task(help=DEPLOY_HELP, iterable=ITERABLE)
def deploy(c, env=None, release=None, version=None, values=None, set_json=None, set_=None, set_string=None,
           set_file=None, set_secret=None, dry_run=False, wait=True, timeout="5m", history_max=None, parallel=None,
           yes=False, url=None, output=None, json=False, reset_replicas=False):
    """Upgrade --install one release or a whole environment.

    Without --release: every release of the environment, those it needs first, independent ones in parallel.
    """
    return commands.deploy(c, ui.output_format(output, json), env=env, release=release, version=version,
        values=values, set_json=set_json, set_=set_, set_string=set_string, set_file=set_file, set_secret=set_secret,
        dry_run=dry_run, wait=wait, timeout=timeout, history_max=history_max, parallel=parallel, yes=yes, url=url,
        reset_replicas=reset_replicas)


@task(help={"env": ENV_HELP, "release": RELEASE_HELP, "revision": "roll back to this revision (default: the newest "
            "earlier one that was deployed or superseded and differs from what runs now)",
            "allow_failed": "allow --revision to name a revision that failed (or never finished)",
            "wait": WAIT_HELP, "timeout": TIMEOUT_HELP, "history_max": HISTORY_HELP,
            "yes": "confirm a rollback in a protected environment", "reset_replicas": RESET_HELP, **OUTPUT_HELP})
def rollback(c, env=None, release=None, revision=None, allow_failed=False, wait=True, timeout="5m", history_max=None,
             yes=False, output=None, json=False, reset_replicas=False):
    """Roll back to the last good revision.

    The newest deployed or superseded one that differs from what runs now; --revision picks another.
    """
    return commands.rollback(c, ui.output_format(output, json), env=env, release=release, revision=revision,
        allow_failed=allow_failed, wait=wait, timeout=timeout, history_max=history_max, yes=yes,
        reset_replicas=reset_replicas)


@task(help={"env": ENV_HELP, "release": RELEASE_HELP, **OUTPUT_HELP})
def history(c, env=None, release=None, output=None, json=False):
    """List a release's revisions with status and chart."""
    return commands.history(c, ui.output_format(output, json), env=env, release=release)


@task(help={"env": ENV_HELP, "release": ALL_HELP, **OUTPUT_HELP})
def status(c, env=None, release=None, output=None, json=False):
    """Show the status, chart and notes of releases."""
    return commands.status(c, ui.output_format(output, json), env=env, release=release)


@task(name="list", help={"env": ENV_HELP, **OUTPUT_HELP})
def list_(c, env=None, output=None, json=False):
    """List the releases in an environment (helm list).

    Every status (helm list --all), releases installed by others too, and configured ones not installed yet.
    """
    return commands.list_(c, ui.output_format(output, json), env=env)


@task(help={"env": ENV_HELP, "release": ALL_HELP, **VALUES_HELP,
            "detailed_exitcode": "exit 2 when there are changes, 0 when none (helm diff's --detailed-exitcode)",
            "parallel": "releases compared at once (default: release.parallel, 4)", **OUTPUT_HELP}, iterable=ITERABLE)
def diff(c, env=None, release=None, version=None, values=None, set_json=None, set_=None, set_string=None,
         set_file=None, set_secret=None, url=None, detailed_exitcode=False, parallel=None, output=None, json=False):
    """Show what a deploy would change (manifest diff).

    Without --release: for every release of the environment.
    """
    return commands.diff(c, ui.output_format(output, json), env=env, release=release, version=version, values=values,
        set_json=set_json, set_=set_, set_string=set_string, set_file=set_file, set_secret=set_secret, url=url,
        detailed_exitcode=detailed_exitcode, parallel=parallel)


@task(help={"env": ENV_HELP, "release": RELEASE_HELP, "timeout": "how long the tests may take (default 5m)",
            **OUTPUT_HELP})
def test(c, env=None, release=None, timeout="5m", output=None, json=False):
    """Run a release's Helm test hooks (helm test)."""
    return commands.test(c, ui.output_format(output, json), env=env, release=release, timeout=timeout)


@task(help={"env": ENV_HELP, "release": RELEASE_HELP, "wait": WAIT_HELP, "timeout": TIMEOUT_HELP,
            "yes": "confirm: required for a protected environment, and whenever not on a terminal", **OUTPUT_HELP})
def uninstall(c, env=None, release=None, wait=True, timeout="5m", yes=False, output=None, json=False):
    """Remove a release and its history."""
    return commands.uninstall(c, ui.output_format(output, json), env=env, release=release, wait=wait, timeout=timeout,
        yes=yes)


ns = Collection("release", deploy, diff, status, list_, history, rollback, test, uninstall)
