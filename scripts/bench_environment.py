"""Environment deploys, serial against parallel: `invoke release.deploy --env bench --parallel N` on the emulator.

An environment of `--releases` independent releases of hello-world (each in its own namespace) is deployed
as a user would, `invoke` as a subprocess, first as installs and then as upgrades, once per parallel limit.
Prints the wall time of each whole command. The emulator (tests/support/k8s.py) runs in this process and
makes pods ready at once, so Helm's waits are short here: on a real cluster, where a rollout waits for its
pods, the parallel gain is the waiting that overlaps.

    .venv/bin/python scripts/bench_environment.py [--releases 6] [--parallel 1,2,4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import copy_project, invoke
from tests.support.k8s import RunningEmulator


def measure(project: Path, releases: int, limit: int) -> list[float]:
    """Install then upgrade the environment on a fresh emulator (its lists slow down as its store grows)."""
    emulator = RunningEmulator().start()
    try:
        names = [f"r{i}" for i in range(releases)]
        for name in names:
            emulator.create_namespace(name)
        (project / "kubeconfig").write_text(emulator.kubeconfig("bench"))
        config = yaml.safe_load((project / "invoke.yaml").read_text())
        config["release"]["environments"] = {"bench": {"kube_context": "bench", "namespace": names[0]}}
        config["release"]["releases"] = {name: {"chart": "hello-world", "namespace": name} for name in names}
        (project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        times = []
        for tag in ("v1", "v2"):
            started = time.perf_counter()
            invoke(project, "release.deploy", "--env", "bench", "--parallel", str(limit), "--set", f"image.tag={tag}",
                   env={"KUBECONFIG": str(project / "kubeconfig")}, timeout=600)
            times.append(time.perf_counter() - started)
        return times
    finally:
        emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=6)
    parser.add_argument("--parallel", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=2, help="each limit measured this many times, interleaved")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-environment-") as scratch:
        project = copy_project(Path(scratch) / "project")
        invoke(project, "repo.publish")
        print(f"{arguments.releases} independent releases, a fresh emulator on 127.0.0.1 per run")
        print(f"{'parallel':>8}  {'install':>8}  {'upgrade':>8}")
        for _ in range(arguments.rounds):
            for limit in (int(n) for n in arguments.parallel.split(",")):
                install, upgrade = measure(project, arguments.releases, limit)
                print(f"{limit:>8}  {install:>7.2f}s  {upgrade:>7.2f}s", flush=True)


if __name__ == "__main__":
    main()
