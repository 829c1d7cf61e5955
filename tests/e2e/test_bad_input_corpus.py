"""Every bad input in tests/corpus/bad_inputs.yaml: one clear line, exit 1, nothing uploaded or deployed."""

import hashlib
import os
import shlex
import shutil
import socket
import tarfile
import uuid

import pytest
import yaml

from tests.conftest import ROOT, copy_project, invoke

CASES = yaml.safe_load((ROOT / "tests" / "corpus" / "bad_inputs.yaml").read_text())


def test_the_corpus_is_large_and_ids_are_unique():
    assert len(CASES) >= 30
    assert len({c["id"] for c in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def base(k8s, tmp_path_factory):
    """The project, published to its folder repository, environments on namespaces of their own."""
    project = copy_project(tmp_path_factory.mktemp("corpus") / "project")
    suffix = uuid.uuid4().hex[:8]
    config = yaml.safe_load((project / "invoke.yaml").read_text())
    namespaces = {}
    for name in config["release"]["environments"]:
        namespaces[name] = config["release"]["environments"][name]["namespace"] = f"{name}-{suffix}"
        k8s.create_namespace(namespaces[name])
    (project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (project.parent / "kubeconfig").write_text(k8s.kubeconfig(*namespaces))
    invoke(project, "repo.publish")
    return project, namespaces


def merge(target, changes):
    for key, value in changes.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = value
    return target


def apply(case, project):
    for path, text in case.get("write", {}).items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text)
    for path, hexed in case.get("bytes", {}).items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_bytes(bytes.fromhex(hexed))
    for path, size in case.get("size", {}).items():
        (project / path).write_bytes(os.urandom(size))
    for path, target in case.get("symlink", {}).items():
        os.symlink(target, project / path)
    for path in case.get("delete", []):
        (project / path).unlink()
    for path, changes in case.get("yaml", {}).items():
        (project / path).write_text(yaml.safe_dump(merge(yaml.safe_load((project / path).read_text()), changes)))
    for path, members in case.get("tgz", {}).items():
        with tarfile.open(project / path, "w:gz", compresslevel=1) as tar:
            for name, size in members.items():
                info = tarfile.TarInfo(name)
                info.size = size
                tar.addfile(info, Zeros())


class Zeros:
    """A file of zeros as long as its reader asks (a gzip bomb compresses it 1000-fold)."""

    def read(self, size=-1):
        return bytes(max(size, 0))


def repository_state(project):
    repo = project / "dist" / "repo"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(repo.iterdir())}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_is_one_clear_line_and_changes_nothing(case, base, k8s, moto_endpoint, tmp_path, request):
    project_base, namespaces = base
    project = tmp_path / "project"
    shutil.copytree(project_base, project, symlinks=True)
    apply(case, project)
    env = {"KUBECONFIG": str(project_base.parent / "kubeconfig")}
    bucket = None
    if "s3" in case:
        bucket = request.getfixturevalue("bucket")
        env.update(bucket.env)
        if case["s3"] == "missing":
            bucket.client().delete_bucket(Bucket=bucket.name)
        elif case["s3"] != "empty":
            bucket.client().put_object(Bucket=bucket.name, Key="index.yaml", Body=case["s3"].encode())
    for key, value in (case.get("env") or {}).items():
        if value is None:
            env.pop(key, None)
            env[key] = ""
        else:
            env[key] = value.replace("{api}", k8s.url)
    busy = socket.create_server(("127.0.0.1", 0)) if case.get("busy_port") else None
    run = case["run"].replace("{s3}", bucket.url if bucket else "")
    args = shlex.split(run.replace("{busy}", str(busy.getsockname()[1]) if busy else ""))
    before = repository_state(project)
    objects_before = bucket.objects() if bucket and case["s3"] != "missing" else None

    try:
        result = invoke(project, *args, env=env, check=False)
    finally:
        if busy:
            busy.close()

    assert result.returncode == 1, f"{case['id']}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(text in lines[0] for text in ([case["expect"]] if isinstance(case["expect"], str) else case["expect"])), \
        lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert repository_state(project) == before  # nothing uploaded to the folder repository
    if objects_before is not None:
        assert bucket.objects() == objects_before  # nothing uploaded to the bucket
    deployed = [name for (_, plural, ns, name) in k8s.store if plural == "secrets" and ns in namespaces.values()]
    assert deployed == []  # nothing deployed
