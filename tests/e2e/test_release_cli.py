"""`invoke release.*` as a user types it, against Helm's real release code and the Kubernetes emulator."""

import json
import os
import signal
import subprocess
import sys
import time

import helm_python
import pytest

from tests.conftest import ROOT, invoke

IMAGE = "quay.io/honestbee/hello-drone-helm"


def deploy(cluster, *args, check=True, env=None):
    return invoke(cluster.project, "release.deploy", "--env", "staging", *args, env={**cluster.env, **(env or {})},
                  check=check)


def history(cluster, environment="staging"):
    out = invoke(cluster.project, "release.history", "--env", environment, "--json", env=cluster.env).stdout
    return [(r["revision"], r["status"]) for r in json.loads(out)]


def test_deploy_twice_then_rollback_returns_to_the_first_image(cluster):
    deploy(cluster, "--set", "image.tag=v1")
    assert cluster.image() == f"{IMAGE}:v1"
    deploy(cluster, "--set", "image.tag=v2")
    assert cluster.image() == f"{IMAGE}:v2"
    result = invoke(cluster.project, "release.rollback", "--env", "staging", env=cluster.env)
    assert "from revision 2 (deployed, hello-world-0.1.0) to revision 1" in result.stdout
    assert history(cluster) == [(1, "superseded"), (2, "superseded"), (3, "deployed")]
    assert cluster.image() == f"{IMAGE}:v1"


def test_deploy_records_chart_version_commit_and_build_link(cluster):
    deploy(cluster, "--set", "image.tag=v1", env={"DRONE_COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567",
                                                  "DRONE_COMMIT_AUTHOR": "alice",
                                                  "DRONE_BUILD_LINK": "https://drone.example.com/acme/charts/42"})
    rows = json.loads(invoke(cluster.project, "release.history", "--env", "staging", "--json", env=cluster.env).stdout)
    assert rows[0]["description"] == ("hello-world-0.1.0; commit 0123456789ab; by alice; "
                                      "https://drone.example.com/acme/charts/42")
    status = json.loads(invoke(cluster.project, "release.status", "--env", "staging", "--json", env=cluster.env).stdout)
    assert (status["status"], status["revision"], status["chart"]) == ("deployed", 1, "hello-world-0.1.0")
    assert "values" not in status and "manifest" not in status


