"""`invoke release.*` as a user types it, against Helm's real release code and the Kubernetes emulator."""

import base64
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import helm_python
import pytest

from tests.conftest import ROOT, invoke
from tests.support.leaks import found

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
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", status["last_deployed"])  # to the second, as history
    assert status["last_deployed"] == rows[0]["updated"]


def test_status_reads_the_cluster_only_so_a_repository_it_does_not_need_cannot_fail_it(cluster):
    import yaml

    deploy(cluster, "--set", "image.tag=v1")
    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["environments"]["staging"]["verify_keyring"] = str(cluster.project / "moved.gpg")
    config["repo"] = {"url": "oci://127.0.0.1:9/charts"}  # a registry: Helm's SDK here checks no signature there
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    status = json.loads(invoke(cluster.project, "release.status", "--env", "staging", "--json", env=cluster.env).stdout)
    assert (status["status"], status["revision"]) == ("deployed", 1)
    refused = deploy(cluster, check=False)  # a deploy does need it, and says so
    assert refused.returncode == 1 and "verify_keyring is checked for folder and S3 repositories" in refused.stderr


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


def test_a_branch_name_cannot_inject_values_through_a_ci_variable(cluster):
    branch = "feat,replicaCount=9,image.repository=evil.example/x"  # a branch name may hold , = . [ { \\
    result = deploy(cluster, "--set", "image.tag=${DRONE_BRANCH}-${DRONE_COMMIT_SHA:0:7}", "--dry-run", "--output",
                    "json", env={"DRONE_BRANCH": branch, "DRONE_COMMIT_SHA": "abcdef0123456789"})
    values = json.loads(result.stdout)["values"]
    assert values == {"image": {"repository": IMAGE, "tag": f"{branch}-abcdef0"}, "replicaCount": 1}


def test_drones_substitution_forms_expand_in_set_flags_and_invoke_yaml_as_in_a_pipeline(cluster):
    import yaml

    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["releases"]["hello-world"]["set"] = {"podAnnotations.branch": "${DRONE_BRANCH/\\//-}"}
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    build = {"DRONE_TAG": "v1.2.3", "DRONE_BRANCH": "feature/login"}
    for flag, tag in [("image.tag=${DRONE_TAG##v}", "1.2.3"), ("image.tag=${DRONE_TAG:-latest}", "v1.2.3"),
                      ("image.tag=${DRONE_TAG^^}", "V1.2.3"), ("image.tag=$DRONE_TAG", "v1.2.3"),
                      ("image.tag=${DRONE_BRANCH//\\//-}-${DRONE_PR:-0}", "feature-login-0")]:
        result = deploy(cluster, "-r", "hello-world", "-n", "-o", "json", "-s", flag, env=build)
        values = json.loads(result.stdout)["values"]
        assert (values["image"]["tag"], values["podAnnotations"]) == (tag, {"branch": "feature-login"}), flag
    refused = deploy(cluster, "-n", "-s", "image.tag=${DRONE_TAG:0:-2}", env=build, check=False)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == ("error: --set image.tag=${DRONE_TAG:0:-2}: ${DRONE_TAG:0:-2}: a negative length makes "
                              "Drone's substitution fail; use ${DRONE_TAG%GLOB} to cut the end\n")


def test_set_in_invoke_yaml_keeps_the_types_helms_yaml_gives_so_a_quoted_number_stays_text(cluster):
    import yaml

    path = cluster.project / "invoke.yaml"
    config = yaml.safe_load(path.read_text())
    config["release"]["releases"]["hello-world"]["set"] = {
        "image.tag": "2024", "podAnnotations.count": 2, "podAnnotations.note": "a,b", "podAnnotations.list": "{x,y}",
        "podAnnotations.flag": "true", "podAnnotations.build": "${DRONE_TAG##v}"}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert "image.tag: '2024'" in path.read_text()
    values = json.loads(deploy(cluster, "-n", "-o", "json", env={"DRONE_TAG": "v1.2.3"}).stdout)["values"]
    assert values["image"]["tag"] == "2024"
    assert values["podAnnotations"] == {"count": 2, "note": "a,b", "list": "{x,y}", "flag": "true", "build": "1.2.3"}
    path.write_text(path.read_text().replace("image.tag: '2024'", "image.tag: 2024-01-01"))  # text, as in Helm's YAML
    dated = json.loads(deploy(cluster, "-n", "-o", "json", env={"DRONE_TAG": "v1.2.3"}).stdout)["values"]
    assert dated["image"]["tag"] == "2024-01-01"  # PyYAML had made it a date, which was refused
    path.write_text(path.read_text().replace("image.tag: 2024-01-01", "image.tag: .inf"))
    refused = deploy(cluster, "-n", check=False, env={"DRONE_TAG": "v1.2.3"})
    assert (refused.returncode, refused.stdout, cluster.release_secrets()) == (1, "", [])
    assert refused.stderr == ("error: release.releases.hello-world.set.image.tag is inf, which Helm cannot take (YAML "
                              "read it as a float); quote it in invoke.yaml to make it text\n")


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


