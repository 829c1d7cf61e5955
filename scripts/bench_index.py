"""Benchmark: merge one new chart into a big index, as whole processes, ours vs Helm's own merge.

Ours is `invoke repo.publish` of one new chart into a folder repository whose index.yaml holds N
entries (synthetic, Bitnami-like: 30 versions a chart) as this tool writes it; the same index in another
layout (one line of JSON, read whole, as on the first publish over another tool's index) is reported too. Helm's is a Python process that calls Helm's
`repo index --merge` through helm_python on the same index. Our floor is the same publish into an
empty repository. Reported: CPU seconds (user + system, min of N runs), peak memory, and the goals of
the issue: at 100,000 entries ours >= 40x faster than Helm's; at 15,000 within 1.5x of our floor;
memory at most 8 KB per entry above the floor. The last line is the summary.

    .venv/bin/python scripts/bench_index.py [--sizes 15000,100000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tasks import index as idx
from tasks.store import INDEX
from tests.conftest import TOOL_FILES, copy_project

ROOT = Path(__file__).resolve().parent.parent
HELM_MERGE = """
import sys, helm_python
helm_python.repo_index_generate(sys.argv[1], base_url="https://charts.example.com", merge=sys.argv[2])
"""


def synthetic_index(n_charts: int, n_versions: int) -> idx.Index:
    index = idx.Index()
    for c in range(n_charts):
        name = f"chart-{c:04d}"
        index.entries[name] = [
            {
                "apiVersion": "v2", "name": name, "version": f"{v // 10}.{v % 10}.{c % 7}", "appVersion": f"{v}.{c}.0",
                "description": f"A synthetic chart number {c} for the index benchmark, long enough to look real.",
                "home": f"https://example.com/{name}", "icon": f"https://example.com/{name}.png",
                "keywords": ["benchmark", "synthetic", name], "sources": [f"https://github.com/example/{name}"],
                "maintainers": [{"name": "Platform Team", "email": "platform@example.com"}],
                "dependencies": [{"name": "common", "version": "2.x.x", "repository": "oci://registry.example.com/charts"}],
                "annotations": {"category": "Infrastructure", "licenses": "Apache-2.0"},
                "urls": [f"https://charts.example.com/{name}-{v // 10}.{v % 10}.{c % 7}.tgz"],
                "created": f"2024-01-{1 + v % 28:02d}T10:{c % 60:02d}:00.123456789Z",
                "digest": f"{c:032x}{v:032x}",
            }
            for v in reversed(range(n_versions))
        ]
    return index


def run(args: list[str], cwd: Path) -> tuple[float, int]:
    """(CPU seconds, peak resident KB) of one child process, from its own rusage."""
    child = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env={**os.environ, "CI": "true"})
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"{args} failed: {child.stderr.read().decode() if child.stderr else ''}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def project(where: Path) -> Path:
    """A checkout with one chart the index does not have yet."""
    copy_project(where, TOOL_FILES)
    chart = where / "charts" / "newcomer"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: newcomer\nversion: 1.0.0\n")
    return where


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="15000,100000")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--write", nargs=2, metavar=("ENTRIES", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        data = idx.dump(synthetic_index(-(-int(args.write[0]) // 30), 30))  # 30 versions a chart
        (Path(args.write[1]) / "index.json").write_bytes(data)
        (Path(args.write[1]) / "foreign.json").write_bytes(orjson.dumps(orjson.loads(data)))
        return 0
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        checkout = project(work / "project")
        publish = [sys.executable, "-m", "invoke", "repo.publish", "--public-url", "https://charts.example.com"]

        def ours(index: Path | None) -> tuple[float, int]:
            repo = work / "repo"
            shutil.rmtree(repo, ignore_errors=True)
            repo.mkdir()
            if index is not None:
                shutil.copy(index, repo / INDEX)
            return run([*publish, "--url", f"file://{repo}"], checkout)

        ours(None)  # a copy has no bytecode yet: this run compiles the tasks, and is not counted
        floor = min(ours(None) for _ in range(args.repeat))
        print(f"floor: publish into an empty repository: {floor[0]:.2f} s CPU, {floor[1] / 1024:.0f} MB", flush=True)
        for size in (int(n) for n in args.sizes.split(",")):
            # Written by a process of its own: a child forked from this one would count this one's memory in its
            # peak (ru_maxrss), and the synthetic index takes hundreds of MB here.
            subprocess.run([sys.executable, __file__, "--write", str(size), str(work)], check=True)
            mine = min(ours(work / "index.json") for _ in range(args.repeat))
            foreign = ours(work / "foreign.json")  # one line of JSON: another tool's layout, read whole
            helm_dir = work / "helm"
            helm_dir.mkdir(exist_ok=True)
            shutil.copy(next((checkout / "dist" / "packages").glob("*.tgz")), helm_dir)
            helm = min(run([sys.executable, "-c", HELM_MERGE, str(helm_dir), str(work / "index.json")], work)
                       for _ in range(args.repeat))
            per_entry = (mine[1] - floor[1]) / size
            megabytes = (work / "index.json").stat().st_size / 1e6
            print(f"{size} entries ({megabytes:.0f} MB): ours {mine[0]:.2f} s CPU, {mine[1] / 1024:.0f} MB "
                  f"(an index in another layout, read whole: {foreign[0]:.2f} s, {foreign[1] / 1024:.0f} MB); "
                  f"Helm's merge {helm[0]:.2f} s CPU, {helm[1] / 1024:.0f} MB", flush=True)
            lines.append(f"{size} entries: {helm[0] / mine[0]:.1f}x faster than Helm's merge, "
                         f"{mine[0] / floor[0]:.2f}x our floor, {per_entry:.1f} KB per entry")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
