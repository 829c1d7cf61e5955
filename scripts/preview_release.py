"""A branch's preview release: its name, and the invoke config that declares it (read with `invoke -f`).

Every branch but master deploys its own release (hello-world-<branch>) into staging, so branches never
overwrite each other, and deploys the chart from its own checkout (./charts/NAME): nothing is published
for a branch, and the master chart repository is never touched.

    .venv/bin/python scripts/preview_release.py hello-world "$DRONE_BRANCH" dist/preview.yaml
    # prints hello-world-feature-login; dist/preview.yaml declares it as release.releases.hello-world-feature-login
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 53  # Helm's longest release name


def name(release: str, branch: str) -> str:
    """`RELEASE-<branch>` as a DNS-1123 label of at most 53 characters, distinct for distinct branches.

    A branch that is already lowercase letters, digits and single inner dashes keeps its name; any other
    (feature/Login, a long one) is shortened to fit and given 6 hex digits of its hash, so feature/x and
    feature-x stay two releases.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", branch.lower()).strip("-")
    if slug == branch and len(release) + 1 + len(slug) <= LIMIT:
        return f"{release}-{slug}"
    digest = hashlib.sha256(branch.encode()).hexdigest()[:6]
    slug = slug[:LIMIT - len(release) - len(digest) - 2].strip("-")
    return "-".join(part for part in (release, slug, digest) if part)


def config(release: str, preview: str, project: dict[str, Any]) -> dict[str, Any]:
    """The release's own settings under the preview's name, its chart taken from the checkout."""
    base = dict((project.get("release") or {}).get("releases", {}).get(release) or {})
    charts_dir = (project.get("repo") or {}).get("charts_dir", "charts")
    chart = f"./{charts_dir}/{base.get('chart') or release}"
    if not (ROOT / chart / "Chart.yaml").is_file():
        raise SystemExit(f"error: {chart}/Chart.yaml not found: release.releases.{release}.chart in invoke.yaml "
                         "must name a chart of this checkout")
    base.pop("version", None)  # a constraint on the repository's versions; the checkout has one
    return {"release": {"releases": {preview: {**base, "chart": chart}}}}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        raise SystemExit("usage: preview_release.py RELEASE BRANCH CONFIG_OUT")
    release, branch, out = argv
    if not branch.strip():  # `hello-world-` is no release name: DRONE_BRANCH unset, or a typo in the step
        raise SystemExit("error: the branch (2nd argument) is empty; pass the branch name, e.g. \"$DRONE_BRANCH\"")
    project = yaml.safe_load((ROOT / "invoke.yaml").read_text(encoding="utf-8")) or {}
    if release not in ((project.get("release") or {}).get("releases") or {}):
        raise SystemExit(f"error: release {release!r} is not in invoke.yaml (release.releases)")
    preview = name(release, branch)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(yaml.safe_dump(config(release, preview, project), sort_keys=False), encoding="utf-8")
    print(preview)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
