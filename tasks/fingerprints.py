"""Fingerprints of a chart's inputs, so a push that changes nothing rebuilds nothing.

A fingerprint is a sha256 over what decides a package's bytes: every file in the chart's folder (by
its git blob id, read from git's index when the file is committed unchanged and checked out as committed), the
fingerprints of the charts it uses through file://, the package epoch, and the packaging code's and Helm's
versions. A few git calls cover the whole tree, so a clean CI clone reads no chart file to know nothing changed.

They are kept in the repository's own index.yaml, as a top-level annotation (Helm's IndexFile has
`annotations` "uninterpreted by Helm ... for other applications"), so a clean clone finds them with
the one read it makes anyway, and Helm's clients ignore them.

A whole tree has one fingerprint too, when git holds every input: a digest of git's listing of the charts
folder (each file's mode, blob id and path), with nothing below it modified, untracked or ignored. A publish
of every chart records it with the charts it published (TREE), so the next clean checkout of the same tree
knows, from one listing by git and without reading a chart, that there is nothing to do.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import ui
from .errors import ToolError
from .git import converted, git

if TYPE_CHECKING:  # charts is imported only when charts are read: not by a push whose tree is unchanged
    from .charts import ChartSource

ANNOTATION = "invoke-charts/fingerprints"  # index.yaml annotations: {"NAME-VERSION": fingerprint}
TREE = "invoke-charts/tree"  # index.yaml annotations: {"key": tree_key, "charts": [[NAME, VERSION, fingerprint]]}
PACKAGING = "2"  # bump when packaging changes what bytes the same inputs give
NOT_REBUILT = "not rebuilt: inputs unchanged"


def summary(verb: str, url: str, new: int, replaced: int, unchanged: int, not_rebuilt: int) -> str:
    """The line a publish ends with for each target ("published to URL: ..."). Here, beside the fingerprints
    that decide `not_rebuilt`, so a push that changes nothing prints it without loading the publish code."""
    return (f"{verb} to {url}: {new} new{f', {replaced} replaced' if replaced else ''}, {unchanged} unchanged"
            + (f" ({not_rebuilt} {NOT_REBUILT})" if not_rebuilt else ""))


def verb(dry_run: bool) -> str:
    """What a publish's summary lines say it did (summary's verb): a dry run writes nothing."""
    return "would publish" if dry_run else "published"


def recorded(annotations: Mapping[str, str]) -> dict[str, str]:
    """The fingerprints an index carries; nothing (so everything is built) when they are unreadable."""
    try:
        found = json.loads(annotations.get(ANNOTATION, "{}"))
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def annotate(annotations: dict[str, str], fingerprints: Mapping[str, str]) -> bool:
    """Merge fingerprints into an index's annotations; True when that changed them."""
    merged = {**recorded(annotations), **fingerprints}
    text = json.dumps(dict(sorted(merged.items())), separators=(",", ":"))
    if annotations.get(ANNOTATION) == text:
        return False
    annotations[ANNOTATION] = text
    return True


def tree_key(charts_dir: Path, epoch: int) -> str:
    """The fingerprint of the whole tree when git holds every input, else "": a digest of git's listing of charts_dir
    (each file's mode, blob id and path) when every file below it is in git's index (committed or staged),
    unmodified and checked out as its blob is (git.converted), and nothing else is, not even an ignored file, nor a
    symlink (its target may live outside the folder); and what else decides the bytes (as in `of`)."""
    # read with str methods (loops in C): a loop in Python over the ~2,400 lines of 300 charts costs several times more
    listing = "\0" + _listing(charts_dir, ".").removesuffix("\0")  # each line after a NUL
    lines = listing.count("\0")
    if listing.count("\0H 100") != lines:  # each line a regular file git vouches for (_trusted), not a link
        return ""
    parts = listing.replace("\0", "\t").split("\t")  # "", LINE, PATH, LINE, PATH ...: unless a path holds a tab
    names = parts[2::2] if len(parts) == 2 * lines + 1 else [_name(line) for line in listing[1:].split("\0")]
    if converted(charts_dir, names, ["."], names):
        return ""
    tree = hashlib.sha256(listing[1:].encode("utf-8", "surrogateescape")).hexdigest()
    return f"{tree} packaging-{PACKAGING} helm-{_helm_version()} epoch-{epoch}"


