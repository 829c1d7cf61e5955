"""The chart tree: find every chart under charts/, read its Chart.yaml as Helm will, and say what is wrong.

A broken chart is a finding about that folder, never a reason to stop reading the others (invariant
10): discover() returns the charts it could read and one Failure per folder it could not. Only what
Helm itself refuses is refused; what Helm's lint merely warns about is a warning.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import stat
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import archives, git, helmignore, safe_yaml, ui, urls
from .errors import REMEDIES, ToolError

_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?\Z")  # what Helm's lint and Kubernetes names expect
# SemVer 2.0.0, the grammar from semver.org.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z", re.ASCII  # \d is 0-9 alone, \Z no line break after
)
# What Helm accepts as a chart version: Masterminds semver's NewVersion (v prefix, MINOR and PATCH optional).
_PRE = r"(0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"  # Masterminds/semver: a numeric pre-release part has no leading 0
HELM_VERSION = re.compile(  # what Helm's version check (Masterminds/semver NewVersion) accepts; each number fits 64 bits
    rf"^v?(\d+)(\.(\d+))?(\.(\d+))?(-{_PRE}(\.{_PRE})*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?\Z", re.ASCII
)


class _ChartYAML(getattr(yaml, "CBaseLoader", yaml.BaseLoader)):  # type: ignore[misc]
    """Every scalar stays a string (1.10 is not 1.1), but a plain null (`~`, `null`, nothing) is None, as Helm's YAML
    reader has it: `dependencies: null` declares none, where `dependencies: "null"` is text (which Helm refuses).
    Merge keys (`<<: *base`) are merged as Helm's reader merges them."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        safe_yaml.merge_keys(node)
        return super().construct_mapping(node, deep)


_ChartYAML.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"),
                                 ["~", "n", "N", ""])
_ChartYAML.add_constructor("tag:yaml.org,2002:null", lambda loader, node: None)
_ChartYAML.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])


@dataclass(frozen=True)
class Dependency:
    name: str
    version: str
    repository: str  # as written: a URL, file://PATH, oci://..., or a repository alias (@name, name)


@dataclass(frozen=True)
class ChartSource:
    name: str
    version: str
    path: Path  # the chart folder
    rel: str  # the folder relative to charts_dir, for messages and staging
    checkout: str  # the checkout's real path: a symlink in the chart may lead anywhere inside it, not beyond
    dependencies: tuple[Dependency, ...] = ()  # Chart.yaml's, or a requirements.yaml's (see _dependencies)
    lock: str | None = None  # the committed lock Helm reads: requirements.lock if there is one, else Chart.lock
    declared_in: str = "Chart.yaml"  # or requirements.yaml, when it declares them (Helm reads it for any apiVersion)
    where: str = ""  # the folder as people see it in their checkout: charts/REL
    api: str = "v2"  # Chart.yaml's apiVersion: the lock Helm writes is requirements.lock for v1, Chart.lock for v2
    notes: tuple[str, ...] = ()  # what Helm's loader warns about in the chart's files, said with lint_warnings

    @property
    def repositories(self) -> tuple[str, ...]:
        return tuple(sorted({d.repository for d in self.dependencies}))


@dataclass(frozen=True)
class Failure:
    """A chart folder that cannot be built, and the one line that says why and what to do."""

    rel: str
    name: str  # the chart's name when Chart.yaml said it, else the folder
    message: str


@dataclass
class Tree:
    charts: list[ChartSource] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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


