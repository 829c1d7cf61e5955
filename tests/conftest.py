"""Shared fixtures: a moto S3 server on 127.0.0.1, throwaway copies of the project, `invoke` as a subprocess."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL_FILES = ("tasks.py", "tasks", "environments", "invoke.yaml")  # the tool, without charts
PROJECT_FILES = (*TOOL_FILES, "charts", "requirements.txt")
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(autouse=True)
def _warnings_said_stay_in_their_test() -> Iterator[None]:
    """ui says a warning once a run (a process): each test, in-process, is a run of its own."""
    yield
    from tasks import ui

    ui._warned.clear()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real HTTP S3 endpoint on loopback; boto3 reaches it through AWS_ENDPOINT_URL_S3."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Bucket:
    name: str
    endpoint: str
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"s3://{self.name}"

    @property
    def http_url(self) -> str:
        return f"{self.endpoint}/{self.name}"

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def objects(self) -> dict[str, str]:
        """key -> ETag of everything in the bucket."""
        listing = self.client().list_objects_v2(Bucket=self.name).get("Contents", [])
        return {o["Key"]: o["ETag"] for o in listing}

    def get(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.name, Key=key)["Body"].read()

    def make_public(self) -> None:
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{self.name}/*"}]}
        self.client().put_bucket_policy(Bucket=self.name, Policy=json.dumps(policy))


@pytest.fixture
def bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh bucket, and this process's environment pointed at it (for in-process tests)."""
    env = {**FAKE_AWS, "AWS_ENDPOINT_URL_S3": moto_endpoint}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    made = Bucket(f"charts-{uuid.uuid4().hex[:12]}", moto_endpoint, env)
    made.client().create_bucket(Bucket=made.name)
    return made


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A throwaway copy of this repository, as a user's checkout (no .git: packages use the fixed epoch)."""
    return copy_project(tmp_path / "project")


CORPUS = Path("shared", "corpus", "real-charts", "prometheus-community")  # beside the checkout


def corpus() -> Path:
    """The corpus beside this checkout or, for a clone of a local checkout (CI runs on a fresh clone in a
    scratch folder), beside the checkout it was cloned from."""
    origin = subprocess.run(["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"], capture_output=True,
                            text=True, check=False).stdout.strip()
    bases = [ROOT.parent] + ([Path(origin).resolve().parent] if origin and Path(origin).is_dir() else [])
    found = next((base / CORPUS for base in bases if (base / CORPUS).is_dir()), None)
    if found is None:
        pytest.fail(f"{CORPUS} not found beside {' or '.join(map(str, bases))}; clone the project next to it")
    return found


def copy_project(target: Path, names: Iterable[str] = PROJECT_FILES) -> Path:
    """`names` of this checkout copied into target, without bytecode (a clone has none)."""
    for name in names:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def invoke(project: Path, *args: str, env: dict[str, str] | None = None, check: bool = True,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`invoke ARGS` exactly as a user types it, in `project`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INVOKE_", "PLUGIN_", "DRONE"))}
    result = subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=project, env={**base, "CI": "true", **(env or {})},
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"invoke {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def arguments(task: Any) -> list[Any]:
    """A task's arguments as Invoke builds them, its help included, from a copy: Invoke's Task.get_arguments pops
    each flag's help out of the task as it goes, so a second call (another test's) would find none."""
    import copy

    clone = copy.copy(task)
    clone.help = dict(task.help)
    found: list[Any] = clone.get_arguments(ignore_unknown_help=False)
    return found


@pytest.fixture(scope="session")
def k8s() -> Iterator[Any]:
    """The Kubernetes emulator on 127.0.0.1 (tests/support/k8s.py), shared; each test takes its own namespaces."""
    from tests.support.k8s import RunningEmulator

    emulator = RunningEmulator().start()
    yield emulator
    emulator.stop()


@dataclass
class Cluster:
    """A project copy whose staging/production environments point at fresh namespaces of the emulator."""

    project: Path
    emulator: Any
    namespaces: dict[str, str]
    env: dict[str, str]

    def deployment(self, environment: str = "staging", release: str = "hello-world") -> dict[str, Any]:
        key = ("apps/v1", "deployments", self.namespaces[environment], f"{release}-{release}")
        return self.emulator.store[key]

    def image(self, environment: str = "staging") -> str:
        return self.deployment(environment)["spec"]["template"]["spec"]["containers"][0]["image"]

    def release_secrets(self, environment: str = "staging") -> list[str]:
        return sorted(name for (_, plural, ns, name) in self.emulator.store
                      if plural == "secrets" and ns == self.namespaces[environment] and name.startswith("sh.helm."))

    def folder_release(self, name: str, files: dict[str, str], **settings: Any) -> Path:
        """The chart folder charts/NAME (Chart.yaml at 0.1.0, then `files`: text by path in the chart) deployed as
        the release NAME (`chart: ./charts/NAME`, and `settings`); the folder."""
        import yaml

        chart = self.project / "charts" / name
        for path, text in {"Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n", **files}.items():
            (chart / path).parent.mkdir(parents=True, exist_ok=True)
            (chart / path).write_text(text)
        config = yaml.safe_load((self.project / "invoke.yaml").read_text())
        config["release"]["releases"][name] = {"chart": f"./charts/{name}", **settings}
        (self.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        return chart

    def helm(self, environment: str = "staging"):  # type: ignore[no-untyped-def]
        """Helm's SDK on the same namespace, for setting up histories a test needs."""
        import helm_python

        return helm_python.Config(kubeconfig_content=self.emulator.kubeconfig(environment),
                                  kube_context=environment, namespace=self.namespaces[environment])


@pytest.fixture
def cluster(k8s: Any, project: Path, tmp_path: Path) -> Iterator[Cluster]:
    """The project published to its local folder repository, environments on fresh namespaces.

    Images a test breaks (k8s.break_image) are healed after it: the emulator outlives the test.
    """
    import yaml

    suffix = uuid.uuid4().hex[:8]
    namespaces = {"staging": f"staging-{suffix}", "production": f"production-{suffix}"}
    config = yaml.safe_load((project / "invoke.yaml").read_text())
    for name, namespace in namespaces.items():
        config["release"]["environments"][name]["namespace"] = namespace
        k8s.create_namespace(namespace)
    (project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(k8s.kubeconfig(*namespaces))
    invoke(project, "repo.publish")
    yield Cluster(project, k8s, namespaces, {"KUBECONFIG": str(kubeconfig)})
    k8s.emulator.broken.clear()

