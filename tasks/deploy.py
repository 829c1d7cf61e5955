"""Release actions: plan a deploy, then deploy, roll back, test and uninstall one release.

The plan is made before anything touches the cluster, so bad input (unknown environment, missing
values file, malformed --set, missing credentials, no matching version, a release too large for
Kubernetes) fails with nothing deployed. Values layering (values.py), cluster access (cluster.py),
manifests (manifests.py), what a deploy would change (release_diff.py), the chart's source (chart_source.py)
and what a revision records (revision_records.py) are modules of their own; release_info.py shows installed
releases, and rollout.py runs these actions over every release of an environment.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import apiserver, chart_source, helm, hooks, refusals, ui
from .cluster import Access, cluster_access, connect
from .environments import Environment, Release
from .errors import ToolError
from .manifests import crd_manifest, defined_kinds, derived_values, mask_secrets
from .revision_records import any_record, deployer, describe, recorded_secret_paths, secret_labels
from .values import Overrides, layered_values, masked, shaped

GOOD = ("deployed", "superseded")  # statuses a rollback may return to
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
NOT_BUILT = "unable to build kubernetes objects"  # Helm's words when the API server does not serve a kind
UNINSTALLING = "uninstalling"  # an uninstall's first step: Helm stores it so before deleting anything
MAX_STORED = 1024 * 1024  # Kubernetes' limit on a Secret's data, and Helm stores each revision in one Secret
Source = chart_source.Repository | chart_source.Registry | chart_source.Folder  # where a revision's chart is
ESTIMATE_ERROR = 0.1  # how far stored_size may be from Helm's own gzip (measured: up to 8% either way)
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass
class Plan:
    release: str
    environment: Environment
    access: Access  # in the release's namespace
    chart: str
    version: str
    archive: bytes = field(repr=False)
    values: dict[str, Any] = field(repr=False)
    description: str
    labels: dict[str, str]
    secret_paths: tuple[tuple[str | int, ...], ...] = ()  # where values from a secret source went
    crds: str = field(default="", repr=False)  # the chart's crds/ as a manifest
    stored: int = 0  # about how many bytes Helm's Secret for this revision would hold
    largest: tuple[tuple[str, int], ...] = ()  # what takes the most room in it: (what, bytes)
    source: Source | None = field(default=None, repr=False)  # other versions

    @property
    def shown_values(self) -> dict[str, Any]:
        """The values as they may be printed: masked in the data, so no YAML or JSON encoding can reveal them."""
        return masked(self.values, self.secret_paths)

    @property
    def shown(self) -> str:
        """What this plan deploys, for people."""
        return (f"{self.chart} {self.version} as {self.release} to {self.environment.name} "
                f"({self.access.source}, namespace {self.access.namespace})")


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


# --- guards ----------------------------------------------------------------------------------------

def rollback_target(
    revisions: list[dict[str, Any]], revision: int | None, content: Callable[[dict[str, Any]], Any], *,
    allow_failed: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(current, target): the newest revision before the current one that was deployed or superseded and, when the
    current one is deployed (it is what runs), whose content (content(revision): chart, values, manifest) differs.

    Not simply current-1 as `helm rollback` picks: that one may have failed too, and after Helm's automatic
    rollback the newest good revision holds what runs now, so going back to it would change nothing. A current
    revision that failed or is stuck goes back to the newest good one, whatever it holds: that is the recovery.
    """
    if not revisions:
        raise ToolError("nothing to roll back: the release has no revisions")
    current = revisions[-1]
    if revision is not None:
        chosen = [r for r in revisions if r["revision"] == revision]
        if not chosen:
            raise ToolError(f"--revision {revision}: no such revision; known: {', '.join(str(r['revision']) for r in revisions)}")
        if chosen[0].get("status") not in GOOD and not allow_failed:
            raise ToolError(f"--revision {revision} is {chosen[0].get('status')}: rolling back to it deploys what did not "
                            "work; pass --allow-failed to do it anyway")
        return current, chosen[0]
    earlier = [r for r in revisions[:-1] if r.get("status") in GOOD]
    if not earlier:
        raise ToolError(f"nothing to roll back to: no revision before {current['revision']} was deployed")
    if current.get("status") != "deployed":
        return current, earlier[-1]
    running = content(current)
    for candidate in reversed(earlier):
        if content(candidate) != running:
            return current, candidate
    raise ToolError(f"nothing to roll back to: every earlier good revision ({', '.join(str(r['revision']) for r in earlier)}) "
                    f"runs the same chart and values as revision {current['revision']}; pass --revision N to choose one")