def discover(charts_dir: Path, root: Path | None = None) -> Tree:
    """Every folder with a Chart.yaml, nested too, except subcharts vendored inside a chart's charts/.

    Symlinked folders are followed when they resolve inside `root` (the checkout), else warned about (one in a
    chart is that chart's file, which building it refuses).
    Two folders may hold the same chart at different versions (two maintained lines); the same name
    and version twice is refused for both, as are two charts whose packages would have one file name.
    """
    if not charts_dir.is_dir():
        raise ToolError(f"{charts_dir}: charts folder not found; set repo.charts_dir or create it")
    tree = Tree()
    checkout = (root or charts_dir).resolve()
    refused: list[tuple[Path, str]] = []
    for folder in _chart_folders(charts_dir, checkout, tree.warnings, refused):
        rel = folder.relative_to(charts_dir).as_posix()
        try:
            tree.charts.append(read(folder, charts_dir, checkout))
        except ToolError as exc:
            tree.failures.append(Failure(rel, _declared_name(folder) or rel, str(exc)))
        except OSError as exc:  # what read() does not name itself (a folder of the chart that cannot be searched)
            tree.failures.append(Failure(rel, _declared_name(folder) or rel,
                                         _unreadable(f"{charts_dir.name}/{rel}", exc)))
    for folder, why in refused:  # a chart to its author, none to Helm, or a folder not seen: not skipped unsaid
        rel = folder.relative_to(charts_dir).as_posix()
        tree.failures.append(Failure(rel, rel, why))
    by_file: dict[str, list[ChartSource]] = defaultdict(list)  # NAME-VERSION.tgz: foo 1.0.0-1 and foo-1.0.0 1
    for chart in tree.charts:
        by_file[f"{chart.name}-{chart.version}.tgz"].append(chart)
    for file, same in by_file.items():
        if len(same) > 1:
            folders = " and ".join(c.where for c in same)
            held = {f"{c.name} {c.version}" for c in same}
            why = (f"both hold {same[0].name} {same[0].version}" if len(held) == 1 else
                   f"hold {' and '.join(sorted(held))}, both packaged as {file} (one would overwrite the other)")
            tree.failures += [Failure(c.rel, c.name, f"{c.where}/Chart.yaml: {folders} {why}; bump the version in one "
                                      "of them (or remove one)") for c in same]
            tree.charts = [c for c in tree.charts if c not in same]
    tree.failures.sort(key=lambda f: f.rel)
    return tree


def _chart_folders(charts_dir: Path, root: Path, warnings: list[str], refused: list[tuple[Path, str]]
                   ) -> list[Path]:
    """Every folder with a Chart.yaml. A folder outside any chart is added to `refused`, with why, when it has a near
    miss (Chart.yml, chart.yaml, a Chart.yaml that is a folder or a dangling link) or cannot be listed: a chart in it
    would go unpublished with the run green, and the tree recorded as published (so not looked at again once fixed).
    A folder inside a chart that cannot be listed is that chart's (its own file walk, charts.files, reports it,
    unless its .helmignore leaves it out); charts_dir itself that cannot be listed stops the run."""
    found: list[Path] = []
    seen: set[str] = set()

    def walk(folder: Path, real: str, top: Path, in_chart: bool) -> None:
        """`real`: the folder's resolved path, carried down (resolving every folder again costs a stat per part);
        `in_chart`: a folder above it is a chart."""
        if real in seen:
            return
        seen.add(real)
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            if folder == top:
                raise ToolError(_unreadable(top.name, exc)) from None
            if not in_chart:
                refused.append((folder, _unreadable(_shown(folder, top), exc, ", so no chart in it can be published")))
            return
        is_chart = any(e.name == "Chart.yaml" and _a_file(e) for e in entries)
        if is_chart:
            found.append(folder)
        elif not in_chart and _submodule_not_checked_out(folder, entries):
            why = (f"{_shown(folder, top) if folder != top else top.name}: a git submodule that is not checked out "
                   "(empty); run git submodule update --init --recursive (in Drone: clone with recursive submodules)")
            if folder == top:
                raise ToolError(why)
            refused.append((folder, why))
        elif not in_chart:
            near = [e.name for e in entries if e.name.lower() in ("chart.yaml", "chart.yml")]
            if near:
                held = " and ".join(f"a {n} that is not a file" if n == "Chart.yaml" else n for n in near)
                why = (f"{_shown(folder, top)}: no Chart.yaml, but {held}; Helm reads a chart's Chart.yaml by that "
                       f"name alone: rename it (or move the folder out of {top.name}/)")
                refused.append((folder, why))
        for entry in entries:
            try:
                if not entry.is_dir() or entry.name.startswith("."):
                    continue
            except OSError:  # a symlink loop: a file of some chart, which reading that chart reports
                continue
            path = Path(entry.path)
            if entry.name == "charts" and is_chart:
                continue  # subcharts vendored in a chart are part of it
            target = os.path.join(real, entry.name)
            if entry.is_symlink():  # in a chart, its own file walk (files) refuses a bad one: not said twice
                try:
                    resolved = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    if not (in_chart or is_chart):
                        warnings.append(f"{_shown(path, top)}: symlink that does not resolve; skipped")
                    continue
                if not resolved.is_relative_to(root):
                    if not (in_chart or is_chart):
                        warnings.append(f"{_shown(path, top)}: symlink to {resolved}, outside the checkout; skipped")
                    continue
                target = str(resolved)
            walk(path, target, top, in_chart or is_chart)

    walk(charts_dir, str(charts_dir.resolve()), charts_dir, False)
    return found


