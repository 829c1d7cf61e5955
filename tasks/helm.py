"""The only module that imports Helm (helm_python, Helm v4's Go SDK in-process).

One narrow interface, like helmfile's helmexec: every operation is logged at debug level as the
equivalent `helm ...` command, and every Helm failure becomes a ToolError that says what was being done.
helm_python is imported lazily so `invoke --list` never loads the Go runtime.
"""

from __future__ import annotations

import functools
import logging
import queue
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import interrupts, ui, urls, waits
from .errors import ToolError

log = logging.getLogger("tasks.helm")


class _Heard:
    """What Helm logged during one call; `mixed` once another call overlapped it (its records are not told apart:
    they arrive on Go's threads)."""

    def __init__(self) -> None:
        self.records: deque[str] = deque(maxlen=200)  # the last ones: a long wait logs on
        self.warnings: list[str] = []  # the records at WARNING and above
        self.mixed = False


_listening: list[_Heard] = []
_pending: list[str] = []  # warnings of calls that ended while others ran, shown when the last of them ends
_failures: list[str] = []  # how those calls failed: a warning that only repeats one of them is not shown
_heard_lock = threading.Lock()


class _Bridge(logging.Handler):
    """Helm's own log records (helm_python's bridge): a debug line each (`invoke --debug`, as `helm --debug`); heard
    by the calls in progress, for what Helm only logs of a failure (_logged_cause); a warning or an error kept
    for the end of the call (_warned), as Helm's CLI prints those without --debug."""

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        with _heard_lock:
            for heard in _listening:
                heard.records.append(text)
                if record.levelno >= logging.WARNING:
                    heard.warnings.append(text)
        log.debug("helm: %s", text)


def _bridged() -> Any:
    """helm_python, its log records bridged (once, before any Config exists: helm_python gives them only to those
    made later)."""
    import helm_python

    records = logging.getLogger("tasks.helm.native")
    if not records.handlers:
        records.addHandler(_Bridge())
        records.setLevel(logging.DEBUG)
        records.propagate = False
        helm_python.enable_logging(logging.DEBUG, logger=records)
    return helm_python


@contextmanager
def _helm(command: str) -> Iterator[Any]:
    """Yield the helm_python module; log `command`; turn Helm's errors into one clear line, with the cause Helm
    logged and left out of it (_logged_cause); then what Helm warned of (_warned)."""
    helm_python = _bridged()
    log.debug("helm %s", command)
    heard = _Heard()
    with _heard_lock:
        for other in _listening:
            other.mixed = heard.mixed = True
        _listening.append(heard)
    detail = ""
    try:
        yield helm_python
    except helm_python.HelmError as exc:
        detail = " ".join(str(exc).split())
        detail += _logged_cause(heard, detail)
        raise ToolError(f"helm {command}: {detail}") from exc
    except UnicodeEncodeError as exc:  # the SDK hands Go every path as UTF-8: a name in another encoding cannot be
        raise ToolError(f"helm {command}: {'the path' if exc.object in command else exc.object} is not UTF-8, "
                        "which Helm's SDK cannot take; rename it in UTF-8") from None
    except KeyboardInterrupt:  # Helm's context cancelled (_interruptible): the caller says where the release is
        detail = "context canceled"
        raise
    finally:
        _warned(heard, detail)


def _warned(heard: _Heard, detail: str) -> None:
    """Each warning or error Helm logged during the call, once, as a warning; not one that only repeats how a call
    failed (`detail`: a rollback's "Rollback "NAME" failed: ERROR", an upgrade's "upgrade failed ... error=ERROR").
    Calls that overlap (releases deployed in parallel) each hear all their records: those are shown when the last
    of them ends, less any that repeats how one of them failed."""
    with _heard_lock:
        _listening.remove(heard)
        _pending.extend(text for text in heard.warnings if text not in _pending)
        _failures.append(detail)
        if _listening:
            return
        shown, failures = list(_pending), [d for d in _failures if d]
        _pending.clear()
        _failures.clear()
    for text in shown:
        cause = _logged_error(text)
        if not any(failure in " ".join(text.split()) or cause and cause in failure for failure in failures):
            ui.warn(f"helm: {text}")


