"""OCI registries under the repository's contract, on Debian's docker-registry on 127.0.0.1."""

import base64
import json
import logging
import shutil
import urllib.request

import helm_python
import pytest

from tasks import store, ui
from tests.conftest import invoke
from tests.support.oci_push import push_chart
from tests.support.registry import oci_registry

USER, PASSWORD = "ci-bot", "Reg1stry-pa55word"


@pytest.fixture
def registry(tmp_path):
    with oci_registry(tmp_path / "registry") as host:
        yield host


def pull(reference, destination):
    """Helm's own client pulls it; the archive's bytes."""
    destination.mkdir(parents=True)
    helm_python.pull(reference, version="0.1.0", destination=destination, plain_http=True)
    return (destination / f"{reference.rsplit('/', 1)[-1]}-0.1.0.tgz").read_bytes()


def tags(host, chart):
    client = helm_python.RegistryClient(plain_http=True)
    return client.tags(f"oci://{host}/charts/{chart}")


def manifest_digest(host, chart, tag):
    """What the tag points at, as the registry says: a push over the tag changes it."""
    request = urllib.request.Request(f"http://{host}/v2/charts/{chart}/manifests/{tag}", method="HEAD",
                                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(request) as response:
        return response.headers["Docker-Content-Digest"]


def test_publish_republish_refuse_and_force_against_a_registry_and_helm_pulls_what_was_pushed(project, registry,
                                                                                              tmp_path):
    url = f"oci://{registry}/charts"
    first = invoke(project, "repo.publish", "--url", url, "--output", "json")
    assert {(s["chart"], s["action"]) for s in json.loads(first.stdout)["steps"]} == {
        ("common", "new"), ("hello-api", "new"), ("hello-world", "new")}
    assert tags(registry, "hello-world") == ["0.1.0"]
    ours = (project / "dist" / "packages" / "hello-world-0.1.0.tgz").read_bytes()
    assert pull(f"{url}/hello-world", tmp_path / "pulled") == ours
    again = invoke(project, "repo.publish", "--url", url)
    assert f"pushed to {url}: 0 new, 3 unchanged" in again.stdout
    values = project / "charts" / "hello-world" / "values.yaml"
    values.write_text(values.read_text().replace("replicaCount: 1", "replicaCount: 3"))
    refused = invoke(project, "repo.publish", "--url", url, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        ("error: hello-world 0.1.0: already published with different content; a published version is immutable: "
        "bump version in the chart's Chart.yaml (or pass --force to replace it)")]
    assert pull(f"{url}/hello-world", tmp_path / "still") == ours  # nothing was pushed
    forced = invoke(project, "repo.publish", "--url", url, "--force")
    assert f"REPLACED hello-world 0.1.0 in {url}" in forced.stderr
    replaced = pull(f"{url}/hello-world", tmp_path / "forced")
    assert replaced == (project / "dist" / "packages" / "hello-world-0.1.0.tgz").read_bytes() != ours


def test_a_registry_with_basic_auth_takes_named_credentials_and_a_wrong_one_is_one_line(project, tmp_path):
    with oci_registry(tmp_path / "private", USER, PASSWORD) as host:
        url = f"oci://{host}/charts"
        wrong = invoke(project, "repo.publish", "--url", url, check=False,
                       env={"HELM_REGISTRY_USERNAME": USER, "HELM_REGISTRY_PASSWORD": "not-the-password"})
        assert wrong.returncode == 1
        lines = wrong.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {url}: login as 'ci-bot' refused")
        assert "HELM_REGISTRY_PASSWORD" in lines[0] and "not-the-password" not in wrong.stdout + wrong.stderr
        anonymous = invoke(project, "repo.publish", "--url", url, check=False)
        assert anonymous.returncode == 1 and f"error: {url}: cannot list" in anonymous.stderr
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        ok = invoke(project, "repo.publish", "--url", url, "--debug",
                    env={"HELM_REGISTRY_USERNAME": USER, "HELM_REGISTRY_PASSWORD": PASSWORD, "TMPDIR": str(scratch)})
        assert f"pushed to {url}: 3 new, 0 unchanged" in ok.stdout
        everything = ok.stdout + ok.stderr
        assert PASSWORD not in everything and base64.b64encode(PASSWORD.encode()).decode() not in everything
        client = helm_python.RegistryClient(plain_http=True, credentials_file=tmp_path / "test-login.json")
        client.login(host, USER, PASSWORD, plain_http=True)
        assert client.tags(f"{url}/hello-world") == ["0.1.0"]
    assert list(scratch.iterdir()) == []  # the tool's login lived in a private folder, removed at the end


def test_a_classic_repository_and_an_oci_mirror_in_one_publish_immutable_in_both(project, registry, bucket):
    mirror = f"oci://{registry}/mirror"
    invoke(project, "repo.publish", "--url", bucket.url, "--mirror", mirror, env=bucket.env)
    client = helm_python.RegistryClient(plain_http=True)
    assert client.tags(f"{mirror}/hello-world") == ["0.1.0"]
    before = bucket.objects()
    values = project / "charts" / "hello-world" / "values.yaml"
    values.write_text(values.read_text().replace("replicaCount: 1", "replicaCount: 4"))
    refused = invoke(project, "repo.publish", "--url", bucket.url, "--mirror", mirror, env=bucket.env, check=False)
    assert refused.returncode == 1 and "hello-world 0.1.0: already published with different content" in refused.stderr
    assert bucket.objects() == before
    chart_yaml = project / "charts" / "hello-world" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", "version: 0.2.0"))
    bumped = invoke(project, "repo.publish", "--url", bucket.url, "--mirror", mirror, env=bucket.env)
    assert f"pushed to {mirror}: 1 new, 2 unchanged" in bumped.stdout
    assert client.tags(f"{mirror}/hello-world") == ["0.2.0", "0.1.0"]


def test_an_ecr_host_logs_in_with_ecrs_token_through_boto3(moto_endpoint, monkeypatch, caplog):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_ENDPOINT_URL_ECR": moto_endpoint}.items():
        monkeypatch.setenv(key, value)
    caplog.set_level(logging.DEBUG)  # as invoke --debug logs: botocore's records of ECR's answer held the token
    user, password = store.ecr_credentials("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    assert user == "AWS" and password
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert ui.redact(f"{token} {password}") == "*** ***"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "GetAuthorizationToken" in logged and token not in logged and password not in logged
    assert store.ecr_credentials("registry.example.com") is None


def test_repo_list_reads_a_charts_versions_from_the_registrys_tags(project, registry):
    url = f"oci://{registry}/charts"
    invoke(project, "repo.publish", "--url", url)
    listed = invoke(project, "repo.list", "--url", url, "--chart", "hello-world", "-o", "json")
    assert json.loads(listed.stdout) == [{"chart": "hello-world", "version": "0.1.0"}]
    everything = invoke(project, "repo.list", "--url", url, check=False)
    assert everything.returncode == 1 and "pass --chart NAME" in everything.stderr


def test_a_release_deploys_from_an_oci_registry(cluster, tmp_path):
    with oci_registry(tmp_path / "registry") as host:
        url = f"oci://{host}/charts"
        invoke(cluster.project, "repo.publish", "--url", url)
        deployed = invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "hello-world",
                          "--url", url, "-o", "json", env=cluster.env)
    document = json.loads(deployed.stdout)
    assert (document["chart"], document["status"]) == ("hello-world-0.1.0", "deployed")
    assert cluster.deployment()["spec"]["template"]["spec"]["containers"][0]["image"]


def test_repo_verify_pulls_every_version_of_the_checkouts_charts_from_a_registry(project, registry):
    url = f"oci://{registry}/charts"
    invoke(project, "repo.publish", "--url", url)
    verified = invoke(project, "repo.verify", "--url", url, "-o", "json")
    assert json.loads(verified.stdout) == {"url": url, "ok": True, "checked": 3, "findings": []}
    refused = invoke(project, "repo.verify", "--url", url, "--keyring", "pubring.gpg", check=False)
    assert refused.returncode == 1 and "--keyring checks folder and S3 repositories" in refused.stderr


def test_a_version_with_build_metadata_is_unchanged_on_republish_and_refused_when_its_content_changed(project,
                                                                                                       registry):
    """OCI tags cannot hold '+': Helm pushes 0.2.0+build.1 as the tag 0.2.0_build.1 and lists it as 0.2.0+build.1."""
    url = f"oci://{registry}/charts"
    chart_yaml = project / "charts" / "hello-world" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", "version: 0.2.0+build.1"))
    invoke(project, "repo.publish", "--url", url, "-c", "hello-world")
    digest = manifest_digest(registry, "hello-world", "0.2.0_build.1")
    again = invoke(project, "repo.publish", "--url", url, "-c", "hello-world")
    assert f"pushed to {url}: 0 new, 1 unchanged" in again.stdout
    values = project / "charts" / "hello-world" / "values.yaml"
    values.write_text(values.read_text().replace("replicaCount: 1", "replicaCount: 3"))
    refused = invoke(project, "repo.publish", "--url", url, "-c", "hello-world", check=False)
    assert refused.returncode == 1
    assert "error: hello-world 0.2.0+build.1: already published with different content" in refused.stderr
    assert manifest_digest(registry, "hello-world", "0.2.0_build.1") == digest  # nothing was pushed
    listed = invoke(project, "repo.list", "--url", url, "--chart", "hello-world", "-o", "json")
    assert json.loads(listed.stdout) == [{"chart": "hello-world", "version": "0.2.0+build.1"}]
    verified = invoke(project, "repo.verify", "--url", url, "-o", "json")
    assert json.loads(verified.stdout) == {"url": url, "ok": True, "checked": 1, "findings": []}


def test_a_version_a_registry_cannot_list_fails_alone_instead_of_being_overwritten_unseen(project, registry, tmp_path):
    """Helm lists only strict SemVer 2 tags: `v0.3.0` pushed would look new on every publish, and be replaced."""
    url = f"oci://{registry}/charts"
    chart_yaml = project / "charts" / "hello-world" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", "version: v0.3.0"))
    result = invoke(project, "repo.publish", "--url", url, check=False)
    assert result.returncode == 1
    assert ("error: hello-world v0.3.0: version 'v0.3.0' is not strict SemVer 2 (MAJOR.MINOR.PATCH[-PRE][+BUILD]), "
            "the only versions an OCI registry lists") in result.stderr
    assert "published 2, failed 1: hello-world" in result.stdout
    assert tags(registry, "common") == ["0.1.0"]
    with pytest.raises(helm_python.HelmRegistryError, match="name unknown"):  # never pushed
        tags(registry, "hello-world")
    folder = invoke(project, "repo.publish", "--url", str(tmp_path / "folder"))  # a classic repository takes it
    assert "3 new" in folder.stdout


def test_a_chart_name_no_registry_takes_fails_alone_in_a_mirrored_publish(project, registry):
    """`MyChart` cannot be part of an OCI reference: listing its tags failed the whole publish, every target, with a
    line that blamed the credentials."""
    chart = project / "charts" / "upper"
    shutil.copytree(project / "charts" / "hello-world", chart)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: MyChart\nversion: 0.1.0\n")
    url = f"oci://{registry}/charts"
    for _ in range(2):  # and again, when the folder repository already holds it
        result = invoke(project, "repo.publish", "--mirror", url, check=False)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1] == (
            "error: MyChart 0.1.0: name 'MyChart' cannot be part of an OCI reference (lowercase letters and digits, "
            "with . _ or - between them), so no registry takes it; rename the chart to push it")
        assert "failed 1: MyChart" in result.stdout
    assert tags(registry, "hello-world") == ["0.1.0"] and tags(registry, "common") == ["0.1.0"]


