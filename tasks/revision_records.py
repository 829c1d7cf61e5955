"""What a deploy records on its revision, read back: who deployed which chart (a description and labels), and
where its values hold secrets. Status, diff and history run later, without the deploy's --set-secret, and must
still know what to mask; Helm keeps a failed upgrade's error in the description, which may quote a secret."""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import urls
from .git import git
from .values import leaves, register_stored

SECRET_PATHS = "secret-paths"  # labels secret-paths.0, .1, ...: where a revision's values hold secrets


def deployer(env: Mapping[str, str], root: Path) -> dict[str, str]:
    """Who and what deployed: recorded in the release's description and labels."""
    commit = env.get("DRONE_COMMIT_SHA") or git(root, "rev-parse", "HEAD")
    who = env.get("DRONE_COMMIT_AUTHOR") or git(root, "config", "user.email") or getpass.getuser()
    return {"commit": commit, "who": who, "build": env.get("DRONE_BUILD_LINK", "")}


def label_value(text: str) -> str:
    """Kubernetes label values: 63 characters of [A-Za-z0-9_.-], starting and ending alphanumeric."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:63].strip("_.-")


def describe(chart: str, version: str, origin: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The revision's description and labels: its chart, commit, deployer and build link (a link's userinfo left
    out: the description is stored in the cluster, where plain `helm history` shows it)."""
    parts = [f"{chart}-{version}"]
    parts += [f"commit {origin['commit'][:12]}"] if origin.get("commit") else []
    parts += [f"by {origin['who']}"] if origin.get("who") else []
    parts += [urls.redact_value(origin["build"])] if origin.get("build") else []
    labels = {"chart-version": label_value(version), "git-commit": label_value(origin.get("commit", "")),
              "deployed-by": label_value(origin.get("who", ""))}
    return "; ".join(parts), {k: v for k, v in labels.items() if v}


def secret_labels(paths: Iterable[tuple[str | int, ...]], values: Mapping[str, Any]) -> dict[str, str]:
    """Where the revision's values hold secrets (the paths, never the values), as labels: status and diff run
    later without the deploy's --set-secret, and must still know what to mask. Label values are 63 characters of
    [A-Za-z0-9_.-], so the JSON list of paths is base32 (lowercase, unpadded) in pieces, counted. Helm's upgrade
    merges its labels into the last revision's, so a plain `helm upgrade` keeps a record that may no longer be
    of its values: the record names the values' keys by a digest (_keys_digest), and one that does not match is
    no record."""
    found = sorted({tuple(path) for path in paths}, key=json.dumps)
    code = base64.b32encode(json.dumps(found).encode()).decode().rstrip("=").lower() if found else ""
    pieces = [code[i:i + 63] for i in range(0, len(code), 63)]
    return {f"{SECRET_PATHS}.count": str(len(pieces)), f"{SECRET_PATHS}.keys": _keys_digest(values),
            **{f"{SECRET_PATHS}.{i}": p for i, p in enumerate(pieces)}}


def _keys_digest(values: Mapping[str, Any]) -> str:
    """A digest of where values has a value (its leaves' paths, never the values): what Helm stores as a
    revision's config, read back, has the same."""
    return hashlib.sha256(json.dumps(sorted(leaves(values), key=json.dumps)).encode()).hexdigest()[:32]


def recorded_secret_paths(revision: Mapping[str, Any], values: Mapping[str, Any]) -> set[tuple[str | int, ...]] | None:
    """Where a revision's `values` (its config) hold secrets, as it recorded them (secret_labels; a rollback
    copies the record with the values); None when it has no record of them (deployed before this tool recorded
    it, or by another tool), and {()} when its record does not read: the caller cannot know what to mask. The
    values found there are secrets from now on (values.register_stored)."""
    labels = revision.get("labels") or {}
    count = labels.get(f"{SECRET_PATHS}.count")
    if count is None or labels.get(f"{SECRET_PATHS}.keys") != _keys_digest(values):
        return None
    try:
        if not (count.isascii() and count.isdigit()) or int(count) > len(labels):
            raise ValueError(count)
        code = "".join(labels[f"{SECRET_PATHS}.{i}"] for i in range(int(count)))
        found = json.loads(base64.b32decode(code.upper() + "=" * (-len(code) % 8))) if code else []
        if not isinstance(found, list) or not all(
                isinstance(path, list) and path and all(isinstance(k, (str, int)) for k in path) for path in found):
            raise ValueError(found)
    except (KeyError, ValueError, TypeError):
        return {()}
    paths = {tuple(path) for path in found}
    register_stored(values, paths)
    return paths


def any_record(revisions: list[dict[str, Any]]) -> bool:
    """Whether any revision records where its secrets are (secret_labels): then one that does not (a rollback to a
    revision an older tool or plain Helm made, a plain `helm upgrade` that changed the keys) may hold secrets
    where nobody knows."""
    return any(f"{SECRET_PATHS}.count" in (r.get("labels") or {}) for r in revisions)


def may_hold_secrets(paths: set[tuple[str | int, ...]] | None, revisions: list[dict[str, Any]],
                     has_configured_secrets: bool) -> bool:
    """Whether a revision's values held secrets, from what it recorded (`paths`: recorded_secret_paths); when it
    recorded nothing, as the release has configured secrets or another revision recorded (any_record)."""
    return bool(paths) or paths is None and (has_configured_secrets or any_record(revisions))


def shown_description(text: str, may_hold: bool) -> str:
    """A revision's description. Helm's of a failed one is `Upgrade "NAME" failed: ERROR` (kept when a later
    upgrade or a failed rollback makes it superseded), which may quote what a template made of a secret (an API
    server's `Invalid value: "..."`, the object's name): there is no telling what, so when its values may hold
    secrets (may_hold_secrets), the error is left out (the deploy printed it, masked)."""
    head, failed, _ = text.partition(" failed: ")
    if not failed or not may_hold:
        return text
    return f"{head} failed (the error is not shown: it may quote what a template made of a secret value)"


def unrecorded(revision: dict[str, Any], paths: set[tuple[str | int, ...]] | None) -> str:
    """Why where a revision's secrets are is not known (recorded_secret_paths gave None or {()})."""
    if paths is None:
        return (f"revision {revision['revision']} does not record where its values hold secrets (deployed before this "
                "tool recorded it, or by another tool)")
    return f"where revision {revision['revision']}'s values hold secrets, as recorded (labels {SECRET_PATHS}.*), " \
        "does not read"