def _logged_error(text: str) -> str:
    """The `error=` attribute of a Helm log record, its whitespace as one space ("" when it has none)."""
    return " ".join(text.partition(" error=")[2].split())


def _logged_cause(heard: _Heard, detail: str) -> str:
    """": CAUSE" when the last error Helm logged during the call is not in its own error (its uninstall returns
    "failed to delete release: NAME" and logs which resources the API server would not delete, and why); "" when
    it is, or none was logged, or another call's records may be among those heard."""
    with _heard_lock:
        logged = [text for text in heard.records if " error=" in text] if not heard.mixed else []
    cause = _logged_error(logged[-1]) if logged else ""
    if cause.startswith("[") and cause.endswith("]"):  # a list of errors, as Go's slog prints one
        cause = cause[1:-1]
    return f": {cause}" if cause and cause not in detail else ""


def package(chart_dir: Path, destination: Path) -> tuple[Path, dict[str, Any]]:
    """`helm package`, and the metadata the index entry takes from it: Helm's Package action is its loader, a
    check that every declared dependency is in charts/, and its Save; run here step by step so the chart
    Helm loaded gives the metadata, and the package is not loaded a second time."""
    with _helm(f"package {chart_dir}") as helm, helm.Chart.load(chart_dir) as chart:
        metadata: dict[str, Any] = chart.metadata
        if metadata.get("dependencies"):  # Helm's action.CheckDependencies, its words
            loaded = {sub.get("name") for sub in chart.dependencies}
            missing = [d.get("name") for d in metadata["dependencies"] if d.get("name") not in loaded]
            if missing:
                raise ToolError(f"helm package {chart_dir}: found in Chart.yaml, but missing in charts/ directory: "
                                f"{', '.join(map(str, missing))}")
        if metadata.get("apiVersion") == "v1" and not (chart_dir / "requirements.yaml").is_file():
            # Helm's Save leaves a v1 chart's dependencies out of Chart.yaml (requirements.yaml, a file it keeps,
            # declares them): the package, so `helm repo index` of it, has none
            metadata = {key: value for key, value in metadata.items() if key != "dependencies"}
        return Path(chart.save(destination)), metadata


def build_dependencies(chart_dir: Path, *, locked: bool, plain_http: bool = False) -> None:
    """`helm dependency build` when a lock pins the versions, else `helm dependency update`."""
    verb = "build" if locked else "update"
    with _helm(f"dependency {verb} {chart_dir}{' --plain-http' if plain_http else ''}") as helm:
        (helm.dependency_build if locked else helm.dependency_update)(chart_dir, plain_http=plain_http)


def dependency_list(chart_dir: Path) -> list[dict[str, Any]]:
    """`helm dependency list`: [{name, version, repository, status: ok | missing | unpacked | ...}]."""
    with _helm(f"dependency list {chart_dir}") as helm:
        found: list[dict[str, Any]] = helm.dependency_list(chart_dir)
        return found


def lint(chart_dir: Path) -> list[dict[str, Any]]:
    """Helm's lint messages: [{severity: 1 info | 2 warning | 3 error, path, error}]."""
    with _helm(f"lint {chart_dir}") as helm:
        report = helm.lint(chart_dir)
    messages: list[dict[str, Any]] = report.get("messages") or []
    seen = {m["error"] for m in messages}  # Helm repeats each error message in `errors`
    messages += [{"severity": 3, "path": "", "error": e} for e in report.get("errors") or [] if e not in seen]
    return messages


def archive_metadata(data: bytes, what: str) -> dict[str, Any]:
    """Load a chart archive the way Helm's client will, and return its Chart.yaml metadata."""
    with _helm(f"show chart {what}") as helm, helm.Chart.load_archive(data) as chart:
        metadata: dict[str, Any] = chart.metadata
        return metadata


