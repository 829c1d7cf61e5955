"""Packages from the chart tree: each chart on its own, reproducibly; a broken chart blocks only itself.

Helm packages (it knows .helmignore, dependencies and validation); the archive is then rewritten
deterministically (invariant 5): entries sorted, every mtime the package epoch, uid/gid 0, gzip mtime 0.
The epoch is SOURCE_DATE_EPOCH, else a fixed date, never a commit time: a digest then depends on the
chart's content alone, so shallow clones, full clones and laptops agree with no variable set, and a
commit that does not touch a chart does not change its package.
A chart is built in a scratch copy of itself (and of the charts it uses through file://) only when it has
dependencies to fetch (the checkout is never written to); the others are packaged straight from their folder.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
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
    """A scratch folder, made the first time a chart needs its dependencies built, holding a copy of that chart and
    of each chart it uses through file://, each where the checkout's absolute layout has it (charts_dir at
    SCRATCH/<its real path>): so a `file://` path finds its chart as Helm finds it in the checkout. Nothing else of
    the tree is copied, so a broken folder elsewhere (one nobody can read) fails only its own chart."""

    def __init__(self, charts_dir: Path, work_dir: Path, stack: ExitStack) -> None:
        self.charts_dir, self.work_dir, self._stack = charts_dir, work_dir, stack
        self._scratch: Path | None = None
        self._copied: list[Path] = []  # the scratch folders copied so far
        self._prepared: set[str] = set()

    def folder(self, chart: ChartSource) -> Path:
        """The chart's folder in the scratch copy, copied on first use (a symlinked folder becomes a copy of what it
        leads to: never build in its target)."""
        real = os.path.realpath(chart.path)
        try:
            if self._scratch is None:
                self.work_dir.mkdir(parents=True, exist_ok=True)
                self._scratch = Path(self._stack.enter_context(
                    tempfile.TemporaryDirectory(dir=self.work_dir, prefix=".stage-")))
            folder = _beneath(self._scratch, real)
            if chart.path.is_relative_to(self.charts_dir):  # where the tree has it, even through a symlink
                folder = _beneath(self._scratch, os.path.realpath(self.charts_dir)) / chart.rel
            if not folder.exists() or not any(folder.is_relative_to(done) for done in self._copied):
                _copy(real, folder, chart.checkout, charts.helmignored(real, chart.checkout, chart.where),
                      keep=tuple(d for d in self._copied if d.is_relative_to(folder)))
                self._copied.append(folder)
        except (OSError, shutil.Error) as exc:
            raise ToolError(_not_copied(real, self.work_dir, exc)) from None
        return folder

    def prepared(self, chart: ChartSource, repositories: dependencies.Repositories, generated: str) -> Path:
        """The chart's scratch folder with its dependencies built (once, however many charts use it)."""
        folder = self.folder(chart)
        if str(folder) not in self._prepared:
            self._prepared.add(str(folder))
            dependencies.build(chart, folder, repositories, generated)
        return folder

    def shown(self, message: str) -> str:
        """Point the user at their checkout as they see it (charts/...), not at the scratch copy or an absolute
        path (Helm names the folders it was given)."""
        if self._scratch is not None:
            message = message.replace(str(_beneath(self._scratch, os.path.realpath(self.charts_dir))),
                                      self.charts_dir.name)
            message = message.replace(str(self._scratch), "")
        for absolute in dict.fromkeys((str(self.charts_dir.absolute()), os.path.realpath(self.charts_dir))):
            message = message.replace(f"{absolute}/", f"{self.charts_dir.name}/")
        return message


def _beneath(scratch: Path, real: str) -> Path:
    """The place of the absolute path `real` in the scratch copy (a Windows drive becomes a folder)."""
    path = Path(real)
    return scratch / path.drive.rstrip(":\\") / path.relative_to(path.anchor)


def _not_copied(real: str, work_dir: Path, exc: OSError | shutil.Error) -> str:
    """Why a chart was not copied for its dependency build, blaming the side at fault: the build folder (read-only,
    full: said of repo.build_dir) or what the chart holds (the fix for its errno). copytree's error lists every file,
    each as text ("[Errno 13] ..."); the first says it."""
    errors = exc.args[0] if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) else []
    why = str(errors[0][2]) if errors else str(exc)
    if str(work_dir) in why:
        return (f"{work_dir} (repo.build_dir): the dependency build of {real} cannot be written there ({why}); make it "
                "writable, free space, or set repo.build_dir to another folder")
    number = int(found[1]) if errors and (found := re.match(r"\[Errno (\d+)\]", why)) else exc.errno
    return f"{real}: cannot be copied for the dependency build ({why}); {charts.remedy(number)}"


