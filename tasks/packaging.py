"""Packages from the chart tree: each chart on its own, reproducibly; a broken chart blocks only itself.

Helm packages (it knows .helmignore, dependencies and validation); the archive is then rewritten
deterministically (invariant 5): entries sorted, every mtime the package epoch, uid/gid 0, gzip mtime 0.
The epoch is SOURCE_DATE_EPOCH, else a fixed date, never a commit time: a digest then depends on the
chart's content alone, so shallow clones, full clones and laptops agree with no variable set, and a
commit that does not touch a chart does not change its package.
A chart is built in a scratch copy of the charts tree only when it has dependencies to fetch (the
checkout is never written to); the others are packaged straight from their folder.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import archives, charts, dependencies, helm, settings
from .charts import ChartSource, Failure, Package, Tree
from .errors import ToolError


@dataclass
class Result:
    packages: list[Package]
    failures: list[Failure]  # in the order they happened, discovery's first


class _Stage:
    """A scratch copy of the charts tree, made the first time a chart needs its dependencies built."""

    def __init__(self, charts_dir: Path, work_dir: Path, stack: ExitStack) -> None:
        self.charts_dir, self.work_dir, self._stack = charts_dir, work_dir, stack
        self._root: Path | None = None

    def folder(self, chart: ChartSource) -> Path:
        if self._root is None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            tmp = Path(self._stack.enter_context(tempfile.TemporaryDirectory(dir=self.work_dir, prefix=".stage-")))
            self._root = tmp / self.charts_dir.name
            shutil.copytree(self.charts_dir, self._root, symlinks=True)
        folder = self._root
        for part in Path(chart.rel).parts:  # a symlinked chart folder becomes a copy: never build in its target
            folder = folder / part
            if folder.is_symlink():
                target = folder.resolve()
                folder.unlink()
                shutil.copytree(target, folder, symlinks=True)
        return folder

    def shown(self, message: str) -> str:
        """Point the user at their checkout (charts/...), not at the scratch copy."""
        return message.replace(str(self._root), self.charts_dir.name) if self._root else message


@contextmanager
def _building(charts_dir: Path, work_dir: Path) -> Iterator[_Stage]:
    with ExitStack() as stack:
        yield _Stage(charts_dir, work_dir, stack)


def _prepared(chart: ChartSource, stage: _Stage, repositories: dependencies.Repositories, seconds: int) -> Path:
    """The folder Helm should package: the chart's own, or a staged copy with its dependencies built."""
    if not chart.dependencies or dependencies.ready(chart.path):
        return chart.path
    folder = stage.folder(chart)
    generated = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    dependencies.build(chart, folder, repositories, generated)
    return folder


def _ordered(tree: Tree) -> list[ChartSource]:
    """Charts after the charts they use through file://, so a failure is known before its dependents run."""
    if not any(d.repository.startswith("file://") for c in tree.charts for d in c.dependencies):
        return list(tree.charts)  # nothing to order: no chart's folder need be resolved
    real = {c: c.path.resolve() for c in tree.charts}
    by_path = {path: c for c, path in real.items()}
    done: dict[Path, ChartSource] = {}

    def visit(chart: ChartSource, seen: tuple[Path, ...]) -> None:
        here = real[chart]
        if here in done or here in seen:
            return
        for target in _local_targets(chart):
            if target in by_path:
                visit(by_path[target], (*seen, here))
        done[here] = chart

    for chart in tree.charts:
        visit(chart, ())
    return list(done.values())


def _local_targets(chart: ChartSource) -> list[Path]:
    return [(chart.path / d.repository.removeprefix("file://")).resolve()
            for d in chart.dependencies if d.repository.startswith("file://")]


