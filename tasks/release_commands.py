"""What each release task does, behind the flags tasks/release.py declares: settings resolved, every release
planned before any is deployed, Helm called through deploy (and release_info to show what is installed), the
outcome shown as a table or a document."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from invoke import Context, Exit

from . import environments, settings, ui
from .cli import ROOT
from .deferred import lazy
from .errors import Reported, ToolError

if TYPE_CHECKING:
    from . import chart_source, cluster, release_diff, release_info, rollout
    from . import deploy as dep
    from . import values as vals
else:  # imported when a task first needs them: `invoke --list` stays light
    chart_source, cluster, dep, release_diff, release_info, rollout, vals = lazy(
        "chart_source", "cluster", "deploy", "release_diff", "release_info", "rollout", "values")


def _releases(c: Context, env: str | None, release: str | None
              ) -> tuple[environments.Environment, list[environments.Release]]:
    """The release named, else every release of the environment."""
    config = c.config.get("release", {})
    if release is not None:
        environment, rel = environments.resolve_release(ROOT, config, env_name=env, release_name=release)
        return environment, [rel]
    return environments.resolve_environment(ROOT, config, env_name=env)


def _plans(c: Context, environment: environments.Environment, releases: list[environments.Release], url: str | None,
           version: str | None, overrides: vals.Overrides) -> list[dep.Plan]:
    """Every release planned (chart fetched, values layered, size checked) before any of them is deployed."""
    if version not in (None, chart_source.CHECKOUT) and len(releases) > 1:
        raise ToolError(f"--version needs --release: {environment.name} has {', '.join(r.name for r in releases)}")
    repo = settings.resolve_repo(ROOT, c.config.get("repo", {}), url=url)
    repository = chart_source.open_source(repo.url, repo.public_url, environment.verify_keyring)
    pinned = chart_source.checkout_versions(repo.charts_dir, ROOT, releases) if version == chart_source.CHECKOUT \
        else {}
    for chart in pinned.values():
        chart_source.check_published(chart, repository)
    plans = [dep.prepare(ROOT, environment, rel, repository=repository,
                         version=pinned[rel.name].version if rel.name in pinned else version, overrides=overrides,
                         env=os.environ, work_dir=repo.build_dir, typed_set=_typed_set(c, rel.name))
             for rel in releases]
    for rel, chart in ((r, pinned[r.name]) for r in releases if r.name in pinned):
        if chart_source.built_from(chart, repository, ROOT) is False:
            ui.warn(f"{rel.name}: {chart.name} {chart.version} in {repo.url} was built from other files than this "
                    f"checkout's {chart.where} (changed without a version bump?): deploying what the repository holds")
    return plans


def _typed_set(c: Context, release: str) -> Mapping[str, Any]:
    """The release's `set:` as invoke.yaml types it (environments checked its shape): Release.set holds each entry
    as --set text, where a quoted "2024" and the number 2024 are the same."""
    return (c.config.get("release", {}).get("releases", {}).get(release) or {}).get("set") or {}


def _overrides(values: list[str] | None, set_json: list[str] | None, set_: list[str] | None,
               set_string: list[str] | None, set_file: list[str] | None, set_secret: list[str] | None) -> vals.Overrides:
    return vals.Overrides(*(tuple(flag or ()) for flag in (values, set_json, set_, set_string, set_file, set_secret)))


def _repository(c: Context, environment: environments.Environment) -> Callable[[], dep.Source]:
    """The chart repository, opened once, when first called: to render a stored revision's chart again, with its
    secrets masked."""
    @functools.cache
    def repository() -> dep.Source:
        repo = settings.resolve_repo(ROOT, c.config.get("repo", {}))
        return chart_source.open_source(repo.url, repo.public_url, environment.verify_keyring)

    return repository


def _published(c: Context, environment: environments.Environment, rel: environments.Release,
               repository: Callable[[], dep.Source]) -> Callable[[], dep.Source]:
    """Where the release's stored revisions' charts are fetched from: `repository`, or for a chart folder the
    folder as it is now (packaged when first asked)."""
    if not chart_source.is_local(rel.chart):
        return repository
    build_dir = settings.resolve_repo(ROOT, c.config.get("repo", {})).build_dir
    return lambda: chart_source.Folder(lambda: chart_source.local_chart(ROOT, environment, rel, build_dir))


def _target(c: Context, env: str | None, release: str | None
            ) -> tuple[environments.Environment, environments.Release, cluster.Access]:
    """The environment, the release and how to reach it, for tasks on one release that need no chart."""
    environment, rel = environments.resolve_release(ROOT, c.config.get("release", {}), env_name=env,
                                                    release_name=release)
    vals.register_secrets(rel, os.environ)  # the release's notes and errors may hold them
    return environment, rel, cluster.cluster_access(environment, os.environ).within(rel.namespace_in(environment))


def _each(plans: list[dep.Plan], releases: list[environments.Release], action: Callable[[dep.Plan], Any], *,
          parallel: int, ordered: bool, stop: bool = True) -> tuple[list[rollout.Outcome], bool]:
    """`action` over the plans with rollout.run: in needs order when `ordered` (stopping at a failure, when `stop`:
    a dry run goes on, so one run shows every release that would fail)."""
    by_name = {plan.release: plan for plan in plans}
    needs = {rel.name: rel.needs if ordered else () for rel in releases}
    return rollout.run(needs, lambda name: action(by_name[name]), parallel=parallel, stop_on_failure=ordered and stop,
                       abandoned=lambda name: dep.abandoned(by_name[name]))


def _failures(outcomes: list[rollout.Outcome], what: str) -> None:
    """Each failed release on one error line, then exit 1; a Ctrl-C that stopped the run, exit 130."""
    for outcome in outcomes:
        if outcome.state == rollout.FAILED:
            ui.error(f"{outcome.release}: {outcome.detail}")
    stopped = [o for o in outcomes if o.state == rollout.INTERRUPTED]
    if stopped:
        raise KeyboardInterrupt(f"{what} stopped; " + "; ".join(f"{o.release}: {o.detail}" for o in stopped))
    if any(o.state == rollout.FAILED for o in outcomes):
        raise Reported(f"{what} failed")


def _show_diff(*diffs: dict[str, Any]) -> None:
    """Each diff; a release with none says so alone, and of an environment's, one line counts them, so the changes
    stand out however many releases it has."""
    for found in diffs:
        if found["changed"]:
            ui.say(found["diff"].rstrip("\n"))
        elif len(diffs) == 1:
            ui.say(f"no changes: {found['release']} already runs what {found['chart']} renders")
        if found["crds_not_upgraded"] and (found["changed"] or len(diffs) == 1):
            ui.say(f"note: {found['chart']} has crds/, which Helm creates on a first install only: an upgrade "
                   "leaves the cluster's CRDs as they are")
    changed = [found["release"] for found in diffs if found["changed"]]
    if len(diffs) > 1 and not changed:
        ui.say(f"no changes: all {len(diffs)} releases already run what their charts render")
    elif len(diffs) > 1:
        rest = len(diffs) - len(changed)
        ui.say(f"{len(changed)} of {len(diffs)} releases would change ({', '.join(changed)})"
               + ("; the other one already runs what its chart renders" if rest == 1 else
                  f"; the other {rest} already run what their charts render" if rest else ""))


def _outcome_row(outcome: rollout.Outcome, plan: dep.Plan, dry_run: bool) -> dict[str, Any]:
    result = outcome.result or {}
    done = f"would be revision {result.get('revision')}" if dry_run else f"revision {result.get('revision')} ({result.get('status')})"
    return {"release": outcome.release, "chart": f"{plan.chart}-{plan.version}", "namespace": plan.access.namespace,
            "outcome": "rendered" if dry_run and result else rollout.SHOWN[outcome.state],
            "detail": outcome.detail or (done if result else ""),
            **{k: v for k, v in result.items() if k not in ("release", "chart", "namespace")}}


def _deployed(documents: list[dict[str, Any]], dry_run: bool) -> None:
    """A deploy for people: the dry run's values and manifests, else the deployed revisions and their notes."""
    if dry_run:
        for document in documents:
            import yaml

            ui.say(f"{document['release']}: values (secrets masked):\n" + yaml.safe_dump(document["values"], sort_keys=True))
            ui.say(document["manifest"])
        ui.say("dry run: nothing changed in the cluster")
        return
    ui.table("deployed", ["release", "revision", "status", "chart", "namespace"], [
        (d["release"], d["revision"], d["status"], d["chart"], d["namespace"]) for d in documents])
    for document in documents:
        if document.get("notes"):
            ui.say(document["notes"].rstrip())


