"""What is shown of installed releases: each one's history and status, and a listing over namespaces. Never
values or manifests; a revision's notes and description only as far as they cannot show a secret
(revision_records)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from . import apiserver, helm, ui
from .cluster import Access, connect
from .deploy import Source, installed, stored_secrets, try_render
from .errors import ToolError
from .revision_records import may_hold_secrets, recorded_secret_paths, shown_description, unrecorded
from .values import masked

WITHHELD = "(not shown: may be made of a secret)"  # a workload's name, when what the chart made of secrets is unknown
_FRACTION = re.compile(r"\.\d+(?=Z$|[+-]\d\d:\d\d$)")  # Go's nanoseconds: shown to the second, as history shows


def history(access: Access, release: str, has_configured_secrets: bool) -> list[dict[str, Any]]:
    """Each revision with its description (from `helm get all`; shown_description)."""
    with connect(access) as config:
        revisions = installed(config, access, release)
        return [{**r, "description": _description(r, helm.revision_info(config, release, r["revision"]), revisions,
                                                  has_configured_secrets)} for r in revisions]


def _description(revision: dict[str, Any], info: dict[str, Any], revisions: list[dict[str, Any]],
                 has_configured_secrets: bool) -> str:
    """A revision's description as it may be shown (shown_description), from `helm get all`'s `info`."""
    paths = recorded_secret_paths(revision, info.get("config") or {})
    return shown_description(info["info"].get("description", ""),
                             may_hold_secrets(paths, revisions, has_configured_secrets))


def status(access: Access, release: str, has_configured_secrets: bool, source: Callable[[], Source],
           *, notes: bool = True) -> dict[str, Any]:
    """Status, revision, chart, last deployed, description (shown_description), each workload's readiness as the
    cluster has it now, and notes (unless not `notes`: ""); never values or the manifest (they may hold secrets).

    Helm rendered the notes from the real values: when they may hold secrets (may_hold_secrets), a template's
    b64enc or upper of one is no text to mask. Those notes are shown as _notes_shown renders them again, masked,
    by the revision's chart from `source` (opened only then; None for a chart folder), or not at all (a warning
    says why)."""
    with connect(access) as config:
        revisions = installed(config, access, release)
        info = helm.revision_info(config, release, revisions[-1]["revision"])
        summary, details, values = info["summary"], info["info"], info.get("config") or {}
        paths = recorded_secret_paths(revisions[-1], values)
        hold = may_hold_secrets(paths, revisions, has_configured_secrets)
        text = details.get("notes", "") if notes else ""
        if text and hold:
            text = _notes_shown(config, release, revisions[-1], text, values, paths, source)
        description = shown_description(details.get("description", ""), hold)
        # an object's name may be made of a secret (job-{{ .Values.tenant | lower }}): what the chart makes of the
        # stored secrets is masked from now on, and where that is not known, the names are not shown
        named = not hold or stored_secrets(config, access, release, source)[1](revisions[-1])
    workloads = [{**w, "name": w["name"] if named else WITHHELD}
                 for w in apiserver.readiness(access, summary.get("manifest") or "")]
    return {
        "release": release, "namespace": access.namespace, "status": summary["status"],
        "revision": summary["revision"], "chart": f"{summary['chart_name']}-{summary['chart_version']}",
        "app_version": summary.get("app_version", ""),
        "last_deployed": _FRACTION.sub("", details.get("last_deployed", "")),
        "description": description, "workloads": workloads, "notes": text,
    }


def not_installed(release: str, namespace: str) -> dict[str, Any]:
    """status's row for a release the environment names and the cluster does not hold: the same keys, as
    listing's rows have, so a reader of `--output json` finds each key on every row."""
    return {"release": release, "namespace": namespace, "status": "not installed", "revision": None, "chart": "",
            "app_version": "", "last_deployed": "", "description": "", "workloads": [], "notes": ""}


def _notes_shown(config: Any, release: str, revision: dict[str, Any], notes: str, values: dict[str, Any],
                 paths: set[tuple[str | int, ...]] | None, source: Callable[[], Source]) -> str:
    """A revision's notes rendered again from its values with its secrets masked, by its chart from the repository,
    when that chart renders the real values into the very notes Helm stored; else "", and a warning says why."""
    number, install = revision["revision"], revision["revision"] == 1
    if paths is None or () in paths:
        reason = unrecorded(revision, paths)
    else:
        try:
            archive = source().fetch(revision["chart_name"], revision["chart_version"], f"revision {number}")[1]
        except ToolError as exc:
            reason = f"its chart cannot be fetched to render them again ({exc})"
        else:  # Helm's error from the real values may quote what a template made of a secret: not shown
            again, shown = (try_render(config, archive, release, these, install=install)
                            for these in (values, masked(values, paths)))
            if again is None:
                reason = "its chart fails to render them again from its values"
            elif again["notes"] != notes:
                reason = "its chart renders them otherwise now (randomness, lookup, or a chart republished)"
            elif shown is None:
                reason = "its chart refuses its values with the secrets masked"
            else:
                return shown["notes"]
    ui.warn(f"{release}: notes not shown: revision {number} was deployed with secret values; {reason}")
    return ""


def listing(accesses: list[Access], configured: Mapping[str, str]) -> list[dict[str, Any]]:
    """`helm list --all` over namespaces, plus each configured release (name -> namespace) not installed there."""
    rows = []
    for access in accesses:
        with connect(access) as config:
            rows += [{"release": r["name"], "namespace": r.get("namespace", access.namespace),
                      "revision": r["revision"], "updated": r.get("deployed_at", ""), "status": r["status"],
                      "chart": f"{r['chart_name']}-{r['chart_version']}", "app_version": r.get("app_version", ""),
                      "configured": r["name"] in configured} for r in helm.releases(config)]
    found = {(row["release"], row["namespace"]) for row in rows}
    rows += [{"release": name, "namespace": namespace, "revision": None, "updated": "", "status": "not installed",
              "chart": "", "app_version": "", "configured": True}
             for name, namespace in configured.items() if (name, namespace) not in found]
    return sorted(rows, key=lambda row: (row["namespace"], row["release"]))