def test_an_uninstall_the_api_server_stops_half_way_is_named_then_finished(cluster):
    """Helm marks the release uninstalling before it deletes anything; when the API server refuses a delete (RBAC),
    every later upgrade fails ("has no deployed releases"): the deploy is refused with the command that finishes it."""
    deploy(cluster)
    deployment = ("apps/v1", "deployments", cluster.namespaces["staging"], "hello-world-hello-world")
    cluster.emulator.forbid_delete(deployment)
    failed = invoke(cluster.project, "release.uninstall", "--env", "staging", "--yes", env=cluster.env, check=False)
    assert failed.returncode == 1 and 'deployments.apps "hello-world-hello-world" is forbidden' in failed.stderr
    refused = deploy(cluster, "--set", "image.tag=v2", check=False)
    assert refused.returncode == 1 and refused.stderr.strip().endswith(
        "(revision 1): an uninstall did not finish (what it could not delete is still there), or is running; if none "
        "is running, recover with: invoke release.uninstall --env staging --release hello-world (to finish it)")
    assert history(cluster) == [(1, "uninstalling")] and cluster.image() == f"{IMAGE}:latest"  # nothing deployed
    cluster.emulator.forbid_delete(deployment, forbidden=False)
    invoke(cluster.project, "release.uninstall", "--env", "staging", "--yes", env=cluster.env)
    assert cluster.release_secrets() == [] and deployment not in cluster.emulator.store
    deploy(cluster, "--set", "image.tag=v2")
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
    env = {"KUBECONFIG": "/nonexistent", **cluster.emulator.ci_env("STAGING", "token-for-staging-only")}
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


