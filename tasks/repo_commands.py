"""What each repo task does, behind the flags tasks/repo.py declares: the tree packaged, the plan made and
applied, the repository listed and checked; tables for people, one document for --output json|yaml."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import settings, ui
from .deferred import lazy
from .errors import Reported, ToolError

if TYPE_CHECKING:
    from . import charts, checks, dependencies, fingerprints, packaging, registry, signing
    from . import index as idx
    from . import publish as pub
    from . import store as stores
else:  # imported when a command first needs them: `repo.list` never loads packaging
    charts, checks, dependencies, fingerprints, packaging, registry, signing, stores, idx, pub = lazy(
        "charts", "checks", "dependencies", "fingerprints", "packaging", "registry", "signing", "store", "index",
        "publish")


def _tree(s: settings.RepoSettings, chosen: list[str] | None) -> charts.Tree:
    tree = charts.select(charts.discover(s.charts_dir, s.root), chosen)
    for warning in tree.warnings + [w for chart in tree.charts for w in charts.lint_warnings(chart)]:
        ui.warn(warning)
    return tree


def _repositories(s: settings.RepoSettings) -> dependencies.Repositories:
    return dependencies.Repositories(s.dependency_repositories, os.environ)


def _failed(failure: charts.Failure) -> None:
    ui.error(failure.message)


def _finish(verb: str, done: int, failures: list[charts.Failure]) -> None:
    """The summary of a run over the tree; non-zero when any chart failed (each already said why)."""
    if failures:
        summary = f"{verb} {done}, failed {len(failures)}: {', '.join(f.name for f in failures)}"
        ui.say(summary)
        raise Reported(summary)


def lint(s: settings.RepoSettings, chart: list[str] | None) -> None:
    tree = _tree(s, chart)
    findings, failures = packaging.lint(tree, s.charts_dir, s.build_dir, os.environ, _repositories(s), _failed)
    levels = {1: "info", 2: "warning", 3: "error"}
    folders = Counter(c.name for c in tree.charts)  # a chart in two folders: two maintained lines
    label = {c.rel: f"{c.name} ({c.where})" if folders[c.name] > 1 else c.name for c in tree.charts}
    shown = [(label[ch.rel], levels.get(m["severity"], "?"), m["path"], m["error"]) for ch, m in findings
             if m["severity"] > 1]
    if shown:
        ui.table("lint", ["chart", "level", "file", "message"], shown)
    for ch in sorted({ch.rel: ch for ch, m in findings if m["severity"] >= 3}.values(), key=lambda c: c.rel):
        failures.append(charts.Failure(ch.rel, ch.name, f"{ch.where}: Helm's lint found errors (the table above)"))
        _failed(failures[-1])
    ok = len(tree.charts) + len(tree.failures) - len(failures)
    _finish("lint: ok", ok, failures)
    ui.say(f"lint: {ok} chart(s) ok")


def package(s: settings.RepoSettings, chart: list[str] | None) -> list[charts.Package]:
    result = _package(s, chart)
    _finish("packaged", len(result.packages), result.failures)
    return result.packages


def _package(s: settings.RepoSettings, chosen: list[str] | None) -> packaging.Result:
    tree = _tree(s, chosen)
    result = packaging.build(tree, s.charts_dir, s.packages_dir, os.environ, _repositories(s), _advance(tree), _failed)
    if result.packages:
        ui.table("packages", ["chart", "version", "sha256"], [(p.name, p.version, p.digest[:16]) for p in result.packages])
    return result


def index(s: settings.RepoSettings, fmt: str, *, force: bool) -> pub.Plan:
    plan = pub.make_plan(
        stores.open_store(s.url), packaging.built(s.packages_dir), public_url=s.public_url, force=force, created=idx.timestamp()
    )
    pub.save(plan, s.build_dir)
    _show(plan, fmt)
    return plan


def sync(s: settings.RepoSettings, *, force: bool, dry_run: bool) -> pub.Plan:
    store, packages, created = stores.open_store(s.url), packaging.built(s.packages_dir), idx.timestamp()
    if not store.writable:
        raise stores.read_only(store)
    with ExitStack() as stack:  # signing (--sign, repo.sign) as a publish signs: the key checked first
        sign = stack.enter_context(signing.signer(os.environ)) if s.sign else None
        plan = pub.load(s.build_dir, packages, url=s.url, public_url=s.public_url, force=force)
        if plan is None or dry_run:  # no `repo.index` before this, or a dry run, which prints the plan
            plan = plan or pub.make_plan(store, packages, public_url=s.public_url, force=force, created=created)
            _show(plan, "table")
        if sign and not dry_run:
            _sign(sign, plan.steps, stores.provenances(store), [])
        done, failures = _apply(store, plan, packages, created, dry_run=dry_run)
    _finish(fingerprints.verb(dry_run), len(done.steps), failures)
    return done


def _apply(store: stores.Store, plan: pub.Plan, packages: list[charts.Package], created: str, *, dry_run: bool,
           not_rebuilt: int = 0, atomic: bool = False, folders: dict[tuple[str, str], str] | None = None,
           ) -> tuple[pub.Plan, list[charts.Failure]]:
    """The plan applied, and the charts that failed while it was (an archive someone else wrote at a new version's
    key, with other files): each one `error:` line, as a chart that fails to build; with `atomic`, nothing indexed."""
    if dry_run:
        pub.refuse_conflicts(plan)
        ui.say(f"dry run: nothing written to {store.url}")
        return plan, []
    advance = ui.progress(plan.writes, "upload", lambda step: step.package.filename) if ui.interactive(sys.stderr) \
        else (lambda step: None)
    try:
        done = pub.apply(store, plan, packages, created=created, advance=advance, atomic=atomic)
    except pub.Withheld as exc:
        for key in sorted(exc.failed):
            ui.error(exc.failed[key])
        raise ToolError(exc.summary) from None
    failures = [charts.Failure((folders or {}).get(key, key[0]), key[0], done.failed[key])
                for key in sorted(done.failed)]
    for failure in failures:
        _failed(failure)
    actions = [step.action for step in done.steps]
    for step in done.steps:
        if step.action == pub.REPLACE:
            ui.warn(f"REPLACED {step.package.name} {step.package.version}: {step.detail}, now sha256:{step.package.digest[:12]}")
    for warning in done.warnings:
        ui.warn(warning)
    signed = [f"{st.package.name} {st.package.version}" for st in done.steps if pub.SIGNED in st.detail]
    if signed:
        ui.say(f"signed {len(signed)} version(s) published before without a signature (.prov added beside the same "
               f"bytes): {', '.join(signed[:5])}{f' and {len(signed) - 5} more' if len(signed) > 5 else ''}")
    ui.say(fingerprints.summary("published", store.url, actions.count(pub.NEW), actions.count(pub.REPLACE),
                                actions.count(pub.UNCHANGED) + not_rebuilt, not_rebuilt))
    return done, failures


def publish(s: settings.RepoSettings, fmt: str, store: stores.Store | None, current: tuple[idx.Index, str | None] | None,
            whole: str, epoch: int, *, chart: list[str] | None, force: bool, dry_run: bool, verbose: bool,
            signed: set[str] | None) -> None:
    """The publish of a tree that is not the one the repository records: what changed is built and applied.
    `signed`: the .prov files the repository holds, when it is to be signed (stores.provenances)."""
    with ExitStack() as stack:
        # the signing key first, a dry run's too: one it would refuse is refused before anything is built
        sign = stack.enter_context(signing.signer(os.environ)) if s.sign else None
        tree = _tree(s, chart)
        registries = [stack.enter_context(registry.session(u, os.environ))
                      for u in registry.one_registry(([] if store else [s.url]) + list(s.mirrors), os.environ)]
        fresh = fingerprints.of(tree.charts, s.root, epoch)
        skipped = [ch for ch in pub.not_rebuilt(tree, current[0], fresh, force) if not (
            registries and registry.unlisted(ch.name, ch.version)) and all(
            ch.version in registry.versions(r, ch.name) for r in registries)
            and not (signed is not None and stores.provenance(ch.name, ch.version) not in signed)] if current else []
        todo = charts.Tree([ch for ch in tree.charts if ch not in skipped], tree.failures, tree.warnings)
        result = packaging.build(todo, s.charts_dir, s.packages_dir, os.environ, _repositories(s), _advance(todo),
                                 _failed)
        folders = {(ch.name, ch.version): ch.rel for ch in todo.charts}
        for package in [p for p in result.packages if registries and registry.unlisted(p.name, p.version)]:
            result.packages.remove(package)
            result.failures.append(charts.Failure(folders.get((package.name, package.version), package.name),
                                                  package.name, f"{package.name} {package.version}: "
                                                  f"{registry.unlisted(package.name, package.version)}"))
            _failed(result.failures[-1])
        if result.failures and s.atomic:
            raise ToolError(f"{len(result.failures)} chart(s) failed ({', '.join(f.name for f in result.failures)}) "
                            f"and repo.atomic is on: nothing published to {s.url}")
        created = idx.timestamp()

        def planned(current: tuple[idx.Index, str | None] | None) -> tuple[
                pub.Plan | None, list[tuple[registry.Registry, list[pub.Step]]]]:
            record = fingerprints.tree_record(whole, tree.charts, fresh, s.charts_dir) \
                if whole and not tree.failures and not result.failures else ""
            new_record = bool(record) and current is not None and \
                (current[0].extra.get("annotations") or {}).get(fingerprints.TREE) != record
            plan = pub.make_plan(store, result.packages, public_url=s.public_url, force=force, created=created,
                                 fingerprints=fresh, current=current, tree=record) \
                if store and (result.packages or new_record) else None
            return plan, [(r, registry.plan(r, result.packages, force)) for r in registries]

        plan, pushes = planned(current)
        targets = ([(plan.url, plan.steps)] if plan else []) + [(r.url, steps) for r, steps in pushes]
        conflicts = {} if s.atomic else pub.conflicts(targets)
        if conflicts:  # each such chart fails alone: the others are published, its fingerprint is not recorded
            for (name, version), message in conflicts.items():
                result.failures.append(charts.Failure(folders.get((name, version), name), name, message))
                _failed(result.failures[-1])
            result.packages[:] = [p for p in result.packages if (p.name, p.version) not in conflicts]
            plan, pushes = planned(None)  # the index read again: the first plan merged into the one read
            targets = ([(plan.url, plan.steps)] if plan else []) + [(r.url, steps) for r, steps in pushes]
        pub.refuse(targets)
        if sign and not dry_run:
            _sign(sign, plan.steps if plan else [], signed, [steps for _, steps in pushes])
        if fmt == "table" and (plan and plan.steps or verbose and skipped):
            _show(plan, fmt, url=s.url, verbose=verbose, not_rebuilt=skipped)
        if plan and store:
            plan, failures = _apply(store, plan, result.packages, created, dry_run=dry_run, not_rebuilt=len(skipped),
                                    atomic=s.atomic, folders=folders)
            if failures:  # they fail alone, as a conflict found in the plan: left out of the mirrors too
                result.failures.extend(failures)
                result.packages[:] = [p for p in result.packages if (p.name, p.version) not in plan.failed]
                pushes = [(r, [st for st in steps if (st.package.name, st.package.version) not in plan.failed])
                          for r, steps in pushes]
        elif store:
            ui.say(fingerprints.summary(fingerprints.verb(dry_run), s.url, 0, 0, len(skipped), len(skipped)))
        caught_up = [f"{st.package.name} {st.package.version}" for st in (plan.steps if plan else [])
                     if pub.SIGNED in st.detail]
        for r, steps in pushes:
            _push(r, steps, fmt, verbose=verbose, dry_run=dry_run, held=[*([s.url] if store else [])],
                  not_rebuilt=skipped)
            if caught_up:  # signed in the repository now; a registry's tag cannot be changed to add its .prov
                ui.warn(f"{r.url}: {', '.join(caught_up)} stay as pushed there before, unsigned if they were: a tag "
                        "a registry holds is immutable, so its .prov was added to the repository only")
    document = _plan_document(plan)["steps"] if plan else _steps_document(pushes[0][1]) if pushes and not store else []
    published(s.url, fmt, dry_run, document, result.failures, [(ch.name, ch.version) for ch in skipped],
              [(r.url, st) for r, st in pushes if r.url != s.url])
    _finish(fingerprints.verb(dry_run), len(result.packages) + len(skipped), result.failures)


def published(url: str, fmt: str, dry_run: bool, steps: list[dict[str, Any]], failures: list[charts.Failure],
              skipped: list[tuple[str, str]], mirrors: list[tuple[str, list[pub.Step]]]) -> None:
    """The publish's document (--output json|yaml): its steps, and a row for each chart not rebuilt."""
    if fmt == "table":
        return  # people had the lines and tables as the publish went
    rows = [{"chart": name, "version": version, "action": pub.UNCHANGED, "detail": fingerprints.NOT_REBUILT,
             "digest": ""} for name, version in skipped]
    ui.render({"url": url, "dry_run": dry_run, "failures": [{"chart": f.name, "folder": f.rel, "error": f.message}
                                                            for f in failures],
               "steps": sorted(steps + rows, key=lambda r: (r["chart"], r["version"])),
               "mirrors": {u: _steps_document(st) for u, st in mirrors}}, fmt, lambda: None)