def _submodule_not_checked_out(folder: Path, entries: list[os.DirEntry[str]]) -> bool:
    """A submodule's folder with nothing checked out: empty, where git records a submodule (a gitlink, mode 160000),
    as a clone without --recurse-submodules (Drone's default) leaves it, or holding only a submodule's `.git` file
    (cloned, not checked out). A chart there would go unpublished unsaid. Only an empty folder asks git: the common
    case costs nothing."""
    if len(entries) == 1 and entries[0].name == ".git":
        return _a_file(entries[0])
    if entries:
        return False
    listed = git.git(folder.parent, "--literal-pathspecs", "ls-files", "--stage", "--", folder.name)  # foo[1]: a name
    return listed.startswith("160000 ")


def _a_file(entry: os.DirEntry[str]) -> bool:
    """A file, or what may be one but cannot be looked at (a symlink that loops, or into a folder that cannot be
    searched): reading it says why."""
    try:
        return entry.is_file()
    except OSError:
        return True


def _unreadable(shown: str, exc: OSError, so: str = "") -> str:
    return f"{shown}: cannot be read ({exc.strerror or exc}){so}; {remedy(exc.errno)}"


def remedy(number: int | None) -> str:
    """What to do about a chart's file or folder the system would not read, for its errno: the fix for that cause."""
    return REMEDIES.get(number or 0, "fix or remove it")


def _shown(path: Path, charts_dir: Path) -> str:
    return f"{charts_dir.name}/{path.relative_to(charts_dir).as_posix()}"


def _declared_name(folder: Path) -> str | None:
    """The name a broken Chart.yaml still declares, so a failure reads as the chart people know."""
    try:
        text = _yaml_text(_chart_file(folder / "Chart.yaml", "Chart.yaml"), errors="replace")
    except (OSError, ToolError):
        return None
    match = re.search(r"^name:\s*['\"]?([A-Za-z0-9][\w.-]*)['\"]?\s*(#.*)?$", text, re.MULTILINE)
    return match.group(1) if match else None


def select(tree: Tree, names: list[str] | None) -> Tree:
    """Only the charts named (by chart name or folder); the state of every other folder does not matter."""
    if not names:
        return tree
    known = {c.name for c in tree.charts} | {c.rel for c in tree.charts} | {f.name for f in tree.failures} \
        | {f.rel for f in tree.failures}
    unknown = [n for n in names if n not in known]
    if unknown:
        listed = ", ".join(sorted({c.name for c in tree.charts} | {f.name for f in tree.failures})) or "none"
        raise ToolError(f"--chart {unknown[0]!r}: no such chart; known: {listed}")
    return Tree([c for c in tree.charts if {c.name, c.rel} & set(names)],
                [f for f in tree.failures if {f.name, f.rel} & set(names)], tree.warnings)


