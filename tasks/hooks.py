"""The hooks a deploy runs, for a dry run's API-server check: Helm keeps hooks out of a release's manifest (a dry
run's result has none), so they are picked from the chart's templates as Helm's releaseutil sorts them.

Helm deletes a hook's object before creating it again when its delete policy says before-hook-creation (the
default), so the one the last deploy left is not what the new one is checked against: such a hook is checked under
a stand-in name of the same length and characters' kinds, as the object created anew that it will be. A real name
would be applied over the old object, and a Job's new pod template refused as a change Kubernetes cannot make.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from . import manifests, safe_yaml

ANNOTATION = "helm.sh/hook"
DELETE_POLICY = "helm.sh/hook-delete-policy"
EVENTS = {"pre-install", "post-install", "pre-delete", "post-delete", "pre-upgrade", "post-upgrade", "pre-rollback",
          "post-rollback", "test", "test-success"}  # Helm's; a hook naming another is skipped, as Helm skips it
_TESTS = {"test", "test-success"}
_LOWER = re.compile(r"[a-z0-9]")
_NOT_TEXT = re.compile(r"[-+]?[0-9][0-9_.]*([eE][-+]?[0-9]+)?|~|(?i:null|true|false|yes|no|on|off|y|n)")  # go-yaml


def for_check(templates: Mapping[str, str], *, install: bool) -> tuple[str, dict[str, str]]:
    """The hooks an install (pre-install, post-install) or an upgrade (pre-upgrade, post-upgrade) runs, as one
    manifest, and the real name of each stand-in given to those Helm creates anew."""
    runs = {"pre-install", "post-install"} if install else {"pre-upgrade", "post-upgrade"}
    found, names = [], {}
    for _, document, obj, events in _hooks(templates):
        if not events & runs:
            continue
        meta = obj["metadata"]
        written = str(meta["annotations"].get(DELETE_POLICY) or "")
        policies = {p.strip().lower() for p in written.split(",") if p.strip()}
        if obj.get("kind") != "CustomResourceDefinition" and (not policies or "before-hook-creation" in policies):
            document, stand_in = _renamed(document, meta.get("name"))
            if stand_in:
                names[stand_in] = meta["name"]
        found.append(document)
    return "\n---\n".join(found), names


def for_diff(templates: Mapping[str, str]) -> str:
    """The hooks a release keeps (every one but its tests, which helm-diff leaves out too), as a manifest of
    `# Source:` documents, in the form and order stored_for_diff gives a stored release's."""
    return _sourced([(path, str(obj.get("kind")), str(obj["metadata"].get("name")), document)
                     for path, document, obj, events in _hooks(templates) if not events <= _TESTS])


def _hooks(templates: Mapping[str, str]) -> Iterator[tuple[str, str, dict[str, Any], set[str]]]:
    """(template path, document, object, events) of every hook the templates render, by path, as Helm's releaseutil
    sorts them out: NOTES.txt and partials left out, a hook naming an event Helm does not know skipped."""
    for path, text in sorted(templates.items()):
        if path.endswith("NOTES.txt") or path.rsplit("/", 1)[-1].startswith("_"):  # as Helm leaves them out
            continue
        for document, obj in manifests.documents(text, safe_yaml.TextLoader):
            meta = obj.get("metadata") if isinstance(obj, dict) else None
            annotations = meta.get("annotations") if isinstance(meta, dict) else None
            if not isinstance(meta, dict) or not isinstance(annotations, dict) or ANNOTATION not in annotations:
                continue
            events = {e.strip().lower() for e in str(annotations[ANNOTATION] or "").split(",")}
            if events <= EVENTS:
                yield path, document, obj, events


def stored_for_diff(stored: list[dict[str, Any]]) -> str:
    """A stored release's hooks (`helm get hooks`) but its tests, as for_diff gives a chart's."""
    return _sourced([(str(h.get("path")), str(h.get("kind")), str(h.get("name")), str(h.get("manifest") or ""))
                     for h in stored if not set(h.get("events") or ()) <= _TESTS])


def _sourced(documents: list[tuple[str, str, str, str]]) -> str:
    """(path, kind, name, document) as `# Source:` documents, by path, kind and name: Helm stores a release's hooks
    sorted by kind, a template lists them in its own order."""
    return "".join(f"---\n# Source: {path}\n{document.strip()}\n" for path, _, _, document in sorted(documents))


def _renamed(document: str, name: Any) -> tuple[str, str]:
    """The document with its metadata.name replaced by a stand-in (its last lower-case letters and digits, up to
    five, drawn again: as valid or invalid a name, of the same length), written double-quoted so it is a string as
    the name was, and the stand-in; unchanged and "" when the name is no string written as a scalar of metadata."""
    try:
        node = yaml.compose(document, Loader=yaml.SafeLoader)  # PyYAML's own marks count characters
    except yaml.YAMLError:
        return document, ""
    value = _value(_value(node, "metadata"), "name")
    if not isinstance(value, yaml.ScalarNode) or value.value != name or value.style not in (None, "'", '"') or \
            value.style is None and _NOT_TEXT.fullmatch(value.value):
        return document, ""
    places = [i for i, c in enumerate(name) if _LOWER.fullmatch(c)][-5:]
    letters = list(name)
    while places and "".join(letters) == name:
        for i in places:
            letters[i] = secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789")
    stand_in = "".join(letters)
    if stand_in == name:
        return document, ""
    start, end = value.start_mark.index, value.end_mark.index
    return document[:start] + json.dumps(stand_in) + document[end:], stand_in


def _value(node: Any, key: str) -> Any:
    """The node a mapping node holds under `key`; None when it is no mapping or holds it not exactly once."""
    if not isinstance(node, yaml.MappingNode):
        return None
    found = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key]
    return found[0] if len(found) == 1 else None
