"""Choosing and fetching the chart a release deploys: a version from the repository's index, or a folder.

The index is untrusted (invariant 9): an entry without a digest is never deployed, and its package is
read only from inside the repository, and only when its digest matches.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import archives, charts, helm, packaging, registry, settings, signing
from . import index as idx
from .environments import Environment, Release
from .errors import ToolError
from .store import INDEX, Store, open_store


def choose_version(entries: list[dict[str, Any]], constraint: str | None, chart: str, where: str) -> dict[str, Any]:
    """The newest entry matching a Masterminds-style constraint (~1.2, ^1.2, 1.x, >=1.2 <2, a || b)."""
    from semantic_version import NpmSpec, Version

    if constraint is None:
        candidates = [e for e in entries if "-" not in str(e.get("version"))] or entries
        return max(candidates, key=lambda e: _parsed(e, Version))
    if charts.SEMVER.match(constraint):
        exact = [e for e in entries if e.get("version") == constraint]
        if not exact:
            raise ToolError(f"{where}: {chart} {constraint} is not in the repository; published: "
                            f"{', '.join(str(e.get('version')) for e in entries[:10])}")
        return exact[0]
    try:
        spec = NpmSpec(" ".join(constraint.replace(",", " ").split()))  # Masterminds: "," is AND
    except ValueError:
        raise ToolError(f"{where}: {constraint!r} is not a version constraint (e.g. ~0.1, ^1.2, >=1.2 <2)") from None
    matching = [e for e in entries if _parsed(e, Version) in spec]
    if not matching:
        raise ToolError(f"{where}: no version of {chart} satisfies {constraint!r}; published: "
                        f"{', '.join(str(e.get('version')) for e in entries[:10])}")
    return max(matching, key=lambda e: _parsed(e, Version))


def _parsed(entry: dict[str, Any], version_type: Any) -> Any:
    try:
        return version_type(str(entry.get("version")))
    except ValueError:
        return version_type("0.0.0-invalid")


class Repository:
    """A chart repository as releases read it: its index read once (an environment deploys many releases).
    With a keyring, a chart deploys only when its .prov, beside it, holds a signature by a key in it."""

    def __init__(self, store: Store, public_url: str | None = None, keyring: Path | None = None) -> None:
        if keyring is not None:
            signing.check_keyring(keyring, "verify_keyring")
        self.store = store
        self.public_url = public_url
        self.keyring = keyring
        self.listed = f"{store.url}/{INDEX}"

    @functools.cached_property
    def index(self) -> idx.Index:
        return idx.read(self.store)[0]

    def fetch(self, chart: str, constraint: str | None, where: str) -> tuple[str, bytes]:
        """(version, archive), verified against the index's digest.

        The index is untrusted (invariant 9): an entry without a digest is never deployed, and its package is
        read only from inside the repository (idx.package_key), nowhere else.
        """
        store = self.store
        if not self.index.entries.get(chart):
            known = ", ".join(sorted(self.index.entries)[:10]) or "no charts yet"
            raise ToolError(f"{store.url}: chart {chart!r} is not in this repository ({known}); publish it "
                            "(invoke repo.publish) or fix repo.url")
        entry = choose_version(self.index.entries[chart], constraint, chart, where)
        key = idx.package_key(entry, self.listed, (store.url, self.public_url))
        if not entry.get("digest"):
            raise ToolError(f"{self.listed}: {chart} {entry['version']} has no digest, so its package cannot be "
                            "verified and is not deployed; publish the chart again (invoke repo.publish, with --force "
                            "if the stored package differs) to record its digest")
        package = store.read(key)
        if package is None:
            raise ToolError(f"{store.url}/{key}: in the index but missing from the repository; restore it, or publish "
                            "that version again (invoke repo.publish, with --force where it was built from other "
                            "content)")
        if archives.digest(package[0]) != entry["digest"]:
            raise ToolError(f"{store.url}/{key}: digest differs from index.yaml's; the repository is damaged, "
                            "republish the chart (invoke repo.publish --force)")
        if self.keyring is not None:
            provenance = store.read(f"{key}.prov")
            signing.verify(package[0], provenance[0] if provenance else None, self.keyring, f"{store.url}/{key}")
        where = f"{store.url}/{key}"  # the entry's url and digest may be another package's: its Chart.yaml says
        idx.check_package(chart, entry, helm.archive_metadata(package[0], where), where)
        return str(entry["version"]), package[0]


class Registry:
    """Charts in an OCI registry as releases read them: versions from its tags, archives pulled by digest."""

    def __init__(self, url: str, keyring: Path | None = None) -> None:
        if keyring is not None:
            raise ToolError(f"{url}: verify_keyring is checked for folder and S3 repositories; Helm's SDK here cannot "
                            "fetch a provenance layer from a registry yet: deploy from the classic repository")
        self.url = url

    def fetch(self, chart: str, constraint: str | None, where: str) -> tuple[str, bytes]:
        with registry.session(self.url, os.environ) as target:
            versions = registry.versions(target, chart)
            if not versions:
                raise ToolError(f"{self.url}: chart {chart!r} is not in this registry; publish it "
                                "(invoke repo.publish) or fix repo.url")
            version = str(choose_version([{"version": v} for v in versions], constraint, chart, where)["version"])
            archive = registry.fetch(target, chart, version)
            check_tagged(chart, version, archive, f"{target.reference(chart)}:{registry.tag(version)}")
            return version, archive


def check_tagged(chart: str, version: str, archive: bytes, reference: str) -> None:
    """Refuse an archive whose Chart.yaml is not the chart and version its registry tag stands for (`version`: the
    tag as Helm reads it, '_' as '+'): any client can push anything under a tag, and its digest cannot tell."""
    metadata = helm.archive_metadata(archive, reference)
    try:
        idx.check_package(chart, {"version": version}, metadata, reference)
    except ToolError:  # its line is about an index entry; the comparison is the same
        raise ToolError(f"{reference}: holds {idx.shown(metadata.get('name'))} {idx.shown(metadata.get('version'))}, "
                        f"not the {chart} {version} its tag stands for (pushed there by another client); delete that "
                        f"tag from the registry, or push {chart} {version} over it (invoke repo.publish --force)"
                        ) from None


def open_source(url: str, public_url: str | None, keyring: Path | None) -> Repository | Registry:
    """Where releases take charts from: a registry (oci://), else a folder, S3 or HTTP repository."""
    if url.startswith("oci://"):
        return Registry(url, keyring)
    return Repository(open_store(url), public_url, keyring)


def local_chart(root: Path, environment: Environment, release: Release, work_dir: Path) -> tuple[str, bytes]:
    """A chart folder in the checkout (./charts/NAME), packaged as repo.package would. A folder has no
    signature: an environment that requires one refuses it, as it refuses a registry, rather than ignore it."""
    if environment.verify_keyring is not None:
        raise ToolError(f"release.environments.{environment.name}.verify_keyring: release {release.name}'s chart "
                        f"{release.chart} is a folder, which has no signature to check; deploy it from the chart "
                        "repository (chart: NAME, published with --sign), or to an environment without verify_keyring")
    folder = (root / release.chart).resolve()
    if not (folder / "Chart.yaml").exists():
        raise ToolError(f"chart {release.chart!r}: {folder}/Chart.yaml not found")
    found = charts.read(folder, folder.parent)
    built = packaging.build(charts.Tree([found]), folder.parent, work_dir / "local-packages", os.environ)
    if built.failures:
        raise ToolError(built.failures[0].message)
    return found.version, built.packages[0].path.read_bytes()


CHECKOUT = "checkout"  # --version checkout: each release's chart at the version this checkout's charts/ holds


def checkout_versions(charts_dir: Path, root: Path, releases: list[Release]) -> dict[str, charts.ChartSource]:
    """release -> its chart as this checkout holds it, for --version checkout: a promoted build deploys the version
    its own commit published, not the newest one published since. A release whose chart is a folder deploys the
    folder anyway; one whose chart is not (or not once) in charts/ is an error naming it."""
    tree = charts.discover(charts_dir, root)
    found: dict[str, list[charts.ChartSource]] = {}
    for chart in tree.charts:
        found.setdefault(chart.name, []).append(chart)
    pinned = {}
    for release in (r for r in releases if not is_local(r.chart)):
        held = found.get(release.chart, [])
        if len(held) != 1:
            broken = [f.message for f in tree.failures if f.name == release.chart]
            why = broken[0] if broken else f"{' and '.join(c.where for c in held)} both hold it; give --version" \
                if held else "its chart comes from elsewhere; give --version"
            raise ToolError(f"--version {CHECKOUT}: release {release.name}'s chart {release.chart} is not one chart "
                            f"of this checkout's {charts_dir.name}/ ({why})")
        pinned[release.name] = held[0]
    return pinned


def check_published(chart: charts.ChartSource, source: Repository | Registry) -> None:
    """--version checkout of a version the repository does not hold: the commit did not publish it (a branch build
    promoted), so nothing is deployed, rather than another version. A registry answers for itself when asked."""
    if isinstance(source, Repository) and chart.version not in {
            str(e.get("version")) for e in source.index.entries.get(chart.name) or []}:
        raise ToolError(f"--version {CHECKOUT}: {chart.name} {chart.version} (this checkout's {chart.where}) is not in "
                        f"{source.store.url}: this commit did not publish it (a branch build?); promote a build that "
                        "did, or publish it first (invoke repo.publish)")


def built_from(chart: charts.ChartSource, source: Repository | Registry, root: Path) -> bool | None:
    """Whether the repository's package of `chart`'s version was built from these very inputs (the fingerprint its
    publish recorded in index.yaml); None when nothing says (published by another tool, or a registry)."""
    from . import fingerprints

    if not isinstance(source, Repository):
        return None
    recorded = fingerprints.recorded(source.index.extra.get("annotations") or {}).get(fingerprints.key(chart))
    if recorded is None:
        return None
    epoch = settings.package_epoch(os.environ)
    return fingerprints.of([chart], root, epoch).get(fingerprints.key(chart)) == recorded


class Folder:
    """A chart folder as the source of the revisions a release deployed from it: the folder's chart as it is now
    (a revision's own templates are kept nowhere this tool reads them), packaged once, whatever version is asked:
    what renders a stored revision's secrets again, or its notes (which are shown only when they come out the same)."""

    def __init__(self, package: Callable[[], tuple[str, bytes]]) -> None:
        self._package = functools.cache(package)

    def fetch(self, chart: str, constraint: str | None, where: str) -> tuple[str, bytes]:
        return self._package()


def is_local(chart: str) -> bool:
    return chart.startswith(("./", "../", "/", "charts/"))
