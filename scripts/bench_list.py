"""Benchmark: `invoke --list` in this project against a one-task collection, and what it imports.

Discovery must stay instant: boto3 and helm_python (the Go runtime) are imported only when a task
runs. Runs of the two are interleaved; prints the CPU time (user + system) of each, min and median, the
ratio, and the heavy modules loaded (must be none). Goal: <= 1.2x.

    .venv/bin/python scripts/bench_list.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("boto3", "botocore", "helm_python", "rich", "yaml", "orjson", "semver")


# As on a user's machine: Python caches bytecode (a sandbox may set PYTHONDONTWRITEBYTECODE; not here).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cpu_seconds(cwd: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=cwd, check=True, capture_output=True, env=ENV)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def imported(cwd: Path) -> set[str]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "invoke", "--list"], cwd=cwd, check=True,
                         capture_output=True, text=True, env=ENV).stderr
    return {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in out.splitlines() if "|" in line}


def imported_heavy_modules(empty: Path) -> list[str]:
    """Heavy modules --list imports here and a one-task collection does not (Invoke's vendored YAML loads
    PyYAML's C extension, so `yaml` comes with Invoke itself)."""
    return sorted((imported(ROOT) - imported(empty)) & set(HEAVY))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as empty:
        (Path(empty) / "tasks.py").write_text("from invoke import task\n\n@task\ndef noop(c):\n    pass\n")
        cpu_seconds(Path(empty)), cpu_seconds(ROOT)  # bytecode written once, as a user's second run finds it
        baseline, ours = [], []
        for _ in range(args.runs):
            baseline.append(cpu_seconds(Path(empty)))
            ours.append(cpu_seconds(ROOT))
        heavy = imported_heavy_modules(Path(empty))
    ratios = [o / b for o, b in zip(ours, baseline, strict=True)]
    print(f"invoke --list, a one-task collection: min {min(baseline) * 1000:.0f} ms, median "
          f"{statistics.median(baseline) * 1000:.0f} ms of CPU ({args.runs} runs)")
    print(f"invoke --list, this project: min {min(ours) * 1000:.0f} ms, median {statistics.median(ours) * 1000:.0f} ms")
    print(f"heavy modules imported by --list: {', '.join(heavy) or 'none'}")
    print(f"invoke --list vs a one-task collection: {min(ours) / min(baseline):.2f}x of the fastest runs, median "
          f"{statistics.median(ratios):.2f}x (goal <= 1.2x)")
    return 1 if heavy else 0


if __name__ == "__main__":
    sys.exit(main())