def refuse_if_stuck(revisions: list[dict[str, Any]], recover: str) -> None:
    """A pending release is another deploy still running, or one that was killed; an uninstalling one, an uninstall
    that failed part-way (Helm then refuses every upgrade: "has no deployed releases") or still runs. Never deploy
    over either."""
    last = revisions[-1] if revisions else {}
    if last.get("status") in PENDING:
        why = "another deploy is running, or one was interrupted"
    elif last.get("status") == UNINSTALLING:
        why = "an uninstall did not finish (what it could not delete is still there), or is running"
    else:
        return
    raise ToolError(f"release {last['name']} is {last['status']} since {last.get('deployed_at', '?')} (revision "
                    f"{last['revision']}): {why}; if none is running, recover with: {recover}")


def stored_size(release: str, namespace: str, contents: Mapping[str, Any], values: Mapping[str, Any],
                description: str = "") -> tuple[int, list[tuple[str, int]]]:
    """About how many bytes Helm's Secret for a revision holds, and the largest parts of it, biggest first.

    Helm stores a revision as base64(gzip(JSON of the release)): the chart (metadata, templates, files, its
    default values, schema; byte fields base64 in the JSON), the user's values, the rendered manifest, the notes.
    """
    def encoded(items: list[dict[str, str]]) -> list[dict[str, str]]:
        return [{"name": i["name"], "data": base64.b64encode(i["data"].encode()).decode()} for i in items]

    rendered = contents.get("rendered") or {}
    notes = "".join(text for name, text in rendered.items() if name.endswith("NOTES.txt"))
    manifest = "".join(f"---\n# Source: {name}\n{text}\n" for name, text in sorted(rendered.items())
                       if text.strip() and not name.endswith("NOTES.txt"))
    schema = contents.get("schema")
    document = {
        "name": release, "namespace": namespace, "version": 1, "config": values, "manifest": manifest,
        "info": {"status": "deployed", "description": description, "notes": notes,
                 "first_deployed": "2006-01-02T15:04:05.000000000Z", "last_deployed": "2006-01-02T15:04:05.000000000Z"},
        "chart": {"metadata": contents.get("metadata"), "values": contents.get("values"),
                  "templates": encoded(contents.get("templates") or []), "files": encoded(contents.get("files") or []),
                  "schema": base64.b64encode(json.dumps(schema).encode()).decode() if schema else None},
    }
    size = len(base64.b64encode(gzip.compress(json.dumps(document).encode(), compresslevel=9, mtime=0)))
    parts = [(f"values {key}", len(json.dumps(value))) for key, value in values.items()]
    parts += [(f"chart file {item['name']}", len(item["data"])) for item in
              [*(contents.get("templates") or []), *(contents.get("files") or [])]]
    parts += [("rendered manifest", len(manifest))]
    return size, sorted(parts, key=lambda part: -part[1])[:3]


