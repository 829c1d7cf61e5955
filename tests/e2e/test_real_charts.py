"""Charts written by others (../shared/corpus/real-charts): published next to the ones that cannot be built.

Every request beyond loopback is sent to a closed port on 127.0.0.1 (HTTPS_PROXY), so the charts whose
dependencies live in public repositories fail here as they would on an air-gapped runner, and nothing
leaves the machine.
"""

import base64
import functools
import hashlib
import http.server
import json
import shutil
import threading

import helm_python
import pytest

from tasks import charts
from tests.conftest import copy_project, corpus, invoke

OFFLINE = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1"}
NEED_THE_NETWORK = {  # chart -> the repository it cannot reach
    "kube-prometheus-stack": "https://prometheus-community.github.io/helm-charts",
    "prometheus": "https://prometheus-community.github.io/helm-charts",
    "prometheus-kafka-exporter": "https://charts.bitnami.com/bitnami",
}


@pytest.fixture(scope="module")
def corpus_project(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("real") / "project")
    for chart in sorted(p for p in corpus().iterdir() if (p / "Chart.yaml").is_file()):
        shutil.copytree(chart, project / "charts" / chart.name, symlinks=True)
    return project


@pytest.fixture(scope="module")
def expected(corpus_project, tmp_path_factory):
    """What Helm's own `helm package --dependency-update` makes of the same tree offline (a copy; local
    dependencies only, so nothing is looked up beyond loopback): the charts this tool must publish."""
    out = tmp_path_factory.mktemp("helm-packages")
    tree = out / "charts"
    shutil.copytree(corpus_project / "charts", tree, symlinks=True)
    made = set()
    for chart in charts.discover(tree).charts:
        try:
            if chart.dependencies and all(d.repository.startswith("file://") for d in chart.dependencies):
                helm_python.dependency_update(chart.path)
            helm_python.package(chart.path, destination=out)
            made.add(chart.name)
        except helm_python.HelmError:
            pass
    return made


def serve(folder):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def check_published(index_url, expected, read):
    index = helm_python.repo_index(index_url)  # Helm's own repository client
    assert set(index["entries"]) == expected
    for name, versions in index["entries"].items():
        [entry] = versions
        data = read(entry["urls"][0])
        assert hashlib.sha256(data).hexdigest() == entry["digest"], name
        with helm_python.Chart.load_archive(data) as chart:  # the archive as rewritten loads in Helm, as its entry says
            assert (chart.name, chart.version, chart.metadata.get("appVersion")) == (
                name, entry["version"], entry.get("appVersion")), name


def check_failures(result, expected):
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(NEED_THE_NETWORK)
    for chart, repository in NEED_THE_NETWORK.items():
        [line] = [line for line in lines if line.startswith(f"error: charts/{chart}/Chart.yaml: dependency ")]
        assert f"from {repository} " in line
        assert "connection refused" in line and "helm repo update" not in line
    summary = f"published {len(expected)}, failed 3: kube-prometheus-stack, prometheus, prometheus-kafka-exporter"
    assert result.stdout.strip().splitlines()[-1] == summary


def test_the_corpus_publishes_every_chart_helm_can_package_and_names_each_one_it_cannot(corpus_project, expected):
    assert len(expected) == len(charts.discover(corpus_project / "charts").charts) - len(NEED_THE_NETWORK)
    assert not set(NEED_THE_NETWORK) & expected
    result = invoke(corpus_project, "repo.publish", env=OFFLINE, check=False, timeout=600)
    check_failures(result, expected)
    repo = corpus_project / "dist" / "repo"
    server = serve(repo)
    try:
        check_published(f"http://127.0.0.1:{server.server_port}", expected, lambda url: (repo / url).read_bytes())
    finally:
        server.shutdown()
    again = invoke(corpus_project, "repo.publish", env=OFFLINE, check=False, timeout=600)
    assert f"0 new, {len(expected)} unchanged" in again.stdout  # and a second run changes nothing


def test_the_corpus_publishes_to_s3_the_same_way(corpus_project, expected, bucket):
    result = invoke(corpus_project, "repo.publish", "--url", bucket.url, env={**OFFLINE, **bucket.env}, check=False,
                    timeout=600)
    check_failures(result, expected)
    bucket.make_public()
    check_published(bucket.http_url, expected, lambda url: bucket.get(url))


def test_one_good_chart_publishes_whatever_state_the_others_are_in(corpus_project, tmp_path):
    project = copy_project(tmp_path / "project")
    shutil.rmtree(project / "charts")
    shutil.copytree(corpus_project / "charts", project / "charts", symlinks=True)
    (project / "charts" / "prometheus-druid-exporter" / "Chart.yaml").write_text("apiVersion: v2\nname: [broken\n")
    ok = invoke(project, "repo.publish", "--chart", "prometheus-node-exporter", "--chart", "jiralert", env=OFFLINE)
    assert sorted(p.name for p in (project / "dist" / "repo").glob("*.tgz")) == [
        "jiralert-1.9.0.tgz", "prometheus-node-exporter-4.56.1.tgz"]
    assert ok.stderr == ""
    broken = invoke(project, "repo.publish", "--chart", "prometheus", env=OFFLINE, check=False)
    assert broken.returncode == 1 and "charts/prometheus/Chart.yaml: dependency alertmanager" in broken.stderr
    atomic = invoke(project, "repo.publish", "--atomic", env=OFFLINE, check=False, timeout=600)
    assert atomic.returncode == 1
    assert "repo.atomic is on: nothing published" in atomic.stderr
    assert len(list((project / "dist" / "repo").glob("*.tgz"))) == 2  # nothing more than before


def test_the_corpus_deploys_as_one_environment(cluster, expected):
    """Each chart the corpus publishes offline, a release of staging with its chart's defaults, all deployed by one
    command (4 at a time) to the emulator: every one is deployed, resources a chart puts in kube-system included. The
    one chart whose templates refuse to render without a password gets it as a secret, which no output shows."""
    import yaml

    names = {name for name in expected if (corpus() / name).is_dir()}  # not this project's own samples
    for name in names:
        shutil.copytree(corpus() / name, cluster.project / "charts" / name, symlinks=True)
    invoke(cluster.project, "repo.publish", env=OFFLINE, timeout=600)
    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["releases"] = {name: {"chart": name} for name in sorted(names)}
    config["release"]["releases"]["prometheus-postgres-exporter"]["secrets"] = {
        "config.datasource.password": "PG_PASSWORD"}
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    password = "Pg-Secret-4711"
    env = {**cluster.env, "PG_PASSWORD": password}
    for dry_run in (("--dry-run",), (), ("--dry-run",)):  # as installs, then as upgrades: hooks and all checked
        result = invoke(cluster.project, "release.deploy", "--env", "staging", *dry_run, env=env, timeout=600)
        assert result.stderr == "" and password not in result.stdout
    listed = invoke(cluster.project, "release.list", "--env", "staging", "--json", env=cluster.env)
    assert {r["release"] for r in json.loads(listed.stdout) if r["status"] == "deployed"} == names
    namespace = cluster.namespaces["staging"]
    assert ("rbac.authorization.k8s.io/v1", "rolebindings", "kube-system", "prometheus-adapter-auth-reader") in \
        cluster.emulator.store
    secret = cluster.emulator.store[("v1", "secrets", namespace, "prometheus-postgres-exporter")]
    assert base64.b64decode(secret["data"]["data_source_password"]).decode() == password