def test_a_values_file_is_read_as_helm_reads_it_and_what_helm_refuses_is_one_line(cluster, tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("db:\n  since: 2024-01-01\ncert: !!binary aGVsbG8=\nports:\n  1: one\n  true: two\n")
    shown = json.loads(deploy(cluster, "--values", str(mine), "--dry-run", "--output", "json").stdout)["values"]
    assert (shown["db"], shown["cert"], shown["ports"]) == ({"since": "2024-01-01"}, "hello", {"1": "one", "true": "two"})
    mine.write_text("db:\n  big: .inf\n")
    refused = deploy(cluster, "--values", str(mine), "--dry-run", check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (f"error: --values: {mine}: db.big is .inf, which Helm refuses (JSON has no infinity or "
                              "NaN); quote it to make it text, or write a number\n")


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


def test_a_set_that_would_set_nothing_or_that_helm_refuses_is_named_among_several(cluster):
    for args, message in [
        (("-s", "replicaCount=2", "-s", "a=1,=2"), ("error: --set 'a=1,=2': '=2' sets nothing (a part of its key is "
                                                   "empty, and Helm's parser skips it); use dotted keys like image.tag")),
        (("-s", ".a=1"), "error: --set '.a=1': '.a=1' sets nothing"),
        (("-s", "[0]=x"), "error: --set '[0]=x': '[0]=x' sets nothing"),
        (("-s", "replicaCount=2", "-s", "podAnnotations.note=a,b", "-s", "image.tag=v1"),
         "error: --set 'podAnnotations.note=a,b': key \"b\" has no value\n"),
    ]:
        result = deploy(cluster, *args, check=False)
        assert (result.returncode, result.stdout) == (1, "") and result.stderr.startswith(message), result.stderr
        assert len(result.stderr.splitlines()) == 1
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
    (cluster.project / "charts" / "hello-api").rename(cluster.project / "charts" / "api-next")  # a folder named
    config["release"]["releases"]["hello-api"] = {"chart": "./charts/api-next"}  # otherwise (as Drone's `chart: ./`)
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    again = invoke(cluster.project, "release.deploy", "--env", "staging", "--release", "hello-api", env=cluster.env)
    assert "deploying hello-api 0.1.0" in again.stdout and "api-next" not in again.stdout
    history = invoke(cluster.project, "release.history", "--env", "staging", "--release", "hello-api", "--json",
                     env=cluster.env)
    assert [r["description"].split(";")[0] for r in json.loads(history.stdout)] == ["hello-api-0.1.0"] * 2


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


def test_a_release_deployed_from_a_laptop_then_from_ci_upgrades_and_rolls_back(cluster):
    """Server-side apply names the field manager after the process (python3 on a laptop's `invoke`, python in a CI
    image's `python -m invoke`): each deploy must take the fields the chart sets from whichever manager holds them,
    or every deploy from the other place conflicts with the last one, and so does its rollback."""
    deploy(cluster, "--set", "image.tag=v1")
    elsewhere = [str(Path(sys.executable).with_name("python")), "-m", "invoke"]  # the venv's other name for it
    env = {**os.environ, **cluster.env, "CI": "true"}
    for args in (("release.deploy", "--set", "image.tag=v2"), ("release.rollback",)):
        done = subprocess.run([*elsewhere, args[0], "--env", "staging", *args[1:]], cwd=cluster.project, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    assert cluster.image() == f"{IMAGE}:v1"
    managers = {f["manager"] for f in cluster.deployment()["metadata"]["managedFields"]}
    assert managers == {Path(sys.executable).name, "python"}, managers  # two managers, no conflict between them


def test_a_change_kubernetes_cannot_make_in_place_is_refused_with_the_step_that_recovers_it(cluster):
    """A StatefulSet's volume claims cannot change: the API server's refusal, the release rolled back, and the
    command that gets past it; done, the same deploy goes through. A field no kind declares is refused too."""
    cluster.folder_release("db", {"values.yaml": "storage: 1Gi\nextra: ''\n", "templates/sts.yaml": (
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: db\n"
        "  {{- .Values.extra | nindent 2 }}\n  selector: {matchLabels: {app: db}}\n  template:\n"
        "    metadata: {labels: {app: db}}\n    spec: {containers: [{name: db, image: postgres}]}\n"
        "  volumeClaimTemplates:\n    - metadata: {name: data}\n"
        "      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: {{ .Values.storage }}}}}\n")})
    namespace = cluster.namespaces["staging"]
    deploy(cluster, "--release", "db")
    checked = deploy(cluster, "--release", "db", "--set", "storage=5Gi", "--dry-run", check=False)
    assert checked.returncode == 1 and checked.stderr.startswith(
        'error: dry run of db 0.1.0 as db: the API server refuses StatefulSet db: StatefulSet.apps "db" is invalid: '
        "spec: Forbidden: updates to statefulset spec for fields other than ")
    assert "the deploy would fail: nothing changed in the cluster; Kubernetes cannot change that field" in checked.stderr
    shown = invoke(cluster.project, "release.history", "--env", "staging", "--release", "db", "--json", env=cluster.env)
    assert [(r["revision"], r["status"]) for r in json.loads(shown.stdout)] == [(1, "deployed")]
    refused = deploy(cluster, "--release", "db", "--set", "storage=5Gi", check=False)
    assert refused.returncode == 1
    assert 'StatefulSet.apps "db" is invalid: spec: Forbidden: updates to statefulset spec' in refused.stderr
    assert refused.stderr.strip().endswith(
        "the release is now at revision 3 (deployed); Kubernetes cannot change that field of a StatefulSet in place: "
        f"delete StatefulSet db but not its pods and volumes (kubectl --namespace {namespace} delete statefulset db "
        "--cascade=orphan), then deploy again")
    key = ("apps/v1", "statefulsets", namespace, "db")
    cluster.emulator.delete(key, orphan=True)
    deploy(cluster, "--release", "db", "--set", "storage=5Gi")
    claims = cluster.emulator.store[key]["spec"]["volumeClaimTemplates"]
    assert claims[0]["spec"]["resources"]["requests"]["storage"] == "5Gi"
    for dry_run in (("--dry-run",), ()):
        typo = deploy(cluster, "--release", "db", "--set", "storage=5Gi", "--set", "extra=replica: 2", *dry_run,
                      check=False)
        assert typo.returncode == 1 and ".spec.replica: field not declared in schema" in typo.stderr
    assert "replica" not in cluster.emulator.store[key]["spec"]


def configure(cluster, change):
    """Edit the project's invoke.yaml: change(config) mutates the loaded mapping."""
    import yaml

    path = cluster.project / "invoke.yaml"
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_no_wait_returns_while_the_deployment_is_still_unready(cluster):
    deploy(cluster, "--set", "image.tag=v1")
    cluster.emulator.break_image(f"{IMAGE}:never-ready")
    ready = json.loads(invoke(cluster.project, "release.status", "--env", "staging", "--json", env=cluster.env).stdout)
    namespace = cluster.namespaces["staging"]
    assert ready["workloads"] == [{"kind": "Deployment", "name": "hello-world-hello-world", "namespace": namespace,
                                   "ready": "1/1", "state": "ready"}]
    result = deploy(cluster, "--set", "image.tag=never-ready", "--no-wait")  # a waiting deploy would fail here
    assert "not waiting (--no-wait)" in result.stdout and "rolls back a failure only when it waits" in result.stdout
    assert "whether its workloads become ready, release.status shows" in result.stdout
    assert cluster.image() == f"{IMAGE}:never-ready"
    assert cluster.deployment()["status"]["unavailableReplicas"] == 1  # returned while the pods are not ready
    assert history(cluster) == [(1, "superseded"), (2, "deployed")]
    status = invoke(cluster.project, "release.status", "--env", "staging", "--json", env=cluster.env).stdout
    assert (json.loads(status)["status"], json.loads(status)["workloads"]) == ("deployed", [
        {"kind": "Deployment", "name": "hello-world-hello-world", "namespace": namespace, "ready": "0/1",
         "state": "not ready"}])
    shown = invoke(cluster.project, "release.status", "--env", "staging", env=cluster.env).stdout
    assert re.search(rf"Deployment\s+hello-world-hello-world\s+{namespace}\s+0/1\s+not ready", shown), shown


def test_history_stays_at_the_limit_through_deploys_and_rollbacks(cluster):
    configure(cluster, lambda c: c["release"]["environments"]["staging"].update(history_max=3))
    for tag in ("v1", "v2", "v3", "v4", "v5"):
        deploy(cluster, "--set", f"image.tag={tag}")
    assert history(cluster) == [(3, "superseded"), (4, "superseded"), (5, "deployed")]
    invoke(cluster.project, "release.rollback", "--env", "staging", env=cluster.env)
    assert history(cluster) == [(4, "superseded"), (5, "superseded"), (6, "deployed")]
    assert cluster.image() == f"{IMAGE}:v4"
    deploy(cluster, "--set", "image.tag=v6", "--history-max", "2")
    assert history(cluster) == [(6, "superseded"), (7, "deployed")]
    assert len(cluster.release_secrets()) == 2


def test_rollback_after_an_automatic_rollback_goes_to_the_older_content(cluster):
    deploy(cluster, "--set", "image.tag=v1")
    deploy(cluster, "--set", "image.tag=v2")
    cluster.emulator.break_image(f"{IMAGE}:v3")
    assert deploy(cluster, "--set", "image.tag=v3", "--timeout", "2s", check=False).returncode == 1
    assert history(cluster) == [(1, "superseded"), (2, "superseded"), (3, "failed"), (4, "deployed")]
    assert cluster.image() == f"{IMAGE}:v2"  # Helm's automatic rollback: revision 4 runs what 2 ran
    result = invoke(cluster.project, "release.rollback", "--env", "staging", env=cluster.env)
    assert "from revision 4 (deployed, hello-world-0.1.0) to revision 1" in result.stdout
    assert cluster.image() == f"{IMAGE}:v1"


def test_rolling_back_to_a_failed_revision_needs_allow_failed(cluster):
    deploy(cluster, "--set", "image.tag=v1")
    cluster.emulator.break_image(f"{IMAGE}:crash")
    deploy(cluster, "--set", "image.tag=crash", "--timeout", "2s", check=False)
    refused = invoke(cluster.project, "release.rollback", "--env", "staging", "--revision", "2", env=cluster.env,
                     check=False)
    assert refused.returncode == 1
    assert refused.stderr == ("error: --revision 2 is failed: rolling back to it deploys what did not work; pass "
                              "--allow-failed to do it anyway\n")
    assert cluster.image() == f"{IMAGE}:v1" and len(history(cluster)) == 3
    done = invoke(cluster.project, "release.rollback", "--env", "staging", "--revision", "2", "--allow-failed",
                  "--no-wait", "--output", "json", env=cluster.env)
    assert json.loads(done.stdout)["to"] == {"revision": 2, "status": "failed", "chart": "hello-world-0.1.0"}
    assert cluster.image() == f"{IMAGE}:crash"


def test_diff_says_not_installed_and_its_detailed_exitcode_gates_a_pipeline(cluster):
    fresh = invoke(cluster.project, "release.diff", "--env", "staging", "--detailed-exitcode", env=cluster.env,
                   check=False)
    assert fresh.returncode == 2
    assert fresh.stdout.startswith("--- hello-world (not installed)\n+++ hello-world (this deploy)\n")
    deploy(cluster, "--set", "image.tag=v1")
    same = invoke(cluster.project, "release.diff", "--env", "staging", "--set", "image.tag=v1", "--detailed-exitcode",
                  env=cluster.env)
    assert same.returncode == 0 and same.stdout.startswith("no changes")
    changed = invoke(cluster.project, "release.diff", "--env", "staging", "--set", "image.tag=v2",
                     "--detailed-exitcode", "--output", "json", env=cluster.env, check=False)
    assert changed.returncode == 2 and changed.stderr == ""
    found = json.loads(changed.stdout)
    assert (found["changed"], found["installed"], found["revision"]) == (True, True, 1)
    assert found["diff"].startswith("--- hello-world (revision 1, deployed)\n")
    assert invoke(cluster.project, "release.diff", "--env", "staging", "--set", "image.tag=v2",
                  env=cluster.env).returncode == 0  # without the flag, changes are no failure


def test_a_release_over_the_1_mib_secret_limit_is_refused_before_anything_is_sent(cluster, tmp_path):
    import yaml

    big = tmp_path / "big.yaml"
    big.write_text(yaml.safe_dump({"blob": os.urandom(1_600_000).hex(), "small": "x"}))  # 3.2 MB, as in the issue
    requests = len(cluster.emulator.emulator.log)
    result = deploy(cluster, "--values", str(big), check=False)
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: release hello-world: Helm would store hello-world 0.1.0 with these "
                                    "values as a Secret of about 2.")
    assert "over Kubernetes' 1 MiB limit for one; nothing was sent. Largest: values blob (3.1 MiB)," in result.stderr
    assert cluster.emulator.emulator.log[requests:] == []  # the cluster was not even asked
    deploy(cluster, "--values", str(big), "--set", "blob=gone")  # without the blob, it fits


def test_set_json_set_string_and_set_file_layer_in_helms_order(cluster, tmp_path):
    greeting = tmp_path / "greeting.txt"
    greeting.write_text("hello, from a file\nwith: two lines\n")
    deploy(cluster, "--set-json", 'image={"tag":"from-json","pullPolicy":"Always"}', "--set", "image.tag=from-set",
           "--set-string", "replicaCount=2", "--set-file", f"secretEnv.GREETING={greeting}")
    container = cluster.deployment()["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container["imagePullPolicy"]) == (f"{IMAGE}:from-set", "Always")  # --set over JSON
    assert cluster.deployment()["spec"]["replicas"] == 2
    with cluster.helm() as helm:
        given = helm.get_values("hello-world")
    assert given["replicaCount"] == "2"  # --set-string: Helm got text, not the number
    secret = cluster.emulator.store[("v1", "secrets", cluster.namespaces["staging"], "hello-world-hello-world")]
    assert base64.b64decode(secret["data"]["GREETING"]).decode() == greeting.read_text()
    for flag, value, message in [
        ("--set-json", "image={bad", "error: --set-json 'image={bad': invalid character 'b' looking for beginning of "),
        ("--set-file", "a=missing.txt", "error: --set-file 'a=missing.txt': missing.txt not found"),
        ("--set-file", "nothing", "error: --set-file 'nothing': expected KEY=FILE"),
    ]:
        refused = deploy(cluster, flag, value, check=False)
        assert refused.returncode == 1 and refused.stderr.startswith(message) and len(refused.stderr.splitlines()) == 1
    assert history(cluster) == [(1, "deployed")]


def toolkit_chart(cluster, test_image="busybox:1.36"):
    """A local chart with crds/ and a Helm test hook, deployed as the release `toolkit`."""
    cluster.folder_release("toolkit", {
        "values.yaml": f"testImage: {test_image}\n",
        "crds/widgets.yaml": (
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
            "  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n"
            "  names: {plural: widgets, singular: widget, kind: Widget}\n"
            "  versions:\n    - name: v1\n      served: true\n      storage: true\n"
            "      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n"),
        "templates/widget.yaml": (
            "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  size: 3\n"),
        "templates/tests/check.yaml": (
            'apiVersion: v1\nkind: Pod\nmetadata:\n  name: "{{ .Release.Name }}-check"\n  annotations:\n'
            '    "helm.sh/hook": test\nspec:\n  restartPolicy: Never\n  containers:\n'
            '    - name: check\n      image: "{{ .Values.testImage }}"\n'
            '      command: [wget, -qO-, "http://widgets"]\n'),
    })


def test_a_first_installs_dry_run_renders_what_needs_the_charts_own_crds_without_the_cluster(cluster):
    """A server dry run builds every object, but a first install creates the chart's crds/ before the rest, so the
    cluster does not serve their kinds yet: Helm refuses to build those objects. The dry run says so and renders
    without the cluster; the install itself then works. (A kind of its own: CRDs outlive a test's namespaces.)"""
    group = f"g{uuid.uuid4().hex[:8]}.example.com"
    chart = cluster.folder_release("gadgets", {
        "crds/gadgets.yaml": (
            f"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.{group}\n"
            f"spec:\n  group: {group}\n  scope: Namespaced\n"
            "  names: {plural: gadgets, singular: gadget, kind: Gadget}\n"
            "  versions:\n    - name: v1\n      served: true\n      storage: true\n"
            "      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n"),
        "templates/gadget.yaml": (
            f"apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: {{{{ .Release.Name }}}}\nspec:\n  size: 3\n"),
        "templates/cm.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gadgets\n"
                              "data: {a: '1'}\n{{ .Values.extra | default \"\" }}\n"),
    })
    gadget = (chart / "templates" / "gadget.yaml").read_text()
    (chart / "templates" / "gadget.yaml").write_text(gadget.replace("kind: Gadget", "kind: Gizmo"))
    unknown = deploy(cluster, "--release", "gadgets", "--dry-run", check=False)  # not a kind of its crds/: refused
    assert unknown.returncode == 1 and unknown.stderr.strip().endswith(
        f'no matches for kind "Gizmo" in version "{group}/v1" ensure CRDs are installed first; nothing changed in the '
        "cluster")
    (chart / "templates" / "gadget.yaml").write_text(gadget)
    dry = deploy(cluster, "--release", "gadgets", "--dry-run")
    assert dry.stderr == (
        "warning: helm: This chart or one of its subcharts contains CRDs. Rendering may fail or contain inaccuracies.\n"
        "warning: gadgets: a first install creates gadgets-0.1.0's crds/ before the rest, and the cluster does not "
        "serve what they define yet, so Helm cannot build those objects in a dry run: rendered without the cluster "
        "(as helm template does); the API server checks the other objects\n"
        f"warning: gadgets: not checked by the API server: Gadget gadgets (the cluster does not serve Gadget in "
        f"{group}/v1 yet)\n")
    typo = deploy(cluster, "--release", "gadgets", "--dry-run", "--set", "extra=bogus: 1", check=False)
    assert typo.returncode == 1 and "refuses ConfigMap gadgets: " in typo.stderr and ".bogus: field not declared" \
        in typo.stderr
    assert f"apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: gadgets\n" in dry.stdout
    assert not [name for name in cluster.release_secrets() if ".gadgets." in name]  # nothing installed, nor the CRD
    assert ("apiextensions.k8s.io/v1", "customresourcedefinitions", None, f"gadgets.{group}") not in cluster.emulator.store
    deploy(cluster, "--release", "gadgets")
    assert cluster.emulator.store[(f"{group}/v1", "gadgets", cluster.namespaces["staging"], "gadgets")]
    again = deploy(cluster, "--release", "gadgets", "--dry-run", "--set", "x=1")  # served now: the server builds it
    assert again.stderr == ""


def test_diff_shows_the_crds_a_first_install_creates_and_says_an_upgrade_leaves_them(cluster):
    toolkit_chart(cluster)
    fresh = invoke(cluster.project, "release.diff", "--env", "staging", "--release", "toolkit", env=cluster.env).stdout
    assert "+# Source: toolkit/crds/widgets.yaml\n+apiVersion: apiextensions.k8s.io/v1\n" in fresh
    assert fresh.index("+kind: CustomResourceDefinition") < fresh.index("+kind: Widget")  # Helm creates CRDs first
    deploy(cluster, "--release", "toolkit")
    assert cluster.emulator.store[("example.com/v1", "widgets", cluster.namespaces["staging"], "toolkit")]
    again = invoke(cluster.project, "release.diff", "--env", "staging", "--release", "toolkit", env=cluster.env).stdout
    assert again.splitlines() == [
        "no changes: toolkit already runs what toolkit-0.1.0 renders",
        ("note: toolkit-0.1.0 has crds/, which Helm creates on a first install only: an upgrade leaves the cluster's "
        "CRDs as they are")]


def test_diff_shows_a_change_only_a_hook_runs_and_leaves_the_tests_out(cluster):
    """A value only a pre-upgrade migration Job uses: `no changes`, exit 0 with --detailed-exitcode, and the deploy
    then ran the new migration (helm-diff shows hooks; a pipeline that deploys on exit 2 skipped it)."""
    cluster.folder_release("mig", {
        "values.yaml": "migrate: v1\ntestImage: busybox:1.36\n",
        "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mig\ndata:\n  a: b\n",
        "templates/migrate.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mig-migrate\n  annotations:\n"
            "    helm.sh/hook: pre-install,pre-upgrade\ndata:\n  step: {{ .Values.migrate | quote }}\n"
            "  token: {{ .Values.token | default \"none\" | b64enc | quote }}\n---\n"  # Helm stores a Secret first
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: mig-seed\n  annotations:\n"
            "    helm.sh/hook: pre-install,pre-upgrade\nstringData:\n  seed: fixed\n"),
        "templates/tests/check.yaml": (
            'apiVersion: v1\nkind: Pod\nmetadata:\n  name: mig-check\n  annotations:\n    "helm.sh/hook": test\n'
            'spec:\n  restartPolicy: Never\n  containers:\n    - name: check\n'
            '      image: "{{ .Values.testImage }}"\n'),
    })
    deploy(cluster, "--release", "mig")

    def diff(*args: str) -> subprocess.CompletedProcess[str]:
        return invoke(cluster.project, "release.diff", "--env", "staging", "--release", "mig", "--detailed-exitcode",
                      *args, env=cluster.env, check=False)

    same = diff()
    assert (same.returncode, same.stdout.splitlines()[0]) == (0, "no changes: mig already runs what mig-0.1.0 renders")
    assert diff("--set", "testImage=busybox:1.37").returncode == 0  # a test is no change to the release
    changed = diff("--set", "migrate=v2")
    assert changed.returncode == 2, changed.stderr
    assert '\n data:\n-  step: "v1"\n+  step: "v2"\n' in changed.stdout
    secret = {**cluster.env, "MIG_TOKEN": "Mig-Hook-Token-8841"}  # a secret only the hook uses: masked both sides
    deploy(cluster, "--release", "mig", "--set-secret", "token=MIG_TOKEN", env=secret)
    rotated = invoke(cluster.project, "release.diff", "--env", "staging", "--release", "mig", "--detailed-exitcode",
                     "--set-secret", "token=MIG_TOKEN", env={**secret, "MIG_TOKEN": "Mig-Hook-Token-9952"}, check=False)
    assert rotated.returncode == 2 and "token: " in rotated.stdout
    assert not found(rotated.stdout + rotated.stderr, {"old": "Mig-Hook-Token-8841", "new": "Mig-Hook-Token-9952"})


def test_release_test_runs_the_charts_test_hooks(cluster):
    toolkit_chart(cluster, test_image="busybox:fails")
    deploy(cluster, "--release", "toolkit")
    passed = invoke(cluster.project, "release.test", "--env", "staging", "--release", "toolkit", env=cluster.env)
    assert passed.stdout == "tests of toolkit (revision 1) passed\n"
    cluster.emulator.break_image("busybox:fails")  # the test pod now exits non-zero
    failed = invoke(cluster.project, "release.test", "--env", "staging", "--release", "toolkit", "--output", "json",
                    env=cluster.env, check=False)
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("error: tests of toolkit (revision 1) failed: helm test toolkit")
    assert "toolkit-check" in failed.stderr and len(failed.stderr.splitlines()) == 1
    deploy(cluster, "--release", "hello-world")  # no test hooks: it said `tests of hello-world (revision 1) passed`
    untested = invoke(cluster.project, "release.test", "--env", "staging", "--release", "hello-world", env=cluster.env)
    assert untested.stdout == ("hello-world (revision 1) has no tests: its chart has no test hooks (helm.sh/hook: "
                               "test)\n")


def on_a_terminal(cluster, *args, answer, stdout_to_file=False):
    """`invoke ARGS` with a terminal as stdin and stderr (stdout too, unless it goes to a file), `answer` typed
    once its question shows: (what the terminal showed, stdout when it went to a file, exit code)."""
    import pty

    primary, secondary = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=cluster.project,
                               env={**os.environ, **cluster.env, "CI": "true"}, stdin=secondary,
                               stdout=subprocess.PIPE if stdout_to_file else secondary, stderr=secondary)
    os.close(secondary)
    shown, answered, deadline = b"", False, time.monotonic() + 60
    while True:
        if not answered and shown.endswith(b"[y/N] "):  # the question is the last thing written before it reads
            os.write(primary, answer)
            answered = True
        if not select.select([primary], [], [], max(deadline - time.monotonic(), 0))[0]:
            process.kill()  # never asked on the terminal
            break
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the process has closed the terminal
            break
        shown += chunk
    out, _ = process.communicate()
    os.close(primary)
    assert answered, shown.decode()
    return shown.decode().replace("\r\n", "\n"), (out or b"").decode(), process.returncode


