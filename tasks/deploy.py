"""Releases: which cluster, which chart version, which values; then deploy, roll back, inspect.

The plan is made before anything touches the cluster, so bad input (unknown environment, missing
values file, malformed --set, missing credentials, no matching version) fails with nothing deployed.
Every value that came from a secret source is registered with ui.add_secret before it is used.
"""

from __future__ import annotations

import base64
import copy
import difflib
import getpass
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tasks import charts, helm, packaging, publish, safe_yaml, ui
from tasks import index as idx
from tasks.errors import ToolError
from tasks.git import git
from tasks.settings import Environment, Release
from tasks.store import INDEX, Store

GOOD = ("deployed", "superseded")  # statuses a rollback may return to
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
VALUES_ORDER = "chart defaults < release values files and set < environment values files < --values < --set"
_EXPANSION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::(-?\d+)(?::(\d+))?)?\}")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass(frozen=True)
class Access:
    """How to reach the environment's cluster. `kubeconfig` may hold a token: never print it."""

    kubeconfig: str | None
    context: str | None
    namespace: str
    source: str  # for people: "kubeconfig context staging" or "STAGING_API_SERVER + STAGING_KUBERNETES_TOKEN"


@dataclass
class Plan:
    release: str
    environment: Environment
    access: Access
    chart: str
    version: str
    archive: bytes = field(repr=False)
    values: dict[str, Any] = field(repr=False)
    description: str
    labels: dict[str, str]
    secret_paths: tuple[tuple[str | int, ...], ...] = ()  # where values from a secret source went

    @property
    def shown_values(self) -> dict[str, Any]:
        """The values as they may be printed: masked in the data, so no YAML or JSON encoding can reveal them."""
        return masked(self.values, self.secret_paths)


# --- settings from the environment --------------------------------------------------------------

def expand(text: str, env: Mapping[str, str], where: str) -> str:
    """${DRONE_*} and ${CI_*} as in Drone (${NAME}, ${NAME:OFFSET}, ${NAME:OFFSET:LENGTH}); $$ is a literal $.

    Only CI variables, and none that holds a credential (DRONE_NETRC_PASSWORD, CI_JOB_TOKEN, ...): expanding
    those would let `--set x=${...}` put a secret into values that are printed and stored unmasked.
    """

    def one(match: re.Match[str]) -> str:
        name, offset, length = match.groups()
        if name is None:
            return "$"
        if not name.startswith(("DRONE_", "CI_")):
            raise ToolError(f"{where}: ${{{name}}} is not expanded: only ${{DRONE_*}} and ${{CI_*}} are")
        if ui.is_credential(name):
            raise ToolError(f"{where}: ${{{name}}} is a credential (DRONE_NETRC_* and names ending in _TOKEN, "
                            f"_PASSWORD, _KEY, ... are never expanded); to pass a secret, use --set-secret PATH={name}")
        if name not in env:
            raise ToolError(f"{where}: ${{{name}}} is not set; set it, or write $${{{name}}} for a literal")
        value = env[name]
        start = int(offset or 0)
        return value[start:start + int(length)] if length is not None else value[start:]

    return _EXPANSION.sub(one, text)