def _sign(sign: Callable[[Path], Path], steps: list[pub.Step], signed: set[str] | None,
          pushes: list[list[pub.Step]]) -> None:
    """Each package the repository (`steps`) or a registry (`pushes`) is about to receive gets its .prov beside it
    (signed once), and so does each one the repository holds already, the same bytes, without a .prov (not in
    `signed`, its .prov files; None without a repository): the version is immutable, its signature can still be
    added (publish.apply puts it beside those bytes, built again here). A version the repository holds as another
    tool's archive (the same files, other bytes) stays unsigned, and a warning says so: a .prov names the sha256 of
    the bytes it signs."""
    unsigned = [st for st in steps if signed is not None and st.action == pub.UNCHANGED
                and f"{st.package.filename}.prov" not in signed]
    written = {st.package.path for st in unsigned if st.package.digest == st.published}
    written |= {st.package.path for these in [steps, *pushes] for st in these if st.action in (pub.NEW, pub.REPLACE)}
    for path in sorted(written):
        sign(path)
    for st in unsigned:
        if st.package.digest != st.published:
            ui.warn(f"{st.package.name} {st.package.version} stays unsigned: the repository holds another tool's "
                    "archive of it (the same files, other bytes), and a .prov of ours would not sign those bytes; "
                    "bump its version to publish it signed")