def test_a_protected_deploy_on_a_terminal_shows_the_diff_before_it_asks(cluster):
    args = ("release.deploy", "--env", "production", "--set", "image.tag=v7")
    shown, _, code = on_a_terminal(cluster, *args, answer=b"n\n")
    assert shown.startswith("--- hello-world (not installed)\n+++ hello-world (this deploy)\n")
    assert f'+          image: "{IMAGE}:v7"' in shown and "+  replicas: 3" in shown
    deploying = (f"hello-world 0.1.0 as hello-world to production (kubeconfig context production, namespace "
                 f"{cluster.namespaces['production']})")
    assert shown.endswith(f"Deploy {deploying}? [y/N] n\nerror: deploy {deploying}: not confirmed; nothing changed\n")
    assert code == 1 and cluster.release_secrets("production") == []
    _, _, code = on_a_terminal(cluster, *args, answer=b"y\n")
    assert code == 0 and cluster.image("production") == f"{IMAGE}:v7"


def test_the_question_goes_to_the_terminal_when_stdout_holds_the_json_document(cluster):
    for tag in ("v1", "v2"):
        shown, out, code = on_a_terminal(cluster, "release.deploy", "-e", "production", "-o", "json", "-s",
                                         f"image.tag={tag}", answer=b"y\n", stdout_to_file=True)
        assert code == 0 and "Deploy hello-world 0.1.0 as hello-world to production" in shown
        assert (json.loads(out)["revision"], cluster.image("production")) == (int(tag[1]), f"{IMAGE}:{tag}")
    shown, out, code = on_a_terminal(cluster, "release.rollback", "-e", "production", "-o", "json", answer=b"y\n",
                                     stdout_to_file=True)
    assert code == 0 and "Roll back hello-world in production? [y/N] " in shown
    assert json.loads(out)["to"]["revision"] == 1 and cluster.image("production") == f"{IMAGE}:v1"
    shown, out, code = on_a_terminal(cluster, "release.uninstall", "-e", "production", "-o", "yaml", answer=b"y\n",
                                     stdout_to_file=True)
    assert code == 0 and "Uninstall hello-world from production? [y/N] " in shown
    assert out.endswith("uninstalled: true\n") and "?" not in out
    assert cluster.release_secrets("production") == []


