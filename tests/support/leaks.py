"""Secret shapes that defeat substring redaction, and a scanner that looks for every encoding of them.

The encodings are computed here independently of tasks/ui.py, so a scan cannot pass because both sides
share a bug. A multi-line value is also looked for line by line (a PEM body line printed alone is a leak);
its BEGIN/END armour lines and short lines are not secret.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

import yaml

PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ\n"
    "qgtzJ6GR3eqoYSW9b9UMvkBpZOD=\n"
    "-----END PRIVATE KEY-----\n"
)
SHAPES = {
    "apostrophe": "it's-a-s3cret: yes",  # YAML: 'it''s-a-s3cret: yes'
    "non_ascii": "pässwörd-Ünïcode-42",  # YAML: "p\xE4ssw\xF6rd..."; JSON: "p\u00e4ssw..."
    "pem": PEM,  # YAML: single-quoted with blank lines between the lines
    "folded": "correct horse battery staple " * 4 + "and then some more words",  # YAML folds it over lines
    "url_special": "p@ss:w/rd%2B+&=?#x-7",  # every URL delimiter
}
_ARMOUR = re.compile(r"^-----(BEGIN|END) [A-Z0-9 ]+-----$")


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if len(line.strip()) >= 8 and not _ARMOUR.match(line.strip())]


def schema_quoted(value: str) -> str:
    """As Helm's values.schema.json errors quote a value (santhosh-tekuri/jsonschema): Go's %q, then `\\"` -> `"` and
    `'` -> `\\'`, in single quotes (`'O\\'Brien'`)."""
    return json.dumps(value, ensure_ascii=False)[1:-1].replace('\\"', '"').replace("'", "\\'")


def forms(value: str) -> set[str]:
    """The value as YAML, JSON, base64 and URLs write it; each line of a multi-line value too."""
    found: set[str] = set()
    parts = [value, *_lines(value)] if "\n" in value.strip() else [value]
    for text in parts:
        double = yaml.safe_dump(text, default_style='"', width=float("inf"))
        found |= {
            text, text.replace("'", "''"), double[1:double.rindex('"')],
            json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1],
            schema_quoted(text),
            *forms_of_bytes(text.encode(errors="surrogateescape")),
        }
    return {f for f in found if len(f.strip()) >= 8}


def forms_of_bytes(raw: bytes) -> set[str]:
    """The bytes of a value (an environment variable's, UTF-8 or not) as base64 and URLs write them, and as text decoded
    with replacement."""
    return {base64.b64encode(raw).decode(), quote(raw, safe=""), quote(raw), quote_plus(raw),
            raw.decode(errors="replace")}


def unfold(text: str) -> str:
    """Undo YAML's line folding: double-quoted `\\` continuations, and a line break + indent standing for a space."""
    text = re.sub(r"\\\n[ \t]*(?:\\(?= ))?", "", text)
    return re.sub(r"\n[ \t]+", " ", text)


def found(text: str, values: dict[str, str]) -> list[str]:
    """'shape: form' for every encoding of every value present in `text`, folded or not."""
    flat = unfold(text)
    return [f"{name}: {form!r}" for name, value in values.items() for form in sorted(forms(value))
            if form in text or form in flat]


def found_in_files(folder: Path, values: dict[str, str]) -> list[str]:
    """The same scan over every file under `folder` (dist/: packages, plans, indexes)."""
    hits = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", errors="replace")
        hits += [f"{path}: {hit}" for hit in found(text, values)]
    return hits