def _push(target: registry.Registry, steps: list[pub.Step], fmt: str, *, verbose: bool, dry_run: bool,
          held: list[str], not_rebuilt: list[charts.ChartSource]) -> None:
    """One registry's share of a publish: its plan, then the pushes; a failure says what the others hold."""
    rows = _rows(steps, not_rebuilt, verbose)
    if fmt == "table" and rows:
        ui.table(f"plan for {target.url}", ["chart", "version", "action", "detail"], rows)
    if dry_run:
        ui.say(f"dry run: nothing pushed to {target.url}")
        return
    try:
        pushed = registry.push(target, steps)
    except ToolError as exc:
        others = "; ".join(f"{url} holds every version of this publish" for url in held)
        raise ToolError(f"{exc}; {others}" if others else str(exc)) from None
    for st in pushed:
        if st.action == pub.REPLACE:
            ui.warn(f"REPLACED {st.package.name} {st.package.version} in {target.url}: {st.detail}")
    actions = [st.action for st in steps]
    ui.say(fingerprints.summary("pushed", target.url, actions.count(pub.NEW), actions.count(pub.REPLACE),
                                actions.count(pub.UNCHANGED) + len(not_rebuilt), len(not_rebuilt)))
    held.append(target.url)


def _steps_document(steps: list[pub.Step]) -> list[dict[str, Any]]:
    return [{"chart": st.package.name, "version": st.package.version, "action": st.action, "detail": st.detail,
             "digest": st.package.digest} for st in steps]