def refuse_if_too_large(plan: Plan) -> None:
    """Kubernetes refuses a Secret over 1 MiB, deep inside the deploy (HTTP 413 or 422): say so before sending.

    Go's gzip and Python's differ by up to ~8% either way on the same data, so the estimate is refused only
    when it is over the limit by more than that, and a release near the limit is a warning.
    """
    if plan.stored <= MAX_STORED * (1 - ESTIMATE_ERROR):
        return
    largest = ", ".join(f"{what} ({_size(size)})" for what, size in plan.largest)
    about = (f"Helm would store {plan.chart} {plan.version} with these values as a Secret of about {_size(plan.stored)} "
             f"(gzip+base64 of chart, values and manifest)")
    if plan.stored <= MAX_STORED * (1 + ESTIMATE_ERROR):
        ui.warn(f"release {plan.release}: {about}, close to Kubernetes' 1 MiB limit for one: the cluster may refuse "
                f"it. Largest: {largest}")
        return
    raise ToolError(f"release {plan.release}: {about}, over Kubernetes' 1 MiB limit for one; nothing was sent. "
                    f"Largest: {largest}. Keep big data out of the values and the chart (a ConfigMap or volume of its "
                    "own, an image)")


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MiB" if count >= 1024 * 1024 else f"{count / 1024:.0f} KiB"


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
    root: Path, environment: Environment, release: Release, *, repository: Source,
    version: str | None, overrides: Overrides, env: Mapping[str, str], work_dir: Path, typed_set: Mapping[str, Any],
) -> Plan:
    """Everything a deploy needs, checked, before the cluster is touched (`typed_set`: values.layered_values')."""
    access = cluster_access(environment, env).within(release.namespace_in(environment))
    values, secret_paths = layered_values(release, environment, overrides, env, typed_set)
    where = f"release.releases.{release.name}"
    if chart_source.is_local(release.chart):
        chart_version, archive = chart_source.local_chart(root, environment, release, work_dir)
    else:
        chart_version, archive = repository.fetch(release.chart, version or release.version,
                                                  f"{where}.version" if not version else "--version")
    contents = helm.chart_contents(archive, values, release.name, access.namespace)
    chart = str(contents["metadata"]["name"])  # a folder's chart by its name, as Helm records it (not the folder's)
    description, labels = describe(chart, chart_version, deployer(env, root))
    labels.update(secret_labels(secret_paths, values))
    if secret_paths:
        _mask_derived(archive, contents, values, secret_paths, release.name, access.namespace)
    stored, largest = stored_size(release.name, access.namespace, contents, values, description)
    return Plan(release.name, environment, access, chart, chart_version, archive, values, description, labels,
                tuple(secret_paths), crd_manifest(contents["crds"]), stored, tuple(largest),
                None if chart_source.is_local(release.chart) else repository)


def _mask_derived(archive: bytes, contents: dict[str, Any], values: dict[str, Any],
                  paths: Iterable[tuple[str | int, ...]], release: str, namespace: str) -> None:
    """What the chart's templates make of the secrets at `paths` (`contents`: chart_contents from `values`), against
    what they make of the values with those masked, is masked in all output from now on like the secrets
    themselves: an error from Helm or the API server may quote it. A chart that fails to render is compared the
    same way by its error (a `fail` or `required` message built from a secret), against the masked values' error,
    or none: then the whole line is the secret's doing. A chart that takes the secrets but not the mask (a schema's
    minLength or pattern) is compared with stand-ins of the secrets' shape (values.shaped) instead; when it takes
    neither, there is no telling, and a warning says so."""
    again = helm.chart_contents(archive, masked(values, paths, lines=True), release, namespace)
    if again["rendered"] is None and contents["rendered"] is not None:
        again = helm.chart_contents(archive, shaped(values, paths), release, namespace)
        if again["rendered"] is None:
            ui.warn(f"{release}: the chart refuses stand-ins for its secrets ({again['error']}), so what its templates "
                    "make of them is not known, and not masked")
    if contents["rendered"] is None:
        found = derived_values({"": contents["error"]}, {"": again["error"] or ""})
        if again["error"] is None:
            ui.warn(f"{release}: the chart fails to render with its secrets, and not with them masked: its error "
                    "depends on a secret's value, so is not shown")
    else:
        found = derived_values(contents["rendered"], again["rendered"]) if again["rendered"] is not None else set()
    for text in found:
        ui.add_secret(text)


class NotInstalled(ToolError):
    """The release has no revision in its namespace."""


def installed(config: Any, access: Access, release: str) -> list[dict[str, Any]]:
    """The release's revisions, oldest first; a release that is not installed is one clear line."""
    revisions = helm.history(config, release)
    if not revisions:
        raise NotInstalled(f"release {release} is not installed in {access.environment} ({access.source}, "
                        f"namespace {access.namespace})")
    return revisions


