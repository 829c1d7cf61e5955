"""Rendered manifests: Secrets masked (and any document holding a registered secret), the diff of two, and a
chart's crds/ as a manifest (Helm creates them on a first install only, outside the release's manifest)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

from . import ui


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


def derived_values(real: Mapping[str, str], masked: Mapping[str, str]) -> set[str]:
    """What templates made of secret values (an upper, a b64enc, a name built from one): the text where each
    rendered template (name -> text) differs, line by line, from the same template rendered from the values with
    the secrets masked. An API server's error quotes such text (`Invalid value: "..."`), so it is as secret."""
    found: set[str] = set()
    for name, text in real.items():
        other = masked.get(name, "")
        if text == other:
            continue
        old, new = text.splitlines(), other.splitlines()
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
            if tag != "equal":
                found.update(_middle(line, new[j1 + k] if j1 + k < j2 else "") for k, line in enumerate(old[i1:i2]))
    return {text for text in found if text.strip()}


def _middle(real: str, masked: str) -> str:
    """`real` without what it has in common with `masked` at its start and its end."""
    start = len(os.path.commonprefix([real, masked]))
    end = len(os.path.commonprefix([real[start:][::-1], masked[start:][::-1]]))
    return real[start:len(real) - end].strip()


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


def diff(deployed: str, proposed: str, before: str, after: str) -> str:
    """A unified diff of two rendered manifests, headed `--- before` and `+++ after`; Secret values masked, a
    changed one marked as such."""
    old, new = _secret_values(deployed), _secret_values(proposed)
    changed = frozenset(k for k in new if k in old and old[k] != new[k])
    lines = difflib.unified_diff(
        mask_secrets(deployed).splitlines(keepends=True), mask_secrets(proposed, changed).splitlines(keepends=True),
        fromfile=before, tofile=after,
    )
    return "".join(lines)


def crd_manifest(crds: list[dict[str, str]]) -> str:
    """A chart's crds/ files as one manifest, each document headed by its file as Helm's templates are."""
    return "".join(f"---\n# Source: {crd['filename']}\n{crd['data'].strip()}\n" for crd in crds)
