"""`invoke release.*` over a whole environment: three releases (a needs b; c independent) on the emulator."""

import json
import re
import signal
import time

import pytest
import yaml

from tests.conftest import invoke

API_IMAGE = "registry.example.com/hello-api"


def three_releases(cluster, **b_settings):
    """Staging gets a (in its own namespace, needing b), b (hello-api, in its own namespace) and c; the project's
    hello-world release goes to production only. Returns (namespace of a, of b, of c)."""
    suffix = cluster.namespaces["staging"]
    own = {"a": f"a-{suffix}", "b": f"b-{suffix}"}
    for namespace in own.values():
        cluster.emulator.create_namespace(namespace)
    path = cluster.project / "invoke.yaml"
    config = yaml.safe_load(path.read_text())
    releases = config["release"]["releases"]
    hello = {**releases["hello-world"], "environments": ["production"]}
    config["release"]["releases"] = {
        "hello-world": hello,
        "a": {"chart": "hello-world", "values": hello["values"], "needs": ["b"], "namespace": own["a"]},
        "b": {"chart": "hello-api", "namespace": own["b"], **b_settings},
        "c": {"chart": "hello-world", "values": hello["values"]},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return own["a"], own["b"], suffix


def run(cluster, task, *args, check=True):
    return invoke(cluster.project, task, "--env", "staging", *args, env=cluster.env, check=check)


def requests(cluster, namespace, writes=False):
    """Positions in the emulator's request log of the requests to `namespace` (only writes, if asked)."""
    return [i for i, line in enumerate(cluster.emulator.emulator.log) if f"/namespaces/{namespace}/" in line
            and (not writes or line.startswith(("POST", "PUT", "PATCH")))]


def stored_in(cluster, namespace):
    return [key for key in cluster.emulator.store if key[2] == namespace]


def test_an_environment_deploys_every_release_needs_first_and_independent_ones_alongside(cluster):
    ns_a, ns_b, ns_c = three_releases(cluster)
    start = len(cluster.emulator.emulator.log)
    out = json.loads(run(cluster, "release.deploy", "--set", "image.tag=v1", "--output", "json").stdout)
    assert [(r["release"], r["namespace"], r["outcome"], r["revision"]) for r in out["releases"]] == [
        ("a", ns_a, "deployed", 1), ("b", ns_b, "deployed", 1), ("c", ns_c, "deployed", 1)]
    b_writes = [i for i in requests(cluster, ns_b, writes=True) if i >= start]
    assert max(b_writes) < min(requests(cluster, ns_a))  # a's first request came after b's last write
    assert min(i for i in requests(cluster, ns_c) if i >= start) < max(b_writes)  # c ran while b did
    for key in (("apps/v1", "deployments", ns_a, "a-hello-world"), ("apps/v1", "deployments", ns_b, "b-hello-api"),
                ("apps/v1", "deployments", ns_c, "c-hello-world")):
        assert cluster.emulator.store[key]["status"]["readyReplicas"] == 1


def test_parallel_one_deploys_one_release_at_a_time_in_order(cluster):
    ns_a, ns_b, ns_c = three_releases(cluster)
    start = len(cluster.emulator.emulator.log)
    run(cluster, "release.deploy", "--parallel", "1")
    spans = {name: (min(i for i in requests(cluster, ns) if i >= start), max(requests(cluster, ns, writes=True)))
             for name, ns in (("a", ns_a), ("b", ns_b), ("c", ns_c))}
    assert spans["b"][1] < spans["a"][0] and spans["a"][1] < spans["c"][0]  # b, then a (its need met), then c


def test_a_failed_need_stops_its_dependent_and_the_summary_says_so(cluster):
    ns_a, ns_b, _ = three_releases(cluster, set={"image.tag": "broken"})
    cluster.emulator.break_image(f"{API_IMAGE}:broken")
    result = run(cluster, "release.deploy", "--timeout", "2s", check=False)
    assert result.returncode == 1
    assert re.search(r"^a\s+hello-world-0\.1\.0\s+\S+\s+skipped\s+b failed$", result.stdout, re.MULTILINE)
    assert re.search(r"^b\s+hello-api-0\.1\.0\s+\S+\s+failed\s+deploy of hello-api 0\.1\.0 as b failed", result.stdout,
                     re.MULTILINE)
    assert re.search(r"^c\s+hello-world-0\.1\.0\s+\S+\s+deployed\s+revision 1 \(deployed\)$", result.stdout, re.MULTILINE)
    assert result.stderr.startswith("error: b: deploy of hello-api 0.1.0 as b failed: ")
    assert len(result.stderr.splitlines()) == 1
    assert stored_in(cluster, ns_a) == []  # a was never started
    assert not any(key[1] == "secrets" and key[3].startswith("sh.helm.") for key in stored_in(cluster, ns_b))


def test_list_status_and_diff_cover_the_environment(cluster):
    ns_a, ns_b, ns_c = three_releases(cluster)
    listed = json.loads(run(cluster, "release.list", "--output", "json").stdout)
    assert [(r["release"], r["namespace"], r["status"]) for r in listed] == [
        ("a", ns_a, "not installed"), ("b", ns_b, "not installed"), ("c", ns_c, "not installed")]
    absent = json.loads(run(cluster, "release.status", "--output", "json").stdout)
    assert [(s["release"], s["status"], s["revision"], s["workloads"]) for s in absent] == [
        ("a", "not installed", None, []), ("b", "not installed", None, []), ("c", "not installed", None, [])]
    fresh = run(cluster, "release.diff", "--detailed-exitcode", check=False)
    assert fresh.returncode == 2
    assert [line for line in fresh.stdout.splitlines() if line.startswith("--- ")] == [
        "--- a (not installed)", "--- b (not installed)", "--- c (not installed)"]
    assert fresh.stdout.splitlines()[-1] == "3 of 3 releases would change (a, b, c)"
    run(cluster, "release.deploy", "--set", "image.tag=v1")
    with cluster.helm() as helm:  # a release someone installed by hand, next to c
        helm.install(str(cluster.project / "dist" / "repo" / "hello-world-0.1.0.tgz"), "stray", {})
    status = json.loads(run(cluster, "release.status", "--output", "json").stdout)
    assert [(s["release"], s["namespace"], s["status"], s["revision"]) for s in status] == [
        ("a", ns_a, "deployed", 1), ("b", ns_b, "deployed", 1), ("c", ns_c, "deployed", 1)]
    assert [[w["state"] for w in s["workloads"]] for s in status] == [["ready"], ["ready"], ["ready"]]
    assert {tuple(s) for s in status} == {tuple(s) for s in absent}  # each key on every row, in one order
    same = run(cluster, "release.diff", "--set", "image.tag=v1", "--detailed-exitcode")
    assert same.stdout == "no changes: all 3 releases already run what their charts render\n"
    one = run(cluster, "release.diff", "--set", "image.tag=v2", "--release", "b", "--detailed-exitcode", check=False)
    assert one.returncode == 2 and "--- b (revision 1, deployed)" in one.stdout
    some = run(cluster, "release.diff", "--set", "image.tag=v1", "--set", "replicaCount=2", "--detailed-exitcode",
               check=False)  # b (hello-api) has no replicaCount value
    assert some.returncode == 2 and [line for line in some.stdout.splitlines() if line.startswith("--- ")] == [
        "--- a (revision 1, deployed)", "--- c (revision 1, deployed)"]
    assert some.stdout.splitlines()[-1] == \
        "2 of 3 releases would change (a, c); the other one already runs what its chart renders"
    listed = yaml.safe_load(run(cluster, "release.list", "--output", "yaml").stdout)
    assert [(r["release"], r["namespace"], r["status"], r["configured"]) for r in listed] == [
        ("a", ns_a, "deployed", True), ("b", ns_b, "deployed", True), ("c", ns_c, "deployed", True),
        ("stray", ns_c, "deployed", False)]
    cluster.emulator.break_image("quay.io/honestbee/hello-drone-helm:never-ready")
    run(cluster, "release.deploy", "--release", "a", "--set", "image.tag=never-ready", "--no-wait")
    table = run(cluster, "release.status").stdout  # Helm's record says deployed; the workloads say otherwise
    assert re.search(r"^a\s.*\sdeployed\s.*\s0/1 \(Deployment a-hello-world 0/1\)$", table, re.MULTILINE), table
    assert re.search(r"^b\s.*\s1/1$", table, re.MULTILINE), table


@pytest.mark.parametrize("needs, message", [
    ({"a": ["b"], "b": ["a"]}, "error: release.releases: needs form a cycle: a -> b -> a; remove one of these needs"),
    ({"a": ["nope"]}, "error: release.releases.a.needs: 'nope' is not a release; known: hello-world, a, b, c"),
    ({"c": ["hello-world"]}, ("error: release.releases.c.needs: hello-world is not deployed to staging, where c is; "
                             "add staging to release.releases.hello-world.environments or remove the need")),
])
def test_a_cycle_or_an_unknown_need_is_one_line_and_deploys_nothing(cluster, needs, message):
    three_releases(cluster)
    path = cluster.project / "invoke.yaml"
    config = yaml.safe_load(path.read_text())
    for name, listed in needs.items():
        config["release"]["releases"][name]["needs"] = listed
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run(cluster, "release.deploy", check=False)
    assert result.returncode == 1 and result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1
    assert cluster.release_secrets() == []


def test_a_protected_environment_asks_once_for_all_its_releases(cluster):
    _, ns_b, _ = three_releases(cluster)
    path = cluster.project / "invoke.yaml"
    config = yaml.safe_load(path.read_text())
    config["release"]["environments"]["staging"]["protected"] = True
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    refused = run(cluster, "release.deploy", check=False)
    assert refused.returncode == 1
    assert refused.stderr == ("error: environment staging is protected: pass --yes to deploy 3 releases to staging "
                              "(a: hello-world 0.1.0, b: hello-api 0.1.0, c: hello-world 0.1.0) (not on a terminal, so "
                              "nobody can confirm)\n")
    assert stored_in(cluster, ns_b) == []
    run(cluster, "release.deploy", "--yes")
    assert cluster.release_secrets() == ["sh.helm.release.v1.c.v1"]


def test_ctrl_c_during_an_environment_deploy_stops_every_release_and_says_where_each_is(cluster):
    from tests.e2e.test_interrupt import IMAGE, start_deploy, stop

    ns_a, ns_b, ns_c = three_releases(cluster, set={"image.tag": "hangs"})
    cluster.emulator.break_image(f"{API_IMAGE}:hangs")
    cluster.emulator.break_image(f"{IMAGE}:hangs")
    process = start_deploy(cluster, "--set", "image.tag=hangs")  # b and c wait for pods that never get ready
    while not all(("v1", "secrets", namespace, f"sh.helm.release.v1.{name}.v1") in cluster.emulator.store
                  for name, namespace in (("b", ns_b), ("c", ns_c))):  # both are being deployed: observed
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)  # one look at the store per turn, leaving the emulator's thread the interpreter
    code, out, err = stop(process, signal.SIGINT)
    assert code == 130
    assert re.search(r"^a\s+hello-world-0\.1\.0\s+\S+\s+skipped\s+b was stopped$", out, re.MULTILINE)
    assert re.search(r"^b\s+hello-api-0\.1\.0\s+\S+\s+interrupted\s+deploy of hello-api 0\.1\.0 as b stopped; the "
                     r"release is not installed; nothing to recover$", out, re.MULTILINE)
    assert err == ("interrupted: deploy of staging stopped; b: deploy of hello-api 0.1.0 as b stopped; the release is "
                   "not installed; nothing to recover; c: deploy of hello-world 0.1.0 as c stopped; the release is not "
                   "installed; nothing to recover\n")
    assert [key for key in cluster.emulator.store if key[1] == "secrets" and key[2] in (ns_a, ns_b, ns_c)
            and key[3].startswith("sh.helm.")] == []  # Helm removed both first installs