def repo_index(repo_url: str) -> dict[str, Any]:
    """Helm's own repository client: download and parse index.yaml. Credentials go to Helm apart from the URL."""
    bare, username, password = urls.split(repo_url)
    with _helm(f"repo add tmp {urls.redact(repo_url)} && helm repo update") as helm:
        index: dict[str, Any] = helm.repo_index(bare, username=username, password=password)
        return index


def pull(chart: str, version: str, repo_url: str, destination: Path) -> Path:
    bare, username, password = urls.split(repo_url)
    shown = urls.redact(repo_url)
    with _helm(f"pull {chart} --version {version} --repo {shown} --destination {destination}") as helm:
        helm.pull(chart, version=version, repo_url=bare, destination=destination, username=username, password=password)
    return destination / f"{chart}-{version}.tgz"


def sign(archive: Path, *, key: str, keyring: Path, passphrase_file: Path | None) -> Path:
    """`helm package --sign`'s signing step: ARCHIVE.prov beside the archive."""
    with _helm(f"sign {archive.name} --key <key> --keyring <private keyring>") as helm:
        return Path(helm.sign(archive, key=key, keyring=keyring, passphrase_file=passphrase_file))


def verify(archive: Path, keyring: Path) -> list[str]:
    """`helm verify ARCHIVE --keyring KEYRING`: who signed it; HelmError when the signature does not hold."""
    with _helm(f"verify {archive.name} --keyring {keyring}") as helm:
        signed_by: list[str] = helm.verify(archive, keyring).get("signed_by") or []
        return signed_by


# --- OCI registries -----------------------------------------------------------------------------

def registry_client(*, plain_http: bool, credentials_file: Path) -> Any:
    """Helm's registry client; logins go to `credentials_file`, never to the user's Helm config."""
    with _helm("registry client") as helm:
        return helm.RegistryClient(plain_http=plain_http, credentials_file=credentials_file)


def registry_login(client: Any, host: str, username: str, password: str, *, plain_http: bool) -> None:
    with _helm(f"registry login {host} --username {username} --password-stdin"):
        _from_registry(lambda: client.login(host, username, password, plain_http=plain_http), f"the registry {host}")


def registry_tags(client: Any, reference: str) -> list[str] | None:
    """The versions of oci://HOST/PATH/CHART, newest first; None when the registry has no such repository."""
    import helm_python

    with _helm(f"show chart {reference} (tags)"):
        try:
            tags: list[str] = _from_registry(lambda: client.tags(reference), f"the registry ({reference})")
        except helm_python.HelmRegistryError as exc:
            if "name unknown" in str(exc) or "404" in str(exc):
                return None
            raise
        return tags


def registry_push(client: Any, archive: Path, remote: str, *, plain_http: bool) -> None:
    with _helm(f"push {archive.name} {remote}{' --plain-http' if plain_http else ''}") as helm:
        _from_registry(lambda: helm.push(archive, remote, client=client, plain_http=plain_http),
                       f"the registry ({remote})")


def registry_pull(client: Any, reference: str, version: str, destination: Path, *, plain_http: bool) -> Path:
    """`helm pull oci://... --version V`: the archive as the registry holds it."""
    with _helm(f"pull {reference} --version {version}") as helm:
        _from_registry(lambda: helm.pull(reference, client=client, version=version, destination=destination,
                                         plain_http=plain_http), f"the registry ({reference})")
    return destination / f"{reference.rsplit('/', 1)[-1]}-{version}.tgz"


# --- releases -----------------------------------------------------------------------------------

@contextmanager
def cluster(kubeconfig: str | None, context: str | None, namespace: str) -> Iterator[Any]:
    """A Helm action configuration for one namespace; kubeconfig None: KUBECONFIG, else ~/.kube/config."""
    where = f"--kube-context {context} " if context else ""
    with _helm(f"{where}--namespace {namespace}") as helm:
        config = helm.Config(kubeconfig_content=kubeconfig, kube_context=context, namespace=namespace)
    try:
        yield config
    finally:
        config.close()


def history(config: Any, release: str) -> list[dict[str, Any]]:
    """Every stored revision, oldest first; [] for a release never installed."""
    import helm_python

    with _helm(f"history {release}"):
        try:
            revisions: list[dict[str, Any]] = config.history(release)
        except helm_python.HelmNotFoundError:
            return []
    return revisions