def test_ctrl_d_at_the_question_is_a_no_and_changes_nothing(cluster):
    deploying = (f"hello-world 0.1.0 as hello-world to production (kubeconfig context production, namespace "
                 f"{cluster.namespaces['production']})")
    for task, what in [("release.deploy", f"deploy {deploying}"), ("release.rollback", "roll back hello-world in production"),
                       ("release.uninstall", "uninstall hello-world from production")]:
        shown, _, code = on_a_terminal(cluster, task, "--env", "production", answer=b"\x04")
        assert code == 1
        assert shown.endswith(f"? [y/N] \nerror: {what}: not confirmed; nothing changed\n")
    assert cluster.release_secrets("production") == []


def test_version_checkout_deploys_the_version_this_checkout_published_not_the_newest(cluster):
    """A promote of an older build: its checkout holds hello-world 0.1.0 while master has since published 0.1.1.
    `--version checkout` deploys 0.1.0 from the repository; a checkout whose chart changed without a version bump
    is warned of; a chart the checkout does not hold is one line."""
    chart = cluster.project / "charts" / "hello-world"
    original = (chart / "Chart.yaml").read_text()
    (chart / "Chart.yaml").write_text(original.replace("version: 0.1.0", "version: 0.1.1"))
    invoke(cluster.project, "repo.publish", env=cluster.env)
    (chart / "Chart.yaml").write_text(original)  # the promoted build's commit
    promoted = deploy(cluster, "--version", "checkout", "--set", "image.tag=v1")
    assert "deploying hello-world 0.1.0 as hello-world" in promoted.stdout and promoted.stderr == ""
    assert json.loads(invoke(cluster.project, "release.status", "--env", "staging", "--json",
                             env=cluster.env).stdout)["chart"] == "hello-world-0.1.0"
    assert deploy(cluster, "--set", "image.tag=v1").stdout.startswith("deploying hello-world 0.1.1")  # the newest ~0.1
    (chart / "templates" / "extra.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n")
    changed = deploy(cluster, "--version", "checkout", "--set", "image.tag=v1", "--dry-run")
    assert "warning: hello-world: hello-world 0.1.0 in file://" in changed.stderr
    assert "was built from other files than this checkout's charts/hello-world (changed without a version bump?): " \
           "deploying what the repository holds" in changed.stderr
    assert "ConfigMap" not in changed.stdout  # what the repository holds, not the checkout
    import shutil

    shutil.rmtree(chart)
    missing = deploy(cluster, "--version", "checkout", check=False)
    assert (missing.returncode, missing.stderr.strip()) == (1, (
        "error: --version checkout: release hello-world's chart hello-world is not one chart of this checkout's "
        "charts/ (its chart comes from elsewhere; give --version)"))
