"""Benchmark: what a push costs, as whole processes (CPU time, user + system), against Helm's own code.

1. No-op publish from a clean clone of N charts, nothing changed, to a folder repository, as .drone.yml's
   publish step runs it (a fresh checkout, empty dist/, after the `deps` step installed the libraries and
   compiled the tasks' bytecode): CPU against an empty `invoke` task (a one-task collection). Goal: <= 1.3x.
   Also reported: a clean clone with no bytecode at all (a laptop's first run: Python compiles every module
   the command loads), the same publish again in that clone, what `deps`' compiling costs once a build, and the
   publish step to an S3 bucket (a moto server on 127.0.0.1), against the empty task and against one that imports
   boto3 and makes an S3 client (the goal's "plus boto3's own import").
2. Packaging changed charts: the cost of each additional chart, the slope between `invoke repo.package`
   of SMALL and LARGE charts, against Helm packaging the same charts in one process. Goal: <= 1.5x.

Runs are interleaved; each ratio is printed with its min and median, the last line is the summary.
With --instructions (needs valgrind), goal 1 is also counted in machine instructions (cachegrind, children
included): the same on every run and every machine load, where CPU time on a shared machine drifts by up
to 1.7x within an hour; and once more against a repository whose index holds 30 older versions of each chart, as
one with a history does. (Not for goal 2: under valgrind, Go's idle threads spin and count.)

    .venv/bin/python scripts/bench_publish.py [--runs 5] [--charts 100,300] [--slope 100,400] [--instructions]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import TOOL_FILES, copy_project

# bytecode cached, as for users; no AWS setting of this machine's (a profile, a session token) reaches boto3
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("AWS_")}
COMPILE = [sys.executable, "-m", "compileall", "-q", "tasks"]  # what .drone.yml's deps step runs
BOTO3_TASK = """from invoke import task


@task
def noop(c):  # what any S3 request needs first
    import boto3

    boto3.session.Session().client("s3")
