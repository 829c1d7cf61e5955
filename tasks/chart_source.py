"""Choosing and fetching the chart a release deploys: a version from the repository's index, or a folder.

The index is untrusted (invariant 9): an entry without a digest is never deployed, and its package is
read only from inside the repository, and only when its digest matches.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from . import archives, charts, packaging, registry, signing
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
            raise ToolError(f"{store.url}/{key}: in the index but missing from the repository; run invoke repo.publish")
        if archives.digest(package[0]) != entry["digest"]:
            raise ToolError(f"{store.url}/{key}: digest differs from index.yaml's; the repository is damaged, "
                            "republish the chart (invoke repo.publish --force)")
        if self.keyring is not None:
            provenance = store.read(f"{key}.prov")
            signing.verify(package[0], provenance[0] if provenance else None, self.keyring, f"{store.url}/{key}")
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
            return version, registry.fetch(target, chart, version)


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


def is_local(chart: str) -> bool:
    return chart.startswith(("./", "../", "/", "charts/"))