def read(chart_dir: Path, charts_dir: Path, checkout: Path | None = None) -> ChartSource:
    """Validate Chart.yaml as Helm will, but with an error that names the file and the fix. `checkout` (resolved;
    charts_dir when not given) bounds where the chart's symlinks may lead."""
    rel = chart_dir.relative_to(charts_dir).as_posix()
    where = f"{charts_dir.name}/{rel}/Chart.yaml"
    meta = _load_yaml(chart_dir / "Chart.yaml", where)
    if not isinstance(meta, dict):
        raise ToolError(f"{where}: must be a mapping with apiVersion, name and version")
    api, name, version = meta.get("apiVersion"), meta.get("name"), meta.get("version")
    if api not in ("v1", "v2"):
        raise ToolError(f"{where}: apiVersion {api!r} is not supported; use apiVersion: v2")
    if not name:
        raise ToolError(f"{where}: 'name' is missing; add name: <chart-name>")
    if not isinstance(name, str) or name != os.path.basename(name) or "\\" in name or name in (".", ".."):
        raise ToolError(f"{where}: name {name!r} is invalid (Helm refuses path separators); "
                        "use lowercase letters, digits and '-'")
    if not version:
        raise ToolError(f"{where}: 'version' is missing; add version: 0.1.0 (SemVer 2)")
    parsed = HELM_VERSION.match(version) if isinstance(version, str) else None
    if not parsed or any(int(n) >= 2**64 for n in parsed.group(1, 3, 5) if n):
        raise ToolError(f"{where}: version {version!r} is not a version Helm accepts; use SemVer 2 "
                        "(MAJOR.MINOR.PATCH[-PRE][+BUILD])")
    dependencies, declared_in, lock, notes = _dependencies(chart_dir, meta, where, api)
    _refuse_credentials(meta, where)
    _refuse_credentials([d.repository for d in dependencies], where.removesuffix("Chart.yaml") + declared_in)
    return ChartSource(name=name, version=version, path=chart_dir, rel=rel, dependencies=dependencies, lock=lock,
                       declared_in=declared_in, where=f"{charts_dir.name}/{rel}",
                       checkout=str(checkout or charts_dir.resolve()), api=api, notes=notes)


def _refuse_credentials(declared: Any, where: str) -> None:
    """A URL with a password (or, over http(s) or oci, a user name: a token) anywhere in a chart's metadata (its
    dependencies' repositories, home, sources, ...): the package carries that file and the repository's index
    copies it, for every reader; refused, the URL masked. `ssh://git@host` names no secret."""
    if isinstance(declared, Mapping):
        declared = list(declared.values())
    for value in declared if isinstance(declared, list) else [declared]:
        if isinstance(value, Mapping | list):
            _refuse_credentials(value, where)
            continue
        if isinstance(value, str) and urls.credentials_in(value):
            ui.add_url_secrets(value)
            raise ToolError(f"{where}: {urls.redact(value)!r} holds credentials, which the package and the "
                            "repository's index would publish to every reader; remove them (a dependency repository's "
                            "go in repo.dependency_repositories, with username_env and password_env)")


def lint_warnings(chart: ChartSource) -> list[str]:
    """What Helm's lint (or its loader) warns about but packages anyway: said once, never a failure."""
    warnings = list(chart.notes)
    if not _NAME.match(chart.name):
        warnings.append(f"{chart.where}/Chart.yaml: name {chart.name!r} is not lowercase letters, digits and '-'; "
                        "Helm packages it, but Kubernetes refuses it in resource names")
    if not SEMVER.match(chart.version):
        warnings.append(f"{chart.where}/Chart.yaml: version {chart.version!r} is not SemVer 2 (Helm's lint warns); "
                        "version ranges may not match it")
    return warnings


