"""The only module that imports Helm (helm_python, Helm v4's Go SDK in-process).

One narrow interface, like helmfile's helmexec: every operation is logged at debug level as the
equivalent `helm ...` command, and every Helm failure becomes a ToolError that says what was being done.
helm_python is imported lazily so `invoke --list` never loads the Go runtime.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tasks.errors import ToolError

log = logging.getLogger("tasks.helm")


@contextmanager
def _helm(command: str) -> Iterator[Any]:
    """Yield the helm_python module; log `command`; turn Helm's errors into one clear line."""
    import helm_python

    log.debug("helm %s", command)
    try:
        yield helm_python
    except helm_python.HelmError as exc:
        detail = " ".join(str(exc).split())
        raise ToolError(f"helm {command}: {detail}") from exc


def package(chart_dir: Path, destination: Path) -> Path:
    with _helm(f"package {chart_dir} --destination {destination}") as helm:
        return Path(helm.package(chart_dir, destination=destination))


def build_dependencies(chart_dir: Path) -> None:
    """`helm dependency build` when Chart.lock pins the versions, else `helm dependency update`."""
    verb = "build" if (chart_dir / "Chart.lock").exists() else "update"
    with _helm(f"dependency {verb} {chart_dir}") as helm:
        (helm.dependency_build if verb == "build" else helm.dependency_update)(chart_dir)


def lint(chart_dir: Path) -> list[dict[str, Any]]:
    """Helm's lint messages: [{severity: 1 info | 2 warning | 3 error, path, error}]."""
    with _helm(f"lint {chart_dir}") as helm:
        report = helm.lint(chart_dir)
    messages: list[dict[str, Any]] = report.get("messages") or []
    seen = {m["error"] for m in messages}  # Helm repeats each error message in `errors`
    messages += [{"severity": 3, "path": "", "error": e} for e in report.get("errors") or [] if e not in seen]
    return messages


def archive_metadata(data: bytes, what: str) -> dict[str, Any]:
    """Load a chart archive the way Helm's client will, and return its Chart.yaml metadata."""
    with _helm(f"show chart {what}") as helm, helm.Chart.load_archive(data) as chart:
        metadata: dict[str, Any] = chart.metadata
        return metadata


def repo_index(repo_url: str) -> dict[str, Any]:
    """Helm's own repository client: download and parse index.yaml."""
    with _helm(f"repo add tmp {repo_url} && helm repo update") as helm:
        index: dict[str, Any] = helm.repo_index(repo_url)
        return index


def pull(chart: str, version: str, repo_url: str, destination: Path) -> Path:
    with _helm(f"pull {chart} --version {version} --repo {repo_url} --destination {destination}") as helm:
        helm.pull(chart, version=version, repo_url=repo_url, destination=destination)
    return destination / f"{chart}-{version}.tgz"
