"""`invoke repo.*` as a user types it, then Helm's own repository client reads what was published."""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from tasks import helm
from tests.conftest import copy_project, invoke

CHARTS = {"common": "0.1.0", "hello-api": "0.1.0", "hello-world": "0.1.0"}


def test_publish_to_s3_then_helm_reads_the_repository_and_pulls_every_chart(project, bucket, tmp_path):
    bucket.make_public()  # the article's bucket policy: s3:GetObject for readers
    result = invoke(project, "repo.publish", "--url", bucket.url, env=bucket.env)
    assert "3 new, 0 unchanged" in result.stdout
    index = helm.repo_index(bucket.http_url)
    assert {name: [e["version"] for e in entries] for name, entries in index["entries"].items()} == {
        name: [version] for name, version in CHARTS.items()}
    for name, version in CHARTS.items():
        pulled = helm.pull(name, version, bucket.http_url, tmp_path)
        assert hashlib.sha256(pulled.read_bytes()).hexdigest() == index["entries"][name][0]["digest"]


def test_the_repository_url_comes_from_invoke_repo_url_too(project, bucket):
    invoke(project, "repo.publish", env={**bucket.env, "INVOKE_REPO_URL": bucket.url})
    assert set(bucket.objects()) == {"index.yaml", "index.html", *(f"{n}-{v}.tgz" for n, v in CHARTS.items())}


def test_a_fresh_checkout_with_new_mtimes_republishes_nothing(tmp_path, bucket):
    first = copy_project(tmp_path / "first")
    invoke(first, "repo.publish", "--url", bucket.url, env=bucket.env)
    before = bucket.objects()
    second = copy_project(tmp_path / "second")
    later = time.time() + 3600
    for path in (second / "charts").rglob("*"):
        os.utime(path, (later, later))
    result = invoke(second, "repo.publish", "--url", bucket.url, env=bucket.env)
    assert "0 new, 3 unchanged" in result.stdout
    assert bucket.objects() == before  # same ETags: nothing was written


def test_dry_run_prints_the_plan_and_writes_nothing(project, bucket):
    result = invoke(project, "repo.publish", "--dry-run", "--url", bucket.url, env=bucket.env)
    assert "hello-world  0.1.0    new" in result.stdout  # plain columns, one line per chart: not a terminal
    assert "dry run: nothing written" in result.stdout
    assert "\x1b[" not in result.stdout + result.stderr and "╭" not in result.stdout  # no colour, no box
    assert bucket.objects() == {}
    (project / "charts" / "broken").mkdir()
    (project / "charts" / "broken" / "Chart.yaml").write_text("apiVersion: v2\nname: broken\n")
    failing = invoke(project, "repo.publish", "--dry-run", "--url", bucket.url, env=bucket.env, check=False)
    assert failing.stdout.strip().splitlines()[-1] == "would publish 3, failed 1: broken"
    assert "published" not in failing.stdout + failing.stderr  # nothing was
    invoke(project, "repo.publish", "--url", bucket.url, "--chart", "hello-world", env=bucket.env)
    invoke(project, "repo.publish", "--url", bucket.url, "--chart", "common", "--chart", "hello-api", env=bucket.env)
    (project / "charts" / "broken" / "Chart.yaml").unlink()
    again = invoke(project, "repo.publish", "--dry-run", "--url", bucket.url, env=bucket.env)
    assert again.stdout.strip().splitlines()[-1].startswith(f"would publish to {bucket.url}: 0 new, 3 unchanged")


def test_a_dry_run_sync_after_repo_index_prints_the_plan_too(project):
    """repo.index printed it and wrote it for repo.sync, whose --dry-run said only "nothing written"."""
    invoke(project, "repo.package")
    invoke(project, "repo.index")
    result = invoke(project, "repo.sync", "--dry-run")
    assert "hello-world  0.1.0    new" in result.stdout and "dry run: nothing written" in result.stdout
    assert not (project / "dist" / "repo" / "index.yaml").exists()