def _summary(environment: str, rows: list[dict[str, Any]], dry_run: bool) -> None:
    if dry_run:
        _deployed([row for row in rows if row["outcome"] == "rendered"], dry_run)
    ui.table(f"{'dry run of ' if dry_run else ''}{environment}", ["release", "chart", "namespace", "outcome", "detail"],
             [(r["release"], r["chart"], r["namespace"], r["outcome"], r["detail"]) for r in rows])


def _ask(question: str) -> str:
    """input(), with the question on stderr: stdout may go to a file, or hold the -o json|yaml document alone, and
    the person who must answer would not see it. Ctrl-D (end of input) is no answer, so a no, on a line of its own."""
    with contextlib.redirect_stdout(sys.stderr):
        try:
            return input(ui.redact(question))
        except EOFError:
            print()
            return ""


def _revision(revision: dict[str, Any]) -> dict[str, Any]:
    return {"revision": revision["revision"], "status": revision["status"],
            "chart": f"{revision['chart_name']}-{revision['chart_version']}"}


def _status(found: dict[str, Any]) -> None:
    shown = {k: v for k, v in found.items() if k not in ("notes", "workloads")}
    ui.table(f"status of {found['release']}", ["field", "value"], [(k.replace("_", " "), v) for k, v in shown.items()])
    if found["workloads"]:
        ui.table(f"workloads of {found['release']}", ["kind", "name", "namespace", "ready", "state"],
                 [(w["kind"], w["name"], w["namespace"], w["ready"], w["state"]) for w in found["workloads"]])
    if found["notes"]:
        ui.say(found["notes"])