"""
HELM_PACKAGES = """
import sys, pathlib, helm_python
out = pathlib.Path(sys.argv[2])
for chart in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    helm_python.package(chart, destination=out)
"""


def cpu(args: list[str], cwd: Path, env: dict[str, str] | None = None, user: list[float] | None = None) -> float:
    """CPU seconds (user + system) of one child process; its user seconds alone are appended to `user`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, env={**ENV, "CI": "true", **(env or {})})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if user is not None:
        user.append(after.ru_utime - before.ru_utime)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def instructions(args: list[str], cwd: Path) -> tuple[int, int]:
    """Machine instructions one process and its children execute (valgrind's cachegrind, no cache simulation), and
    how many of them git's children did."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--trace-children=yes",
                        f"--cachegrind-out-file={out}/cg.%p", *args], cwd=cwd, check=True, capture_output=True,
                       env={**ENV, "CI": "true"})
        total = git = 0
        for f in Path(out).iterdir():  # one file per process: "cmd: PROGRAM ARGS", "summary: COUNT"
            lines = f.read_text().splitlines()
            fields = dict(line.split(": ", 1) for line in lines if line.startswith(("cmd: ", "summary: ")))
            total += int(fields["summary"])
            git += int(fields["summary"]) if Path(fields["cmd"].split()[0]).name == "git" else 0
        return total, git


def project(where: Path, charts: int) -> Path:
    """A checkout with `charts` charts: copies of hello-world, each with a name of its own."""
    copy_project(where, TOOL_FILES)
    for i in range(charts):
        chart = where / "charts" / f"chart-{i:04d}"
        shutil.copytree(ROOT / "charts" / "hello-world", chart, ignore=shutil.ignore_patterns("__pycache__"))
        text = (chart / "Chart.yaml").read_text().replace("name: hello-world", f"name: chart-{i:04d}")
        (chart / "Chart.yaml").write_text(text)
    return where


def with_history(repo: Path, target: Path, versions: int) -> Path:
    """A copy of a folder repository whose index holds `versions` older versions of each chart besides the one
    published (their packages are not there: a no-op publish reads none), as a repository with a history does."""
    from tasks import index as idx
    from tasks.store import LocalStore

    shutil.copytree(repo, target)
    index, _ = idx.read(LocalStore(target))
    for name in list(index.entries):
        published = index.entries[name][0]
        index.entries[name] += [{**published, "version": f"0.0.{k}", "urls": [f"{name}-0.0.{k}.tgz"],
                                 "digest": f"{k:064x}"} for k in range(versions)]
    (target / "index.yaml").write_bytes(idx.dump(index))
    return target


@contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """A moto S3 server on 127.0.0.1 (in this process: its CPU is not the measured children's), and the environment
    that sends a child's boto3 there."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    try:
        yield env
    finally:
        server.stop()


def clone(source: Path, target: Path) -> Path:
    """A fresh shallow clone, as CI checks out."""
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{source}", str(target)], check=True)
    return target


def invoke(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", *args]


def summary(label: str, ratios: list[float], goal: float) -> str:
    return f"{label}: min {min(ratios):.2f}x, median {statistics.median(ratios):.2f}x (goal <= {goal}x)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--charts", default="100,300", help="tree sizes for the no-op publish")
    parser.add_argument("--slope", default="100,400", help="the two tree sizes for the packaging slope")
    parser.add_argument("--instructions", action="store_true", help="goal 1 in instructions too (valgrind)")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as tmp, s3_server() as s3:
        work = Path(tmp)
        empty = work / "empty"
        empty.mkdir()
        (empty / "tasks.py").write_text("from invoke import task\n\n@task\ndef noop(c):\n    pass\n")
        with_boto3 = work / "empty-boto3"
        with_boto3.mkdir()
        (with_boto3 / "tasks.py").write_text(BOTO3_TASK)
        for size in (int(n) for n in args.charts.split(",")):
            repo = work / f"repo-{size}"
            first = project(work / f"first-{size}", size)
            git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
            for step in (["init", "-q"], ["add", "."], ["commit", "-qm", "charts"]):
                subprocess.run([*git, *step], cwd=first, check=True)
            cpu(invoke("repo.publish", "--url", f"file://{repo}"), first)
            bucket = f"s3://bench-{size}"
            create = f"import boto3; boto3.client('s3').create_bucket(Bucket='bench-{size}')"
            subprocess.run([sys.executable, "-c", create], check=True, env={**ENV, **s3})
            cpu(invoke("repo.publish", "--url", bucket), first, env=s3)
            ratios, bare, again, compiling, on_s3, plus_boto3, boto3_costs = [], [], [], [], [], [], []
            publish = invoke("repo.publish", "--url", f"file://{repo}")
            for run in range(args.runs):
                ci, laptop, s3_ci = (clone(first, work / f"{kind}-{size}-{run}") for kind in ("ci", "laptop", "s3"))
                base = cpu(invoke("noop"), empty)
                compiling.append(cpu(COMPILE, ci))
                ours = cpu(publish, ci)
                first_run = cpu(publish, laptop)
                second = cpu(publish, laptop)  # its bytecode now cached
                cpu(COMPILE, s3_ci)
                s3_publish = cpu(invoke("repo.publish", "--url", bucket), s3_ci, env=s3)
                boto3_base = cpu(invoke("noop"), with_boto3, env=s3)  # its credentials: never the metadata service
                boto3_costs.append(boto3_base - base)
                ratios.append(ours / base)
                bare.append(first_run / base)
                again.append(second / base)
                on_s3.append(s3_publish / base)
                plus_boto3.append(s3_publish / boto3_base)
                for scratch in (ci, laptop, s3_ci):
                    shutil.rmtree(scratch)
                print(f"  {size} charts: no-op publish {ours * 1000:.0f} ms (no bytecode {first_run * 1000:.0f} ms, "
                      f"again {second * 1000:.0f} ms, on S3 {s3_publish * 1000:.0f} ms), empty task "
                      f"{base * 1000:.0f} ms", flush=True)
            lines.append(summary(f"no-op publish of {size} charts, CI's publish step (clean clone after deps) vs an "
                                 "empty invoke task", ratios, 1.3))
            lines.append(summary("  a clean clone with no bytecode (a laptop's first run)", bare, 1.3))
            lines.append(summary("  again in that clone (its bytecode cached)", again, 1.3))
            lines.append(f"  deps compiling the tasks, once a build: {statistics.median(compiling) * 1000:.0f} ms")
            lines.append(summary("  on S3 (moto on 127.0.0.1), as CI's publish step", on_s3, 1.3)
                         + "; against an empty task that imports boto3 and makes its client (+"
                         + f"{statistics.median(boto3_costs) * 1000:.0f} ms): min {min(plus_boto3):.2f}x, median "
                         + f"{statistics.median(plus_boto3):.2f}x")
            if args.instructions:
                ci, laptop = (clone(first, work / f"{kind}-{size}-counted") for kind in ("ci", "laptop"))
                base_count = instructions(invoke("noop"), empty)[0]
                subprocess.run(COMPILE, cwd=ci, check=True, env=ENV)
                ours_count, by_git = instructions(publish, ci)
                clean, again_in_clone = (instructions(publish, laptop)[0] for _ in range(2))
                history = with_history(repo, work / f"history-{size}", 30)
                with_old = instructions(invoke("repo.publish", "--url", f"file://{history}"), ci)[0]
                lines.append(f"  in instructions: {ours_count / base_count:.2f}x CI's publish step "
                             f"({ours_count / 1e6:.0f}M, of which git {by_git / 1e6:.0f}M: its listing "
                             f"reads again the files a fresh clone leaves racily clean), "
                             f"{clean / base_count:.2f}x with no bytecode "
                             f"({clean / 1e6:.0f}M), {again_in_clone / base_count:.2f}x again "
                             f"({again_in_clone / 1e6:.0f}M); empty task {base_count / 1e6:.0f}M; "
                             f"{with_old / base_count:.2f}x with 30 older versions of each chart in the index "
                             f"({with_old / 1e6:.0f}M)")
                for scratch in (ci, laptop, history):
                    shutil.rmtree(scratch)
            print("\n".join(lines[-6 if args.instructions else -5:]), flush=True)
        small, large = (int(n) for n in args.slope.split(","))
        trees = {n: project(work / f"slope-{n}", n) for n in (small, large)}
        ratios, user_ratios = [], []
        seen: dict[tuple[str, int], list[float]] = {(who, n): [] for who in ("ours", "helm") for n in (small, large)}
        user: dict[tuple[str, int], list[float]] = {(who, n): [] for who in ("ours", "helm") for n in (small, large)}
        for _ in range(args.runs):
            packaged = {}
            for n in (small, large):  # each side starts from an empty output folder, as CI's fresh clone does
                shutil.rmtree(trees[n] / "dist", ignore_errors=True)
                packaged[n] = cpu(invoke("repo.package"), trees[n], user=user[("ours", n)])
            helm = {}
            for n in (small, large):
                out = work / f"helm-out-{n}"
                shutil.rmtree(out, ignore_errors=True)
                helm[n] = cpu([sys.executable, "-c", HELM_PACKAGES, str(trees[n] / "charts"), str(out)], work,
                             user=user[("helm", n)])
                seen[("ours", n)].append(packaged[n])
                seen[("helm", n)].append(helm[n])
            ours_slope = (packaged[large] - packaged[small]) / (large - small)
            helm_slope = (helm[large] - helm[small]) / (large - small)
            print(f"  per chart: ours {ours_slope * 1000:.1f} ms, Helm's {helm_slope * 1000:.1f} ms", flush=True)
            ratios.append(ours_slope / helm_slope)
            user_ratios.append((user[("ours", large)][-1] - user[("ours", small)][-1])
                               / (user[("helm", large)][-1] - user[("helm", small)][-1]))
        lines.append(summary(f"packaging slope {small}->{large} charts vs Helm in one process", ratios, 1.5))
        lines.append(f"  user time alone (the kernel's share, creating each package file, varies by run and folder): "
                     f"min {min(user_ratios):.2f}x, median {statistics.median(user_ratios):.2f}x")
        fastest = {who: (min(seen[(who, large)]) - min(seen[(who, small)])) / (large - small) for who in ("ours", "helm")}
        lines.append(f"  the same from each size's fastest run: ours {fastest['ours'] * 1000:.2f} ms, Helm's "
                     f"{fastest['helm'] * 1000:.2f} ms a chart: {fastest['ours'] / fastest['helm']:.2f}x")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