def _copy(source: str, target: Path, checkout: str, ignored: Callable[[str, bool], bool], at: str = "",
          copying: tuple[str, ...] = (), keep: tuple[Path, ...] = ()) -> None:
    """A folder copied as Helm reads it: what the chart's .helmignore leaves out (`ignored`, asked of each path as
    the chart has it: `at` is the copy's; Helm never reads it, and it may be anything, a folder nobody can read too)
    is not copied, bar .helmignore itself; every symlink becomes what it leads to, under the link's path as Helm
    reads it (Helm packages a link to what .helmignore leaves out, and judges a folder's files by the link's path: the
    target's own copy cannot stand in for it), unless that is a folder being copied
    (a loop, which check_files refuses), and one leading out of the checkout is left out (nothing from beyond the
    checkout is packaged; check_files refuses it in a chart being built or used); a FIFO, socket or device is left
    out, never opened. The folders in `keep` (charts nested in it, copied and maybe built before) are left as
    they are."""
    def special(folder: str, names: list[str]) -> list[str]:
        inside = os.path.relpath(folder, source)
        there, prefix = target / inside, at if inside == "." else f"{at}{inside}/"
        return [n for n in names if there / n in keep
                or f"{prefix}{n}" != ".helmignore" and ignored(f"{prefix}{n}", os.path.isdir(os.path.join(folder, n)))
                or not stat.S_ISREG(mode := os.lstat(os.path.join(folder, n)).st_mode)
                and not stat.S_ISDIR(mode) and not stat.S_ISLNK(mode)]

    shutil.copytree(source, target, symlinks=True, ignore=special, dirs_exist_ok=bool(keep))
    for parent, dirs, files in os.walk(target):
        for name in dirs + files:
            copied = os.path.join(parent, name)
            if not os.path.islink(copied):
                continue
            rel = os.path.relpath(copied, target)
            led = os.path.realpath(os.path.join(source, rel))
            os.unlink(copied)
            if os.path.commonpath([led, checkout]) != checkout:
                continue
            if os.path.isfile(led) and stat.S_ISREG(os.stat(led).st_mode):
                shutil.copy2(led, copied)
            elif os.path.isdir(led) and not any(os.path.commonpath([led, c]) == led for c in (*copying, source)):
                _copy(led, Path(copied), checkout, ignored, f"{at}{Path(rel).as_posix()}/", (*copying, source))


@contextmanager
def _building(charts_dir: Path, work_dir: Path) -> Iterator[_Stage]:
    with ExitStack() as stack:
        yield _Stage(charts_dir, work_dir, stack)


def _prepared(chart: ChartSource, stage: _Stage, repositories: dependencies.Repositories, seconds: int,
              known: Mapping[Path, ChartSource]) -> Path:
    """The folder Helm should package: the chart's own, or a staged copy with its dependencies built, after
    the dependencies of each chart it uses through file:// (deepest first): so a chart's package is the same
    whether the charts it uses were built in the same run or not (--chart)."""
    if not chart.dependencies or dependencies.ready(chart):
        return chart.path
    generated = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for used in _used(chart, stage.charts_dir, known):
        charts.check_files(used)  # what it holds goes into this chart's package: the same checks
        if used.dependencies and not dependencies.ready(used):
            stage.prepared(used, repositories, generated)
        else:
            stage.folder(used)  # in the copy, where its file:// path leads (a chart outside charts_dir too)
    return stage.prepared(chart, repositories, generated)


