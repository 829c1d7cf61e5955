"""A repository's content is untrusted input (invariant 9), in a folder and in an S3 bucket.

Whoever can write to the bucket or the folder can write index.yaml. An entry whose url leads outside the
repository (a parent folder, an absolute path, another host, another scheme) or that has no digest must
be refused by release.deploy and reported by repo.verify, with nothing outside read, hashed or fetched:
the attacker's package below is a valid chart with the right digest, so only the refusal stops it.
"""

import hashlib
import http.server
import json
import shutil
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tasks.errors import ToolError
from tasks.store import LocalStore
from tests.conftest import copy_project, invoke

ENTRY = ("hello-world", "0.1.0")


@contextmanager
def counting_server(payload):
    """A loopback HTTP server that would hand out `payload`, counting every request it gets."""
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def published(k8s, tmp_path_factory):
    """The project published to its folder repository; environments on namespaces of their own."""
    project = copy_project(tmp_path_factory.mktemp("untrusted") / "project")
    config = yaml.safe_load((project / "invoke.yaml").read_text())
    namespaces = []
    for name in config["release"]["environments"]:
        namespace = config["release"]["environments"][name]["namespace"] = f"{name}-{uuid.uuid4().hex[:8]}"
        k8s.create_namespace(namespace)
        namespaces.append(namespace)
    (project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (project.parent / "kubeconfig").write_text(k8s.kubeconfig(*config["release"]["environments"]))
    invoke(project, "repo.publish")
    return project, namespaces


@pytest.fixture(params=["folder", "s3"])
def repository(request, published, tmp_path):
    """(project, repository url, env, write(key, bytes), the attacker's package outside the repository)."""
    project = tmp_path / "project"
    shutil.copytree(published[0], project)
    env = {"KUBECONFIG": str(published[0].parent / "kubeconfig")}
    repo = project / "dist" / "repo"
    outside = tmp_path / "elsewhere" / "evil.tgz"  # a valid chart: only the refusal keeps it out
    outside.parent.mkdir()
    shutil.copy(repo / "hello-world-0.1.0.tgz", outside)
    if request.param == "folder":
        return project, "dist/repo", env, lambda key, data: (repo / key).write_bytes(data), outside
    bucket = request.getfixturevalue("bucket")
    client = bucket.client()
    for path in repo.iterdir():
        client.put_object(Bucket=bucket.name, Key=path.name, Body=path.read_bytes())
    return (project, bucket.url, {**env, **bucket.env},
            lambda key, data: client.put_object(Bucket=bucket.name, Key=key, Body=data), outside)


def tampered(project, **fields):
    """The published index with hello-world 0.1.0's entry changed (a field set to None is removed)."""
    index = json.loads((project / "dist" / "repo" / "index.yaml").read_bytes())
    entry = next(e for e in index["entries"][ENTRY[0]] if e["version"] == ENTRY[1])
    for key, value in fields.items():
        entry.pop(key) if value is None else entry.__setitem__(key, value)
    return json.dumps(index).encode()


def outside_urls(project, outside, server):
    repo = project / "dist" / "repo"
    return {
        "parent folders": str(Path("..", "..", "..", "elsewhere", "evil.tgz")),
        "absolute path": str(outside),
        "double slash": "/" + str(outside),
        "file url": outside.as_uri(),
        "backslashes": "..\\..\\..\\elsewhere\\evil.tgz",
        "another host": f"{server}/evil.tgz",
        "hidden file": ".lock",
        "dot segments": f"charts/{'/'.join(['..'] * len(repo.parts))}{outside}",
    }


KINDS = ["parent folders", "absolute path", "double slash", "file url", "backslashes", "another host", "hidden file",
         "dot segments"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_entry_leading_outside_the_repository_is_never_deployed_or_hashed(repository, published, k8s, kind):
    project, url, env, write, outside = repository
    evil = outside.read_bytes()
    digest = hashlib.sha256(evil).hexdigest()
    with counting_server(evil) as (server, requests):
        write("index.yaml", tampered(project, urls=[outside_urls(project, outside, server)[kind]], digest=digest))

        deployed = invoke(project, "release.deploy", "--env", "staging", "--url", url, env=env, check=False)
        verified = invoke(project, "repo.verify", "--url", url, "--json", env=env, check=False)

        assert requests == []  # the other host was never asked
    assert deployed.returncode == 1, deployed.stderr
    lines = deployed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in deployed.stderr
    assert "index.yaml: hello-world 0.1.0: url " in lines[0] and "points outside the repository" in lines[0]
    assert lines[0].endswith("Remove the entry or restore index.yaml, then publish the chart again")
    assert [n for (_, plural, ns, n) in k8s.store if plural == "secrets" and ns in published[1]] == []
    assert verified.returncode == 1
    findings = {(f["kind"], f["key"]) for f in json.loads(verified.stdout)["findings"]}
    assert findings == {("url", "hello-world 0.1.0"), ("orphan", "hello-world-0.1.0.tgz")}  # its package: unindexed
    assert digest[:8] not in verified.stdout + verified.stderr  # the file outside was not hashed


def test_an_entry_without_a_digest_is_not_deployed_and_verify_says_so(repository, published, k8s):
    project, url, env, write, _ = repository
    write("index.yaml", tampered(project, digest=None))
    deployed = invoke(project, "release.deploy", "--env", "staging", "--url", url, env=env, check=False)
    assert deployed.returncode == 1
    assert deployed.stderr.strip().endswith(
        "index.yaml: hello-world 0.1.0 has no digest, so its package cannot be verified and is not deployed; publish "
        "the chart again (invoke repo.publish, with --force if the stored package differs) to record its digest")
    assert [n for (_, plural, ns, n) in k8s.store if plural == "secrets" and ns in published[1]] == []
    verified = invoke(project, "repo.verify", "--url", url, "--json", env=env, check=False)
    assert [(f["kind"], f["key"]) for f in json.loads(verified.stdout)["findings"]] == [("digest", "hello-world-0.1.0.tgz")]


def test_an_entry_under_the_public_url_is_deployed_from_the_repository_itself(repository):
    project, url, env, write, _ = repository
    with counting_server(b"not a chart") as (server, requests):
        write("index.yaml", tampered(project, urls=[f"{server}/charts/hello-world-0.1.0.tgz"]))
        verified = invoke(project, "repo.verify", "--url", url, env={**env, "INVOKE_REPO_PUBLIC_URL": f"{server}/charts"},
                          check=False)
        assert requests == []  # read from the repository, never from the public URL
    assert verified.returncode == 0, verified.stderr


def test_a_folder_repository_never_reads_through_a_symlink_leading_outside(published, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(published[0], project)
    repo = project / "dist" / "repo"
    outside = tmp_path / "evil.tgz"
    shutil.copy(repo / "hello-world-0.1.0.tgz", outside)
    (repo / "hello-world-0.1.0.tgz").unlink()
    (repo / "hello-world-0.1.0.tgz").symlink_to(outside)
    kubeconfig = {"KUBECONFIG": str(published[0].parent / "kubeconfig")}
    result = invoke(project, "release.deploy", "--env", "staging", env=kubeconfig, check=False)
    assert result.returncode == 1
    assert "'hello-world-0.1.0.tgz' resolves outside the repository folder; refused, nothing read" in result.stderr
    with pytest.raises(ToolError, match="resolves outside the repository folder"):
        LocalStore(repo).read("../../evil.tgz")


def test_a_helm_s3_repository_whose_urls_are_s3_urls_below_it_is_deployed_from_and_verified(published, bucket, tmp_path):
    """The helm-s3 plugin's index names packages by s3:// URLs of the repository itself: they are inside it. One in
    another prefix of the same bucket, or in another bucket, is not."""
    import helm_python

    project = tmp_path / "project"
    shutil.copytree(published[0], project)
    env = {"KUBECONFIG": str(published[0].parent / "kubeconfig"), **bucket.env}
    url = f"{bucket.url}/charts"
    folder = tmp_path / "helm-s3"
    folder.mkdir()
    for package in (project / "dist" / "repo").glob("*.tgz"):
        shutil.copy(package, folder)
    helm_python.repo_index_generate(folder, base_url=url)  # urls: s3://BUCKET/charts/NAME-VERSION.tgz
    client = bucket.client()
    for path in folder.iterdir():
        client.put_object(Bucket=bucket.name, Key=f"charts/{path.name}", Body=path.read_bytes())
    index = yaml.safe_load((folder / "index.yaml").read_text())
    assert index["entries"]["hello-world"][0]["urls"] == [f"{url}/hello-world-0.1.0.tgz"]

    deployed = invoke(project, "release.deploy", "--env", "staging", "--url", url, "--dry-run", env=env, check=False)
    assert deployed.returncode == 0, deployed.stderr
    assert "points outside" not in deployed.stderr
    verified = invoke(project, "repo.verify", "--url", url, env=env, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "every package present with its digest, no strays" in verified.stdout

    for elsewhere in (f"{bucket.url}/other/hello-world-0.1.0.tgz", f"{url}/../other/hello-world-0.1.0.tgz",
                      f"s3://not-{bucket.name}/charts/hello-world-0.1.0.tgz"):
        entry = index["entries"]["hello-world"][0]
        entry["urls"] = [elsewhere]
        client.put_object(Bucket=bucket.name, Key="charts/index.yaml", Body=json.dumps(index).encode())
        client.put_object(Bucket=bucket.name, Key="other/hello-world-0.1.0.tgz", Body=b"never read")
        refused = invoke(project, "release.deploy", "--env", "staging", "--url", url, "--dry-run", env=env, check=False)
        assert refused.returncode == 1
        assert refused.stderr.strip().endswith(
            f"index.yaml: hello-world 0.1.0: url {elsewhere} points outside the repository (not below "
            "repo.public_url or the repository's own URL); nothing was read. Remove the entry or restore index.yaml, "
            "then publish the chart again")
        verified = invoke(project, "repo.verify", "--url", url, "--json", env=env, check=False)
        found = {(f["kind"], f["key"]) for f in json.loads(verified.stdout)["findings"]}
        assert found == {("url", "hello-world 0.1.0"), ("orphan", "hello-world-0.1.0.tgz")}


def test_an_entry_leading_to_another_charts_or_versions_package_is_not_deployed(repository, published, k8s):
    """An edited entry with another package's url and digest (an older version, signed too, or another chart): the
    digest matched, and the deploy ran that package as the version asked for. The package's own Chart.yaml says."""
    project, url, env, write, _ = repository
    index = json.loads((project / "dist" / "repo" / "index.yaml").read_bytes())
    other = index["entries"]["hello-api"][0]
    write("index.yaml", tampered(project, urls=other["urls"], digest=other["digest"]))
    deployed = invoke(project, "release.deploy", "--env", "staging", "--url", url, env=env, check=False)
    assert deployed.returncode == 1
    assert deployed.stderr.strip().endswith(
        "hello-api-0.1.0.tgz: holds hello-api 0.1.0, where index.yaml's entry is hello-world 0.1.0: the index was "
        "changed to lead elsewhere; restore index.yaml from a copy you trust, or delete that entry and publish the "
        "chart again"), deployed.stderr
    assert [n for (_, plural, ns, n) in k8s.store if plural == "secrets" and ns in published[1]] == []


def test_control_characters_in_another_tools_index_are_shown_as_escapes_never_sent_to_the_terminal(project):
    """repo.list wrote a foreign entry's name and appVersion raw: ESC[2J cleared the screen, OSC 0 retitled the
    window, a CR overwrote the line with other text (`1 FAKE`). Also in an error line, and nothing in JSON breaks."""
    repo = project / "dist" / "repo"
    repo.mkdir(parents=True)
    evil = {"name": "evil", "version": "1.0.0", "appVersion": "1\x1b[1mX\rFAKE", "urls": ["evil-1.0.0.tgz"],
            "digest": "ab", "created": "2024-01-01T00:00:00Z"}
    (repo / "index.yaml").write_text(json.dumps({"apiVersion": "v1", "generated": "2024-01-01T00:00:00Z",
                                                 "entries": {"evil\x1b[2J\x1b]0;pwn\x07": [evil]}}))
    listed = invoke(project, "repo.list")
    assert "\x1b" not in listed.stdout and "\r" not in listed.stdout and "\x07" not in listed.stdout
    assert "evil\\x1b[2J\\x1b]0;pwn\\x07  1.0.0    1\\x1b[1mX\\x0dFAKE" in listed.stdout
    assert json.loads(invoke(project, "repo.list", "--json").stdout)[0]["app_version"] == "1\x1b[1mX\rFAKE"