def test_a_dry_run_of_an_environment_renders_every_release_and_changes_nothing(cluster):
    three_releases(cluster)
    before = {key: dict(value) for key, value in cluster.emulator.store.items()}
    result = invoke(cluster.project, "release.deploy", "--env", "staging", "--dry-run", "--set-secret",
                    "secretEnv.TOKEN=DEPLOY_TOKEN", env={**cluster.env, "DEPLOY_TOKEN": "dry-run-secret-value"})
    assert cluster.emulator.store == before  # nothing written, not even a pending revision
    for name in "abc":
        assert f"\n{name}: values (secrets masked):\n" in result.stdout
        assert re.search(rf"^{name}\s+hello-\S+\s+\S+\s+rendered\s+would be revision 1$", result.stdout, re.MULTILINE)
    assert result.stdout.count("  TOKEN: '***'") == 5  # each release's values, hello-world's Secrets (a and c)
    assert "dry-run-secret-value" not in result.stdout + result.stderr
    assert "dry run: nothing changed in the cluster\ndry run of staging:\n" in result.stdout


def test_a_dry_run_of_an_environment_goes_on_after_a_failure_but_not_to_what_needs_it(cluster):
    """It stopped at the first failure, the other releases `not started`: one dry run did not show all that fails."""
    three_releases(cluster, set={"config": "not a mapping"})  # b's template cannot render it
    result = invoke(cluster.project, "release.deploy", "--env", "staging", "--dry-run", "--parallel", "1",
                    env=cluster.env, check=False)
    assert result.returncode == 1
    assert re.search(r"^a\s+hello-world-0\.1\.0\s+\S+\s+skipped\s+b failed$", result.stdout, re.MULTILINE)
    assert re.search(r"^b\s+hello-api-0\.1\.0\s+\S+\s+failed\s+", result.stdout, re.MULTILINE)
    assert re.search(r"^c\s+hello-world-0\.1\.0\s+\S+\s+rendered\s+would be revision 1$", result.stdout, re.MULTILINE)


def test_list_shows_an_environments_releases_though_invoke_yaml_deploys_none_there(cluster):
    """An environment no configured release is deployed to (a new one, a namespace others deploy into): its listing
    shows what is installed there, not an error."""
    run(cluster, "release.deploy", "--release", "hello-world")
    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["environments"]["qa"] = dict(config["release"]["environments"]["staging"])  # its namespace
    for release in config["release"]["releases"].values():
        release["environments"] = ["staging", "production"]
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    listed = invoke(cluster.project, "release.list", "--env", "qa", "--output", "json", env=cluster.env)  # staging's
    assert [(r["release"], r["namespace"], r["configured"]) for r in json.loads(listed.stdout)] == [
        ("hello-world", cluster.namespaces["staging"], False)]