def timeout_seconds(text: str) -> int:
    """Helm's duration syntax (5m, 90s, 1h30m) or plain seconds."""
    text = str(text).strip()
    if text.isdigit():
        return int(text)
    match = _DURATION.match(text)
    if not text or not match:
        raise ToolError(f"--timeout {text!r}: use a duration like 300s, 5m or 1h30m")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def cluster_access(environment: Environment, env: Mapping[str, str]) -> Access:
    """CI: <PREFIX>_API_SERVER + <PREFIX>_KUBERNETES_TOKEN (+ _CERTIFICATE). Laptop: kubeconfig + kube_context.

    Never the current context, and never an unprefixed variable: either would deploy to the wrong cluster.
    """
    prefix = environment.secrets_prefix
    names = {k: f"{prefix}_{k}" for k in ("API_SERVER", "KUBERNETES_TOKEN", "KUBERNETES_CERTIFICATE")} if prefix else {}
    present = {k: env[n] for k, n in names.items() if env.get(n)}
    where = f"release.environments.{environment.name}"
    if present or (prefix and not environment.kube_context):
        for required in ("API_SERVER", "KUBERNETES_TOKEN"):
            if required not in present:
                raise ToolError(
                    f"{names[required]} is not set ({where}.secrets_prefix is {prefix}); set it "
                    f"(a Drone secret), or unset every {prefix}_* variable to use kube_context"
                )
        ui.add_secret(present["KUBERNETES_TOKEN"])
        cluster: dict[str, Any] = {"server": present["API_SERVER"]}
        if "KUBERNETES_CERTIFICATE" in present:
            cluster["certificate-authority-data"] = present["KUBERNETES_CERTIFICATE"].strip()
            try:
                base64.b64decode(cluster["certificate-authority-data"], validate=True)
            except ValueError:
                raise ToolError(f"{names['KUBERNETES_CERTIFICATE']} is not base64; set the CA's PEM, base64-encoded") from None
        kubeconfig = yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": environment.name,
            "clusters": [{"name": environment.name, "cluster": cluster}],
            "users": [{"name": environment.name, "user": {"token": present["KUBERNETES_TOKEN"]}}],
            "contexts": [{"name": environment.name, "context": {
                "cluster": environment.name, "user": environment.name, "namespace": environment.namespace}}],
        })
        return Access(kubeconfig, environment.name, environment.namespace,
                      f"{names['API_SERVER']} + {names['KUBERNETES_TOKEN']}")
    if not environment.kube_context:
        raise ToolError(f"{where}.kube_context is not set; set it to a context of your kubeconfig "
                        "(the current context is never used)")
    return Access(None, environment.kube_context, environment.namespace, f"kubeconfig context {environment.kube_context}")


# --- values -------------------------------------------------------------------------------------