def _used(chart: ChartSource, charts_dir: Path, known: Mapping[Path, ChartSource]) -> list[ChartSource]:
    """The charts `chart` uses through file://, and those they use, deepest first (each once). A cycle is refused:
    each chart of it would have to be built into the other first (Helm packages each without the other's
    dependencies, and the error it meets on the way names a folder that is there)."""
    found: dict[Path, ChartSource] = {}

    def visit(source: ChartSource, seen: tuple[Path, ...]) -> None:
        for target in _local_targets(source):
            if target in seen:
                loop = [os.path.relpath(p, chart.checkout) for p in (*seen[seen.index(target):], target)]
                raise ToolError(f"{chart.where}/{chart.declared_in}: file:// dependencies in a cycle "
                                f"({' -> '.join(loop)}); a chart cannot be built into itself: remove one of them")
            if target in found or not (target / "Chart.yaml").is_file():
                continue
            inside = target.is_relative_to(charts_dir.resolve())
            used = known.get(target) or charts.read(target, charts_dir.resolve() if inside else target.parent,
                                                    Path(chart.checkout))
            visit(used, (*seen, target))
            found[target] = used

    visit(chart, (chart.path.resolve(),))
    return list(found.values())


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
    becomes a Failure, reported through `failed` at once, and the others go on. Without `read_text`, the caller
    checks the text of what it builds (charts.check_text), except for a chart others use through file://: that one
    is checked here, so they are not built when it fails."""
    failures = list(tree.failures)
    for failure in failures:
        failed(failure)
    broken = {(charts_dir / f.rel).resolve() for f in failures}
    seconds = settings.package_epoch(env)
    known = {c.path.resolve(): c for c in tree.charts} if any(
        d.repository.startswith("file://") for c in tree.charts for d in c.dependencies) else {}
    used = {target for chart in known.values() for target in _local_targets(chart)}
    with _building(charts_dir, work_dir) as stage:
        for chart in _ordered(tree):
            blocked = [t for t in _local_targets(chart) if t in broken]
            try:
                if blocked:
                    uses = blocked[0].relative_to(charts_dir.resolve()).as_posix()
                    raise ToolError(f"{chart.where}: not built: it uses {charts_dir.name}/{uses} (file://), which failed")
                charts.check_files(chart, contents=read_text or bool(used) and chart.path.resolve() in used)
                act(chart, _prepared(chart, stage, repositories, seconds, known))
            except ToolError as exc:
                failures.append(Failure(chart.rel, chart.name, stage.shown(_named(chart, str(exc)))))
                broken.add(chart.path.resolve())
                failed(failures[-1])
    return failures


_UNPACKING = re.compile(r"error unpacking subchart (\S+) in \S+: ")  # Helm's words for each level of subchart
_CANNOT_LOAD = re.compile(r"cannot load (?P<file>[^:\s]+): (?:cannot unmarshal yaml document: )?"
                          r"(?:error converting YAML to JSON: )?(?P<why>.*)", re.DOTALL)


def _named(chart: ChartSource, message: str) -> str:
    """What Helm's loader cannot load, named where it is. Helm names a file within the chart or subchart it was
    loading (`cannot load values.yaml`, which for a subchart points at the chart's own), and a subchart only by its
    name, however deep (`error unpacking subchart a in app: error unpacking subchart b in a: ...`)."""
    helm, _, rest = message.partition(": ")
    if not helm.startswith("helm "):
        return message
    shown, folder, inside = chart.where, chart.path, ""  # inside: the path within a vendored archive
    while found := _UNPACKING.match(rest):
        if folder.is_dir():
            shown, folder = f"{shown}/charts/{found.group(1)}", folder / "charts" / found.group(1)
        else:
            inside += f"charts/{found.group(1)}/"
        rest = rest[found.end():]
    archive = not folder.is_dir()
    loading = _CANNOT_LOAD.fullmatch(rest)
    if loading and not archive:
        return f"{shown}/{loading['file']}: Helm cannot load it ({loading['why']}); fix it"
    if loading:
        return f"{shown}: its {inside}{loading['file']} cannot be loaded ({loading['why']}); vendor a good archive " \
               "of that chart"
    if archive:
        return f"{shown}: Helm cannot read this chart archive ({rest}); vendor a good archive of that chart"
    return message if shown == chart.where else f"{shown}: Helm cannot load this subchart ({rest}); fix it"


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
            helmed.append((chart, *helm.package(folder, Path(tmp) / "raw")))
            advance(chart)

        helmed: list[tuple[ChartSource, Path, dict[str, Any]]] = []
        failures = _each(tree, charts_dir, out_dir.parent, env, repositories, failed, package, read_text=False)
        for chart, raw, metadata in helmed:  # after Helm's loop, not turn by turn with it: each keeps its caches warm
            with open(raw, "r+b") as handle:  # Helm's file rewritten, then moved: cheaper than a second new file
                try:
                    try:  # Helm's loader checks each file against its limit; the sum is refused here, naming the chart
                        data, files = archives.normalized(handle.read(), mtime, chart.where)
                    except archives.TooBig as exc:
                        raise ToolError(f"{exc}; keep big files out of the chart (list them in its .helmignore)") \
                            from None
                    charts.check_text(chart, files)
                except ToolError as exc:
                    failures.append(Failure(chart.rel, chart.name, str(exc)))
                    failed(failures[-1])
                    continue
                handle.seek(0)
                handle.write(data)
                handle.truncate()
            raw.rename(fresh / raw.name)
            packages.append(Package(chart.name, chart.version, out_dir / raw.name, archives.digest(data), metadata))
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