def revision_info(config: Any, release: str, revision: int) -> dict[str, Any]:
    """`helm get all --revision N`: summary (with manifest), info (description, notes), user values."""
    with _helm(f"get all {release} --revision {revision}"):
        info: dict[str, Any] = config.get_all(release, revision=revision)
        return info


# An upgrade with no values of its own would deploy the last revision's (Helm's reuseValues), secrets and all:
# it deploys these values over the chart's defaults, as an install does.
_RESET = {"reset_values": True}


def upgrade_install(
    config: Any, archive: bytes, release: str, values: dict[str, Any], *, install: bool, wait: bool, timeout: int,
    description: str, labels: dict[str, str], dry_run: bool, create_namespace: bool, history_max: int, shown: str,
) -> dict[str, Any]:
    """`helm upgrade --install --rollback-on-failure --wait --history-max N --force-conflicts`; `shown` is the
    command line to log.

    Without wait, no rollback on failure either: Helm would wait anyway to decide whether to roll back.
    """
    flags = (f"{' --dry-run=server' if dry_run else ''}{' --wait --rollback-on-failure' if wait else ''} "
             f"--history-max {history_max}{'' if install else ' --force-conflicts'}")
    with _helm(f"upgrade --install {release} {shown}{flags}") as helm, helm.Chart.load_archive(archive) as chart:
        options = {"create_namespace": create_namespace} if install else {"max_history": history_max, **_RESET}
        action = config.install if install else functools.partial(_upgrade, config)
        result: dict[str, Any] = _interruptible(lambda context: action(
            chart, release, values, timeout=timeout, wait="watcher" if wait else None,
            dry_run="server" if dry_run else None, rollback_on_failure=wait and not dry_run,
            description=description, labels=labels, context=context, **options,
        ))
        return result


# Server-side apply names the field manager after the process (Go's os.Args[0]: python3, python, python3.11), so a
# release deployed from a laptop, then from CI, conflicts with itself on every field it changes, and its rollback too.
# What a deploy applies is what git says: Helm's force_conflicts takes those fields from whichever manager holds them
# (as Helm 3's three-way merge overwrote hand edits). helm_python's Config.upgrade has no such parameter; its C
# library takes it, as it takes max_history for a rollback (rollback, below).
_FORCE = {"force_conflicts": True}


def _upgrade(config: Any, chart: Any, release: str, values: dict[str, Any], *, context: Any, timeout: int,
             wait: str | None, dry_run: str | None, rollback_on_failure: bool, max_history: int, reset_values: bool,
             description: str, labels: dict[str, str]) -> dict[str, Any]:
    """Config.upgrade, with force_conflicts (_FORCE)."""
    import json

    from helm_python import _native

    options = {"timeout_seconds": timeout, "wait": wait, "dry_run": dry_run, "max_history": max_history,
               "reset_values": reset_values or None, "rollback_on_failure": rollback_on_failure or None,
               "description": description, "labels": labels, **_FORCE}
    payload = _native.call_string("helm_upgrade", config._raw(), config._context_arg(context), chart._raw(), None,
                                  release, json.dumps(values), json.dumps({k: v for k, v in options.items()
                                                                           if v is not None}))
    found: dict[str, Any] = json.loads(payload)
    return found


_running: dict[Any, bool] = {}  # the context of every cancellable Helm call in progress -> cancelled
_lock = threading.Lock()
_together = _stopped = False  # within together(); and cancel_running() was called there


def cancel_running() -> None:
    """Cancel every Helm call in progress (Ctrl-C while an environment deploys): each raises KeyboardInterrupt.
    Within together(), one that would start later raises it instead of starting."""
    global _stopped
    with _lock:
        _stopped = _together
        for context in _running:
            _running[context] = True
            context.cancel()


@contextmanager
def together() -> Iterator[None]:
    """The Helm calls of an environment's releases, made on their threads: once cancel_running() was called, a
    release that was still getting ready (fetching its chart, reading its secrets) does not start Helm."""
    global _together, _stopped
    with _lock:
        _together, _stopped = True, False
    try:
        yield
    finally:
        with _lock:
            _together = _stopped = False