def _each(
    tree: Tree, charts_dir: Path, work_dir: Path, env: Mapping[str, str], repositories: dependencies.Repositories,
    failed: Callable[[Failure], None], act: Callable[[ChartSource, Path], None], read_text: bool = True,
) -> list[Failure]:
    """Run `act` on each chart's prepared folder; a chart that fails (or uses a failed chart through file://)
    becomes a Failure, reported through `failed` at once, and the others go on. Without `read_text`, `act`
    checks the text of what it builds (charts.check_text)."""
    failures = list(tree.failures)
    for failure in failures:
        failed(failure)
    broken = {(charts_dir / f.rel).resolve() for f in failures}
    seconds = settings.package_epoch(env)
    with _building(charts_dir, work_dir) as stage:
        for chart in _ordered(tree):
            blocked = [t for t in _local_targets(chart) if t in broken]
            try:
                if blocked:
                    uses = blocked[0].relative_to(charts_dir.resolve()).as_posix()
                    raise ToolError(f"{chart.where}: not built: it uses {charts_dir.name}/{uses} (file://), which failed")
                charts.check_files(chart, contents=read_text)
                act(chart, _prepared(chart, stage, repositories, seconds))
            except ToolError as exc:
                failures.append(Failure(chart.rel, chart.name, stage.shown(str(exc))))
                broken.add(chart.path.resolve())
                failed(failures[-1])
    return failures


def build(
    tree: Tree, charts_dir: Path, out_dir: Path, env: Mapping[str, str],
    repositories: dependencies.Repositories | None = None,
    advance: Callable[[ChartSource], None] = lambda chart: None, failed: Callable[[Failure], None] = lambda f: None,
) -> Result:
    """Package every chart of the tree into out_dir (replaced as a whole at the end), each on its own."""
    repositories = repositories or dependencies.Repositories({}, env)
    packages: list[Package] = []
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    mtime = settings.package_epoch(env)
    with tempfile.TemporaryDirectory(dir=out_dir.parent) as tmp:
        fresh = Path(tmp) / "packages"
        fresh.mkdir()

        def package(chart: ChartSource, folder: Path) -> None:
            raw, metadata = helm.package(folder, Path(tmp) / "raw")
            data, files = archives.normalized(raw.read_bytes(), mtime)
            charts.check_text(chart, files)
            with open(raw, "r+b") as handle:  # Helm's file rewritten, then moved: cheaper than a second new file
                handle.write(data)
                handle.truncate()
            raw.rename(fresh / raw.name)
            packages.append(Package(chart.name, chart.version, out_dir / raw.name, archives.digest(data), metadata))
            advance(chart)

        failures = _each(tree, charts_dir, out_dir.parent, env, repositories, failed, package, read_text=False)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        fresh.rename(out_dir)
    return Result(packages, failures)


def lint(
    tree: Tree, charts_dir: Path, work_dir: Path, env: Mapping[str, str],
    repositories: dependencies.Repositories | None = None, failed: Callable[[Failure], None] = lambda f: None,
) -> tuple[list[tuple[ChartSource, dict[str, Any]]], list[Failure]]:
    """Helm's lint on every chart that can be prepared; the others are failures of their own."""
    repositories = repositories or dependencies.Repositories({}, env)
    findings: list[tuple[ChartSource, dict[str, Any]]] = []

    def one(chart: ChartSource, folder: Path) -> None:
        findings.extend((chart, message) for message in helm.lint(folder))

    return findings, _each(tree, charts_dir, work_dir, env, repositories, failed, one)


def built(out_dir: Path) -> list[Package]:
    """The packages a previous `repo.package` left in out_dir."""
    packages = []
    for path in sorted(out_dir.glob("*.tgz")) if out_dir.is_dir() else []:
        data = path.read_bytes()
        meta = helm.archive_metadata(data, path.name)
        packages.append(Package(str(meta["name"]), str(meta["version"]), path, archives.digest(data), meta))
    if not packages:
        raise ToolError(f"{out_dir}: no packages; run `invoke repo.package` first")
    return packages


def comparable(data: bytes, where: str) -> dict[str, bytes]:
    """An archive's files with each lock's `generated` time blanked: two archives of the same chart built
    at different times (ours, Helm's own `helm package`) hold the same files apart from that stamp."""
    files = archives.archive_files(data, where)
    for name, content in files.items():
        if name.endswith(("/Chart.lock", "/requirements.lock")):
            files[name] = b"\n".join(line for line in content.split(b"\n") if not line.startswith(b"generated:"))
    return files
