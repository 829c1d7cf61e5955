"""Charts in the repository: find them, validate Chart.yaml, and build reproducible packages.

Helm's own package embeds every file's mtime, so a fresh clone changes every digest and the chart
repository would see a "new" package on each CI run. build() lets Helm package (it knows .helmignore,
dependencies and validation), then rewrites the archive deterministically (invariant 5): entries
sorted, mtime from SOURCE_DATE_EPOCH, else the chart folder's last commit, else a fixed epoch,
uid/gid 0, no owner names, gzip mtime 0.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tasks import helm
from tasks.errors import ToolError
from tasks.git import git

FIXED_EPOCH = 315532800  # 1980-01-01: the oldest date zip-based tools accept
_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
# SemVer 2.0.0, the grammar from semver.org.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_TEXT = (".yaml", ".yml", ".json", ".tpl", ".txt")  # a chart's top-level text files, checked for UTF-8
_YAML_LOADER = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # every scalar stays a string: 1.10 is not 1.1


@dataclass(frozen=True)
class ChartSource:
    name: str
    version: str
    path: Path  # the chart folder
    rel: str  # the folder relative to charts_dir, for messages and staging
    repositories: tuple[str, ...] = ()  # where its dependencies come from; empty: it has none


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    path: Path
    digest: str  # sha256 hex of the archive, as index.yaml carries it
    metadata: dict[str, Any] = field(compare=False, hash=False, repr=False)  # Chart.yaml, as Helm loaded it

    @property
    def filename(self) -> str:
        return self.path.name


def discover(charts_dir: Path) -> list[ChartSource]:
    """Every folder with a Chart.yaml, nested too, except subcharts vendored inside a chart's charts/."""
    if not charts_dir.is_dir():
        raise ToolError(f"{charts_dir}: charts folder not found; set repo.charts_dir or create it")
    found: list[ChartSource] = []
    for chart_yaml in sorted(charts_dir.rglob("Chart.yaml")):
        rel = chart_yaml.parent.relative_to(charts_dir)
        if any(part.startswith(".") for part in rel.parts) or _is_vendored(charts_dir, rel):
            continue
        found.append(read(chart_yaml.parent, charts_dir))
    by_name: dict[str, ChartSource] = {}
    for chart in found:
        if chart.name in by_name:
            raise ToolError(
                f"two charts are named {chart.name!r}: {by_name[chart.name].rel} and {chart.rel}; "
                "rename one (name: in its Chart.yaml)"
            )
        by_name[chart.name] = chart
    return found


def select(charts: list[ChartSource], name: str | None) -> list[ChartSource]:
    if name is None:
        return charts
    chosen = [c for c in charts if name in (c.name, c.rel)]
    if not chosen:
        raise ToolError(f"--chart {name!r}: no such chart; known: {', '.join(c.name for c in charts) or 'none'}")
    return chosen


def _is_vendored(charts_dir: Path, rel: Path) -> bool:
    return any(
        part == "charts" and (charts_dir.joinpath(*rel.parts[:i]) / "Chart.yaml").exists()
        for i, part in enumerate(rel.parts)
        if i > 0
    )


