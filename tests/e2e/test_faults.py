"""The publish path under faults: S3 errors, resets, delays, lost answers, SIGKILL, 16 publishers at once.

Kills land on observed progress: the fault proxy sees each request, and the publisher is killed when the
request of the step under test arrives (before it reaches S3, or once S3 has applied it).

After every run, successful or not, the bucket must satisfy the invariants (tests/support/invariants.py),
and a failed run must have said so in one line, and a re-run must complete.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import copy_project, invoke
from tests.support.faults import Trap, fault_proxy
from tests.support.invariants import check_bucket


def add_charts(project, names, version="1.0.0", content="a"):
    for name in names:
        folder = project / "charts" / name
        (folder / "templates").mkdir(parents=True, exist_ok=True)
        (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
        (folder / "templates" / "cm.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  content: {content!r}\n")


@pytest.mark.parametrize("rate, seed", [(0.1, 11), (0.25, 12), (0.25, 13), (0.4, 14), (0.6, 15)])
def test_faults_on_the_way_to_s3_never_break_the_repository(project, bucket, rate, seed):
    invoke(project, "repo.publish", "--url", bucket.url, env=bucket.env)
    published = check_bucket(bucket, {})
    add_charts(project, [f"fault-{i}" for i in range(10)])
    invoke(project, "repo.package")  # packaging talks to no server: only the upload goes through the faults
    with fault_proxy(bucket.endpoint, rate, seed) as (url, proxy):
        faulty = {**bucket.env, "AWS_ENDPOINT_URL_S3": url}
        result = invoke(project, "repo.sync", "--url", bucket.url, env=faulty, check=False)
        published = check_bucket(bucket, published)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
            assert "Traceback" not in result.stderr
        retried = invoke(project, "repo.sync", "--url", bucket.url, env=faulty, check=False)
    if retried.returncode != 0:  # two unlucky runs in a row: once more without faults
        invoke(project, "repo.sync", "--url", bucket.url, env=bucket.env)
    final = check_bucket(bucket, published)
    assert {f"fault-{i}" for i in range(10)} <= {name for name, _ in final}
    assert proxy.requests >= 13  # the publish really went through the proxy


def is_index(key):
    return key == "index.yaml"


def is_package(key):
    return key.endswith(".tgz")


# Where a publisher is killed, as the proxy sees its progress, and what the bucket then holds.
KILLS = [
    ("GET", is_index, False, "nothing yet"),  # reading the index
    ("PUT", is_package, False, "nothing yet"),  # the first package upload, before it lands
    ("PUT", is_package, True, "packages only"),  # the first package upload, once it has landed
    ("PUT", is_index, False, "packages only"),  # the index upload, before it lands
    ("PUT", is_index, True, "index written"),  # the index upload, once it has landed
]


def test_sigkill_at_each_step_of_a_publish_leaves_a_valid_repository_and_a_rerun_completes(project, bucket):
    invoke(project, "repo.publish", "--url", bucket.url, env=bucket.env)
    published = check_bucket(bucket, {})
    phases = []  # where each kill landed: before any upload, between packages and index, after the index
    with fault_proxy(bucket.endpoint, 0.0, 7) as (url, proxy):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INVOKE_"))}
        env.update(bucket.env, AWS_ENDPOINT_URL_S3=url, CI="true")
        for round_, (method, key, after, expected) in enumerate(KILLS):
            names = [f"killed-{round_}-{i}" for i in range(3)]
            add_charts(project, names)
            started: list[subprocess.Popen[bytes]] = []  # the publisher: it exists before any request it makes
            proxy.trap = Trap(method, key, after, lambda started=started: started[0].send_signal(signal.SIGKILL))
            started.append(subprocess.Popen([sys.executable, "-m", "invoke", "repo.publish", "--url", bucket.url],
                                            cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            assert started[0].wait(timeout=300) == -signal.SIGKILL  # killed when the proxy saw that request
            uploaded = sum(f"{n}-1.0.0.tgz" in bucket.objects() for n in names)
            published = check_bucket(bucket, published)
            indexed = sum((n, "1.0.0") in published for n in names)
            phases.append("index written" if indexed else "packages only" if uploaded else "nothing yet")
            proxy.trap = None
            invoke(project, "repo.publish", "--url", bucket.url, env={**bucket.env, "AWS_ENDPOINT_URL_S3": url})
            published = check_bucket(bucket, published)
            assert {(n, "1.0.0") for n in names} <= set(published)
    assert phases == [expected for *_, expected in KILLS]


def test_sixteen_publishers_at_once_identical_succeed_once_conflicting_have_one_winner(tmp_path, bucket):
    roles = ["same"] * 6 + ["contested"] * 5 + ["own"] * 5
    projects = []
    for i, role in enumerate(roles):
        project = copy_project(tmp_path / f"publisher-{i}")
        if role == "same":
            add_charts(project, ["shared"], content="identical")
        elif role == "contested":
            add_charts(project, ["contested"], content=f"version of publisher {i}")
        else:
            add_charts(project, [f"own-{i}"])
        projects.append(project)
    invoke(projects[0], "repo.package")  # warm the import caches; not a publish

    def publish(project):
        return invoke(project, "repo.publish", "--url", bucket.url, env=bucket.env, check=False, timeout=300)

    with ThreadPoolExecutor(len(projects)) as pool:
        results = list(pool.map(publish, projects))
    final = check_bucket(bucket, {})
    by_role = {role: [r for r, p in zip(results, roles) if p == role] for role in set(roles)}
    assert all(r.returncode == 0 for r in by_role["same"] + by_role["own"]), [r.stderr for r in results]
    winners = [p for r, p, role in zip(results, projects, roles) if role == "contested" and r.returncode == 0]
    losers = [r for r in by_role["contested"] if r.returncode != 0]
    assert len(winners) == 1 and len(losers) == 4
    for loser in losers:
        assert loser.stderr.startswith("error: ") and "contested" in loser.stderr and "different content" in loser.stderr
    names = [name for name, _ in final]
    assert sorted(names) == sorted(["shared", "contested", *(f"own-{i}" for i in range(11, 16)),
                                    "common", "hello-api", "hello-world"])  # one entry each: published once
    built = winners[0] / "dist" / "packages" / "contested-1.0.0.tgz"
    assert final[("contested", "1.0.0")]["digest"] == hashlib.sha256(built.read_bytes()).hexdigest()  # the winner's


def publish_meeting_a_stray(project, bucket, tmp_path, *args):
    """repo.publish through the proxy; when hello-world's upload arrives, another writer's hello-world 0.1.0 (other
    files) lands at its key first: a stray that appears after the plan, while the publish uploads."""
    import helm_python

    add_charts(tmp_path / "other", ["hello-world"], version="0.1.0", content="someone else's")
    stray = Path(helm_python.package(tmp_path / "other" / "charts" / "hello-world", destination=tmp_path / "stray"))
    client = bucket.client()
    with fault_proxy(bucket.endpoint, 0.0, 3) as (url, proxy):
        proxy.trap = Trap("PUT", lambda key: key == stray.name, False,
                          lambda: client.put_object(Bucket=bucket.name, Key=stray.name, Body=stray.read_bytes()))
        result = invoke(project, "repo.publish", "--url", bucket.url, *args,
                        env={**bucket.env, "AWS_ENDPOINT_URL_S3": url}, check=False)
        assert proxy.trap.sprung.is_set()
    assert bucket.get(stray.name) == stray.read_bytes()  # theirs, untouched
    return result


def occupied(bucket):
    return (f"hello-world 0.1.0: {bucket.url}/hello-world-0.1.0.tgz exists with different content, not yet in the "
            "index (another publisher is publishing this version, or was interrupted); bump the chart's version, or "
            "pass --force to replace it")


@pytest.mark.parametrize("output", ["table", "json"])
def test_a_stray_written_at_a_packages_key_while_publishing_fails_that_chart_alone(project, bucket, tmp_path, output):
    result = publish_meeting_a_stray(project, bucket, tmp_path, "--output", output)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[0] == f"error: {occupied(bucket)}"
    summary = [f"published to {bucket.url}: 2 new, 0 unchanged", "published 2, failed 1: hello-world"]
    if output == "table":
        assert result.stderr.strip().splitlines() == [f"error: {occupied(bucket)}"]
        assert result.stdout.strip().splitlines()[-2:] == summary
    else:
        assert result.stderr.strip().splitlines()[1:] == summary
        document = json.loads(result.stdout)
        assert document["failures"] == [{"chart": "hello-world", "folder": "hello-world", "error": occupied(bucket)}]
        assert [(s["chart"], s["action"]) for s in document["steps"]] == [("common", "new"), ("hello-api", "new")]
    assert sorted(check_bucket(bucket, {})) == [("common", "0.1.0"), ("hello-api", "0.1.0")]


def test_an_atomic_publish_meeting_a_stray_while_uploading_indexes_nothing_and_says_what_it_left(
        project, bucket, tmp_path):
    result = publish_meeting_a_stray(project, bucket, tmp_path, "--atomic")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {occupied(bucket)}", (
        f"error: 1 chart(s) failed (hello-world) and repo.atomic is on: nothing published to {bucket.url} (index.yaml "
        "not written; uploaded before the failure was found, and left there unindexed, so no client sees them: "
        "common-0.1.0.tgz, hello-api-0.1.0.tgz; the next publish indexes them as they are)")]
    assert "published to" not in result.stdout
    assert sorted(bucket.objects()) == ["common-0.1.0.tgz", "hello-api-0.1.0.tgz", "hello-world-0.1.0.tgz"]
    assert check_bucket(bucket, {}) == {}  # no index: Helm sees no chart
