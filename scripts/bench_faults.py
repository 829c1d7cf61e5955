"""Reliability figures: publishes through a fault-injecting proxy, the invariants checked after each run.

For each fault rate, `--runs` publishes (each adds charts) go to a moto S3 server through
tests/support/faults.py (500, 503, connection reset, delay, answer lost after the write), with the
real S3Store and boto3's own retries. A failed run is retried until it completes. Prints, per rate:
requests, faults injected, runs that failed first time, retries needed, and invariant violations.

    .venv/bin/python scripts/bench_faults.py [--runs 20] [--rates 0.05,0.1,0.2,0.3,0.5]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tasks import charts, packaging, publish
from tasks import index as idx
from tasks.errors import ToolError
from tasks.store import S3Store
from tests.conftest import Bucket
from tests.support.faults import fault_proxy
from tests.support.invariants import check_bucket


def one_rate(endpoint: str, rate: float, runs: int, work: Path) -> dict[str, object]:
    bucket = Bucket(f"bench-faults-{int(rate * 100)}", endpoint, {})
    bucket.client().create_bucket(Bucket=bucket.name)
    published: dict = {}
    failed_first = retries = violations = 0
    injected: Counter[str] = Counter()
    requests = 0
    for run in range(runs):
        source = work / f"r{rate}-{run}" / "charts"
        for i in range(3):
            folder = source / f"c{run}-{i}"
            (folder / "templates").mkdir(parents=True)
            (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: c{run}-{i}\nversion: 1.0.0\n")
        packages = packaging.build(charts.discover(source), source, source.parent / "packages", {}).packages
        with fault_proxy(endpoint, rate, seed=run) as (url, proxy):
            os.environ["AWS_ENDPOINT_URL_S3"] = url
            for attempt in range(20):
                try:
                    store, created = S3Store(bucket.url), idx.timestamp()
                    plan = publish.make_plan(store, packages, public_url=None, force=False, created=created)
                    publish.apply(store, plan, packages, created=created)
                    break
                except ToolError:
                    failed_first += attempt == 0
                    retries += 1
                finally:
                    try:
                        published = check_bucket(bucket, published)
                    except AssertionError:
                        violations += 1
            injected += proxy.injected
            requests += proxy.requests
    return {"rate": rate, "runs": runs, "requests": requests, "faults": sum(injected.values()),
            "by type": dict(sorted(injected.items())), "failed first": failed_first, "retries": retries,
            "violations": violations, "entries": len(published)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rates", default="0.05,0.1,0.2,0.3,0.5")
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows = [one_rate(f"http://{host}:{port}", float(r), args.runs, Path(tmp)) for r in args.rates.split(",")]
    finally:
        server.stop()
    for row in rows:
        print("  ".join(f"{k}: {v}" for k, v in row.items()))
    return 1 if any(row["violations"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