def test_values_layer_release_file_then_environment_file_then_values_then_set(cluster, tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("replicaCount: 4\nimage:\n  tag: from-file\n  pullPolicy: Always\n")
    deploy(cluster, "--values", str(mine), "--set", "image.tag=from-set")
    spec = cluster.deployment()["spec"]
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == f"{IMAGE}:from-set"  # --set beats --values
    assert container["imagePullPolicy"] == "Always"  # --values beats the chart default
    assert spec["replicas"] == 4  # --values beats environments/staging.yaml


def test_ci_variables_expand_in_set_like_the_articles_image_tag(cluster):
    deploy(cluster, "--set", "image.tag=${DRONE_BRANCH}-${DRONE_COMMIT_SHA:0:7}",
           env={"DRONE_BRANCH": "feature-x", "DRONE_COMMIT_SHA": "abcdef0123456789"})
    assert cluster.image() == f"{IMAGE}:feature-x-abcdef0"


def test_a_failed_upgrade_is_rolled_back_automatically(cluster):
    deploy(cluster, "--set", "image.tag=v1")
    cluster.emulator.break_image(f"{IMAGE}:crashloop")
    result = deploy(cluster, "--set", "image.tag=crashloop", "--timeout", "2s", check=False)
    assert result.returncode == 1
    assert "has been rolled back" in result.stderr and "now at revision 3 (deployed)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert history(cluster) == [(1, "superseded"), (2, "failed"), (3, "deployed")]
    assert cluster.image() == f"{IMAGE}:v1"


def test_rollback_skips_a_failed_revision_that_helm_rollback_would_pick(cluster):
    deploy(cluster, "--set", "image.tag=good")
    chart = str(cluster.project / "dist" / "repo" / "hello-world-0.1.0.tgz")
    cluster.emulator.break_image(f"{IMAGE}:bad")
    with cluster.helm() as helm:
        for _ in range(2):  # two failed upgrades, no automatic rollback (a plain `helm upgrade --wait`)
            with pytest.raises(helm_python.HelmError):
                helm.upgrade(chart, "hello-world", {"image": {"tag": "bad"}}, wait="watcher", timeout=1)
    assert history(cluster) == [(1, "deployed"), (2, "failed"), (3, "failed")]
    result = invoke(cluster.project, "release.rollback", "--env", "staging", env=cluster.env)
    assert "from revision 3 (failed" in result.stdout and "to revision 1" in result.stdout
    assert cluster.image() == f"{IMAGE}:good"


def kill_mid_deploy(cluster, tag, revision):
    """A Drone step killed while Helm waits: the release is left pending, as after a real SIGKILL."""
    cluster.emulator.break_image(f"{IMAGE}:{tag}")
    chart = str(cluster.project / "dist" / "repo" / "hello-world-0.1.0.tgz")
    action = "install" if revision == 1 else "upgrade"
    script = (
        "import helm_python as h\n"
        f"c = h.Config(kubeconfig_content={cluster.emulator.kubeconfig('staging')!r}, kube_context='staging', "
        f"namespace={cluster.namespaces['staging']!r})\n"
        f"c.{action}({chart!r}, 'hello-world', {{'image': {{'tag': {tag!r}}}}}, wait='watcher', timeout=120)\n"
    )
    pipeline = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    try:
        for _ in range(300):
            if f"sh.helm.release.v1.hello-world.v{revision}" in cluster.release_secrets():
                break
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        os.kill(pipeline.pid, signal.SIGKILL)
        pipeline.wait()


def test_a_release_stuck_in_pending_upgrade_is_refused_with_the_command_that_recovers_it(cluster):
    deploy(cluster, "--set", "image.tag=v1")
    kill_mid_deploy(cluster, "hangs", revision=2)
    assert history(cluster)[-1] == (2, "pending-upgrade")
    refused = deploy(cluster, "--set", "image.tag=v3", check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: release hello-world is pending-upgrade since 20")
    assert refused.stderr.strip().endswith(
        "(revision 2): another deploy is running, or one was interrupted; if none is running, "
        "recover with: invoke release.rollback --env staging --release hello-world")
    assert cluster.image() == f"{IMAGE}:hangs"  # nothing was deployed over it
    invoke(cluster.project, "release.rollback", "--env", "staging", "--release", "hello-world", env=cluster.env)
    assert cluster.image() == f"{IMAGE}:v1"
    deploy(cluster, "--set", "image.tag=v3")
    assert cluster.image() == f"{IMAGE}:v3"


def test_a_first_install_stuck_in_pending_install_is_recovered_by_uninstall(cluster):
    kill_mid_deploy(cluster, "never", revision=1)
    refused = deploy(cluster, check=False)
    assert refused.stderr.strip().endswith(
        "recover with: invoke release.uninstall --env staging --release hello-world (no earlier revision was deployed)")
    unconfirmed = invoke(cluster.project, "release.uninstall", "--env", "staging", env=cluster.env, check=False)
    assert unconfirmed.returncode == 1 and "pass --yes" in unconfirmed.stderr
    invoke(cluster.project, "release.uninstall", "--env", "staging", "--yes", env=cluster.env)
    assert cluster.release_secrets() == []
    deploy(cluster, "--set", "image.tag=v1")
    assert history(cluster) == [(1, "deployed")]


def test_rollback_in_a_protected_environment_needs_yes(cluster):
    for tag in ("v1", "v2"):
        invoke(cluster.project, "release.deploy", "--env", "production", "--yes", "--set", f"image.tag={tag}",
               env=cluster.env)
    refused = invoke(cluster.project, "release.rollback", "--env", "production", env=cluster.env, check=False)
    assert refused.returncode == 1 and "protected: pass --yes to roll back hello-world in production" in refused.stderr
    invoke(cluster.project, "release.rollback", "--env", "production", "--yes", env=cluster.env)
    assert cluster.image("production") == f"{IMAGE}:v1"


def test_ci_credentials_come_from_the_environments_prefix(cluster):
    env = {"KUBECONFIG": "/nonexistent", "STAGING_API_SERVER": cluster.emulator.url,
           "STAGING_KUBERNETES_TOKEN": "token-for-staging-only"}
    result = invoke(cluster.project, "release.deploy", "--env", "staging", "--set", "image.tag=ci", env=env)
    assert "(STAGING_API_SERVER + STAGING_KUBERNETES_TOKEN, namespace" in result.stdout
    assert cluster.image() == f"{IMAGE}:ci"


def test_a_missing_prefixed_credential_fails_and_unprefixed_ones_are_never_used(cluster):
    env = {"KUBECONFIG": "/nonexistent", "STAGING_API_SERVER": cluster.emulator.url,
           "API_SERVER": cluster.emulator.url, "KUBERNETES_TOKEN": "unprefixed"}
    result = invoke(cluster.project, "release.deploy", "--env", "staging", env=env, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: STAGING_KUBERNETES_TOKEN is not set (release.environments.staging."
                                    "secrets_prefix is STAGING)")
    assert cluster.release_secrets() == []


def test_protected_environment_without_yes_is_refused_when_not_on_a_terminal(cluster):
    result = invoke(cluster.project, "release.deploy", "--env", "production", env=cluster.env, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: environment production is protected: pass --yes to deploy "
                                            "hello-world 0.1.0 as hello-world to production (kubeconfig context")
    assert result.stderr.strip().endswith("(not on a terminal, so nobody can confirm)")
    assert cluster.release_secrets("production") == []
    invoke(cluster.project, "release.deploy", "--env", "production", "--yes", env=cluster.env)
    assert cluster.deployment("production")["spec"]["replicas"] == 3  # environments/production.yaml


def test_dry_run_renders_and_validates_but_changes_nothing(cluster):
    before = dict(cluster.emulator.store)
    result = deploy(cluster, "--dry-run", "--set", "image.tag=v9")
    assert f'image: "{IMAGE}:v9"' in result.stdout
    assert "dry run: nothing changed in the cluster" in result.stdout
    assert cluster.emulator.store == before


def test_diff_shows_the_changed_image_against_the_deployed_release(cluster):
    deploy(cluster, "--set", "image.tag=v1")
    out = invoke(cluster.project, "release.diff", "--env", "staging", "--set", "image.tag=v2", env=cluster.env).stdout
    assert f'-          image: "{IMAGE}:v1"' in out and f'+          image: "{IMAGE}:v2"' in out
    same = invoke(cluster.project, "release.diff", "--env", "staging", "--set", "image.tag=v1", env=cluster.env).stdout
    assert same.startswith("no changes")


def test_unknown_environment_and_bad_set_are_one_line_and_deploy_nothing(cluster):
    for args, message in [
        (("--env", "qa"), ("error: --env 'qa': no such environment in invoke.yaml (release.environments); "
                           "known: staging, production")),
        (("--env", "staging", "--set", "image.tag"), "error: --set 'image.tag': expected KEY=VALUE"),
        (("--env", "staging", "--version", "~9.0"), "error: --version: no version of hello-world satisfies '~9.0'"),
        (("--env", "staging", "--values", "nope.yaml"), "error: --values: "),
    ]:
        result = invoke(cluster.project, "release.deploy", *args, env=cluster.env, check=False)
        assert result.returncode == 1 and result.stderr.startswith(message), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert cluster.release_secrets() == []


def test_deploy_fetches_the_chart_from_the_private_s3_bucket(cluster, bucket):
    invoke(cluster.project, "repo.publish", "--url", bucket.url, env=bucket.env)
    result = deploy(cluster, "--url", bucket.url, "--set", "image.tag=from-s3", env=bucket.env)
    assert "deploying hello-world 0.1.0" in result.stdout
    assert cluster.image() == f"{IMAGE}:from-s3"


def test_a_package_whose_digest_differs_from_the_index_is_never_deployed(cluster):
    package = cluster.project / "dist" / "repo" / "hello-world-0.1.0.tgz"
    package.write_bytes(package.read_bytes()[:-10] + b"tampered!!")
    result = deploy(cluster, check=False)
    assert result.returncode == 1
    assert "hello-world-0.1.0.tgz: digest differs from index.yaml's" in result.stderr
    assert cluster.release_secrets() == []


def test_a_release_can_deploy_a_chart_folder_from_the_checkout(cluster):
    import yaml

    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["releases"]["hello-api"] = {"chart": "./charts/hello-api"}
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "hello-api", env=cluster.env)
    key = ("v1", "configmaps", cluster.namespaces["staging"], "hello-api-hello-api")
    assert cluster.emulator.store[key]["data"] == {"greeting": "hello"}


def test_status_shows_the_charts_notes_and_deploy_prints_them(cluster):
    deployed = deploy(cluster)
    assert "port-forward svc/hello-world-hello-world" in deployed.stdout
    status = invoke(cluster.project, "release.status", "--env", "staging", env=cluster.env)
    assert "port-forward svc/hello-world-hello-world" in status.stdout


def test_deploy_from_a_repository_served_over_http(cluster):
    from tasks.serve import serving

    with serving(cluster.project / "dist" / "repo") as server:
        url = f"http://127.0.0.1:{server.server_port}"
        deploy(cluster, "--url", url, "--set", "image.tag=over-http")
        refused = invoke(cluster.project, "repo.publish", "--url", url, check=False)
    assert cluster.image() == f"{IMAGE}:over-http"
    assert refused.returncode == 1 and "an HTTP repository is read only" in refused.stderr


def test_a_missing_namespace_is_named_or_created_when_the_environment_says_so(cluster):
    import yaml

    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["environments"]["staging"]["namespace"] = "brand-new-" + cluster.namespaces["staging"]
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    refused = deploy(cluster, check=False)
    assert refused.returncode == 1 and 'namespaces "brand-new-' in refused.stderr
    assert refused.stderr.strip().endswith("set release.environments.staging.create_namespace: true")
    config["release"]["environments"]["staging"]["create_namespace"] = True
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    deploy(cluster, "--set", "image.tag=fresh")
    namespace = config["release"]["environments"]["staging"]["namespace"]
    assert ("v1", "namespaces", None, namespace) in cluster.emulator.store
