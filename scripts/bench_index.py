"""Benchmark: merge one new chart into a 15,000-entry index, ours vs Helm's own `helm repo index --merge`.

Both run in this process on the same synthetic index (generated here, Bitnami-like: 500 charts x 30
versions). Ours is what `repo.index` does: read index.yaml from the store, classify, merge, dump.
Prints seconds (best of N) and the ratio; exits non-zero if we are not at least 10x faster.

    .venv/bin/python scripts/bench_index.py [--charts 500] [--versions 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import helm_python
import yaml

from tasks import charts, packaging, publish
from tasks import index as idx
from tasks.store import INDEX, LocalStore


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


def best(repeat: int, run) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charts", type=int, default=500)
    parser.add_argument("--versions", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = synthetic_index(args.charts, args.versions)
        ours_file = work / "repo" / INDEX
        ours_file.parent.mkdir()
        ours_file.write_bytes(idx.dump(base))
        yaml_text = yaml.dump({"apiVersion": "v1", "entries": base.entries, "generated": idx.timestamp()},
                              Dumper=yaml.CSafeDumper)
        (work / "helm-written.yaml").write_text(yaml_text)

        chart = work / "src" / "charts" / "newcomer"
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text("apiVersion: v2\nname: newcomer\nversion: 1.0.0\n")
        packages = packaging.build(charts.discover(chart.parent), chart.parent, work / "packages", {}).packages
        helm_dir = work / "helm"
        helm_dir.mkdir()
        (helm_dir / packages[0].filename).write_bytes(packages[0].path.read_bytes())

        def helm_merge() -> None:
            helm_python.repo_index_generate(helm_dir, base_url="https://charts.example.com", merge=ours_file)

        def our_merge() -> None:
            store = LocalStore(ours_file.parent)
            plan = publish.make_plan(store, packages, public_url="https://charts.example.com", force=False,
                                     created=idx.timestamp())
            idx.dump(plan.index)

        def our_cold_read() -> None:
            idx.load((work / "helm-written.yaml").read_bytes(), "helm-written.yaml")

        entries = len(base)
        size = ours_file.stat().st_size / 1e6
        helm_s = best(args.repeat, helm_merge)
        ours_s = best(args.repeat, our_merge)
        cold_s = best(1, our_cold_read)
        merged = idx.load((helm_dir / INDEX).read_bytes(), "helm")
        assert merged.get("newcomer", "1.0.0") and len(merged) == entries + 1, "Helm's merge lost entries"

    print(f"index: {entries} entries, {size:.1f} MB (JSON-formatted YAML); {len(yaml_text) / 1e6:.1f} MB as YAML")
    print(f"helm repo index --merge (helm_python {helm_python.__version__}): {helm_s:.3f} s")
    print(f"ours: read + classify + merge + dump:                 {ours_s:.3f} s")
    print(f"ratio: {helm_s / ours_s:.1f}x faster than Helm (goal: >= 10x)")
    print(f"once, reading an index another tool wrote as YAML:     {cold_s:.3f} s")
    return 0 if helm_s / ours_s >= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