def deploy(c: Context, fmt: str, *, env: str | None, release: str | None, version: str | None,
           values: list[str] | None, set_json: list[str] | None, set_: list[str] | None, set_string: list[str] | None,
           set_file: list[str] | None, set_secret: list[str] | None, dry_run: bool, wait: bool, timeout: str,
           history_max: int | None, parallel: int | None, yes: bool, url: str | None, reset_replicas: bool) -> Any:
    seconds = dep.timeout_seconds(timeout)
    environment, releases = _releases(c, env, release)
    limit = environments.resolve_parallel(c.config.get("release", {}), parallel)
    keep = environments.resolve_history_max(environment, history_max)
    plans = _plans(c, environment, releases, url, version,
                   _overrides(values, set_json, set_, set_string, set_file, set_secret))
    for plan in plans:
        dep.refuse_if_too_large(plan)
    if not dry_run:
        if environment.protected and not yes and sys.stdin.isatty():  # what will change, before the question
            for plan in plans:
                try:
                    _show_diff(release_diff.render_diff(plan))
                except release_diff.NotShown as exc:  # the deploy may still go ahead: the question says what it does
                    ui.warn(f"{plan.release}: {exc}")
        what = plans[0].shown if len(plans) == 1 else (
            f"{len(plans)} releases to {environment.name} ({', '.join(f'{p.release}: {p.chart} {p.version}' for p in plans)})")
        dep.confirm(environment, f"deploy {what}", yes=yes, interactive=sys.stdin.isatty(), ask=_ask)
    if not wait and not dry_run:
        ui.say("not waiting (--no-wait): Helm records each release as deployed once Kubernetes accepts it, and rolls "
               "back a failure only when it waits for it; whether its workloads become ready, release.status shows "
               f"(invoke release.status --env {environment.name}), beside Helm's record")
    one = functools.partial(dep.apply, wait=wait, timeout=seconds, dry_run=dry_run, history_max=keep,
                            reset_replicas=reset_replicas)
    if len(plans) == 1:
        with ui.waiting(f"helm upgrade --install{' --wait' if wait and not dry_run else ''} ({timeout} at most)"):
            document = one(plans[0])
        ui.render(document, fmt, lambda: _deployed([document], dry_run))
        return document
    outcomes, _ = _each(plans, releases, one, parallel=limit, ordered=True, stop=not dry_run)
    rows = [_outcome_row(o, next(p for p in plans if p.release == o.release), dry_run) for o in outcomes]
    document = {"environment": environment.name, "dry_run": dry_run, "releases": rows}
    ui.render(document, fmt, lambda: _summary(environment.name, rows, dry_run))
    _failures(outcomes, f"{'dry run' if dry_run else 'deploy'} of {environment.name}")
    return document