def test_changed_chart_without_a_version_bump_is_refused_in_one_line(project, bucket):
    invoke(project, "repo.publish", "--url", bucket.url, env=bucket.env)
    before = bucket.objects()
    values = project / "charts" / "hello-world" / "values.yaml"
    values.write_text(values.read_text().replace("replicaCount: 1", "replicaCount: 2"))
    result = invoke(project, "repo.publish", "--url", bucket.url, env=bucket.env, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [(
        "error: hello-world 0.1.0: already published with different content; a published version is immutable: "
        "bump version in the chart's Chart.yaml (or pass --force to replace it)")]
    assert bucket.objects() == before
    forced = invoke(project, "repo.publish", "--force", "--url", bucket.url, env=bucket.env)
    assert "REPLACED hello-world 0.1.0" in forced.stderr


def test_a_version_published_with_other_content_fails_alone_and_every_other_chart_is_published(project):
    """One team's forgotten version bump is its chart's failure, not the repository's (unless --atomic)."""
    invoke(project, "repo.publish")
    index = project / "dist" / "repo" / "index.yaml"
    world = project / "charts" / "hello-world" / "values.yaml"
    world.write_text(world.read_text().replace("replicaCount: 1", "replicaCount: 2"))  # no bump
    api = project / "charts" / "hello-api"
    (api / "Chart.yaml").write_text((api / "Chart.yaml").read_text().replace("version: 0.1.0", "version: 0.2.0", 1))
    result = invoke(project, "repo.publish", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [(
        "error: hello-world 0.1.0: already published with different content; a published version is immutable: "
        "bump version in the chart's Chart.yaml (or pass --force to replace it)")]
    assert "published 2, failed 1: hello-world" in result.stdout
    assert [e["version"] for e in yaml.safe_load(index.read_text())["entries"]["hello-api"]] == ["0.2.0", "0.1.0"]
    again = invoke(project, "repo.publish", check=False)  # its new inputs were not recorded as published
    assert again.returncode == 1 and "hello-world 0.1.0: already published" in again.stderr
    (api / "Chart.yaml").write_text((api / "Chart.yaml").read_text().replace("version: 0.2.0", "version: 0.3.0", 1))
    before = index.read_bytes()
    atomic = invoke(project, "repo.publish", "--atomic", check=False)
    assert atomic.returncode == 1 and "hello-world 0.1.0: already published" in atomic.stderr
    assert index.read_bytes() == before and not (index.parent / "hello-api-0.3.0.tgz").exists()


def break_chart_yaml(project, text):
    (project / "charts" / "hello-world" / "Chart.yaml").write_text(text)


@pytest.mark.parametrize("breakage, args, env_change, message", [
    (lambda p: break_chart_yaml(p, "apiVersion: v2\nname: [hello\n"), (), {},
     "charts/hello-world/Chart.yaml: not valid YAML at line 3"),
    (lambda p: break_chart_yaml(p, "apiVersion: v2\nname: hello-world\nversion: 1.0.0.0\n"), (), {},
     "charts/hello-world/Chart.yaml: version '1.0.0.0' is not a version Helm accepts"),
    (None, ("--url", "ftp://charts.example.com"), {}, "repo.url 'ftp://charts.example.com': unknown scheme 'ftp'"),
    (None, ("--url", "s3://no-such-bucket-here"), {}, "bucket 'no-such-bucket-here' does not exist"),
    (None, (), {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, "no AWS credentials"),
])
def test_bad_input_is_one_clear_line_exit_1_and_nothing_uploaded(project, bucket, breakage, args, env_change, message):
    if breakage:
        breakage(project)
    env = {**bucket.env, "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}
    env = {k: v for k, v in {**env, **env_change}.items() if v is not None}
    before = bucket.objects()
    result = invoke(project, "repo.publish", *(args or ("--url", bucket.url)), env=env, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    if breakage:  # a broken chart blocks only itself: the others are published, and the run says so
        assert set(bucket.objects()) - set(before) == {"index.yaml", "index.html", "common-0.1.0.tgz", "hello-api-0.1.0.tgz"}
        assert result.stdout.strip().splitlines()[-1] == "published 2, failed 1: hello-world"
    else:
        assert bucket.objects() == before == {}  # a bad setting: nothing at all


def test_two_folders_with_two_versions_of_a_chart_publish_both_and_the_same_version_twice_neither(project):
    (project / "charts" / "hello-world-v2").mkdir()
    (project / "charts" / "hello-world-v2" / "Chart.yaml").write_text("apiVersion: v2\nname: hello-world\nversion: 2.0.0\n")
    invoke(project, "repo.publish")
    assert {"hello-world-0.1.0.tgz", "hello-world-2.0.0.tgz"} <= {p.name for p in (project / "dist" / "repo").iterdir()}
    (project / "charts" / "copy").mkdir()
    (project / "charts" / "copy" / "Chart.yaml").write_text("apiVersion: v2\nname: hello-world\nversion: 2.0.0\n")
    result = invoke(project, "repo.publish", check=False)
    assert result.returncode == 1
    assert result.stderr.count("charts/copy and charts/hello-world-v2 both hold hello-world 2.0.0") == 2
    assert result.stdout.strip().splitlines()[-1] == "published 3, failed 2: hello-world, hello-world"


def test_two_charts_packaged_under_one_file_name_block_only_themselves(project):
    """foo 1.0.0-1.0.0 and foo-1.0.0 1.0.0 are both valid, and both foo-1.0.0-1.0.0.tgz: each is refused in one line,
    the others published (Helm wrote them into one folder, the second over the first: a crash of the whole run)."""
    for folder, name, version in (("foo", "foo", "1.0.0-1.0.0"), ("foo-1.0.0", "foo-1.0.0", "1.0.0")):
        (project / "charts" / folder).mkdir()
        (project / "charts" / folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    result = invoke(project, "repo.publish", check=False)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "a bug" not in result.stderr
    assert result.stderr.count("both packaged as foo-1.0.0-1.0.0.tgz") == 2
    assert result.stdout.strip().splitlines()[-1] == "published 3, failed 2: foo, foo-1.0.0"
    assert {p.name for p in (project / "dist" / "repo").glob("*.tgz")} == {
        "common-0.1.0.tgz", "hello-api-0.1.0.tgz", "hello-world-0.1.0.tgz"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_default_local_folder_repository_published_then_served_to_helm(project, tmp_path):
    odd = ["a b", "x?y", "a%2e", "chärt"]  # names Helm packages; their urls are %-encoded, as a URL must carry them
    for i, name in enumerate(odd):
        (project / "charts" / f"odd-{i}" / "templates").mkdir(parents=True)
        (project / "charts" / f"odd-{i}" / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 1.0.0\n")
    invoke(project, "repo.publish")
    assert (project / "dist" / "repo" / "index.yaml").exists()
    assert "no strays" in invoke(project, "repo.verify").stdout
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "invoke", "repo.serve", "--port", str(port)], cwd=project,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{url}/index.yaml", timeout=1) as response:
                    assert response.headers["Content-Type"] == "application/x-yaml"
                break
            except OSError:
                time.sleep(0.1)
        index = helm.repo_index(url)
        assert sorted(index["entries"]) == sorted([*CHARTS, *odd])
        for name, version in [("hello-world", "0.1.0"), *((name, "1.0.0") for name in odd)]:
            pulled = helm.pull(name, version, url, tmp_path)
            assert pulled.read_bytes() == (project / "dist" / "repo" / f"{name}-{version}.tgz").read_bytes()
    finally:
        server.terminate()
        server.wait(10)


def test_lint_fails_on_a_template_error_and_shows_it(project):
    assert "lint: 3 chart(s) ok" in invoke(project, "repo.lint").stdout
    (project / "charts" / "hello-world" / "templates" / "broken.yaml").write_text("{{ .Values.image.tag ")
    result = invoke(project, "repo.lint", check=False)
    assert result.returncode == 1
    assert "hello-world  error" in result.stdout and "broken.yaml" in result.stdout
    assert result.stderr.strip() == "error: charts/hello-world: Helm's lint found errors (the table above)"
    assert result.stdout.strip().splitlines()[-1] == "lint: ok 2, failed 1: hello-world"
    v2 = project / "charts" / "hello-world-v2"  # another line of the same chart, broken too: told apart, counted
    shutil.copytree(project / "charts" / "hello-world", v2)
    (v2 / "Chart.yaml").write_text((v2 / "Chart.yaml").read_text().replace("version: 0.1.0", "version: 2.0.0"))
    both = invoke(project, "repo.lint", check=False)
    assert both.stderr.splitlines() == ["error: charts/hello-world: Helm's lint found errors (the table above)",
                                        "error: charts/hello-world-v2: Helm's lint found errors (the table above)"]
    assert "hello-world (charts/hello-world-v2)" in both.stdout
    assert both.stdout.strip().splitlines()[-1] == "lint: ok 2, failed 2: hello-world, hello-world"


def test_a_prefix_in_a_shared_bucket_is_a_repository_of_its_own(project, bucket, tmp_path):
    bucket.make_public()
    invoke(project, "repo.publish", "--url", f"{bucket.url}/team-a", env=bucket.env)
    assert set(bucket.objects()) == {"team-a/index.yaml", "team-a/index.html", *(f"team-a/{n}-{v}.tgz" for n, v in CHARTS.items())}
    pulled = helm.pull("hello-world", "0.1.0", f"{bucket.http_url}/team-a", tmp_path)
    assert pulled.read_bytes() == bucket.get("team-a/hello-world-0.1.0.tgz")
    assert "no strays" in invoke(project, "repo.verify", "--url", f"{bucket.url}/team-a", env=bucket.env).stdout


def test_list_shows_the_newest_version_of_each_chart_or_every_version_of_one(project):
    invoke(project, "repo.publish")
    chart_yaml = project / "charts" / "hello-world" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", "version: 0.2.0", 1))
    invoke(project, "repo.publish")
    import json

    newest = json.loads(invoke(project, "repo.list", "--json").stdout)
    assert [(r["chart"], r["version"], r["versions"]) for r in newest] == [
        ("common", "0.1.0", 1), ("hello-api", "0.1.0", 1), ("hello-world", "0.2.0", 2)]
    every = json.loads(invoke(project, "repo.list", "--chart", "hello-world", "--json").stdout)
    assert [r["version"] for r in every] == ["0.2.0", "0.1.0"]
    assert "hello-world  0.2.0" in invoke(project, "repo.list").stdout


def test_a_bad_mirror_is_named_as_the_user_gave_it(project):
    flag = invoke(project, "repo.publish", "--mirror", "oci://registry.example.com", check=False)
    assert flag.returncode == 1 and flag.stderr.startswith(
        "error: --mirror 'oci://registry.example.com': an OCI repository is oci://HOST[:PORT]/PATH")
    config = project / "invoke.yaml"
    config.write_text(config.read_text().replace("repo:\n", "repo:\n  mirrors: ['s3://bucket']\n", 1))
    setting = invoke(project, "repo.publish", check=False)
    assert setting.returncode == 1 and "error: repo.mirrors: s3://bucket: a mirror is an OCI registry" in setting.stderr


def test_verbose_shows_every_chart_those_not_rebuilt_as_unchanged_rows(project):
    """--verbose still said `(2 unchanged not shown; --verbose shows them)`, and printed no row when nothing changed:
    the charts not rebuilt were always counted as hidden. Now each is a row: unchanged, not rebuilt."""
    invoke(project, "repo.publish")
    chart_yaml = project / "charts" / "hello-world" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("version: 0.1.0", "version: 0.2.0", 1))
    url = f"file://{(project / 'dist' / 'repo').resolve()}"
    quiet = invoke(project, "repo.publish", "--dry-run").stdout.splitlines()
    assert quiet[:3] == [f"plan for {url} (2 unchanged not shown; --verbose shows them):",
                         "chart        version  action  detail",
                         "hello-world  0.2.0    new"]
    rows = ["common       0.1.0    unchanged  not rebuilt: inputs unchanged",
            "hello-api    0.1.0    unchanged  not rebuilt: inputs unchanged"]
    changed = invoke(project, "repo.publish", "--verbose").stdout.splitlines()
    assert changed[:5] == [f"plan for {url}:", "chart        version  action     detail", *rows,
                           "hello-world  0.2.0    new"]
    unchanged = invoke(project, "repo.publish", "--verbose").stdout.splitlines()
    assert unchanged == [f"plan for {url}:", "chart        version  action     detail", *rows,
                         "hello-world  0.2.0    unchanged  not rebuilt: inputs unchanged",
                         f"published to {url}: 0 new, 3 unchanged (3 not rebuilt: inputs unchanged)"]