def test_a_registry_that_never_answers_is_left_at_ctrl_c_or_sigterm_and_given_up_after_a_while():
    """Helm's registry client waits for ever on a server that accepts and never answers, and its call held the main
    thread: Ctrl-C and SIGTERM were ignored (only SIGKILL ended it, leaving its login folder behind)."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import threading
    import time

    from tasks import helm
    from tasks.errors import ToolError
    from tests.conftest import ROOT

    listener = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()
    held = []

    def hold() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)
            accepted.set()

    threading.Thread(target=hold, daemon=True).start()
    port = listener.getsockname()[1]
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            accepted.clear()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INVOKE_", "HELM_REGISTRY"))}
            process = subprocess.Popen([sys.executable, "-m", "invoke", "repo.list", "--url",
                                        f"oci://127.0.0.1:{port}/charts", "--chart", "hello-world"], cwd=ROOT,
                                       env={**env, "CI": "true"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
            assert accepted.wait(120), "the registry was never asked"  # observed: it is waiting for an answer
            process.send_signal(signum)
            _, err = process.communicate(timeout=60)
            assert process.returncode == 130, err
            assert err.strip() == ("interrupted: stopped waiting for the registry "
                                   f"(oci://127.0.0.1:{port}/charts/hello-world)")
    finally:
        listener.close()
        for connection in held:
            connection.close()
    with pytest.raises(ToolError, match=r"^the registry \(x\): no answer in 0 s; check that it is up and answers$"):
        helm._off_main(lambda: time.sleep(30), "the registry (x)", abandon=True, timeout=0.2)  # else it returns


def forge(host, project):
    """hello-world:0.1.5 holds the hello-api 0.1.0 archive and hello-world:0.1.9 hello-world 0.1.0's, as any client
    can push them (Helm's own push names the tag after the archive's Chart.yaml; a raw push names what it likes)."""
    packages = project / "dist" / "packages"
    push_chart(host, "charts/hello-world", "0.1.5", (packages / "hello-api-0.1.0.tgz").read_bytes(),
               {"apiVersion": "v2", "name": "hello-api", "version": "0.1.0"})
    push_chart(host, "charts/hello-world", "0.1.9", (packages / "hello-world-0.1.0.tgz").read_bytes(),
               {"apiVersion": "v2", "name": "hello-world", "version": "0.1.9"})


def held(url, tag, name, version):
    return (f"{url}/hello-world:{tag}: holds {name} {version}, not the hello-world {tag} its tag stands for (pushed "
            f"there by another client); delete that tag from the registry, or push hello-world {tag} over it "
            "(invoke repo.publish --force)")


def test_a_deploy_refuses_a_registry_tag_that_holds_another_chart_or_version_before_the_cluster(cluster, tmp_path):
    """A tag is a name anyone can push anything under: hello-world 0.1.5 deployed the hello-api chart, whose Chart.yaml
    the deploy never compared with the tag (a classic repository's entry is compared)."""
    with oci_registry(tmp_path / "registry") as host:
        url = f"oci://{host}/charts"
        invoke(cluster.project, "repo.publish", "--url", url)
        forge(host, cluster.project)
        for tag, name, version in (("0.1.5", "hello-api", "0.1.0"), ("0.1.9", "hello-world", "0.1.0")):
            refused = invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "hello-world", "--url",
                             url, "--version", tag, "-o", "json", env=cluster.env, check=False)
            assert refused.returncode == 1
            assert refused.stderr.strip().splitlines() == [f"error: {held(url, tag, name, version)}"]
        assert cluster.release_secrets() == []  # nothing reached the cluster
        chart_yaml = cluster.project / "charts" / "hello-world" / "Chart.yaml"
        chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", "version: 0.2.0+build.1"))
        invoke(cluster.project, "repo.publish", "--url", url, "-c", "hello-world")  # tag 0.2.0_build.1 is 0.2.0+build.1
        deployed = invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "hello-world", "--url",
                          url, "--version", "0.2.0+build.1", "-o", "json", env=cluster.env)
    assert json.loads(deployed.stdout)["chart"] == "hello-world-0.2.0+build.1"


def test_repo_verify_finds_a_registry_tag_that_holds_another_chart_or_version(project, registry):
    url = f"oci://{registry}/charts"
    invoke(project, "repo.publish", "--url", url)
    forge(registry, project)
    verified = invoke(project, "repo.verify", "--url", url, "-o", "json", check=False)
    assert verified.returncode == 1
    assert json.loads(verified.stdout) == {"url": url, "ok": False, "checked": 5, "findings": [
        {"kind": "package", "key": "hello-world:0.1.9", "detail": held(url, "0.1.9", "hello-world", "0.1.0")},
        {"kind": "package", "key": "hello-world:0.1.5", "detail": held(url, "0.1.5", "hello-api", "0.1.0")}]}
    listed = invoke(project, "repo.list", "--url", url, "--chart", "hello-world", "-o", "json")
    assert [row["version"] for row in json.loads(listed.stdout)] == ["0.1.9", "0.1.5", "0.1.0"]  # tags, as Helm lists