def rollback(c: Context, fmt: str, *, env: str | None, release: str | None, revision: int | None, allow_failed: bool,
             wait: bool, timeout: str, history_max: int | None, yes: bool, reset_replicas: bool) -> Any:
    seconds = dep.timeout_seconds(timeout)
    environment, rel, access = _target(c, env, release)
    name = rel.name
    keep = environments.resolve_history_max(environment, history_max)
    dep.confirm(environment, f"roll back {name} in {environment.name}", yes=yes, interactive=sys.stdin.isatty(),
                ask=_ask)
    current, target, now = dep.roll_back(access, name, revision, allow_failed=allow_failed, wait=wait,
                                         timeout=seconds, history_max=keep, reset_replicas=reset_replicas,
                                         source=_published(c, environment, rel, _repository(c, environment)))
    document = {"release": name, "namespace": access.namespace, "from": _revision(current), "to": _revision(target),
                "now": _revision(now)}
    ui.render(document, fmt, lambda: ui.say(
        f"rolled back {name} in {environment.name} from revision {current['revision']} ({current['status']}, "
        f"{current['chart_name']}-{current['chart_version']}) to revision {target['revision']} "
        f"({target['chart_name']}-{target['chart_version']}): now revision {now['revision']} {now['status']}"))
    return document


def history(c: Context, fmt: str, *, env: str | None, release: str | None) -> None:
    _, rel, access = _target(c, env, release)
    name = rel.name
    rows = [{"revision": r["revision"], "updated": r["deployed_at"], "status": r["status"],
             "chart": f"{r['chart_name']}-{r['chart_version']}", "app_version": r.get("app_version", ""),
             "description": " ".join(r["description"].split())}
            for r in release_info.history(access, name, bool(rel.secrets))]
    ui.render(rows, fmt, lambda: ui.table(
        f"history of {name}", ["revision", "updated", "status", "chart", "app version", "description"],
        [tuple(r.values()) for r in rows]))


def status(c: Context, fmt: str, *, env: str | None, release: str | None) -> None:
    environment, releases = _releases(c, env, release)
    repository = _repository(c, environment)  # opened once for all the releases
    if release is not None or len(releases) == 1:
        _, rel, access = _target(c, env, releases[0].name)
        found = release_info.status(access, rel.name, bool(rel.secrets),
                                    _published(c, environment, rel, repository))
        ui.render(found, fmt, lambda: _status(found))
        return
    access = cluster.cluster_access(environment, os.environ)
    rows = []
    for rel in releases:
        vals.register_secrets(rel, os.environ)
        try:
            # the table has no notes to render
            rows.append(release_info.status(access.within(rel.namespace_in(environment)), rel.name,
                                            bool(rel.secrets), _published(c, environment, rel, repository),
                                            notes=fmt != "table"))
        except dep.NotInstalled:
            rows.append(release_info.not_installed(rel.name, rel.namespace_in(environment)))
    ui.render(rows, fmt, lambda: ui.table(
        f"status of {environment.name}", ["release", "namespace", "status", "revision", "chart", "last deployed",
                                          "workloads ready"],
        [(r["release"], r["namespace"], r["status"], r["revision"] or "", r["chart"], r["last_deployed"],
          _ready(r["workloads"])) for r in rows]))


