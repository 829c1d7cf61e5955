"""Benchmark: S3 requests by type when re-publishing 200 charts (one changed; then none changed).

Runs against a moto S3 server on 127.0.0.1 (moto[server] from requirements-dev.txt). Goal: one changed
chart costs 1 index read + 1 package write + 1 index write + 1 page write; nothing changed costs 1 read, no write.

    .venv/bin/python scripts/bench_requests.py [--charts 200]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tasks import charts, packaging, publish
from tasks import index as idx
from tasks.store import S3Store


def write_chart(root: Path, name: str, version: str, data: str) -> None:
    (root / name / "templates").mkdir(parents=True, exist_ok=True)
    (root / name / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    (root / name / "templates" / "cm.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\ndata:\n  x: {data}\n")


def publish_all(url: str, root: Path, out: Path) -> tuple[dict[str, int], float]:
    packages = packaging.build(charts.discover(root), root, out, {}).packages
    store, created = S3Store(url), idx.timestamp()
    start = time.perf_counter()
    plan = publish.make_plan(store, packages, public_url=None, force=False, created=created)
    publish.apply(store, plan, packages, created=created)
    return dict(store.requests), time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charts", type=int, default=200)
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL_S3=f"http://{host}:{port}")
    try:
        S3Store("s3://bench-charts").client.create_bucket(Bucket="bench-charts")
        with tempfile.TemporaryDirectory() as tmp:
            root, out = Path(tmp) / "charts", Path(tmp) / "packages"
            for i in range(args.charts):
                write_chart(root, f"chart-{i:03d}", "1.0.0", "a")
            runs = {"first publish": publish_all("s3://bench-charts", root, out)}
            write_chart(root, "chart-007", "1.0.1", "b")
            runs["one chart changed"] = publish_all("s3://bench-charts", root, out)
            runs["nothing changed"] = publish_all("s3://bench-charts", root, out)
    finally:
        server.stop()
    for name, (requests, seconds) in runs.items():
        print(f"{name:18} {args.charts} charts: {requests} in {seconds:.2f} s")
    ok = runs["one chart changed"][0] == {"GetObject": 1, "PutObject": 3} and runs["nothing changed"][0] == {"GetObject": 1}
    print("goal met" if ok else "goal missed: expected 1 GET + 2 PUT, then 1 GET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