def _listing(cwd: Path, *pathspecs: str) -> str:
    """git's lines for the files below the pathspecs, in one call, each ended by a NUL: every file in its index (-c)
    with its tag (-v) and blob id (--stage), again each one modified or deleted (-m, -d: tagged C, R), and every
    other file (-o with no exclude rules: ignored ones too, tagged ?)."""
    return git(cwd, "ls-files", "-c", "-m", "-d", "-o", "-v", "--stage", "-z", "--", *pathspecs, strip=False)


def _name(entry: str) -> str:
    """The path of a _listing line: after the tag ("? PATH": a file git does not hold has no blob), or after the first
    tab ("H MODE OID STAGE\tPATH"; a path may hold a tab too)."""
    return entry[2:] if entry.startswith("? ") else entry.partition("\t")[2]


def _trusted(entry: str) -> bool:
    """Whether git vouches for a file, from its `ls-files -v --stage` line: a committed file as it is in git's index
    (H), not one marked skip-worktree (S: a sparse checkout leaves it out) or assume-unchanged (lower case: git stops
    looking at it), however they differ from HEAD, nor a submodule (160000), whose files git does not list."""
    return entry.startswith("H ") and not entry.startswith("H 160000 ")


def tree_record(tree: str, charts: list[ChartSource], fingerprints: Mapping[str, str], charts_dir: Path) -> str:
    """The TREE annotation for a publish of every chart in charts_dir; "" when the tree's key does not stand for all
    their inputs: a file:// dependency outside charts_dir (a tree with a symlink has no key: tree_key)."""
    if not tree:
        return ""
    top = os.path.realpath(charts_dir)
    for chart in charts:
        for dependency in chart.dependencies:
            target = os.path.realpath(os.path.join(chart.path, dependency.repository.removeprefix("file://")))
            if dependency.repository.startswith("file://") and not target.startswith(top + os.sep):
                return ""
    published = sorted([c.name, c.version, fingerprints[key(c)]] for c in charts)
    return json.dumps({"key": tree, "charts": published}, separators=(",", ":"))


def published_tree(annotations: Mapping[str, str], tree: str) -> list[tuple[str, str]] | None:
    """The charts (name, version) published from the tree `tree` (a tree_key), when the index's record is of that tree and
    each still has the fingerprint it was published with (a --force from elsewhere changes it)."""
    try:
        found = json.loads(annotations.get(TREE, "{}"))
        if not tree or not isinstance(found, dict) or found.get("key") != tree:
            return None
        known = recorded(annotations)
        charts = [(str(name), str(version), str(fingerprint)) for name, version, fingerprint in found["charts"]]
    except (ValueError, KeyError, TypeError):
        return None
    if any(known.get(f"{name}-{version}") != fingerprint for name, version, fingerprint in charts):
        return None
    return [(name, version) for name, version, _ in charts]


def key(chart: ChartSource) -> str:
    return f"{chart.name}-{chart.version}"


def of(charts: list[ChartSource], root: Path, epoch: int) -> dict[str, str]:
    """Each chart's fingerprint, by key(chart)."""
    folders = {c.path: os.path.realpath(c.path) for c in charts}
    checkout = os.path.realpath(root)
    blobs = _committed_blobs(root, sorted(set(folders.values())))
    base = f"{PACKAGING}\0{_helm_version()}\0{epoch}"
    by_folder = {folders[c.path]: c for c in charts}
    done: dict[str, str] = {}

    def one(folder: str, seen: tuple[str, ...]) -> str:
        if folder not in done:
            digest = hashlib.sha256(base.encode())
            chart = by_folder.get(folder) or _used(folder, checkout)
            _files(folder, chart.checkout if chart else checkout, blobs, digest)
            for dependency in chart.dependencies if chart else ():
                if dependency.repository.startswith("file://"):
                    target = os.path.realpath(os.path.join(folder, dependency.repository.removeprefix("file://")))
                    used = one(target, (*seen, folder)) if target not in seen else "cycle"
                    digest.update(f"\0uses\0{used}".encode())
            done[folder] = digest.hexdigest()
        return done[folder]

    return {key(c): one(folders[c.path], ()) for c in charts}