def _interruptible(call: Callable[[Any], Any]) -> Any:
    """call(context) in a thread, so Ctrl-C and SIGTERM reach Python while Helm's Go code waits.

    The first signal cancels the context: Helm stops waiting and, as on any failure, rolls the release back
    (or uninstalls a first install). A second one stops waiting for that too. Either way KeyboardInterrupt
    follows, for the caller to say where the release was left. Off the main thread (releases deployed in
    parallel), whoever handles the signal calls cancel_running(), with the same outcome.
    """
    import helm_python

    context = helm_python.HelmContext()
    with _lock:
        if _stopped:
            raise KeyboardInterrupt  # Ctrl-C came while the release got ready: nothing started
        _running[context] = False
    try:
        if threading.current_thread() is threading.main_thread():  # only the main thread may handle signals
            return _signalled(call, context)
        try:
            return call(context)
        except helm_python.HelmError:
            if _running[context]:
                raise KeyboardInterrupt from None
            raise
    finally:
        with _lock:
            del _running[context]


def _signalled(call: Callable[[Any], Any], context: Any) -> Any:
    def signalled(again: bool) -> None:
        if again:
            raise KeyboardInterrupt
        cancel_running()

    return _on_a_thread(lambda: call(context), signalled)


def _on_a_thread(call: Callable[[], Any], signalled: Callable[[bool], None], *, timeout: float | None = None,
                 what: str = "", interrupted: str = "") -> Any:
    """call() in a thread while the main thread waits for it, taking Ctrl-C and SIGTERM: `signalled(again)` on
    each (it may raise, to stop waiting); once the call ends after one, KeyboardInterrupt(`interrupted`). Past
    `timeout` seconds the call is given up, one line naming `what`."""
    finished: queue.Queue[dict[str, Any]] = queue.Queue()
    signals: list[int] = []

    def work() -> None:
        try:
            finished.put({"result": call()})
        except BaseException as exc:  # noqa: BLE001 - handed over to the main thread, raised there
            finished.put({"error": exc})

    def handler(signum: int, frame: Any) -> None:
        signalled(bool(signals))
        signals.append(signum)

    try:
        with interrupts.taken_by(handler, signal.SIGINT, signal.SIGTERM):
            threading.Thread(target=work, name="helm", daemon=True).start()
            outcome = waits.take(finished, timeout)  # the handler runs in this thread while Helm works in the other
    except queue.Empty:
        raise ToolError(f"{what}: no answer in {timeout:.0f} s; check that it is up and answers") from None
    if signals:
        raise KeyboardInterrupt(interrupted)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


REGISTRY_TIMEOUT = 300  # seconds a registry call may take before it is given up (Helm's client has no limit)


def _off_main(call: Callable[[], Any], what: str, *, abandon: bool, timeout: float | None = None) -> Any:
    """call() off the main thread, where a signal lands inside Helm's log callback and ctypes drops it. With
    `abandon`, Ctrl-C or SIGTERM stops waiting at once (a registry that never answers); else it is taken once the
    call ends (a rollback or an uninstall, which Helm cannot cancel), saying so. Past `timeout` seconds the call is
    given up, one line naming `what`."""
    if threading.current_thread() is not threading.main_thread():
        return call()

    def signalled(again: bool) -> None:
        if abandon:
            raise KeyboardInterrupt(f"stopped waiting for {what}")

    return _on_a_thread(call, signalled, timeout=timeout, what=what,
                        interrupted=f"{what} ran to its end first (Helm cannot cancel one)")


def _from_registry(call: Callable[[], Any], what: str) -> Any:
    """A registry call: Ctrl-C or SIGTERM stops waiting for it at once, and it is given up after REGISTRY_TIMEOUT
    (a registry that accepts connections and never answers would hold the task for ever)."""
    return _off_main(call, what, abandon=True, timeout=REGISTRY_TIMEOUT)