def read(chart_dir: Path, charts_dir: Path) -> ChartSource:
    """Validate Chart.yaml the way Helm will, but with an error that names the file and the fix."""
    path = chart_dir / "Chart.yaml"
    rel = str(chart_dir.relative_to(charts_dir))
    where = f"{charts_dir.name}/{rel}/Chart.yaml"
    try:
        meta = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except UnicodeDecodeError:
        raise ToolError(f"{where}: not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ToolError(f"{where}: not valid YAML{line} ({getattr(exc, 'problem', exc)}); fix the syntax") from None
    if not isinstance(meta, dict):
        raise ToolError(f"{where}: must be a mapping with apiVersion, name and version")
    api, name, version = meta.get("apiVersion"), meta.get("name"), meta.get("version")
    if api not in ("v1", "v2"):
        raise ToolError(f"{where}: apiVersion {api!r} is not supported; use apiVersion: v2")
    if not name:
        raise ToolError(f"{where}: 'name' is missing; add name: <chart-name>")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ToolError(f"{where}: name {name!r} is invalid; use lowercase letters, digits, '-' and '.'")
    if not version:
        raise ToolError(f"{where}: 'version' is missing; add version: 0.1.0 (SemVer 2)")
    if not isinstance(version, str) or not SEMVER.match(version):
        raise ToolError(f"{where}: version {version!r} is not SemVer 2 (MAJOR.MINOR.PATCH[-PRE][+BUILD]); fix it")
    _check_files(chart_dir, f"{charts_dir.name}/{rel}")
    dependencies = meta.get("dependencies") or []
    if not isinstance(dependencies, list) or not all(isinstance(d, dict) for d in dependencies):
        raise ToolError(f"{where}: dependencies must be a list of name/version/repository mappings")
    repositories = tuple(sorted({str(d.get("repository", "")) for d in dependencies}))
    return ChartSource(name=name, version=version, path=chart_dir, rel=rel, repositories=repositories)


def _check_files(chart_dir: Path, where: str) -> None:
    """No symlink may leave the chart; templates and values must be UTF-8 (Kubernetes reads nothing else)."""
    root = chart_dir.resolve()
    for folder, dirs, files in os.walk(chart_dir):
        for entry in dirs + files:
            path = Path(folder) / entry
            rel = path.relative_to(chart_dir)
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise ToolError(
                    f"{where}/{rel}: symlink points outside the chart ({os.readlink(path)}); "
                    "copy the file into the chart instead"
                )
            if entry in files and (rel.parts[0] == "templates" or (len(rel.parts) == 1 and rel.suffix in _TEXT)):
                try:
                    path.read_bytes().decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ToolError(f"{where}/{rel}: not UTF-8 (byte {exc.start}); save it as UTF-8") from None


def source_date_epoch(chart_dir: Path, env: Mapping[str, str]) -> int:
    """SOURCE_DATE_EPOCH, else the chart folder's last commit time, else a fixed epoch.

    A shallow clone cannot tell when an older chart last changed (its boundary commit seems to add
    every file), so there the fixed epoch stands in: shallow clones then agree with each other.
    """
    if env.get("SOURCE_DATE_EPOCH"):
        try:
            return int(env["SOURCE_DATE_EPOCH"])
        except ValueError:
            raise ToolError(
                f"SOURCE_DATE_EPOCH={env['SOURCE_DATE_EPOCH']!r} is not a number of seconds; unset or fix it"
            ) from None
    if git(chart_dir, "rev-parse", "--is-shallow-repository") == "true":
        return FIXED_EPOCH
    committed = git(chart_dir, "log", "-1", "--format=%ct", "--", ".")
    return int(committed) if committed.isdigit() else FIXED_EPOCH


def normalize(data: bytes, mtime: int) -> bytes:
    """Rewrite a chart archive so its bytes depend only on its content and `mtime`."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as src:
        members = sorted(src.getmembers(), key=lambda m: m.name)
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as dst,
        ):
            for member in members:
                if not member.isfile():
                    raise ToolError(f"{member.name}: unexpected {member.type!r} entry in Helm's archive")
                content = src.extractfile(member).read()  # type: ignore[union-attr]
                info = tarfile.TarInfo(member.name)
                info.size, info.mode, info.mtime = len(content), member.mode & 0o777, mtime
                dst.addfile(info, io.BytesIO(content))
    return out.getvalue()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive_files(data: bytes) -> dict[str, bytes]:
    """Every file in a chart archive by name: what two archives must share to hold the same chart."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


@contextmanager
def staged(charts_dir: Path, work_dir: Path) -> Iterator[Path]:
    """A scratch copy of the charts tree, so building dependencies never writes into the checkout."""
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix=".stage-") as tmp:
        stage = Path(tmp) / charts_dir.name
        shutil.copytree(charts_dir, stage, symlinks=True)
        try:
            yield stage
        except ToolError as exc:  # point the user at their checkout (charts/...), not at the scratch copy
            raise ToolError(str(exc).replace(str(stage), charts_dir.name)) from exc


def prepare(chart: ChartSource, stage_dir: Path) -> None:
    """Build the chart's dependencies (file:// subcharts and repositories; Chart.lock honoured).

    Without a committed Chart.lock, Helm writes one stamped with the current time; it is dropped
    again, or every package of the chart would differ (commit Chart.lock to pin versions).
    """
    if not chart.repositories:
        return
    locked = (stage_dir / "Chart.lock").exists()
    try:
        helm.build_dependencies(stage_dir)
    except ToolError as exc:
        raise ToolError(f"{stage_dir}/Chart.yaml: dependencies could not be built from "
                        f"{', '.join(chart.repositories)}; check them (and Chart.lock) ({exc})") from None
    if not locked:
        (stage_dir / "Chart.lock").unlink(missing_ok=True)


def lint(charts: list[ChartSource], charts_dir: Path, work_dir: Path) -> list[tuple[ChartSource, dict[str, Any]]]:
    findings = []
    with staged(charts_dir, work_dir) as stage:
        for chart in charts:
            prepare(chart, stage / chart.rel)
            findings += [(chart, message) for message in helm.lint(stage / chart.rel)]
    return findings


def build(
    charts: list[ChartSource],
    charts_dir: Path,
    out_dir: Path,
    env: Mapping[str, str],
    advance: Callable[[ChartSource], None] = lambda chart: None,
) -> list[Package]:
    """Package every chart into out_dir, replacing what was there only once all have succeeded."""
    packages: list[Package] = []
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with staged(charts_dir, out_dir.parent) as stage, tempfile.TemporaryDirectory(dir=out_dir.parent) as tmp:
        fresh = Path(tmp) / "packages"
        fresh.mkdir()
        for chart in charts:
            prepare(chart, stage / chart.rel)
            raw = helm.package(stage / chart.rel, Path(tmp) / "raw")
            data = normalize(raw.read_bytes(), source_date_epoch(chart.path, env))
            metadata = helm.archive_metadata(data, raw.name)  # it must still load in Helm
            target = fresh / raw.name
            target.write_bytes(data)
            packages.append(Package(chart.name, chart.version, out_dir / raw.name, digest(data), metadata))
            advance(chart)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        fresh.rename(out_dir)
    return packages


def built(out_dir: Path) -> list[Package]:
    """The packages a previous `repo.package` left in out_dir."""
    packages = []
    for path in sorted(out_dir.glob("*.tgz")) if out_dir.is_dir() else []:
        data = path.read_bytes()
        meta = helm.archive_metadata(data, path.name)
        packages.append(Package(str(meta["name"]), str(meta["version"]), path, digest(data), meta))
    if not packages:
        raise ToolError(f"{out_dir}: no packages; run `invoke repo.package` first")
    return packages
