"""The publish invariants, checked on a bucket directly (not through any proxy)."""

from __future__ import annotations

import hashlib
from typing import Any

from tasks import index as idx

Entries = dict[tuple[str, str], dict[str, Any]]


def check_bucket(bucket: Any, before: Entries) -> Entries:
    """Every entry's package exists with its digest; nothing published before was lost or changed.

    Returns the entries now in the index, to check the next run against.
    """
    objects = bucket.objects()
    data = bucket.get("index.yaml") if "index.yaml" in objects else None
    index = idx.load(data, f"{bucket.url}/index.yaml")
    now = {(name, e["version"]): e for name, versions in index.entries.items() for e in versions}
    for (name, version), entry in now.items():
        key = entry["urls"][0].rsplit("/", 1)[-1]
        assert key in objects, f"invariant 1: {name} {version} is indexed but {key} is not in the bucket"
        assert hashlib.sha256(bucket.get(key)).hexdigest() == entry["digest"], f"{key}: digest differs from its entry"
    for key, entry in before.items():
        assert key in now, f"invariant 3: {key} was published and is gone from the index"
        for field in ("digest", "created", "urls"):
            assert now[key][field] == entry[field], f"invariants 2/4: {key} {field} changed"
    return now