def render(config: Any, archive: bytes, release: str, values: dict[str, Any], *, install: bool) -> dict[str, str]:
    """The manifest and notes an upgrade would apply now, rendered by Helm against the cluster; nothing is stored."""
    with _helm(f"upgrade --install {release} --dry-run=client") as helm, helm.Chart.load_archive(archive) as chart:
        found = (config.install(chart, release, values, dry_run="client") if install else
                 config.upgrade(chart, release, values, dry_run="client", **_RESET))
        return {"manifest": found.get("manifest", ""), "notes": found.get("notes", "")}


def templates(config: Any, archive: bytes, release: str, values: dict[str, Any], *, namespace: str, revision: int,
              install: bool) -> dict[str, str]:
    """Each template as the deploy of `revision` renders it (lookup against the cluster), hooks included: what
    an upgrade's dry run returns has no hooks."""
    with _helm(f"template {release} --namespace {namespace} (hooks)") as helm, \
            helm.Chart.load_archive(archive) as chart:
        found: dict[str, str] = config.render(chart, values, name=release, namespace=namespace, revision=revision,
                                              is_install=install, is_upgrade=not install)
        return found


def rollback(config: Any, release: str, revision: int, *, wait: bool, timeout: int, history_max: int) -> None:
    """`helm rollback --history-max N --force-conflicts`. helm_python's Config.rollback drops max_history and
    force_conflicts (_FORCE), which its C library takes (the options Helm's Rollback action has), so the call goes to
    the library with them."""
    import json

    from helm_python import _native

    options = {"version": revision, "timeout_seconds": timeout, "max_history": history_max, **_FORCE,
               **({"wait": "watcher"} if wait else {})}
    with _helm(f"rollback {release} {revision}{' --wait' if wait else ''} --history-max {history_max} "
               "--force-conflicts"):
        _off_main(lambda: _native.call_status("helm_rollback", config._raw(), release, json.dumps(options)),
                  "the rollback", abandon=False)


def test(config: Any, release: str, *, timeout: int) -> dict[str, Any]:
    """`helm test`: run the release's test hooks; a failing one raises (as a ToolError)."""
    with _helm(f"test {release} --timeout {timeout}s"):
        result: dict[str, Any] = config.test(release, timeout=timeout)
        return result


def releases(config: Any) -> list[dict[str, Any]]:
    """`helm list --all` of the config's namespace: every release, whatever its status."""
    with _helm("list --all"):
        found: list[dict[str, Any]] = config.list(all_states=True)
        return found


def chart_contents(archive: bytes, values: dict[str, Any], release: str, namespace: str) -> dict[str, Any]:
    """What Helm stores of a chart in a release (metadata, templates, files, values, schema), its crds/, and
    its templates rendered offline with `values` (None when they do not render, and `error` says why)."""
    import helm_python

    with _helm(f"template {release} --namespace {namespace}") as helm, helm.Chart.load_archive(archive) as chart:
        rendered: dict[str, str] | None = None
        error = None
        try:
            rendered = chart.render(values, name=release, namespace=namespace, is_install=True)
        except helm_python.HelmError as exc:
            error = str(exc)
        return {"metadata": chart.metadata, "templates": chart.templates, "files": chart.files,
                "values": chart.values, "schema": chart.schema, "crds": chart.crds, "rendered": rendered,
                "error": error}


def uninstall(config: Any, release: str, *, wait: bool, timeout: int) -> None:
    with _helm(f"uninstall {release}"):
        _off_main(lambda: config.uninstall(release, wait="watcher" if wait else None, timeout=timeout),
                  "the uninstall", abandon=False)


SET_PARSERS = {"set": "parse_set_string", "set-string": "parse_set_string_values", "set-json": "parse_set_json"}


def parse_set(expression: str, flag: str = "set") -> dict[str, Any]:
    """Helm's own parser (strvals) of --set, --set-string (values stay text) or --set-json (each value JSON)."""
    with _helm(f"--{flag} <value>") as helm:
        parsed: dict[str, Any] = getattr(helm, SET_PARSERS[flag])(expression)
        return parsed

