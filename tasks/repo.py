"""The chart repository: lint, package, index, sync, publish (= package + index + sync), serve, list, verify,
doctor. The tasks declare their flags; repo_commands does the work, except a publish's first question (is
this very tree what the repository holds?), answered here so a push that changes nothing compiles no more."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from invoke import Collection, Context

from . import settings, ui
from .cli import ROOT, task
from .deferred import lazy

if TYPE_CHECKING:
    from . import fingerprints
    from . import index as idx
    from . import repo_commands as commands
    from . import store as stores
else:  # imported when a task first needs them: `invoke --list` stays light
    commands, fingerprints, idx, stores = lazy("repo_commands", "fingerprints", "index", "store")

URL_HELP = "repository: a folder, file://PATH or s3://BUCKET[/PREFIX] (default: repo.url in invoke.yaml, dist/repo)"
PUBLIC_HELP = "base URL written into index.yaml urls (default: repo.public_url; unset: relative urls)"
FORCE_HELP = "replace an already published version whose content changed (loudly); never needed otherwise"
DRY_HELP = "print the plan (chart, version, action) and write nothing to the repository"
SIGN_HELP = ("sign every new package with the PGP key in HELM_SIGNING_KEY (passphrase: HELM_SIGNING_PASSPHRASE) "
             "and publish its .prov (default: repo.sign)")
OUTPUT_HELP = "table (default), json or yaml: json and yaml print one document and nothing else on stdout"
JSON_HELP = "the same as --output json"
CHART_HELP = "only this chart (its name or its folder under charts/); repeatable; other folders may be broken"
ATOMIC_HELP = "publish nothing unless every chart builds (default: repo.atomic; else a broken chart blocks only itself)"


def _settings(c: Context, **args: Any) -> settings.RepoSettings:
    return settings.resolve_repo(ROOT, c.config.get("repo", {}), **args)


@task(help={"chart": CHART_HELP}, iterable=["chart"])
def lint(c, chart=None):
    """Lint every chart with Helm; errors fail.

    A chart with errors, or one that cannot be prepared, fails alone: the others are still linted.
    """
    commands.lint(_settings(c), chart)


@task(help={"chart": CHART_HELP}, iterable=["chart"])
def package(c, chart=None):
    """Package every chart (dependencies first), reproducibly.

    A broken chart blocks only itself: each failure is one line, the others are packaged.
    Output: dist/packages/NAME-VERSION.tgz, byte-identical for the same content on any checkout.
    """
    return commands.package(_settings(c), chart)


@task(help={"url": URL_HELP, "public_url": PUBLIC_HELP, "force": FORCE_HELP, "output": OUTPUT_HELP, "json": JSON_HELP})
def index(c, url=None, public_url=None, force=False, output=None, json=False):
    """Merge the packages into the index; print the plan.

    Reads index.yaml from the repository, keeps every other entry and its `created`, and writes the
    merged index and the plan to dist/ for repo.sync. Nothing is written to the repository.
    """
    fmt = ui.output_format(output, json)
    return commands.index(_settings(c, url=url, public_url=public_url), fmt, force=force)


@task(help={"url": URL_HELP, "public_url": PUBLIC_HELP, "force": FORCE_HELP, "dry_run": DRY_HELP, "sign": SIGN_HELP})
def sync(c, url=None, public_url=None, force=False, dry_run=False, sign=False):
    """Upload new packages, then index.yaml, in a safe order.

    Packages are created only if absent; index.yaml is written only if unchanged since it was read
    (If-Match), else re-read, re-merged and retried with backoff.
    """
    return commands.sync(_settings(c, url=url, public_url=public_url, sign=sign or None), force=force,
                         dry_run=dry_run)


@task(help={"url": URL_HELP, "public_url": PUBLIC_HELP, "chart": CHART_HELP, "force": FORCE_HELP, "dry_run": DRY_HELP,
            "atomic": ATOMIC_HELP, "verbose": "show every chart in the plan, not only the ones that change",
            "output": OUTPUT_HELP, "json": JSON_HELP,
            "mirror": "an OCI registry to push to as well, oci://HOST/PATH (default: repo.mirrors)",
            "sign": SIGN_HELP}, iterable=["chart", "mirror"])
def publish(c, url=None, public_url=None, chart=None, force=False, dry_run=False, atomic=False, verbose=False,
            output=None, json=False, mirror=None, sign=False):
    """Package, index and sync: the command CI runs on master.

    Charts whose inputs did not change since they were published (their fingerprints, kept in
    index.yaml) are not rebuilt. A broken chart blocks only itself (unless --atomic). OCI mirrors get
    the same versions, under the same immutability contract.
    """
    fmt = ui.output_format(output, json)
    s = _settings(c, url=url, public_url=public_url, atomic=atomic or None, mirrors=mirror, sign=sign or None)
    store = None if s.url.startswith("oci://") else stores.open_store(s.url)
    if store is not None and not store.writable:
        raise stores.read_only(store)
    epoch = settings.package_epoch(os.environ)
    current = idx.read(store) if store else None
    whole = fingerprints.tree_key(s.charts_dir, epoch) if store and not chart else ""
    same = fingerprints.published_tree(current[0].extra.get("annotations") or {}, whole) \
        if current and not force and not s.mirrors and not verbose else None  # --verbose: a row for every chart
    signed = stores.provenances(store) if s.sign and store else None  # one listing, for the publish below too
    if same and signed is not None and not all(stores.provenance(name, version) in signed for name, version in same):
        same = None  # a signed publish of versions published before without a .prov signs them
    if current and same is not None and all(idx.complete(current[0].entries.version(name, version))
                                            for name, version in same):  # an entry lost its digest or urls: record
        ui.say(fingerprints.summary(fingerprints.verb(dry_run), s.url, 0, 0, len(same), len(same)))
        if fmt != "table":
            commands.published(s.url, fmt, dry_run, [], [], same, [])
        return  # this very tree was published: no chart read
    commands.publish(s, fmt, store, current, whole, epoch, chart=chart, force=force, dry_run=dry_run, verbose=verbose,
                     signed=signed)


@task(help={"port": "port on 127.0.0.1 (default 8879, Helm 2's `helm serve` port)", "url": URL_HELP})
def serve(c, port=None, url=None):
    """Serve the local folder repository to Helm on 127.0.0.1."""
    from .serve import serve_folder

    s = _settings(c, url=url)
    serve_folder(s.url, port, announce=ui.say)


@task(help={"url": URL_HELP, "chart": "every version of this chart (default: the newest of each chart)",
            "output": OUTPUT_HELP, "json": JSON_HELP}, name="list")
def list_(c, url=None, chart=None, output=None, json=False):
    """List the repository's charts and versions."""
    fmt = ui.output_format(output, json)
    commands.list_(_settings(c, url=url), fmt, chart)


@task(help={"url": URL_HELP, "output": OUTPUT_HELP, "json": JSON_HELP,
            "keyring": "check every package's signature (.prov) against this public keyring (gpg --export)"})
def verify(c, url=None, output=None, json=False, keyring=None):
    """Check a live repository's packages, digests and index.

    With --keyring, every package's signature (its .prov) too, by Helm's own verify.
    """
    fmt = ui.output_format(output, json)
    commands.verify(_settings(c, url=url), fmt, keyring)


@task(help={"url": URL_HELP, "output": OUTPUT_HELP, "json": JSON_HELP})
def doctor(c, url=None, output=None, json=False):
    """Check an S3 repository's security settings."""
    fmt = ui.output_format(output, json)
    commands.doctor(_settings(c, url=url), fmt)


ns = Collection("repo", lint, package, index, sync, publish, serve, list_, verify, doctor)
