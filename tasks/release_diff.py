"""What a deploy would change: the diff of the rendered manifests against the deployed revision's, with every
secret masked on both sides (release.diff, and the question a protected environment asks)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import helm, hooks
from .cluster import connect
from .deploy import Plan, try_render
from .errors import ToolError
from .manifests import diff
from .revision_records import any_record, recorded_secret_paths, unrecorded
from .values import changed_secrets, masked


class NotShown(ToolError):
    """A diff that cannot be rendered with its secrets masked (the chart refuses ***, or where they are is not
    known), so is not shown at all; the message does not name the release, as a list of releases' failures does."""


def render_diff(plan: Plan) -> dict[str, Any]:
    """What a deploy would change: the diff against the release's last revision (or nothing, when it is not
    installed), crds/ included on a first install, which is the only time Helm creates them, and the hooks (not the
    tests), as helm-diff shows them: a migration Job that only a value changes is a change.

    With secrets in the values, both sides are rendered from masked values, as helm-diff masks Secrets on both
    sides: this deploy from the plan's, the deployed revision from its own (_deployed_shown); a secret whose value
    changed is `*** (changed)` on this side, so what changed shows, and no rendering of a secret does. Where
    secrets are is what this deploy says and what the deployed revision recorded (a --set-secret not given this
    time); when it recorded nothing but another revision did (any_record), nothing is shown.
    """
    with connect(plan.access) as config:
        revisions = helm.history(config, plan.release)
        last = revisions[-1] if revisions else None
        info = helm.revision_info(config, plan.release, last["revision"]) if last else {}
        deployed, before = info.get("summary", {}).get("manifest", ""), info.get("config") or {}
        deployed += hooks.stored_for_diff(info.get("hooks") or [])
        recorded = recorded_secret_paths(last, before) if last else set()
        if last and (() in (recorded or set()) or recorded is None and any_record(revisions)):
            raise NotShown(f"no diff: {unrecorded(last, recorded)}, so the diff could show them; deploy it with "
                           "its secrets (the new revision records where they are)")
        values, paths = plan.values, set(plan.secret_paths) | (recorded or set())
        if paths:
            values = masked(plan.values, paths, changed_secrets(before, plan.values, paths))
            deployed = _deployed_shown(config, plan, last, deployed, before, paths) if last else ""
        try:
            proposed = helm.render(config, plan.archive, plan.release, values, install=not revisions)["manifest"]
            proposed += _hooks(config, plan, last)(plan.archive, values)
        except ToolError as exc:
            if not paths:
                raise
            helm.render(config, plan.archive, plan.release, plan.values, install=not revisions)  # fails alike: the
            # values' own failure, nothing to do with masks (its error is masked as any output is)
            raise NotShown(f"no diff: rendered with its secrets masked, the chart fails ({exc})") from None
    title = (f"{plan.release} (revision {last['revision']}, {last['status']})" if last
             else f"{plan.release} (not installed)")
    text = diff(deployed, proposed if last else plan.crds + proposed, title, f"{plan.release} (this deploy)")
    return {"release": plan.release, "namespace": plan.access.namespace, "chart": f"{plan.chart}-{plan.version}",
            "installed": last is not None, "revision": last["revision"] if last else None, "changed": bool(text),
            "diff": text, "crds_not_upgraded": bool(last and plan.crds)}


def _deployed_shown(config: Any, plan: Plan, last: dict[str, Any], manifest: str, values: dict[str, Any],
                    paths: set[tuple[str | int, ...]]) -> str:
    """The deployed revision's manifest rendered again from its values with the secrets masked, by the chart it ran.

    Each document is shown so only when that chart renders it again from the real values byte for byte; one it
    does not (its chart version is no longer in the repository and its template changed since, or it uses
    randomness or lookup) is replaced by a line that says it cannot be shown.
    """
    archive = plan.archive
    if (last["chart_name"], last["chart_version"]) != (plan.chart, plan.version) and plan.source is not None:
        try:
            archive = plan.source.fetch(last["chart_name"], last["chart_version"], f"revision {last['revision']}")[1]
        except ToolError:
            pass  # gone from the repository: this deploy's chart renders what it still can
    hooked = _hooks(config, plan, last, revision=last["revision"])
    again, shown = (_documents((try_render(config, archive, plan.release, these) or {}).get("manifest", "")
                               + hooked(archive, these)) for these in (values, masked(values, paths)))
    return "".join(f"---\n{shown[key]}" if again.get(key) == text and key in shown else
                   f"---\n# Source: {key[0]}\n# (not shown: rendered again with its secrets masked, this document of "
                   f"revision {last['revision']} differs)\n" for key, text in _documents(manifest).items())


def _hooks(config: Any, plan: Plan, last: dict[str, Any] | None, *, revision: int | None = None
           ) -> Callable[[bytes, dict[str, Any]], str]:
    """The hooks a chart renders with some values (hooks.for_diff), as the deploy of `revision` (default: the next)
    renders them; none where it does not render (what the manifest's render says)."""
    number = revision or (last["revision"] + 1 if last else 1)

    def rendered(archive: bytes, these: dict[str, Any]) -> str:
        try:
            return hooks.for_diff(helm.templates(config, archive, plan.release, these, namespace=plan.access.namespace,
                                                 revision=number, install=number == 1))
        except ToolError:
            return ""

    return rendered


def _documents(manifest: str) -> dict[tuple[str, int], str]:
    """A rendered manifest's documents by (the template they come from, their order within it)."""
    found: dict[tuple[str, int], str] = {}
    for text in re.split(r"^---\n", manifest, flags=re.MULTILINE):
        source = re.match(r"# Source: (.*)", text)
        if source:
            count = sum(1 for key in found if key[0] == source.group(1))
            found[(source.group(1), count)] = text
    return found