def _load_yaml(source: Path | bytes, where: str) -> Any:
    """The file's (or the bytes') first YAML document, as Helm's YAML reader takes it: what follows a `---` after it
    is never read (Helm packages a Chart.yaml ending in `---`, or holding a second document, as the first says)."""
    try:
        text = _yaml_text(source if isinstance(source, bytes) else _chart_file(source, where))
        loader = _ChartYAML(text)
        try:
            if not loader.check_node():
                return None  # no document at all
            node = loader.get_node()
            if "&" in text:  # no anchor, no alias: nothing to count
                safe_yaml.check_aliases(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except UnicodeDecodeError:
        raise ToolError(f"{where}: not UTF-8 text (nor UTF-16 with a byte order mark); save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ToolError(f"{where}: not valid YAML{line} ({getattr(exc, 'problem', exc)}); fix the syntax") from None


def _yaml_text(raw: bytes, errors: str = "strict") -> str:
    """A YAML file Helm parses, decoded as its YAML reader does: UTF-8 (a byte order mark dropped), or UTF-16
    after a byte order mark (Windows PowerShell 5 writes that)."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16", errors)
    return raw.decode("utf-8-sig", errors)


def _chart_file(path: Path | str, shown: str) -> bytes:
    """A file of the chart Helm reads whole, read within Helm's file size (never more: it may be anything)."""
    try:
        with open(path, "rb") as handle:  # read to its size, not to the limit: a 5 MiB buffer costs more than the read
            want = min(os.fstat(handle.fileno()).st_size, archives.MAX_FILE) + 1
            raw = handle.read(want)
            if len(raw) == want:  # longer than its size said (it grew, or a size the kernel cannot tell): read on
                raw += handle.read(archives.MAX_FILE + 1 - want)
    except OSError as exc:
        raise ToolError(_unreadable(shown, exc)) from None
    if len(raw) > archives.MAX_FILE:
        raise ToolError(f'{shown}: chart file "{os.path.basename(path)}" is larger than the maximum file size '
                        f"{archives.MAX_FILE} (Helm's limit); shorten it")
    return raw


def _dependencies(
    chart_dir: Path, meta: dict[str, Any], where: str, api: str,
) -> tuple[tuple[Dependency, ...], str, str | None, tuple[str, ...]]:
    """(dependencies, the file declaring them, the committed lock, what Helm warns about), as Helm's loader reads
    them, whatever the apiVersion: Chart.yaml's dependencies, replaced by a requirements.yaml's when it sets them
    (Helm reads it after Chart.yaml, into the same metadata); requirements.lock when there is one (read after
    Chart.lock), else Chart.lock. For apiVersion v2 Helm warns about either file, and still reads it."""
    declared, declared_in = meta.get("dependencies"), "Chart.yaml"
    folder, notes = where.removesuffix("/Chart.yaml"), []
    if (chart_dir / "requirements.yaml").is_file():
        shown = f"{folder}/requirements.yaml"
        requirements = _load_yaml(chart_dir / "requirements.yaml", shown)
        if requirements is not None and not isinstance(requirements, dict):
            raise ToolError(f"{shown}: must be a mapping (dependencies: [...]); Helm cannot load anything else")
        if api == "v2":
            ignored = "; Chart.yaml's own dependencies are ignored" if requirements and "dependencies" in requirements \
                and meta.get("dependencies") else ""
            notes.append(f'{shown}: Helm reads the dependencies from here, but warns: "Dependencies are handled in '
                         f'Chart.yaml since apiVersion v2"{ignored}; move them to Chart.yaml')
        if requirements and "dependencies" in requirements:
            declared, declared_in, where = requirements["dependencies"], "requirements.yaml", shown
    locks = [name for name in ("requirements.lock", "Chart.lock") if (chart_dir / name).is_file()]
    if api == "v2" and "requirements.lock" in locks:
        notes.append(f'{folder}/requirements.lock: Helm reads the lock from here, but warns: "Dependency locking is '
                     'handled in Chart.lock since apiVersion v2"; rename it Chart.lock')
    declared = declared or []
    if not isinstance(declared, list) or not all(isinstance(d, dict) and d.get("name") for d in declared):
        raise ToolError(f"{where}: dependencies must be a list of name/version/repository mappings")
    found = tuple(Dependency(str(d["name"]), str(d.get("version") or ""), str(d.get("repository") or ""))
                  for d in declared)
    return found, declared_in, locks[0] if locks else None, tuple(notes)


def check_files(chart: ChartSource, contents: bool = True) -> None:
    """What Helm's loader refuses, said before Helm reads anything (and when a chart is built, not at discovery:
    a push that builds nothing reads no chart file), among the files it reads: what files() refuses, templates over
    its size limit (any file, which Helm's own error left without the fix); and templates must be UTF-8 (see
    _manifest). Without `contents` the text is not read here:
    check_text reads it in the package, which holds it anyway. A .helmignore that leaves out Chart.yaml is said so:
    Helm says its Chart.yaml is missing, which the author sees is there. What Helm would load as a subchart but is
    none (a README.md in charts/) is refused, and so are two subcharts of one name in a charts/ folder (see
    _refuse_twins)."""
    read = False
    subcharts: dict[str, list[tuple[str, str]]] = defaultdict(list)  # a charts/ folder: its (subchart, real path)s
    loaded: dict[str, bool] = {}  # what Helm's loader takes for a subchart (_loaded_as_subcharts): whether a file
    for rel, path in files(chart.path, chart.checkout, chart.where):
        read = read or rel == "Chart.yaml"
        if rel.startswith("charts/") and not rel.endswith(".prov"):  # Helm keeps a .prov as a file of the chart
            for entry in _loaded_as_subcharts(rel):
                loaded[entry] = entry == rel
                if rel == f"{entry}/Chart.yaml" or rel == entry and rel.endswith(".tgz"):  # a subchart it is
                    subcharts[entry.rpartition("/")[0]].append((entry, path))
        shown = f"{chart.where}/{rel}"
        try:
            if os.stat(path).st_size > archives.MAX_FILE:  # checked before reading, as Helm's loader does
                raise ToolError(f'{shown}: chart file "{os.path.basename(rel)}" is larger than the maximum file size '
                                f"{archives.MAX_FILE} (Helm's limit); keep it out of the chart (.helmignore)")
            if _manifest(rel) and contents:
                with open(path, "rb") as handle:
                    _check_utf8(handle.read(), shown)
        except OSError as exc:  # a failure of this chart alone (a path over the system's limit, a file nobody can read)
            raise ToolError(_unreadable(shown, exc)) from None
    if not read:
        raise ToolError(f"{chart.where}/.helmignore leaves out Chart.yaml, which Helm needs to read the chart; remove "
                        "that pattern (or add !Chart.yaml after it)")
    stray = sorted(set(loaded) - {sub for held in subcharts.values() for sub, _ in held})
    if stray:
        entry = stray[0]
        what = "a file, not a chart archive (.tgz)," if loaded[entry] else "a folder with no Chart.yaml"
        raise ToolError(f"{chart.where}/{entry}: {what} in {entry.rpartition('/')[0]}/, where Helm loads each entry "
                        "as a subchart and refuses this one (Chart.yaml file is missing); remove it, or list it in "
                        "the chart's .helmignore")
    for level, held in subcharts.items():
        if len(held) > 1:
            _refuse_twins(chart.where, level, held)


def _loaded_as_subcharts(rel: str) -> Iterator[str]:
    """What Helm's loader takes for a subchart on the way to the chart's file `rel`: charts/NAME (a file or a folder),
    and in that folder its charts/NAME, and so on; a NAME starting with '.' or '_' is skipped, as Helm skips it."""
    parts, at = rel.split("/"), 0
    while at + 1 < len(parts) and parts[at] == "charts" and parts[at + 1][:1] not in ("", ".", "_"):
        yield "/".join(parts[:at + 2])
        at += 2


def _refuse_twins(where: str, level: str, held: list[tuple[str, str]]) -> None:
    """Refuse two subcharts of one charts/ folder (`held`: the path in the chart, the real path of its Chart.yaml or
    archive) with one name: Helm packages each under charts/NAME, so the package holds both, and which one installs
    is left to the order of its entries (nor can Helm's dependency resolution tell them apart). One whose name
    cannot be read is Helm's to report."""
    named: dict[str, list[str]] = defaultdict(list)
    for rel, path in held:
        try:
            if rel.endswith(".tgz"):
                with open(path, "rb") as handle:
                    found = [content for member, content in archives.read(handle.read(), f"{where}/{rel}")
                             if member.name.partition("/")[2] == "Chart.yaml"]  # Helm drops the top folder's name
                meta = _load_yaml(found[-1], f"{where}/{rel}") if found else None
            else:
                meta = _load_yaml(Path(path), f"{where}/{rel}/Chart.yaml")
        except (OSError, ToolError):
            continue
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            named[meta["name"]].append(rel)
    for name, same in named.items():
        if len(same) > 1:
            folders = " and ".join(f"{where}/{rel}" for rel in same)
            raise ToolError(f"{folders} are both the subchart {name}, which Helm packages as {level}/{name} twice "
                            "(which one installs is left to chance); remove one (or, if they are two charts, rename "
                            "one in its Chart.yaml)")


def files(folder: Path | str, checkout: str, where: str) -> Iterator[tuple[str, str]]:
    """Every file Helm's loader reads from a chart folder, as (its path in the chart, the real path to read), files
    before folders, each in name order. As Helm: the folder's .helmignore applies (an ignored folder is not
    entered), symlinks are followed, and a dangling or looping one is refused even when .helmignore names it
    (Helm resolves before it asks); a FIFO, socket or device is refused, never opened (reading one blocks or never
    ends). Unlike Helm, a symlink is followed only inside `checkout` (a real path), and never into git's own files:
    see _readable. `where` names the folder in messages."""
    ignored = helmignored(str(folder), checkout, where)

    def walk(path: str, rel: str, real: str, above: tuple[str, ...], through: str | None
             ) -> Iterator[tuple[str, str]]:
        """`real`: the folder's real path, carried down; `above`: the real paths of the folders that hold it;
        `through`: the symlink it was reached through, if any (what it holds is checked like a link's target)."""
        folders = []
        try:
            with os.scandir(path) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            raise ToolError(f"{where}/{rel}: cannot list the folder ({exc.strerror}); {remedy(exc.errno)}") from None
        inside = real if real.endswith(os.sep) else real + os.sep
        for entry in entries:
            shown, target, link = f"{where}/{rel}{entry.name}", inside + entry.name, None
            if entry.is_symlink():
                link = os.readlink(entry.path)
                try:
                    target = os.path.realpath(entry.path, strict=True)
                except OSError:
                    raise ToolError(f"{shown}: symlink loop or dangling symlink ({link}); remove it or point it at a "
                                    "file in the checkout (Helm refuses it even when .helmignore names it)") from None
                mode = os.stat(target).st_mode
            elif entry.is_dir(follow_symlinks=False):
                mode = stat.S_IFDIR
            elif entry.is_file(follow_symlinks=False):
                mode = stat.S_IFREG
            else:
                mode = entry.stat(follow_symlinks=False).st_mode
            if ignored(f"{rel}{entry.name}", stat.S_ISDIR(mode)):
                continue
            if entry.name == ".git" and link is None and through is None and stat.S_ISDIR(mode):
                # a nested repository: git's listing of the checkout shows none of it, so no fingerprint sees it change
                raise ToolError(f"{shown}: a git repository's own folder, in the chart; Helm would package it, and its "
                                "config may hold credentials: list .git/ in the chart's .helmignore (helm create's "
                                "does), or make the folder a submodule")
            if link is not None or through is not None or mode not in (stat.S_IFREG, stat.S_IFDIR):
                _readable(shown, mode, target, link, checkout, through)
            if not stat.S_ISDIR(mode):
                yield f"{rel}{entry.name}", target
            elif target in above:
                raise ToolError(f"{shown}: symlink loop: it leads to {target}, a folder that holds it, which Helm "
                                "would walk without end; remove it")
            else:
                folders.append((entry.path, f"{rel}{entry.name}/", target, shown if link is not None else through))
        for inner, inner_rel, inner_real, inner_through in folders:
            yield from walk(inner, inner_rel, inner_real, (*above, inner_real), inner_through)

    real = os.path.realpath(folder)
    return walk(str(folder), "", real, (real,), None)


def _readable(shown: str, mode: int, target: str, link: str | None, checkout: str, through: str | None = None
              ) -> None:
    """Refuse a file Helm cannot load (a FIFO, socket or device), and a symlink leading out of the checkout or into
    git's own files (a folder reached `through` a symlink included). Helm would follow it and package whatever it
    finds (/etc/passwd, a CI's .git/config with its credentials); this tool draws the line at the checkout's content,
    so a package holds nothing a reviewer of the repository cannot see."""
    if not stat.S_ISDIR(mode) and not stat.S_ISREG(mode):
        kind = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
                stat.S_IFBLK: "a block device"}.get(stat.S_IFMT(mode), "a special file")
        raise ToolError(f"{shown}: {f'symlink to {target}, ' if link else ''}{kind}, not a regular file; Helm cannot "
                        "load it (irregular file): remove it, or list it in the chart's .helmignore")
    if link is not None and target != checkout and not target.startswith(checkout + os.sep):
        raise ToolError(f"{shown}: symlink points outside the checkout ({link} -> {target}); Helm would package that "
                        "file, this tool packages nothing from outside the checkout: copy it into the checkout")
    if (link is not None or through is not None) and _git_owned(target, checkout):
        how = f"symlink into git's own files ({link} -> {target})" if link is not None else \
            f"git's own files ({target}), reached through the symlink {through}"
        raise ToolError(f"{shown}: {how}; Helm would package them, but they are not chart content and may hold "
                        "credentials (a CI's .git/config does): remove the link, or copy into the chart what it needs")


def _git_owned(target: str, checkout: str) -> bool:
    """Whether a real path in the checkout is git's: in a `.git` folder (the checkout's, a nested repository's), or
    in what the checkout's .git leads to (a symlink, or the `gitdir:` file a worktree or submodule has)."""
    if f"{os.sep}.git{os.sep}" in target[len(checkout):] + os.sep:
        return True
    dot, line = os.path.join(checkout, ".git"), ""
    if os.path.isfile(dot):  # never open a FIFO
        with contextlib.suppress(OSError), open(dot, encoding="utf-8", errors="replace") as handle:
            line = handle.readline()
    led = line.removeprefix("gitdir:").strip() if line.startswith("gitdir:") else ""
    git_dir = os.path.realpath(os.path.join(checkout, led) if led else dot)
    return target == git_dir or target.startswith(git_dir + os.sep)


def helmignored(folder: str, checkout: str, where: str) -> Callable[[str, bool], bool]:
    """The folder's .helmignore (helmignore.rules), read with the checks any chart file gets. A subchart's own
    .helmignore is not read (Helm's loader reads only the top one)."""
    path, shown = os.path.join(folder, ".helmignore"), f"{where}/.helmignore"
    try:
        mode, real, link = os.lstat(path).st_mode, path, None  # the usual case: no symlink, nothing to resolve
        if stat.S_ISLNK(mode):
            real, link = os.path.realpath(path, strict=True), os.readlink(path)
            mode = os.stat(real).st_mode
    except OSError:
        return helmignore.rules([], shown)  # none (or dangling: Helm reads no rules then, and its walk refuses the link)
    if stat.S_ISDIR(mode):
        raise ToolError(f"{shown}: a folder, where Helm reads its rules from a file; rename it")
    _readable(shown, mode, real, link, checkout)
    raw = _chart_file(path, shown).removeprefix(codecs.BOM_UTF8)  # Windows editors write one; Helm drops it
    return helmignore.rules(raw.decode("utf-8", "surrogateescape").split("\n"), shown)  # as file names are decoded


def check_text(chart: ChartSource, files: Mapping[str, bytes]) -> None:
    """check_files' text check on a package's files (NAME/PATH: content)."""
    for name, content in files.items():
        rel = name.partition("/")[2]
        if _manifest(rel):
            _check_utf8(content, f"{chart.where}/{rel}")


def _manifest(rel: str) -> bool:
    """A template or a CRD of the chart, or of a subchart vendored as a folder in its charts/: it goes to
    Kubernetes, which reads nothing but UTF-8, so it must be UTF-8 (Helm itself packages anything; NOTES.txt is
    shown to people, never applied). The rest is Helm's to judge: it refuses a values.yaml that is not UTF-8."""
    while rel.startswith("charts/") and rel.count("/") >= 2:
        rel = rel.split("/", 2)[2]
    return rel.startswith(("templates/", "crds/")) and not rel.endswith("NOTES.txt")


def _check_utf8(content: bytes, shown: str) -> None:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"{shown}: not UTF-8 (byte {exc.start}); Helm packages it, but Kubernetes cannot read what "
                        "it renders, so installing it would fail: save it as UTF-8") from None