def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values: maps merge key by key, anything else is replaced."""
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def read_values(path: Path, where: str) -> dict[str, Any]:
    """A values file as Helm reads one (-f): a YAML mapping, its aliases within Helm's limit."""
    try:
        loaded = safe_yaml.load(path.read_text(encoding="utf-8"), yaml.SafeLoader)
    except FileNotFoundError:
        raise ToolError(f"{where}: {path} not found; create it or remove it from the list") from None
    except IsADirectoryError:
        raise ToolError(f"{where}: {path} is a folder, not a values file; name a YAML file") from None
    except OSError as exc:
        raise ToolError(f"{where}: {path} cannot be read ({exc.strerror}); check it") from None
    except UnicodeDecodeError:
        raise ToolError(f"{where}: {path} is not UTF-8 text") from None
    except safe_yaml.AliasError as exc:
        raise ToolError(f"{where}: {path}: {exc}, which Helm refuses too; write the values out instead of aliasing "
                        "them") from None
    except yaml.YAMLError as exc:
        raise ToolError(f"{where}: {path} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ToolError(f"{where}: {path} must hold a mapping of values")
    return loaded or {}


def layered_values(
    release: Release, environment: Environment, values_files: Iterable[str], sets: Iterable[str],
    secrets: Iterable[str], env: Mapping[str, str],
) -> tuple[dict[str, Any], list[tuple[str | int, ...]]]:
    """(values layered in VALUES_ORDER, the paths that hold secrets); secret values registered before parsing."""
    layers: list[dict[str, Any]] = []
    layers += [read_values(p, f"release.releases.{release.name}.values") for p in release.values]
    where = f"release.releases.{release.name}.set"
    layers += [_set(expand(s, env, where), where) for s in release.set]
    layers += [read_values(p, f"release.environments.{environment.name}.values") for p in environment.values]
    layers += [read_values(Path(p), "--values") for p in values_files]  # like helm -f: relative to where you are
    layers += [_set(expand(s, env, f"--set {s}"), "--set") for s in sets]
    secret_paths: list[tuple[str | int, ...]] = []
    for path, variable in [*release.secrets, *(_secret_flag(s) for s in secrets)]:
        value = env.get(variable)
        if value is None:
            raise ToolError(f"secret {path}: environment variable {variable} is not set; set it (a Drone secret)")
        ui.add_secret(value)
        parsed = helm.parse_set(f"{path}={value}", literal=True)
        if not parsed:
            raise ToolError(f"secret {path!r}: not a values path; use dotted keys like db.password")
        layers.append(parsed)
        secret_paths += _leaves(parsed)
    values: dict[str, Any] = {}
    for layer in layers:
        merge(values, layer)
    return values, secret_paths


def register_secrets(release: Release, env: Mapping[str, str]) -> None:
    """The release's `secrets:` values are secrets for tasks that only read the release too (its notes, errors)."""
    for _, variable in release.secrets:
        if env.get(variable):
            ui.add_secret(env[variable])


def _leaves(tree: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """The path of every value in a parsed --set tree (list padding Helm adds for a[2]=x is not a value)."""
    if not isinstance(tree, dict | list):
        yield path
        return
    for key, value in tree.items() if isinstance(tree, dict) else enumerate(tree):
        if value is not None:
            yield from _leaves(value, (*path, key))


def masked(values: dict[str, Any], paths: Iterable[tuple[str | int, ...]]) -> dict[str, Any]:
    """A copy of `values` with the value at each path replaced by the mask, and every other string redacted."""
    shown = copy.deepcopy(values)
    for path in paths:
        node: Any = shown
        for key in path[:-1]:
            node = node[key] if _has(node, key) else None
        if _has(node, path[-1]):
            node[path[-1]] = ui.MASK
    return ui.redact_data(shown)


def _has(node: Any, key: str | int) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)


def _set(expression: str, where: str) -> dict[str, Any]:
    if "=" not in expression or expression.startswith("="):
        raise ToolError(f"{where} {expression!r}: expected KEY=VALUE (e.g. image.tag=v1.2.3)")
    return helm.parse_set(expression)


def _secret_flag(text: str) -> tuple[str, str]:
    path, _, variable = text.partition("=")
    if not path or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", variable):
        raise ToolError(f"--set-secret {text!r}: expected KEY=ENV_VAR_NAME (e.g. db.password=DB_PASSWORD)")
    return path, variable


# --- the chart ----------------------------------------------------------------------------------

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


def fetch_chart(store: Store, chart: str, constraint: str | None, where: str,
                public_url: str | None = None) -> tuple[str, bytes]:
    """(version, archive) from the chart repository, verified against the index's digest.

    The index is untrusted (invariant 9): an entry without a digest is never deployed, and its package is
    read only from inside the repository (idx.package_key), nowhere else.
    """
    index, _ = publish.read_index(store)
    if not index.entries.get(chart):
        known = ", ".join(sorted(index.entries)[:10]) or "no charts yet"
        raise ToolError(f"{store.url}: chart {chart!r} is not in this repository ({known}); publish it "
                        "(invoke repo.publish) or fix repo.url")
    entry = choose_version(index.entries[chart], constraint, chart, where)
    listed = f"{store.url}/{INDEX}"
    key = idx.package_key(entry, listed, (store.url, public_url))
    if not entry.get("digest"):
        raise ToolError(f"{listed}: {chart} {entry['version']} has no digest, so its package cannot be verified and "
                        "is not deployed; publish the chart again (invoke repo.publish, with --force if the stored "
                        "package differs) to record its digest")
    found = store.read(key)
    if found is None:
        raise ToolError(f"{store.url}/{key}: in the index but missing from the repository; run invoke repo.publish")
    if charts.digest(found[0]) != entry["digest"]:
        raise ToolError(f"{store.url}/{key}: digest differs from index.yaml's; the repository is damaged, "
                        "republish the chart (invoke repo.publish --force)")
    return str(entry["version"]), found[0]


def local_chart(root: Path, chart: str, work_dir: Path) -> tuple[str, bytes]:
    """A chart folder in the checkout (./charts/NAME), packaged as repo.package would."""
    folder = (root / chart).resolve()
    if not (folder / "Chart.yaml").exists():
        raise ToolError(f"chart {chart!r}: {folder}/Chart.yaml not found")
    found = charts.read(folder, folder.parent)
    built = packaging.build(charts.Tree([found]), folder.parent, work_dir / "local-packages", os.environ)
    if built.failures:
        raise ToolError(built.failures[0].message)
    return found.version, built.packages[0].path.read_bytes()


def is_local(chart: str) -> bool:
    return chart.startswith(("./", "../", "/", "charts/"))


# --- what the cluster says ----------------------------------------------------------------------

def rollback_target(revisions: list[dict[str, Any]], revision: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(current, target): the newest revision before the current one that was deployed or superseded.

    Not simply current-1 as `helm rollback` picks: that one may have failed too.
    """
    if not revisions:
        raise ToolError("nothing to roll back: the release has no revisions")
    current = revisions[-1]
    if revision is not None:
        chosen = [r for r in revisions if r["revision"] == revision]
        if not chosen:
            raise ToolError(f"--revision {revision}: no such revision; known: {', '.join(str(r['revision']) for r in revisions)}")
        return current, chosen[0]
    earlier = [r for r in revisions[:-1] if r.get("status") in GOOD]
    if not earlier:
        raise ToolError(f"nothing to roll back to: no revision before {current['revision']} was deployed")
    return current, earlier[-1]


def refuse_if_stuck(revisions: list[dict[str, Any]], recover: str) -> None:
    """A pending release is another deploy still running, or one that was killed; never deploy over it."""
    if revisions and revisions[-1].get("status") in PENDING:
        last = revisions[-1]
        raise ToolError(
            f"release {last['name']} is {last['status']} since {last.get('deployed_at', '?')} (revision "
            f"{last['revision']}): another deploy is running, or one was interrupted; if none is running, "
            f"recover with: {recover}"
        )


def deployer(env: Mapping[str, str], root: Path) -> dict[str, str]:
    """Who and what deployed: recorded in the release's description and labels."""
    commit = env.get("DRONE_COMMIT_SHA") or git(root, "rev-parse", "HEAD")
    who = env.get("DRONE_COMMIT_AUTHOR") or git(root, "config", "user.email") or getpass.getuser()
    return {"commit": commit, "who": who, "build": env.get("DRONE_BUILD_LINK", "")}


def label_value(text: str) -> str:
    """Kubernetes label values: 63 characters of [A-Za-z0-9_.-], starting and ending alphanumeric."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:63].strip("_.-")


def describe(chart: str, version: str, origin: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    parts = [f"{chart}-{version}"]
    parts += [f"commit {origin['commit'][:12]}"] if origin.get("commit") else []
    parts += [f"by {origin['who']}"] if origin.get("who") else []
    parts += [origin["build"]] if origin.get("build") else []
    labels = {"chart-version": label_value(version), "git-commit": label_value(origin.get("commit", "")),
              "deployed-by": label_value(origin.get("who", ""))}
    return "; ".join(parts), {k: v for k, v in labels.items() if v}


def _documents(manifest: str) -> list[tuple[str, Any]]:
    """Each YAML document of a rendered manifest, with what it parses to (None if it does not)."""
    documents = []
    for text in re.split(r"^---\s*$", manifest, flags=re.MULTILINE):
        try:
            documents.append((text, yaml.safe_load(text)))
        except yaml.YAMLError:
            documents.append((text, None))
    return documents


def _secret_values(manifest: str) -> dict[tuple[str, str], Any]:
    return {(str(doc.get("metadata", {}).get("name")), f"{field}.{key}"): value
            for _, doc in _documents(manifest) if isinstance(doc, dict) and doc.get("kind") == "Secret"
            for field in ("data", "stringData") if isinstance(doc.get(field), dict)
            for key, value in doc[field].items()}


def mask_secrets(manifest: str, changed: frozenset[tuple[str, str]] = frozenset()) -> str:
    """Every Secret's data and stringData values replaced by ***, or `*** (changed)` for keys in `changed`.

    Any other document that holds a registered secret (a chart may copy a value anywhere) is masked in its
    data too, before it is dumped again; documents without one are kept verbatim.
    """
    out = []
    for text, doc in _documents(manifest):
        shown = ui.redact_data(doc)
        if isinstance(doc, dict) and doc.get("kind") == "Secret":
            name = str(doc.get("metadata", {}).get("name"))
            for field in ("data", "stringData"):
                if isinstance(doc.get(field), dict):
                    shown[field] = {ui.redact(k): ui.MASK + (" (changed)" if (name, f"{field}.{k}") in changed else "")
                                    for k in doc[field]}
        if shown != doc or (isinstance(doc, dict) and doc.get("kind") == "Secret"):
            comments = "".join(line + "\n" for line in text.strip("\n").splitlines() if line.startswith("#"))
            text = "\n" + comments + yaml.safe_dump(shown, sort_keys=False)
        out.append(text)
    return "---".join(out)


def diff(deployed: str, proposed: str, release: str) -> str:
    """A unified diff of two rendered manifests; Secret values masked, a changed one marked as such."""
    old, new = _secret_values(deployed), _secret_values(proposed)
    changed = frozenset(k for k in new if k in old and old[k] != new[k])
    lines = difflib.unified_diff(
        mask_secrets(deployed).splitlines(keepends=True), mask_secrets(proposed, changed).splitlines(keepends=True),
        fromfile=f"{release} (deployed)", tofile=f"{release} (this deploy)",
    )
    return "".join(lines)


def confirm(environment: Environment, what: str, *, yes: bool, interactive: bool, ask: Callable[[str], str],
            always: bool = False) -> None:
    """A protected environment (or an `always` action) needs a yes: typed on a terminal, or --yes elsewhere."""
    if yes or not (environment.protected or always):
        return
    if not interactive:
        reason = f"environment {environment.name} is protected" if environment.protected else f"{what} needs a yes"
        raise ToolError(f"{reason}: pass --yes to {what} (not on a terminal, so nobody can confirm)")
    if ask(f"{what[0].upper()}{what[1:]}? [y/N] ").strip().lower() not in ("y", "yes"):
        raise ToolError(f"{what}: not confirmed; nothing changed")


# --- plan, then act -----------------------------------------------------------------------------

def prepare(
    root: Path, environment: Environment, release: Release, *, store: Store, version: str | None,
    values_files: Iterable[str], sets: Iterable[str], secrets: Iterable[str], env: Mapping[str, str], work_dir: Path,
    public_url: str | None = None,
) -> Plan:
    """Everything a deploy needs, checked, before the cluster is touched."""
    access = cluster_access(environment, env)
    values, secret_paths = layered_values(release, environment, values_files, sets, secrets, env)
    where = f"release.releases.{release.name}"
    if is_local(release.chart):
        chart_version, archive = local_chart(root, release.chart, work_dir)
        chart = Path(release.chart).name
    else:
        chart = release.chart
        chart_version, archive = fetch_chart(store, chart, version or release.version,
                                             f"{where}.version" if not version else "--version", public_url)
    description, labels = describe(chart, chart_version, deployer(env, root))
    return Plan(release.name, environment, access, chart, chart_version, archive, values, description, labels,
                tuple(secret_paths))


@contextmanager
def connect(access: Access) -> Iterator[Any]:
    """Helm on the environment's cluster; when it cannot be reached, the error says what was tried."""
    try:
        with helm.cluster(access.kubeconfig, access.context, access.namespace) as config:
            yield config
    except ToolError as exc:
        if "cluster unreachable" not in str(exc):
            raise
        tried = (f"context {access.context} of the kubeconfig in KUBECONFIG or ~/.kube/config"
                 if access.kubeconfig is None else f"the API server in {access.source.split(' + ')[0]}")
        raise ToolError(f"{exc} (tried {tried}; check it)") from exc


def recovery(plan_env: str, release: str, revisions: list[dict[str, Any]]) -> str:
    if any(r.get("status") in GOOD for r in revisions[:-1]):
        return f"invoke release.rollback --env {plan_env} --release {release}"
    return f"invoke release.uninstall --env {plan_env} --release {release} (no earlier revision was deployed)"


def left_at(environment: str, release: str, before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str:
    """Where an interrupted deploy left the release, and the one command that recovers it when one is needed."""
    if not after:
        return "the release is not installed; nothing to recover"
    last = after[-1]
    state = f"the release is at revision {last['revision']} ({last['status']}, {last['chart_name']}-{last['chart_version']})"
    if last["status"] == "deployed":
        return f"{'Helm rolled it back: ' if len(after) > len(before) + 1 else ''}{state}; nothing to recover"
    return f"{state}; recover with: {recovery(environment, release, after)}"


def run(plan: Plan, *, wait: bool, timeout: int, dry_run: bool) -> dict[str, Any]:
    """helm upgrade --install with rollback on failure; a failure reports where the release ended up."""
    with connect(plan.access) as config:
        revisions = helm.history(config, plan.release)
        refuse_if_stuck(revisions, recovery(plan.environment.name, plan.release, revisions))
        shown = f"{plan.chart} --version {plan.version} --namespace {plan.access.namespace} ({plan.access.source})"
        try:
            return helm.upgrade_install(
                config, plan.archive, plan.release, plan.values, install=not revisions, wait=wait, timeout=timeout,
                description=plan.description, labels=plan.labels, dry_run=dry_run,
                create_namespace=plan.environment.create_namespace, shown=shown,
            )
        except KeyboardInterrupt:
            stopped = f"{'dry run' if dry_run else 'deploy'} of {plan.chart} {plan.version} as {plan.release} stopped"
            if dry_run:
                raise KeyboardInterrupt(f"{stopped}; nothing changed in the cluster") from None
            after = helm.history(config, plan.release)
            raise KeyboardInterrupt(f"{stopped}; {left_at(plan.environment.name, plan.release, revisions, after)}") \
                from None
        except ToolError as exc:
            after = helm.history(config, plan.release)
            now = f"; the release is now at revision {after[-1]['revision']} ({after[-1]['status']})" if after else ""
            if f'namespaces "{plan.access.namespace}" not found' in str(exc):
                now += (f"; create the namespace, or set release.environments.{plan.environment.name}"
                        ".create_namespace: true")
            raise ToolError(f"deploy of {plan.chart} {plan.version} as {plan.release} failed: {exc}{now}") from exc


def render_diff(plan: Plan) -> str:
    with connect(plan.access) as config:
        revisions = helm.history(config, plan.release)
        deployed = helm.revision_info(config, plan.release, revisions[-1]["revision"])["summary"].get("manifest", "") \
            if revisions else ""
        proposed = helm.render(config, plan.archive, plan.release, plan.values, install=not revisions)
    return diff(deployed, proposed, plan.release)


def roll_back(
    access: Access, environment: str, release: str, revision: int | None, *, wait: bool, timeout: int,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(from, to, now): roll back to the last good revision (or --revision), the recovery for a stuck one too."""
    with connect(access) as config:
        revisions = helm.history(config, release)
        if not revisions:
            raise ToolError(f"release {release} is not installed in {environment} ({access.source}, "
                            f"namespace {access.namespace})")
        current, target = rollback_target(revisions, revision)
        helm.rollback(config, release, target["revision"], wait=wait, timeout=timeout)
        return current, target, helm.history(config, release)[-1]


def history(access: Access, release: str) -> list[dict[str, Any]]:
    """Each revision with its description (from `helm get all`)."""
    with connect(access) as config:
        revisions = helm.history(config, release)
        if not revisions:
            raise ToolError(f"release {release} is not installed ({access.source}, namespace {access.namespace})")
        return [{**r, "description": helm.revision_info(config, release, r["revision"])["info"].get("description", "")}
                for r in revisions]


def status(access: Access, release: str) -> dict[str, Any]:
    """Status, revision, chart, last deployed and notes; never values or the manifest (they may hold secrets)."""
    with connect(access) as config:
        revisions = helm.history(config, release)
        if not revisions:
            raise ToolError(f"release {release} is not installed ({access.source}, namespace {access.namespace})")
        info = helm.revision_info(config, release, revisions[-1]["revision"])
    summary, details = info["summary"], info["info"]
    return {
        "release": release, "namespace": access.namespace, "status": summary["status"],
        "revision": summary["revision"], "chart": f"{summary['chart_name']}-{summary['chart_version']}",
        "app_version": summary.get("app_version", ""), "last_deployed": details.get("last_deployed", ""),
        "description": details.get("description", ""), "notes": details.get("notes", ""),
    }


def uninstall(access: Access, release: str, *, wait: bool, timeout: int) -> None:
    with connect(access) as config:
        if not helm.history(config, release):
            raise ToolError(f"release {release} is not installed ({access.source}, namespace {access.namespace})")
        helm.uninstall(config, release, wait=wait, timeout=timeout)
