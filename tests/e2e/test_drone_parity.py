"""`.drone.yml` runs here as Drone would run it: same steps, same order, same variables, same shell.

Drone substitutes ${VAR} in the file (with bash-like ${VAR:OFFSET:LENGTH}) and turns $$ into $; each
step's commands then run under /bin/sh -e in the workspace. A step that would not work in Drone (a
bash-ism, a missing secret, a wrong escape, a flag the task does not have) fails here.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT

BUILD = {"DRONE": "true", "CI": "true", "DRONE_COMMIT_SHA": "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
         "DRONE_COMMIT_AUTHOR": "alice", "DRONE_REPO_NAME": "charts", "DRONE_BUILD_NUMBER": "42",
         "DRONE_BUILD_LINK": "https://drone.example.com/acme/charts/42"}
TOKEN = "parity-token-8c1d"


def pipeline() -> dict:
    return yaml.safe_load((ROOT / ".drone.yml").read_text())


def drone_substitute(text: str, variables: dict[str, str]) -> str:
    """Drone's substitution of ${NAME}, ${NAME:OFFSET}, ${NAME:OFFSET:LENGTH}; $$ escapes a $."""
    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        value = variables.get(match.group(1), "")
        offset, length = match.group(2), match.group(3)
        value = value[int(offset or 0):]
        return value[:int(length)] if length else value
    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::(\d+)(?::(\d+))?)?\}", one, text)


def runs(step: dict, build: dict[str, str]) -> bool:
    """Drone's `when`: branch include/exclude, event, target."""
    when = step.get("when", {})
    for key, actual in (("branch", build["DRONE_BRANCH"]), ("event", build["DRONE_BUILD_EVENT"]),
                        ("target", build.get("DRONE_DEPLOY_TO", ""))):
        rule = when.get(key)
        if isinstance(rule, list) and actual not in rule:
            return False
        if isinstance(rule, dict) and (actual in rule.get("exclude", []) or
                                       ("include" in rule and actual not in rule["include"])):
            return False
    return True


def run_build(workspace: Path, build: dict[str, str], secrets: dict[str, str], extra: dict[str, str]) -> list[str]:
    """Every step of the pipeline that this build triggers, in order; returns their names."""
    ran = []
    for step in pipeline()["steps"]:
        if not runs(step, build):
            continue
        ran.append(step["name"])
        if step["name"] == "test":
            assert step["commands"] == ["bash .ci/run"]  # this very suite: not run again inside itself
            continue
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INVOKE_", "KUBECONFIG", "DRONE"))}
        env.update(build, **extra, PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
        for name, value in step.get("environment", {}).items():
            env[name] = secrets.get(value["from_secret"], "") if isinstance(value, dict) else str(value)
        script = "\n".join(drone_substitute(c, build) for c in step["commands"])
        result = subprocess.run(["/bin/sh", "-e", "-c", script], cwd=workspace, env=env, capture_output=True,
                                text=True, timeout=300, check=False)
        assert result.returncode == 0, f"step {step['name']} failed:\n{result.stdout}\n{result.stderr}"
        assert TOKEN not in result.stdout + result.stderr
    return ran


def test_master_publishes_branches_deploy_to_staging_and_promote_deploys_to_production(cluster, moto_endpoint):
    bucket = "helm-repo.example.com"
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    s3.create_bucket(Bucket=bucket)
    secrets = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_default_region": "us-east-1",
               "staging_api_server": cluster.emulator.url, "staging_kubernetes_token": TOKEN,
               "prod_api_server": cluster.emulator.url, "prod_kubernetes_token": TOKEN}
    extra = {"AWS_ENDPOINT_URL_S3": moto_endpoint}  # where "S3" is, here

    master = {**BUILD, "DRONE_BRANCH": "master", "DRONE_BUILD_EVENT": "push"}
    assert run_build(cluster.project, master, secrets, extra) == ["lint", "test", "publish"]
    index = yaml.safe_load(s3.get_object(Bucket=bucket, Key="index.yaml")["Body"].read())
    assert index["entries"]["hello-world"][0]["urls"] == ["https://helm-repo.example.com/hello-world-0.1.0.tgz"]

    branch = {**BUILD, "DRONE_BRANCH": "feature-x", "DRONE_BUILD_EVENT": "push"}
    assert run_build(cluster.project, branch, secrets, extra) == ["lint", "test", "deploy-staging"]
    assert cluster.image("staging") == "quay.io/honestbee/hello-drone-helm:feature-x-9f8e7d6"

    promote = {**BUILD, "DRONE_BRANCH": "feature-x", "DRONE_BUILD_EVENT": "promote", "DRONE_DEPLOY_TO": "production"}
    assert run_build(cluster.project, promote, secrets, extra) == ["lint", "test", "deploy-production"]
    assert cluster.image("production") == "quay.io/honestbee/hello-drone-helm:feature-x-9f8e7d6"
    assert cluster.deployment("production")["metadata"]["labels"]["helm.sh/chart"] == "hello-world-0.1.0"


def test_a_promote_to_another_target_deploys_nothing():
    build = {**BUILD, "DRONE_BRANCH": "feature-x", "DRONE_BUILD_EVENT": "promote", "DRONE_DEPLOY_TO": "qa"}
    assert [s["name"] for s in pipeline()["steps"] if runs(s, build)] == ["lint", "test"]


def test_every_secret_a_step_reads_is_named_for_its_environments_prefix():
    for step in pipeline()["steps"]:
        for name, value in step.get("environment", {}).items():
            if isinstance(value, dict):
                assert value["from_secret"] == name.lower()
        if "--env production" in " ".join(step.get("commands", [])):
            assert {"PROD_API_SERVER", "PROD_KUBERNETES_TOKEN"} <= set(step["environment"])
            assert "--yes" in step["commands"][-1]


def test_drone_substitution_and_dash_leave_the_image_tag_for_invoke_to_expand():
    command = drone_substitute("--set 'image.tag=$${DRONE_BRANCH}-$${DRONE_COMMIT_SHA:0:7}'", {"DRONE_BRANCH": "x"})
    assert command == "--set 'image.tag=${DRONE_BRANCH}-${DRONE_COMMIT_SHA:0:7}'"
    echoed = subprocess.run(["/bin/sh", "-c", f"echo {command}"], capture_output=True, text=True, check=True)
    assert echoed.stdout.strip() == "--set image.tag=${DRONE_BRANCH}-${DRONE_COMMIT_SHA:0:7}"


def test_pipeline_and_project_yaml_are_yamllint_clean():
    config = "{extends: default, rules: {line-length: {max: 140}, document-start: disable, truthy: {check-keys: false}}}"
    files = [".drone.yml", "invoke.yaml", *map(str, sorted((ROOT / "environments").glob("*.yaml")))]
    result = subprocess.run([sys.executable, "-m", "yamllint", "-s", "-d", config, *files], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