def recovery(plan_env: str, release: str, revisions: list[dict[str, Any]]) -> str:
    """The one command that brings a stuck release back: an uninstall that did not finish is finished (what was
    asked last), a pending deploy rolled back to the newest good revision, or uninstalled when there is none."""
    if revisions and revisions[-1].get("status") == UNINSTALLING:
        return f"invoke release.uninstall --env {plan_env} --release {release} (to finish it)"
    if any(r.get("status") in GOOD for r in revisions[:-1]):
        return f"invoke release.rollback --env {plan_env} --release {release}"
    return f"invoke release.uninstall --env {plan_env} --release {release} (no earlier revision was deployed)"


def left_at(environment: str, release: str, before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str:
    """Where an interrupted deploy left the release, and the one command that recovers it when one is needed."""
    if not after:
        return "the release is not installed; nothing to recover"
    last = after[-1]
    state = f"the release is at revision {last['revision']} ({last['status']}, {last['chart_name']}-{last['chart_version']})"
    if last["status"] == "deployed":  # by revision numbers: Helm prunes the history beyond history_max
        rolled = last["revision"] > (before[-1]["revision"] if before else 0) + 1
        return f"{'Helm rolled it back: ' if rolled else ''}{state}; nothing to recover"
    return f"{state}; recover with: {recovery(environment, release, after)}"


def run(plan: Plan, *, wait: bool, timeout: int, dry_run: bool, history_max: int, reset_replicas: bool = False
        ) -> dict[str, Any]:
    """helm upgrade --install with rollback on failure; a failure reports where the release ended up. An upgrade that
    would scale a workload away from where its autoscaler has it is refused first, unless `reset_replicas`.

    The manifest and notes returned are what may be printed: with secrets in the values, Helm renders them once more
    from the masked values (a dry run before the deploy, so as the same revision, install or upgrade), whatever
    a template makes of a secret (b64enc, upper, printf); when the chart refuses the masks, they are withheld.
    """
    with connect(plan.access) as config:
        revisions = helm.history(config, plan.release)
        refuse_if_stuck(revisions, recovery(plan.environment.name, plan.release, revisions))
        if revisions:  # Helm's log and errors name the objects it replaces: made from the secrets of the last
            # revision, and of the last deployed one (what an upgrade after a failed one replaces)
            source = plan.source or chart_source.Folder(lambda: (plan.version, plan.archive))
            info, mask = stored_secrets(config, plan.access, plan.release, lambda: source)
            deployed = [r for r in revisions if r.get("status") == "deployed"]
            for revision in {r["revision"]: r for r in [*deployed[-1:], revisions[-1]]}.values():
                mask(revision)
            if not reset_replicas:  # from what Helm 3's merge started from: the deployed revision (else the last)
                before = info((deployed or revisions)[-1]["revision"])["summary"].get("manifest") or ""
                _refuse_scaling_down(plan, config, before, dry_run)
        shown = f"{plan.chart} --version {plan.version} --namespace {plan.access.namespace} ({plan.access.source})"

        def upgrade(values: dict[str, Any], *, wait: bool, dry_run: bool, offline: bool = False) -> dict[str, Any]:
            if offline:  # Helm's client-side dry run: no object is built by the API server
                return {"revision": 1, **helm.render(config, plan.archive, plan.release, values, install=True)}
            return helm.upgrade_install(
                config, plan.archive, plan.release, values, install=not revisions, wait=wait, timeout=timeout,
                description=plan.description, labels=plan.labels, dry_run=dry_run,
                create_namespace=plan.environment.create_namespace, history_max=history_max, shown=shown,
            )

        def attempt(offline: bool) -> tuple[dict[str, str] | str | None, dict[str, Any]]:
            renders = functools.partial(upgrade, offline=offline)
            return (_masked_render(renders, plan) if plan.secret_paths else None,
                    renders(plan.values, wait=wait, dry_run=dry_run))

        try:
            try:
                printable, result = attempt(offline=False)
                checked = dry_run
            except ToolError as exc:
                if not (dry_run and not revisions and needs_its_crds(plan.crds, str(exc))):
                    raise
                ui.warn(f"{plan.release}: a first install creates {plan.chart}-{plan.version}'s crds/ before the rest, "
                        "and the cluster does not serve what they define yet, so Helm cannot build those objects in a "
                        "dry run: rendered without the cluster (as helm template does); the API server checks the "
                        "other objects")
                printable, result = attempt(offline=True)
                checked = True  # what the cluster serves already is checked; the kinds of crds/ are named unchecked
        except KeyboardInterrupt:
            stopped = f"{'dry run' if dry_run else 'deploy'} of {plan.chart} {plan.version} as {plan.release} stopped"
            if dry_run:
                raise KeyboardInterrupt(f"{stopped}; nothing changed in the cluster") from None
            after = helm.history(config, plan.release)
            raise KeyboardInterrupt(f"{stopped}; {left_at(plan.environment.name, plan.release, revisions, after)}") \
                from None
        except ToolError as exc:
            after = [] if dry_run else helm.history(config, plan.release)
            now = f"; the release is now at revision {after[-1]['revision']} ({after[-1]['status']})" if after else \
                "; nothing changed in the cluster" if dry_run else ""  # it read as if the dry run had left it there
            now += refusals.advice(str(exc), plan.environment.name, plan.access.namespace)
            raise ToolError(f"{'dry run' if dry_run else 'deploy'} of {plan.chart} {plan.version} as {plan.release} "
                            f"failed: {exc}{now}") from exc
        if checked:  # with the hooks this deploy runs, which a dry run's manifest leaves out
            hooked = hooks.for_check(helm.templates(
                config, plan.archive, plan.release, plan.values, namespace=plan.access.namespace,
                revision=revisions[-1]["revision"] + 1 if revisions else 1, install=not revisions), install=not revisions)
    if checked:
        _refuse_what_the_api_server_refuses(plan, result.get("manifest", ""), *hooked)
    if isinstance(printable, str):
        withheld = [what for what in (("manifest", "notes") if dry_run else ("notes",)) if result.get(what)]
        if withheld:
            ui.warn(f"{plan.release}: {' and '.join(withheld)} not shown: rendered with its secrets masked, the chart "
                    f"fails ({printable})")
        printable = {"manifest": "", "notes": ""}
    return {**result, **(printable or {})}


def _refuse_scaling_down(plan: Plan, config: Any, before: str, dry_run: bool) -> None:
    """An upgrade from the manifest `before` that would undo what an autoscaler did (_refuse_autoscaled), refused
    before anything changes."""
    try:
        manifest = helm.render(config, plan.archive, plan.release, plan.values, install=False)["manifest"]
    except ToolError:
        return  # a chart that does not render: the upgrade itself says why
    what = f"{'dry run' if dry_run else 'deploy'} of {plan.chart} {plan.version} as {plan.release}"
    _refuse_autoscaled(plan.access, manifest, before, what, "leave replicas out of the chart while an autoscaler "
                       "scales it ({{- if not .Values.autoscaling.enabled }} around it), or pass --reset-replicas to "
                       "deploy anyway")


def _refuse_autoscaled(access: Access, manifest: str, before: str, what: str, fix: str) -> None:
    """Server-side apply takes every field the manifest sets, an autoscaler's replicas too, where Helm 3's three-way
    merge kept a count the chart did not change: `what` (an upgrade, a rollback, from the manifest `before`) is
    refused when it would set a workload away from where its HorizontalPodAutoscaler has it (apiserver.autoscaled);
    `fix` says what to do."""
    found = apiserver.autoscaled(access, manifest, before)
    if found:
        raise ToolError(f"{what}: it would set {'; '.join(found)} to that count, and the pods beyond it would stop "
                        f"until the autoscaler scales back; nothing changed in the cluster; {fix}")


def _refuse_what_the_api_server_refuses(plan: Plan, manifest: str, hooked: str, stand_ins: dict[str, str]) -> None:
    """A dry run is refused for what the deploy would be: each object, and each hook the deploy runs, applied by the
    API server as a dry run (hooks.for_check: those Helm creates anew under stand-in names, said by their own)."""
    found = apiserver.check(plan.access, f"{manifest}\n---\n{hooked}", create_namespace=plan.environment.create_namespace,
                            stand_ins=stand_ins)
    if found.unchecked:
        ui.warn(f"{plan.release}: not checked by the API server: {'; '.join(found.unchecked)}")
    if found.refused:  # each refusal's advice, for the object's own namespace, once
        advice = "".join(dict.fromkeys(refusals.advice(text, plan.environment.name, namespace)
                                       for text, namespace in found.refused))
        raise ToolError(f"dry run of {plan.chart} {plan.version} as {plan.release}: the API server refuses "
                        f"{'; '.join(text for text, _ in found.refused)}; the deploy would fail: nothing changed in "
                        f"the cluster{advice}")


def needs_its_crds(crds: str, message: str) -> bool:
    """Whether Helm could not build the objects (`message`) for want of what the chart's crds/ define (which a first
    install creates before the rest): the kinds the API server says it does not serve, when it names them, are
    among those."""
    if not crds or NOT_BUILT not in message:
        return False
    missing = {(version.split("/")[0] if "/" in version else "", kind)
               for kind, version in re.findall(r'no matches for kind "([^"]+)" in version "([^"]+)"', message)}
    return missing <= defined_kinds(crds)


def _masked_render(upgrade: Callable[..., dict[str, Any]], plan: Plan) -> dict[str, str] | str:
    """The manifest and notes of a dry run of `upgrade` with the plan's masked values; the reason, when the chart
    refuses them (a schema that wants a longer password than ***, say)."""
    try:
        found = upgrade(plan.shown_values, wait=False, dry_run=True)
    except ToolError as exc:
        return str(exc)
    return {"manifest": found.get("manifest", ""), "notes": found.get("notes", "")}


def abandoned(plan: Plan) -> str:
    """Where a release is whose deploy the run stopped waiting for (a second Ctrl-C: Helm was rolling it back), read
    from the cluster now, with the command that recovers it."""
    with connect(plan.access) as config:
        now = helm.history(config, plan.release)
    return f"stopped waiting for it; {left_at(plan.environment.name, plan.release, now, now)}"


def apply(plan: Plan, *, wait: bool, timeout: int, dry_run: bool, history_max: int, reset_replicas: bool
          ) -> dict[str, Any]:
    """Deploy one planned release (run), said as it starts; the result as a document: revision, status and notes,
    and for a dry run the values and manifest, all as they may be printed (secrets masked)."""
    ui.say(f"{'dry run: ' if dry_run else ''}deploying {plan.shown}")
    result = run(plan, wait=wait, timeout=timeout, dry_run=dry_run, history_max=history_max,
                 reset_replicas=reset_replicas)
    return {"release": plan.release, "namespace": plan.access.namespace, "chart": f"{plan.chart}-{plan.version}",
            "revision": result.get("revision"), "status": result.get("status"), "notes": result.get("notes", ""),
            **({"values": plan.shown_values, "manifest": mask_secrets(result.get("manifest", ""))} if dry_run else {})}


def try_render(config: Any, archive: bytes, release: str, values: dict[str, Any], install: bool = False
               ) -> dict[str, str] | None:
    """helm.render (an upgrade of `release` unless `install`); None when the chart refuses these values."""
    try:
        return helm.render(config, archive, release, values, install=install)
    except ToolError:
        return None


def roll_back(
    access: Access, release: str, revision: int | None, *, allow_failed: bool, wait: bool, timeout: int,
    history_max: int, source: Callable[[], Source], reset_replicas: bool = False,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(from, to, now): roll back to the newest good revision that differs from what runs (or --revision);
    the recovery for a stuck release too. What the two revisions stored of their secrets is masked (stored_secrets):
    what goes wrong may quote it, rotated since or not. One that would undo an autoscaler is refused first, unless
    `reset_replicas` (_refuse_autoscaled)."""
    with connect(access) as config:
        revisions = installed(config, access, release)
        info, mask = stored_secrets(config, access, release, source)

        def content(revision: dict[str, Any]) -> tuple[Any, ...]:
            found = info(revision["revision"])
            return (revision.get("chart_name"), revision.get("chart_version"), found.get("config"),
                    found["summary"].get("manifest"))

        current, target = rollback_target(revisions, revision, content, allow_failed=allow_failed)
        for stored in (current, target):
            mask(stored)
        if not reset_replicas:
            _refuse_autoscaled(access, info(target["revision"])["summary"].get("manifest") or "",
                               info(current["revision"])["summary"].get("manifest") or "",
                               f"rollback of {release} to revision {target['revision']}", "pass --reset-replicas to "
                               "roll back anyway, or deploy the chart you want instead")
        try:
            helm.rollback(config, release, target["revision"], wait=wait, timeout=timeout, history_max=history_max)
        except (ToolError, KeyboardInterrupt) as exc:  # where it is now, and what recovers it
            where = left_at(access.environment, release, revisions, helm.history(config, release))
            raise type(exc)(f"{exc}; {where}{refusals.advice(str(exc), access.environment, access.namespace)}") \
                from None
        return current, target, helm.history(config, release)[-1]


def stored_secrets(config: Any, access: Access, release: str, source: Callable[[], Source]
                   ) -> tuple[Callable[[int], dict[str, Any]], Callable[[dict[str, Any]], bool]]:
    """(info, mask): a revision's `helm get all` by its number, each read once; and what masks a revision's stored
    secrets (recorded_secret_paths registers them) and what its chart makes of them, from now on: its chart is
    fetched from `source` (each version once) and rendered again from the stored values and from them masked. The
    environment's secrets of today may not be the ones a revision holds, nor its templates' forms of them; a chart
    the repository no longer gives is said to leave those unknown (mask returns False: where the secrets are, or
    what the templates made of them, is not known)."""
    info = functools.cache(lambda number: helm.revision_info(config, release, number))
    archive = functools.cache(lambda chart, version: source().fetch(chart, version, "its history")[1])

    def mask(revision: dict[str, Any]) -> bool:
        if not any_record([revision]):  # no record, no paths: the environment's secrets are all there is to mask
            return False
        values = info(revision["revision"]).get("config") or {}
        paths = recorded_secret_paths(revision, values)
        if not paths:
            return paths is not None
        if () in paths:
            return False
        chart = f"{revision['chart_name']}-{revision['chart_version']}"
        try:
            package = archive(revision["chart_name"], revision["chart_version"])
        except ToolError as exc:
            ui.warn(f"{release}: what the templates of {chart} (revision {revision['revision']}) made of its secrets "
                    f"is not known, and not masked: {exc}")
            return False
        _mask_derived(package, helm.chart_contents(package, values, release, access.namespace), values, paths,
                      release, access.namespace)
        return True

    return info, mask


def test(access: Access, release: str, *, timeout: int, source: Callable[[], Source]) -> dict[str, Any]:
    """`helm test`: the release's test hooks run, and their pods removed; a failing one is one line, and may name
    what the templates made of a secret (stored_secrets)."""
    with connect(access) as config:
        current = installed(config, access, release)[-1]
        hooks = helm.revision_info(config, release, current["revision"]).get("hooks") or []
        if not any({"test", "test-success"} & set(hook.get("events") or ()) for hook in hooks):  # "TEST SUITE: None"
            return {"release": release, "namespace": access.namespace, "revision": current["revision"], "tests": "none"}
        stored_secrets(config, access, release, source)[1](current)
        try:
            helm.test(config, release, timeout=timeout)
        except ToolError as exc:
            raise ToolError(f"tests of {release} (revision {current['revision']}) failed: {exc}") from exc
    return {"release": release, "namespace": access.namespace, "revision": current["revision"], "tests": "passed"}


def uninstall(access: Access, release: str, *, wait: bool, timeout: int, source: Callable[[], Source]) -> None:
    """`helm uninstall`; what fails, and Helm's log of what it deletes, name resources the templates may have named
    from a secret (stored_secrets)."""
    with connect(access) as config:
        stored_secrets(config, access, release, source)[1](installed(config, access, release)[-1])
        helm.uninstall(config, release, wait=wait, timeout=timeout)
