"""Rendered manifests: Secrets masked (and any document holding a registered secret), what templates made of
secrets (derived_values), the diff of two, and a chart's crds/ as a manifest (Helm creates them on a first
install only, outside the release's manifest)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from . import ui

_WORDS = re.compile(r"\w+|\W")  # what derived_values compares: runs of word characters, each other one alone
_PLAIN = re.compile(r"(?i:true|false|yes|no|on|off|null)|[-+]?[0-9][0-9._]*[A-Za-z]{0,2}")  # a test's, a count's
_ALIGNED = 1000  # lines: where two renders differ in how many lines they have over more, aligning them is too slow


def documents(manifest: str, loader: type = yaml.SafeLoader) -> list[tuple[str, Any]]:
    """Each YAML document of a rendered manifest, with what it parses to (None if it does not)."""
    found = []
    for text in re.split(r"^---\s*$", manifest, flags=re.MULTILINE):
        try:
            found.append((text, yaml.load(text, Loader=loader)))  # a safe loader
        except yaml.YAMLError:
            found.append((text, None))
    return found


def _secret_values(manifest: str) -> dict[tuple[str, str], Any]:
    return {(str(doc.get("metadata", {}).get("name")), f"{field}.{key}"): value
            for _, doc in documents(manifest) if isinstance(doc, dict) and doc.get("kind") == "Secret"
            for field in ("data", "stringData") if isinstance(doc.get(field), dict)
            for key, value in doc[field].items()}


def derived_values(real: Mapping[str, str], masked: Mapping[str, str]) -> set[str]:
    """What templates made of secret values (an upper, a b64enc, a name built from one): where each rendered
    template (name -> text) differs from the same template rendered from the values with the secrets masked, run
    by run of words. An API server's error quotes such text (`Invalid value: "..."`), so it is as secret. What a
    test or a count of a secret gives (true, 128Mi) and PEM armour lines are left: masked everywhere they would
    garble the output, and tell next to nothing."""
    found: set[str] = set()
    for name, text in real.items():
        other = masked.get(name, "")
        if text != other:
            old, new = text.splitlines(), other.splitlines()
            for line, shown in zip(old, new) if len(old) == len(new) else _changed_lines(old, new):
                found.update(_differing(line, shown) if line != shown else ())
    return {text for text in found if len(text) >= ui.MIN_LENGTH and not _PLAIN.fullmatch(text)
            and not ui.ARMOUR.fullmatch(text)}


def _changed_lines(old: list[str], new: list[str]) -> Iterator[tuple[str, str]]:
    """Each line of `old` that `new` does not have, with the line `new` has in its place ("" if none), within
    the lines between what they start and end with alike (none, when there are more than _ALIGNED of them)."""
    start, end, shorter = 0, 0, min(len(old), len(new))
    while start < shorter and old[start] == new[start]:
        start += 1
    while end < shorter - start and old[-1 - end] == new[-1 - end]:
        end += 1
    old, new = old[start:len(old) - end], new[start:len(new) - end]
    if max(len(old), len(new)) > _ALIGNED:
        return
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag != "equal":
            yield from ((line, new[j1 + k] if j1 + k < j2 else "") for k, line in enumerate(old[i1:i2]))


def _differing(line: str, shown: str) -> Iterator[str]:
    """Each run of words of `line` that `shown` has something else in place of."""
    words, others = _WORDS.findall(line), _WORDS.findall(shown)
    for tag, i1, i2, _, _ in difflib.SequenceMatcher(None, words, others, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            yield "".join(words[i1:i2]).strip()


def mask_secrets(manifest: str, changed: frozenset[tuple[str, str]] = frozenset()) -> str:
    """Every Secret's data and stringData values replaced by ***, or `*** (changed)` for keys in `changed`.

    Any other document that holds a registered secret (a chart may copy a value anywhere) is masked in its
    data too, before it is dumped again; documents without one are kept verbatim.
    """
    out = []
    for text, doc in documents(manifest):
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


def defined_kinds(crds: str) -> set[tuple[str, str]]:
    """(group, kind) of each CustomResourceDefinition in a manifest (crd_manifest)."""
    return {(str(spec.get("group")), str(spec.get("names", {}).get("kind"))) for _, doc in documents(crds)
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
            and isinstance(spec := doc.get("spec"), dict) and isinstance(spec.get("names"), dict)}