def list_(s: settings.RepoSettings, fmt: str, chart: str | None) -> None:
    if s.url.startswith("oci://"):
        return _list_registry(s.url, chart, fmt)
    index, _ = idx.read(stores.open_store(s.url))
    if chart is not None and chart not in index.entries:
        raise ToolError(f"--chart {chart!r}: not in {s.url}; it has {', '.join(sorted(index.entries)) or 'no charts'}")
    shown = [(chart, e, len(index.entries[chart])) for e in index.entries[chart]] if chart else \
        [(name, *index.entries.newest(name)) for name in sorted(index.entries)]
    rows = [{"chart": name, "version": e.get("version"), "app_version": e.get("appVersion", ""),
             "created": e.get("created", ""), "versions": count, "digest": e.get("digest", "")}
            for name, e, count in shown if e]
    ui.render(rows, fmt, lambda: ui.table(
        f"{s.url}", ["chart", "version", "app version", "published", "versions"],
        [(r["chart"], r["version"], r["app_version"], r["created"], r["versions"]) for r in rows]))


def _list_registry(url: str, chart: str | None, fmt: str) -> None:
    """An OCI registry has no index: the versions of one chart, from its tags."""
    if chart is None:
        raise ToolError(f"{url}: an OCI registry has no index to list every chart from; pass --chart NAME")
    with registry.session(url, os.environ) as target:
        rows = [{"chart": chart, "version": v} for v in registry.versions(target, chart)]
    if not rows:
        raise ToolError(f"--chart {chart!r}: not in {url}")
    ui.render(rows, fmt, lambda: ui.table(f"{url}/{chart}", ["chart", "version"], [(r["chart"], r["version"]) for r in rows]))