def _used(folder: str, checkout: str) -> ChartSource | None:
    """A chart used through file:// that is not among those fingerprinted (outside charts/, or not chosen
    with --chart): its own file:// dependencies are built into the package too, so they count. None when it
    cannot be read (the chart that uses it then fails to build, and no fingerprint is kept)."""
    from . import charts

    try:
        return charts.read(Path(folder), Path(folder).parent, Path(checkout))
    except (ToolError, OSError):
        return None


def _files(folder: str, checkout: str, blobs: Mapping[str, str], digest: Any) -> None:
    """Every file Helm reads from the folder (charts.files: .helmignore applied, so an ignored file changes
    nothing) by its path and git blob id: from git's index when committed unchanged, else computed from the content
    as git would, so a checkout with or without git agrees. Only what charts.files() lets through is opened (never a
    FIFO or a device, nor a symlink out of the checkout). A folder holding anything else gets a fingerprint never
    given twice: what was not read cannot vouch for the package, so it is always built (a chart fails there anyway;
    a file:// dependency outside the tree is Helm's to judge)."""
    from . import charts  # here: a push whose tree is unchanged reads no chart

    try:
        for rel, path in charts.files(folder, checkout, folder):
            blob = blobs.get(path)  # a symlink's real path: git's blob of the link itself is not what Helm reads
            if blob is None:
                with open(path, "rb") as handle:
                    blob = "git:" + _blob_id(handle)
            digest.update(os.fsencode(f"\0{rel}\0{blob}"))  # a name not in UTF-8: the bytes it has
    except (ToolError, OSError) as exc:
        digest.update(os.fsencode(f"\0refused\0{exc}\0") + os.urandom(16))


def _blob_id(handle: Any) -> str:
    """git's blob id of an open file (sha1 of "blob SIZE\0" and the content), streamed."""
    sha1 = hashlib.sha1(b"blob %d\0" % os.fstat(handle.fileno()).st_size, usedforsecurity=False)
    return hashlib.file_digest(handle, lambda: sha1).hexdigest()


def _committed_blobs(root: Path, folders: list[str]) -> dict[str, str]:
    """git's blob id of every file under the folders that is in its index, unchanged in the work tree and checked out
    as its blob is (that git looks at: _trusted; not converted: git.converted)."""
    top = git(root, "rev-parse", "--show-toplevel") if folders else ""
    if not top:
        return {}
    roots = [os.path.relpath(f, top) for f in folders]
    entries = [(entry, _name(entry)) for entry in _listing(Path(top), *roots).split("\0") if entry]
    changed = {name for entry, name in entries if not _trusted(entry)}
    kept = {name: entry.split()[2] for entry, name in entries if name not in changed}
    changes = converted(Path(top), list(kept), roots, [name for _, name in entries])
    if changes:
        ui.warn(f"git's checkout here may convert {len(changes)} chart file(s), e.g. {min(changes)} (line endings: "
                "core.autocrlf or .gitattributes text/eol; or a filter, ident or working-tree-encoding): Helm packages "
                "them as they are in the work tree, so their packages may differ from another checkout's")
    return {os.path.join(top, name): "git:" + blob for name, blob in kept.items() if name not in changes}


@functools.cache  # a full publish asks twice (tree_key, of): one listing of site-packages
def _helm_version() -> str:
    """The installed helm-python-sdk's version, from its dist-info folder's name: importing helm_python
    would load the Go runtime, and importlib.metadata costs more than the whole no-op publish should."""
    spec = importlib.util.find_spec("helm_python")
    if spec is None or spec.origin is None:
        return "none"
    found = sorted(Path(spec.origin).parent.parent.glob("helm_python_sdk-*.dist-info"))
    return found[-1].name.removesuffix(".dist-info").split("-", 1)[1] if found else "unknown"
