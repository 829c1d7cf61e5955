"""Plan a publish against the repository's current index, then apply it in a safe order.

The order is the point (invariants 1-3): refuse conflicts before anything is written; create each
new package only if absent; write index.yaml last, only if it is still the one the plan was based on.
A lost race re-reads the index, re-merges and retries with backoff. A new version's archive found already
there, not in the index, is indexed as it is when it holds the same files; with other files (a stray: another
publisher's, or an interrupted one's) its chart fails alone, as does a version someone else indexed meanwhile with
other content: the others are indexed, and the plan returned names the failed charts (Plan.failed). An atomic
apply fails instead (Withheld) and never writes index.yaml; it looks for strays before uploading anything, so only a
stray written while it uploads leaves packages behind it, unindexed: no client sees them.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import fingerprints as fp
from . import index as idx
from .deferred import lazy
from .errors import ConflictError, ToolError
from .store import INDEX, PAGE, Store

if TYPE_CHECKING:
    from . import archives, charts, packaging, page
    from .charts import Package
else:  # what builds and compares packages: not imported by a push that changes nothing
    archives, packaging, page = lazy("archives", "packaging", "page")

PAGE_KEPT = "invoke-charts/page"  # index.yaml annotation: index.html is someone's own page, left as it is

NEW, UNCHANGED, CONFLICT, REPLACE = "new", "unchanged", "conflict", "replace"
ATTEMPTS = 12  # conditional index writes before giving up


@dataclass(frozen=True)
class Step:
    package: Package
    action: str
    detail: str = ""
    published: str = ""  # digest already in the index, when there is one
    indexed: bool = False  # index only: the repository holds this version's archive with the same files (another
    # tool's bytes), and the index records it as it is (package.digest is that archive's); nothing is uploaded


@dataclass
class Plan:
    url: str  # with public_url and force: what the plan was made for
    public_url: str | None
    force: bool
    etag: str | None
    steps: list[Step]
    index: idx.Index = field(repr=False)
    fingerprints: dict[str, str] = field(default_factory=dict, repr=False)  # by NAME-VERSION, see fingerprints
    annotated: bool = False  # the index's fingerprints changed: it is written even with no new package
    tree: str = ""  # the tree record to keep in the index (fingerprints.TREE), when this publish makes one
    warnings: list[str] = field(default_factory=list)  # what went wrong without failing the publish
    failed: dict[tuple[str, str], str] = field(default_factory=dict)  # (name, version): why that chart failed alone
    # while the plan was applied (a stray archive with other files, a version indexed meanwhile with other content)

    @property
    def writes(self) -> list[Step]:
        """The steps whose package is uploaded."""
        return [s for s in self.changes if not s.indexed]

    @property
    def changes(self) -> list[Step]:
        """The steps that change the index: the uploads, and the archives it records as they are (indexed)."""
        return [s for s in self.steps if s.action in (NEW, REPLACE)]

    @property
    def conflicts(self) -> list[Step]:
        return [s for s in self.steps if s.action == CONFLICT]


def not_rebuilt(tree: charts.Tree, index: idx.Index, fresh: dict[str, str], force: bool) -> list[charts.ChartSource]:
    """Charts published from exactly these inputs (their fingerprints match the index's): nothing to build. An
    entry without a digest or urls is built, so the publish can record them (idx.complete)."""
    known = {} if force else fp.recorded(index.extra.get("annotations") or {})
    return [c for c in tree.charts if known.get(fp.key(c)) == fresh[fp.key(c)]
            and idx.complete(index.entries.version(c.name, c.version))]


def make_plan(
    store: Store, packages: list[Package], *, public_url: str | None, force: bool, created: str,
    fingerprints: dict[str, str] | None = None, current: tuple[idx.Index, str | None] | None = None, tree: str = "",
) -> Plan:
    """Classify every package against the index (`current`, else read now) and merge the new ones into it;
    the packages' fingerprints (and the `tree` record) are kept in the index's annotations."""
    index, etag = current or idx.read(store)
    steps = []
    for package in packages:
        step = _classify(store, index, package, force, public_url)
        if step.indexed:
            _record(index, step, public_url)
        elif step.action in (NEW, REPLACE):
            index.add(idx.entry(package.metadata, package.digest, idx.package_url(package.filename, public_url),
                                created))
        steps.append(step)
    fingerprints = fingerprints or {}
    annotations = index.extra.get("annotations")
    annotations = dict(annotations) if isinstance(annotations, dict) else {}
    theirs = fp.ANNOTATION not in annotations and PAGE_KEPT not in annotations and _page_of_others(store)
    if theirs:
        annotations[PAGE_KEPT] = "theirs"  # said in the index: no later publish reads the page again
    annotated = fp.annotate(annotations, {k: v for k, v in fingerprints.items()
                                         if k in {f"{s.package.name}-{s.package.version}" for s in steps}}) or theirs
    if tree and annotations.get(fp.TREE) != tree:
        annotations[fp.TREE] = tree
        annotated = True
    if annotated:
        index.extra["annotations"] = annotations
    return Plan(store.url, public_url, force, etag, steps, index, fingerprints, annotated, tree)


def _page_of_others(store: Store) -> bool:
    """Whether the index.html of a repository this tool has not published to (no fingerprints in its index) is
    someone's own page (a GitHub Pages or S3 website landing page), which the publish is to leave as it is."""
    found = store.read(PAGE)
    return found is not None and not page.ours(found[0])


def _classify(store: Store, index: idx.Index, package: Package, force: bool, public_url: str | None = None) -> Step:
    existing = index.get(package.name, package.version)
    if existing is None:
        return Step(package, NEW)
    published = str(existing.get("digest") or "")
    if published == package.digest and not existing.get("urls"):  # Helm's clients have nothing to download
        return Step(package, REPLACE, "url recorded: index.yaml had none (nothing uploaded)", published, indexed=True)
    if published == package.digest:
        return Step(package, UNCHANGED, published=published)
    key = package.filename if published else _stored_key(store, existing, public_url)
    found = store.read(key or package.filename)
    held = archives.digest(found[0]) if found else ""
    if held == package.digest and published:
        return Step(package, REPLACE, "index entry out of date with the stored package: repaired", published)
    if held == package.digest and key:
        return _recorded(package, held, "holds this very package")
    step = compared(package, found[0] if found else None, f"{store.url}/{key or package.filename}", force, published)
    if step.action == UNCHANGED and key and not published:
        return _recorded(package, held, "holds the same files as this package")
    return step


def _stored_key(store: Store, entry: dict[str, Any], public_url: str | None) -> str | None:
    """Where an entry's archive is in the repository; None when its url leads outside (nothing is read there)."""
    try:
        return idx.package_key(entry, f"{store.url}/{INDEX}", (store.url, public_url))
    except ToolError:
        return None


def _recorded(package: Package, held: str, why: str) -> Step:
    """An entry without a digest (deleted, or never written by another tool) whose archive in the repository is this
    chart's: the index records that archive's digest, so verify and deploy can check it; nothing is uploaded."""
    return Step(replace(package, digest=held), REPLACE, f"digest recorded: index.yaml had none, and the stored archive "
                f"{why} (nothing uploaded)", indexed=True)


def _record(index: idx.Index, step: Step, public_url: str | None) -> None:
    """The step's digest into its entry, and its url where it has none; the entry otherwise stays as it was (urls,
    metadata, created)."""
    entry = index.get(step.package.name, step.package.version)
    if entry is not None:
        entry["digest"] = step.package.digest
        entry["urls"] = entry.get("urls") or [idx.package_url(step.package.filename, public_url)]


def compared(package: Package, held: bytes | None, where: str, force: bool, published: str) -> Step:
    """A version the target holds with other bytes: unchanged when the files are the same (apart from
    timestamps, order, a lock's stamp); else a conflict, replaced with --force. An archive Helm would refuse
    to load (over its limits, not a chart archive) holds nothing the same, and the step says why."""
    unreadable = " (the published archive: missing from the repository, so not compared; restore it)" \
        if held is None and published else ""
    if held is not None:
        try:
            if packaging.comparable(held, where) == packaging.comparable(package.path.read_bytes(), str(package.path)):
                return Step(package, UNCHANGED, "same files as the published archive", published)
        except ToolError as exc:
            unreadable = f" (the published archive: {exc})"
    was = f"sha256:{published[:12]}" if published else "an archive (index.yaml has no digest for it)"
    if force:
        return Step(package, REPLACE, f"replaces {was}{unreadable}", published)
    return Step(package, CONFLICT, f"published as {was} with different content{unreadable}", published)


def refuse_conflicts(plan: Plan) -> None:
    refuse([(plan.url, plan.steps)])


def refuse(targets: list[tuple[str, list[Step]]]) -> None:
    """Nothing is written anywhere while any target holds one of the versions with other content."""
    found = [(url, s) for url, steps in targets for s in steps if s.action == CONFLICT]
    if found:
        raise ToolError(_conflict(found, len(targets) > 1))


def conflicts(targets: list[tuple[str, list[Step]]]) -> dict[tuple[str, str], str]:
    """Each (name, version) some target holds with other content, and the line that says so: a publish
    leaves those charts out, as it leaves out a chart that fails to build."""
    found: dict[tuple[str, str], list[tuple[str, Step]]] = {}
    for url, steps in targets:
        for s in steps:
            if s.action == CONFLICT:
                found.setdefault((s.package.name, s.package.version), []).append((url, s))
    return {key: _conflict(hits, len(targets) > 1) for key, hits in found.items()}


def _conflict(found: list[tuple[str, Step]], several: bool) -> str:
    names = ", ".join(dict.fromkeys(f"{s.package.name} {s.package.version}" for _, s in found))
    where = f" (in {', '.join(dict.fromkeys(url for url, _ in found))})" if several else ""
    why = "".join(s.detail[s.detail.index(" (the published archive:"):] for _, s in found
                  if " (the published archive:" in s.detail)
    return (f"{names}: already published with different content{where}; a published version is immutable: "
            f"bump version in the chart's Chart.yaml (or pass --force to replace it){why}")


def apply(
    store: Store, plan: Plan, packages: list[Package], *, created: str,
    advance: Callable[[Step], None] = lambda step: None, sleep: Callable[[float], None] = time.sleep,
    atomic: bool = False,
) -> Plan:
    """Upload the plan's packages, then index.yaml conditionally (re-plan, same settings, on a lost race),
    then the repository's page from that index. A chart that fails while this runs fails alone: the plan returned
    leaves it out and says why (`failed`); with `atomic`, it fails the whole apply (Withheld), index.yaml unwritten."""
    refuse_conflicts(plan)
    uploaded: set[str] = set()
    try:
        return _apply(store, plan, packages, created, advance, sleep, uploaded, atomic)
    except KeyboardInterrupt:
        if INDEX in uploaded:
            detail = ("index.yaml was written: the publish is complete, only the page (index.html) may be stale "
                      "until a publish changes the index again")
        else:
            pending = sorted({s.package.filename for s in plan.writes} - uploaded)
            detail = (f"uploaded {', '.join(sorted(uploaded)) or 'no package'}; not uploaded "
                      f"{', '.join(pending) or 'nothing'}; index.yaml not written, so clients see none of it; "
                      "run the publish again (the uploaded packages are adopted)")
        raise KeyboardInterrupt(f"publish to {store.url} stopped: {detail}") from None


class Withheld(ToolError):
    """An atomic apply stopped by charts that failed (`failed`, as Plan.failed): index.yaml was not written, so no
    client sees any of it; `summary` is the line that says so, and which packages were uploaded before."""

    def __init__(self, failed: dict[tuple[str, str], str], summary: str) -> None:
        super().__init__("; ".join([*(failed[key] for key in sorted(failed)), summary]))
        self.failed, self.summary = failed, summary


def _apply(
    store: Store, plan: Plan, packages: list[Package], created: str, advance: Callable[[Step], None],
    sleep: Callable[[float], None], uploaded: set[str], atomic: bool,
) -> Plan:
    notes: dict[str, str] = {}  # by package file: what the REPLACED line should say about its .prov
    held: dict[str, str] = {}  # by package file: the digest of the unindexed archive found there, with the same files
    failed: dict[tuple[str, str], str] = {}  # (name, version): why its chart failed alone, as the plan returns it

    def fail(why: dict[tuple[str, str], str]) -> None:
        failed.update(why)
        if why and atomic:
            raise _withheld(store, failed, sorted(uploaded - set(held)))

    def replan(tree: str) -> Plan:
        """The plan from the index as it is now, without the failed charts (and then no tree record: not every chart
        was published); a version indexed meanwhile with other content fails its chart alone, as at plan time."""
        nonlocal packages
        while True:
            packages = [p for p in packages if (p.name, p.version) not in failed]
            again = make_plan(store, packages, public_url=plan.public_url, force=plan.force, created=created,
                              fingerprints=plan.fingerprints, tree="" if failed else tree)
            lost = conflicts([(again.url, again.steps)])
            if not lost:
                return again
            fail(lost)

    if atomic and not plan.force:
        fail(_strays(store, plan))  # before any upload: a stray there already fails the publish with nothing written
    for attempt in range(ATTEMPTS):
        for step in plan.writes:
            if step.package.filename not in uploaded:
                try:
                    notes[step.package.filename], found = _upload(store, step, plan.force)
                except _Occupied as exc:
                    fail({(step.package.name, step.package.version): str(exc)})
                    continue
                if found:
                    held[step.package.filename] = found
                uploaded.add(step.package.filename)
                advance(step)
        if any((s.package.name, s.package.version) in failed for s in plan.steps):  # they fail alone: the others go on
            plan = replan("")
            continue
        _adopt(plan, held)
        notes.update(_signatures(store, plan, uploaded))
        if not plan.changes and not plan.annotated and plan.etag is not None:
            plan.failed = failed
            _noted(plan, notes)
            return plan  # nothing new: no index write at all
        try:
            store.replace(INDEX, idx.dump(plan.index), plan.etag)
        except ConflictError:
            sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
            plan = replan(plan.tree)
            continue
        uploaded.add(INDEX)
        _noted(plan, notes)
        _write_page(store, plan)
        plan.failed = failed
        return plan
    raise ToolError(
        f"{store.url}/{INDEX}: changed by someone else {ATTEMPTS} times in a row (another publisher running?); "
        "nothing was lost: run the publish again"
    )


SIGNED = "published before without a signature: its .prov added"


def _signatures(store: Store, plan: Plan, uploaded: set[str]) -> dict[str, str]:
    """A version published before without a .prov, signed now (--sign; its bytes built again, the same bytes: a .prov
    names the sha256 it signs): the .prov goes beside it, unless one got there meanwhile. What the steps' details
    gain, by package file."""
    added = {}
    for step in plan.steps:
        provenance = step.package.path.with_name(step.package.filename + ".prov")
        if step.action == UNCHANGED and step.package.digest == step.published and provenance.name not in uploaded \
                and provenance.is_file():
            uploaded.add(provenance.name)
            if store.create(provenance.name, provenance.read_bytes()):
                added[step.package.filename] = SIGNED
    return added


def _noted(plan: Plan, notes: dict[str, str]) -> None:
    plan.steps = [replace(s, detail="; ".join(filter(None, (s.detail, notes[s.package.filename]))))
                  if notes.get(s.package.filename) else s for s in plan.steps]


def _withheld(store: Store, failed: dict[tuple[str, str], str], uploaded: list[str]) -> Withheld:
    """What an atomic publish can promise once a chart failed: index.yaml is not written, so Helm sees nothing of it.
    Packages uploaded before the failure was found stay (another publisher of the same bytes may rely on them): not
    in the index, so no client sees them, and the next publish indexes them as they are."""
    names = ", ".join(dict.fromkeys(name for name, _ in sorted(failed)))
    summary = f"{len(failed)} chart(s) failed ({names}) and repo.atomic is on: nothing published to {store.url}"
    if uploaded:
        summary += (f" (index.yaml not written; uploaded before the failure was found, and left there unindexed, so "
                    f"no client sees them: {', '.join(uploaded)}; the next publish indexes them as they are)")
    return Withheld(failed, summary)


def _strays(store: Store, plan: Plan) -> dict[tuple[str, str], str]:
    """Each new version whose archive the repository holds already, not in the index, with other files, and the line
    that says so: what an atomic publish looks for before it uploads anything (one read per new package)."""
    found = {}
    for step in plan.writes:
        held = store.read(step.package.filename) if step.action == NEW else None
        why = _stray(store, step, held[0]) if held else ""
        if why:
            found[(step.package.name, step.package.version)] = why
    return found


def _write_page(store: Store, plan: Plan) -> None:
    """index.html from the index just written; a page that cannot be written is a warning, not a failure:
    the packages and index.yaml, which Helm reads, are published. A page this tool did not write (a GitHub Pages or
    S3 website landing page) is left as it is, with a warning."""
    if (plan.index.extra.get("annotations") or {}).get(PAGE_KEPT):
        plan.warnings.append(f"{store.url}/{PAGE} was not written by this tool (a landing page of your own?): left as "
                             f"it is; to have this tool's page there, delete it and the {PAGE_KEPT} annotation of "
                             f"{INDEX}")
        return
    try:
        store.overwrite(PAGE, page.render(plan.index, plan.public_url))
    except (ToolError, OSError) as exc:  # OSError: a folder repository's full disk
        plan.warnings.append(f"{store.url}/{PAGE} not updated ({exc}); the next publish that changes the index "
                             "writes it")


class _Occupied(ToolError):
    """The repository holds an archive of a new version, not in the index, with other files than the package."""


def _upload(store: Store, step: Step, force: bool) -> tuple[str, str]:
    """Put the package up, and its .prov when it was signed (--sign), before the index. Bytes that replace
    others first lose a .prov that signs the old ones, so no moment shows a package with a wrong signature
    (a missing one says "not signed", a wrong one "tampered"). Returns what the step's detail gains (the
    stale .prov deleted, when nothing signed the new bytes) and, when an archive not yet in the index was
    there already with the same files (another tool's: packaging.comparable), its digest: it is kept, and
    indexed as it is, with no .prov of other bytes beside it. With other files, _Occupied (unless --force)."""
    data = step.package.path.read_bytes()
    unsigned = ""
    if step.action == REPLACE:
        unsigned = _unsign(store, step.package)
        store.overwrite(step.package.filename, data)
    elif not store.create(step.package.filename, data):
        found = store.read(step.package.filename)
        where = f"{store.url}/{step.package.filename}"
        if found is None and not store.create(step.package.filename, data):  # deleted, then written again meanwhile
            raise ToolError(f"{where}: changed by someone else while this publish wrote it; run the publish again")
        if found and found[0] != data and not force:
            why = _stray(store, step, found[0])
            if not why:
                return "", archives.digest(found[0])
            raise _Occupied(why)
        if found and found[0] != data:
            unsigned = _unsign(store, step.package)
            store.overwrite(step.package.filename, data)
    provenance = step.package.path.with_name(step.package.filename + ".prov")
    if provenance.is_file():
        store.overwrite(provenance.name, provenance.read_bytes())
        return "", ""
    return unsigned, ""


def _stray(store: Store, step: Step, held: bytes) -> str:
    """Why the step's chart fails when `held`, not in the index, is at its package's key: other files than the
    package's ('' when the same files, apart from timestamps and order: that archive is indexed as it is)."""
    where = f"{store.url}/{step.package.filename}"
    if held == step.package.path.read_bytes() or compared(step.package, held, where, False, "").action == UNCHANGED:
        return ""
    return (f"{step.package.name} {step.package.version}: {where} exists with different content, not yet in the index "
            "(another publisher is publishing this version, or was interrupted); bump the chart's version, or pass "
            "--force to replace it")


def _adopt(plan: Plan, held: dict[str, str]) -> None:
    """A new version whose archive the repository held already, unindexed, with the same files: its entry records
    that archive (what clients download), and its step says so."""
    for i, step in enumerate(plan.steps):
        found = held.get(step.package.filename)
        if found and step.action == NEW and not step.indexed:
            plan.steps[i] = replace(step, package=replace(step.package, digest=found), indexed=True, detail=(
                "the repository held this version's archive, not in the index, with the same files: indexed as it "
                "is (nothing uploaded)"))
            _record(plan.index, plan.steps[i], plan.public_url)


def _unsign(store: Store, package: Package) -> str:
    """Delete the stored .prov unless it signs these very bytes (Helm's .prov names the archive's sha256)."""
    key = f"{package.filename}.prov"
    found = store.read(key)
    if found is None or f"{package.filename}: sha256:{package.digest}".encode() in found[0]:
        return ""
    store.delete(key)
    return f"{key} deleted: it signed the replaced bytes (publish with --sign to sign these)"


def save(plan: Plan, build_dir: Path) -> None:
    """The merged index and the plan, for `repo.sync` to apply without reading the index again."""
    (build_dir / INDEX).write_bytes(idx.dump(plan.index))
    record = {
        "url": plan.url, "public_url": plan.public_url, "force": plan.force, "etag": plan.etag,
        "steps": [_step_record(s) for s in plan.steps],
    }
    (build_dir / "plan.json").write_text(json.dumps(record, indent=1))


def load(build_dir: Path, packages: list[Package], *, url: str, public_url: str | None, force: bool) -> Plan | None:
    """The plan `repo.index` saved, if it was made for the same settings and exactly these packages.

    A plan whose index has changed since is still safe: its conditional write fails and apply re-plans.
    """
    try:
        record = json.loads((build_dir / "plan.json").read_text())
        index = idx.load((build_dir / INDEX).read_bytes(), str(build_dir / INDEX))
    except (OSError, ValueError, ToolError):
        return None
    by_file = {p.filename: p for p in packages}
    recorded = {s["file"]: s for s in record.get("steps", [])}
    if (record.get("url"), record.get("public_url"), record.get("force")) != (url, public_url, force):
        return None
    if set(recorded) != set(by_file) or any(recorded[f]["digest"] != p.digest for f, p in by_file.items()):
        return None
    steps = [Step(by_file[f], s["action"], s["detail"], s["published"], bool(s.get("indexed")))
             for f, s in recorded.items()]
    return Plan(url, public_url, force, record.get("etag"), steps, index)


def _step_record(step: Step) -> dict[str, Any]:
    return {
        "file": step.package.filename, "digest": step.package.digest,
        "action": step.action, "detail": step.detail, "published": step.published, "indexed": step.indexed,
    }