def _ready(workloads: list[dict[str, Any]]) -> str:
    """'2/3 (Deployment web 0/1)': how many of a release's workloads are ready, and the first that is not."""
    if not workloads:
        return ""
    waiting = [w for w in workloads if w["state"] != "ready"]
    first = f" ({waiting[0]['kind']} {waiting[0]['name']} {waiting[0]['ready'] or waiting[0]['state']})" \
        if waiting else ""
    return f"{len(workloads) - len(waiting)}/{len(workloads)}{first}"


def list_(c: Context, fmt: str, *, env: str | None) -> None:
    environment, releases = environments.resolve_environment(ROOT, c.config.get("release", {}), env_name=env,
                                                             any_releases=True)
    access = cluster.cluster_access(environment, os.environ)
    configured = {rel.name: rel.namespace_in(environment) for rel in releases}
    namespaces = dict.fromkeys([environment.namespace, *configured.values()])
    rows = release_info.listing([access.within(namespace) for namespace in namespaces], configured)
    ui.render(rows, fmt, lambda: ui.table(
        f"releases in {environment.name}", ["release", "namespace", "revision", "updated", "status", "chart",
                                            "app version", "in invoke.yaml"],
        [(*(r[k] if r[k] is not None else "" for k in ("release", "namespace", "revision", "updated", "status",
                                                       "chart", "app_version")), "yes" if r["configured"] else "no")
         for r in rows]))


def diff(c: Context, fmt: str, *, env: str | None, release: str | None, version: str | None, values: list[str] | None,
         set_json: list[str] | None, set_: list[str] | None, set_string: list[str] | None, set_file: list[str] | None,
         set_secret: list[str] | None, url: str | None, detailed_exitcode: bool, parallel: int | None) -> None:
    environment, releases = _releases(c, env, release)
    limit = environments.resolve_parallel(c.config.get("release", {}), parallel)
    plans = _plans(c, environment, releases, url, version,
                   _overrides(values, set_json, set_, set_string, set_file, set_secret))
    if len(plans) == 1:
        try:
            found = release_diff.render_diff(plans[0])
        except release_diff.NotShown as exc:
            raise release_diff.NotShown(f"{plans[0].release}: {exc}") from None
        ui.render(found, fmt, lambda: _show_diff(found))
        changed = found["changed"]
    else:
        outcomes, _ = _each(plans, releases, release_diff.render_diff, parallel=limit, ordered=False)
        every = [o.result for o in outcomes if o.state == rollout.DONE]
        ui.render(every, fmt, lambda: _show_diff(*every))
        _failures(outcomes, f"diff of {environment.name}")
        changed = any(f["changed"] for f in every)
    if detailed_exitcode and changed:
        raise Exit(code=2)


def test(c: Context, fmt: str, *, env: str | None, release: str | None, timeout: str) -> None:
    seconds = dep.timeout_seconds(timeout)
    environment, rel, access = _target(c, env, release)
    name = rel.name
    with ui.waiting(f"helm test {name} ({timeout} at most)"):
        result = dep.test(access, name, timeout=seconds,
                          source=_published(c, environment, rel, _repository(c, environment)))
    ui.render(result, fmt, lambda: ui.say(
        f"tests of {name} (revision {result['revision']}) passed" if result["tests"] == "passed" else
        f"{name} (revision {result['revision']}) has no tests: its chart has no test hooks (helm.sh/hook: "
        "test)"))


def uninstall(c: Context, fmt: str, *, env: str | None, release: str | None, wait: bool, timeout: str,
              yes: bool) -> None:
    seconds = dep.timeout_seconds(timeout)
    environment, rel, access = _target(c, env, release)
    name = rel.name
    dep.confirm(environment, f"uninstall {name} from {environment.name}", yes=yes,
                interactive=sys.stdin.isatty(), ask=_ask, always=True)
    dep.uninstall(access, name, wait=wait, timeout=seconds,
                  source=_published(c, environment, rel, _repository(c, environment)))
    document = {"release": name, "namespace": access.namespace, "uninstalled": True}
    ui.render(document, fmt, lambda: ui.say(f"uninstalled {name} from {environment.name} (namespace {access.namespace})"))