def verify(s: settings.RepoSettings, fmt: str, keyring: str | None) -> None:
    if s.url.startswith("oci://"):
        return _verify_registry(s, fmt, keyring)
    findings = checks.verify(stores.open_store(s.url), s.public_url, Path(keyring).expanduser() if keyring else None)
    ui.render({"url": s.url, "ok": not findings, "findings": [vars(f) for f in findings]}, fmt, lambda: ui.table(
        f"findings in {s.url}", ["kind", "key", "detail"], [(f.kind, f.key, f.detail) for f in findings]))
    if findings:
        where = "the table above" if fmt == "table" else f"the {fmt} document"
        raise ToolError(f"{s.url}: {len(findings)} finding(s); {where} says what to do for each")
    ui.say(f"{s.url}: index.yaml loads in Helm, every package present with its digest, no strays")


def _verify_registry(s: settings.RepoSettings, fmt: str, keyring: str | None) -> None:
    if keyring:
        raise ToolError(f"{s.url}: --keyring checks folder and S3 repositories; Helm's SDK here cannot fetch a "
                        "registry's provenance layer yet")
    names = sorted({chart.name for chart in charts.discover(s.charts_dir, s.root).charts})
    with registry.session(s.url, os.environ) as target:
        findings, checked = checks.verify_registry(target, names)
    ui.render({"url": s.url, "ok": not findings, "checked": checked, "findings": [vars(f) for f in findings]}, fmt,
              lambda: ui.table(f"findings in {s.url}", ["kind", "key", "detail"],
                               [(f.kind, f.key, f.detail) for f in findings]))
    if findings:
        where = "the table above" if fmt == "table" else f"the {fmt} document"
        raise ToolError(f"{s.url}: {len(findings)} finding(s); {where} says what to do for each")
    ui.say(f"{s.url}: {checked} version(s) of the {len(names)} chart(s) in {s.charts_dir.name}/ pull with their "
           "digests and load in Helm")


def doctor(s: settings.RepoSettings, fmt: str) -> None:
    store = stores.open_store(s.url)
    if not isinstance(store, stores.S3Store):
        raise ToolError(f"repo.url {s.url}: repo.doctor checks an S3 repository; pass --url s3://BUCKET")
    results = checks.doctor(store.settings())
    failed = [r.name for r in results if r.status == checks.FAIL]
    ui.render({"url": s.url, "ok": not failed, "checks": [vars(r) for r in results]}, fmt, lambda: ui.table(
        f"doctor for {s.url}", ["check", "status", "detail", "fix"], [(r.name, r.status, r.detail, r.fix) for r in results]))
    if failed:
        where = "the table above" if fmt == "table" else f"the {fmt} document"
        raise ToolError(f"{s.url}: {', '.join(failed)} failed; apply the fixes in {where}")


def _show(plan: pub.Plan | None, fmt: str, *, url: str = "", verbose: bool = True,
          not_rebuilt: list[charts.ChartSource] | None = None) -> None:
    """The plan (of `url` when there is none: nothing was built); a table shows every chart with `verbose`, else
    only those that change, and counts the others in its title."""
    steps, skipped = plan.steps if plan else [], not_rebuilt or []
    rows = _rows(steps, skipped, verbose)
    hidden = len(steps) + len(skipped) - len(rows)
    title = f"plan for {plan.url if plan else url}" + (
        f" ({hidden} unchanged not shown; --verbose shows them)" if hidden else "")
    ui.render(_plan_document(plan) if plan else {"url": url, "steps": []}, fmt, lambda: ui.table(
        title, ["chart", "version", "action", "detail"], rows))


def _rows(steps: list[pub.Step], not_rebuilt: list[charts.ChartSource], verbose: bool) -> list[tuple[str, ...]]:
    """A plan's table rows, by chart: with `verbose` every chart, those not rebuilt too (unchanged, with why: not
    rebuilt, as the --output document says), else only the charts that change."""
    rows = [(s.package.name, s.package.version, s.action, s.detail) for s in steps
            if verbose or s.action != pub.UNCHANGED]
    if verbose:
        rows += [(ch.name, ch.version, pub.UNCHANGED, fingerprints.NOT_REBUILT) for ch in not_rebuilt]
    return sorted(rows, key=lambda row: row[0])


def _plan_document(plan: pub.Plan) -> dict[str, Any]:
    return {"url": plan.url, "steps": _steps_document(plan.steps)}


def _advance(tree: charts.Tree) -> Any:
    """A progress bar on a terminal (stderr's); in CI nothing per chart (the summary says what happened)."""
    if not ui.interactive(sys.stderr):
        return lambda chart: None
    return ui.progress(tree.charts, "package", lambda ch: f"{ch.name} {ch.version}")
