"""Benchmark: `invoke --list` in this project against an a one-task collection, and what it imports.

Discovery must stay instant: boto3 and helm_python (the Go runtime) are imported only when a task
runs. Prints the median wall time of N runs of each and the heavy modules loaded (must be none).

    .venv/bin/python scripts/bench_list.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("boto3", "botocore", "helm_python", "rich", "yaml", "orjson", "semver")


# As on a user's machine: Python caches bytecode (a sandbox may set PYTHONDONTWRITEBYTECODE; not here).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def median_seconds(cwd: Path, runs: int) -> float:
    subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=cwd, check=True, capture_output=True, env=ENV)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=cwd, check=True, capture_output=True, env=ENV)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def imported_heavy_modules() -> list[str]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "invoke", "--list"], cwd=ROOT, check=True,
                         capture_output=True, text=True, env=ENV).stderr
    names = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in out.splitlines() if "|" in line}
    return sorted(names & set(HEAVY))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as empty:
        (Path(empty) / "tasks.py").write_text("from invoke import task\n\n@task\ndef noop(c):\n    pass\n")
        baseline = median_seconds(Path(empty), args.runs)
    ours = median_seconds(ROOT, args.runs)
    heavy = imported_heavy_modules()
    print(f"invoke --list, a one-task collection: {baseline * 1000:.0f} ms (median of {args.runs})")
    print(f"invoke --list, this project:     {ours * 1000:.0f} ms ({ours / baseline:.2f}x the baseline)")
    print(f"heavy modules imported by --list: {', '.join(heavy) or 'none'}")
    return 1 if heavy else 0


if __name__ == "__main__":
    sys.exit(main())
