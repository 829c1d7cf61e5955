"""`.drone.yml` runs here as Drone would run it: same steps, same order, same variables, same shell.

Drone substitutes ${...} in the raw file with its own library (github.com/drone/envsubst, built here from
Debian's package: tests/support/drone.py), then each step's commands run under /bin/sh -e in the workspace,
a fresh clone of the branch, with only what the image has on PATH. A step that would not work in Drone (a
bash-ism, a missing secret, a wrong escape, a flag the task does not have, a bare `invoke`) fails here.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scripts import preview_release
from tasks import environments
from tasks import values as vals
from tasks.errors import ToolError
from tests.conftest import ROOT, copy_project
from tests.support.drone import build_envsubst, substitute

BUILD = {"DRONE": "true", "CI": "true", "DRONE_COMMIT_SHA": "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
         "DRONE_COMMIT_AUTHOR": "alice", "DRONE_REPO_NAME": "charts", "DRONE_BUILD_NUMBER": "42",
         "DRONE_BUILD_LINK": "https://drone.example.com/acme/charts/42"}
TOKEN = "parity-token-8c1d"
IMAGE = "quay.io/honestbee/hello-drone-helm"
VENV = Path(sys.executable).parent.parent  # what `deps` installs: this project's own virtualenv
PIP_CACHE = "/root/.cache/pip"  # pip's cache in the python image (root's)


@pytest.fixture(scope="session")
def envsubst(tmp_path_factory):
    return build_envsubst(tmp_path_factory.mktemp("drone-envsubst"))


def pipeline(envsubst, build: dict[str, str]) -> dict:
    """The pipeline as Drone reads it for this build: the raw file substituted, then parsed."""
    return yaml.safe_load(substitute(envsubst, (ROOT / ".drone.yml").read_text(), build))


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


def clone(project: Path, target: Path) -> Path:
    """What Drone clones: the project with its scripts and CI files (the conftest copy has the runtime only)."""
    copy_project(target)
    for name in ("scripts", ".ci", ".drone.yml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    shutil.copy2(project / "invoke.yaml", target / "invoke.yaml")  # the test cluster's namespaces
    return target


def run_build(envsubst, workspace: Path, build: dict[str, str], secrets: dict[str, str],
              extra: dict[str, str], steps: list[dict] | None = None) -> list[str]:
    """Every step of the pipeline that this build triggers (or of `steps`), in order; returns their names."""
    ran = []
    for step in steps if steps is not None else pipeline(envsubst, build)["steps"]:
        if not runs(step, build):
            continue
        ran.append(step["name"])
        if step["name"] == "deps":  # pip would need PyPI: the workspace gets this project's installed .venv
            assert step["commands"][:2] == ["python3 -m venv .venv", ".venv/bin/pip install -q -r requirements.txt"]
            assert {"name": "pip-cache", "path": PIP_CACHE} in step["volumes"]
            if not (workspace / ".venv").exists():
                (workspace / ".venv").symlink_to(VENV)
            step = {**step, "commands": step["commands"][2:]}  # the rest runs as any step does
        if step["name"] == "test":
            assert step["commands"] == ["bash .ci/run"]  # this very suite: not run again inside itself
            assert {"name": "pip-cache", "path": PIP_CACHE} in step["volumes"]
            continue
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), **build, **extra}
        for name, value in step.get("environment", {}).items():
            env[name] = secrets.get(value["from_secret"], "") if isinstance(value, dict) else str(value)
        result = subprocess.run(["/bin/sh", "-e", "-c", "\n".join(step["commands"])], cwd=workspace, env=env,
                                capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, f"step {step['name']} failed:\n{result.stdout}\n{result.stderr}"
        assert TOKEN not in result.stdout + result.stderr
    return ran


def deployment(cluster, environment: str, release: str) -> dict:
    name = f"{release}-hello-world"[:63].rstrip("-")
    return cluster.emulator.store[("apps/v1", "deployments", cluster.namespaces[environment], name)]


def test_master_publishes_branches_get_their_own_previews_and_promote_deploys_to_production(
        cluster, moto_endpoint, envsubst, tmp_path):
    bucket = "helm-repo.example.com"
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    s3.create_bucket(Bucket=bucket)
    credentials = cluster.emulator.ci_env("CI", TOKEN)  # the cluster's address, an accepted token and its CA
    secrets = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_default_region": "us-east-1",
               **{f"{environment}_{name[3:].lower()}": value for name, value in credentials.items()
                  for environment in ("staging", "prod")}}
    extra = {"AWS_ENDPOINT_URL_S3": moto_endpoint}  # where "S3" is, here

    master = {**BUILD, "DRONE_BRANCH": "master", "DRONE_BUILD_EVENT": "push"}
    assert run_build(envsubst, clone(cluster.project, tmp_path / "master"), master, secrets, extra) == [
        "deps", "lint", "test", "publish"]
    index = yaml.safe_load(s3.get_object(Bucket=bucket, Key="index.yaml")["Body"].read())
    assert index["entries"]["hello-world"][0]["urls"] == ["https://helm-repo.example.com/hello-world-0.1.0.tgz"]
    published = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}

    feature = {**BUILD, "DRONE_BRANCH": "feature/login", "DRONE_BUILD_EVENT": "push"}
    checkout = clone(cluster.project, tmp_path / "feature")
    chart = checkout / "charts" / "hello-world" / "Chart.yaml"
    chart.write_text(chart.read_text().replace("version: 0.1.0", "version: 0.2.0"))  # the branch's own chart
    assert run_build(envsubst, checkout, feature, secrets, extra) == ["deps", "lint", "test", "deploy-preview"]
    fix = {**BUILD, "DRONE_BRANCH": "fix-typo", "DRONE_BUILD_EVENT": "push", "DRONE_COMMIT_SHA": "0123456789abcdef"}
    assert run_build(envsubst, clone(cluster.project, tmp_path / "fix"), fix, secrets, extra) == [
        "deps", "lint", "test", "deploy-preview"]

    login, typo = preview_release.name("hello-world", "feature/login"), "hello-world-fix-typo"
    assert login.startswith("hello-world-feature-login-") and login != typo
    assert deployment(cluster, "staging", login)["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"{IMAGE}:feature/login-9f8e7d6")  # not overwritten by the later branch
    assert deployment(cluster, "staging", login)["metadata"]["labels"]["helm.sh/chart"] == "hello-world-0.2.0"
    assert deployment(cluster, "staging", typo)["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"{IMAGE}:fix-typo-0123456")
    assert ("apps/v1", "deployments", cluster.namespaces["staging"], "hello-world-hello-world") \
        not in cluster.emulator.store  # no branch deployed the shared release
    assert {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]} == published

    promote = {**feature, "DRONE_BUILD_EVENT": "promote", "DRONE_DEPLOY_TO": "production"}
    with pytest.raises(AssertionError, match=r"step deploy-production failed:\s+error: --version checkout: hello-world "
                       r"0\.2\.0 \(this checkout's charts/hello-world\) is not in s3://helm-repo\.example\.com: this "
                       r"commit did not publish it \(a branch build\?\)"):
        run_build(envsubst, checkout, promote, secrets, extra)  # its chart was never published: nothing else instead
    assert ("apps/v1", "deployments", cluster.namespaces["production"], "hello-world-hello-world") \
        not in cluster.emulator.store
    promote = {**master, "DRONE_BUILD_EVENT": "promote", "DRONE_DEPLOY_TO": "production"}
    assert run_build(envsubst, tmp_path / "master", promote, secrets, extra) == [
        "deps", "lint", "test", "deploy-production"]
    assert cluster.image("production") == f"{IMAGE}:master-9f8e7d6"
    assert cluster.deployment("production")["metadata"]["labels"]["helm.sh/chart"] == "hello-world-0.1.0"  # from S3


def test_deps_compiles_the_tasks_once_so_a_later_step_compiles_nothing(envsubst, tmp_path):
    """A fresh clone has no bytecode: without `deps` compiling it, a no-op publish spends most of its time
    compiling the modules it loads."""
    workspace = copy_project(tmp_path / "workspace")
    deps = next(step for step in pipeline(envsubst, BUILD)["steps"] if step["name"] == "deps")
    run_build(envsubst, workspace, {**BUILD, "DRONE_BRANCH": "b", "DRONE_BUILD_EVENT": "push"}, {}, {}, [deps])
    cache = workspace / "tasks" / "__pycache__"
    compiled = {path.name: path.stat().st_mtime_ns for path in cache.iterdir()}
    assert {name.split(".")[0] for name in compiled} == {path.stem for path in (workspace / "tasks").glob("*.py")}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([".venv/bin/invoke", "repo.publish"], cwd=workspace, env={**env, "CI": "true"}, check=True,
                   capture_output=True)
    assert (workspace / "dist" / "repo" / "index.yaml").is_file()
    assert {path.name: path.stat().st_mtime_ns for path in cache.iterdir()} == compiled  # none written again


def test_a_promote_to_another_target_deploys_nothing(envsubst):
    build = {**BUILD, "DRONE_BRANCH": "feature-x", "DRONE_BUILD_EVENT": "promote", "DRONE_DEPLOY_TO": "qa"}
    assert [s["name"] for s in pipeline(envsubst, build)["steps"] if runs(s, build)] == ["deps", "lint", "test"]


def test_every_secret_a_step_reads_is_named_for_its_environments_prefix(envsubst):
    for step in pipeline(envsubst, BUILD)["steps"]:
        for name, value in step.get("environment", {}).items():
            if isinstance(value, dict):
                assert value["from_secret"] == name.lower()
        if "--env production" in " ".join(step.get("commands", [])):
            assert {"PROD_API_SERVER", "PROD_KUBERNETES_TOKEN"} <= set(step["environment"])
            assert "--yes" in step["commands"][-1]


def test_steps_share_one_install_and_pip_caches_between_builds_on_the_runner(envsubst):
    config = pipeline(envsubst, BUILD)
    assert config["volumes"] == [{"name": "pip-cache", "host": {"path": "/var/cache/drone/pip"}}]
    steps = config["steps"]
    assert steps[0]["name"] == "deps"
    for step in steps[1:]:
        for command in step["commands"]:
            assert "pip install" not in command  # only deps installs (and .ci/run, for the test extras)
            assert command.split()[0] in ("bash", ".venv/bin/invoke") or "=$(.venv/bin/python " in command


def test_drone_substitution_and_dash_leave_the_image_tag_for_invoke_to_expand(envsubst):
    command = substitute(envsubst, "--set 'image.tag=$${DRONE_BRANCH}-$${DRONE_COMMIT_SHA:0:7}' \"$PREVIEW\"",
                         {"DRONE_BRANCH": "x", "PREVIEW": "substituted-too-early"})
    assert command == "--set 'image.tag=${DRONE_BRANCH}-${DRONE_COMMIT_SHA:0:7}' \"$PREVIEW\""
    echoed = subprocess.run(["/bin/sh", "-c", f"echo {command}"], env={"PREVIEW": "p"}, capture_output=True,
                            text=True, check=True)
    assert echoed.stdout.strip() == "--set image.tag=${DRONE_BRANCH}-${DRONE_COMMIT_SHA:0:7} p"


def test_the_pipeline_does_not_depend_on_what_drone_substitutes(envsubst):
    """Every ${...} is escaped: the file means the same whatever Drone's variables hold."""
    assert pipeline(envsubst, {}) == pipeline(envsubst, {**BUILD, "DRONE_BRANCH": "b", "DRONE_BUILD_EVENT": "push"})


def test_pipeline_and_project_yaml_are_yamllint_clean():
    config = "{extends: default, rules: {line-length: {max: 140}, document-start: disable, truthy: {check-keys: false}}}"
    files = [".drone.yml", "invoke.yaml", *map(str, sorted((ROOT / "environments").glob("*.yaml")))]
    result = subprocess.run([sys.executable, "-m", "yamllint", "-s", "-d", config, *files], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


# --- what invoke expands in values is what Drone's own substitution gives -----------------------------

def deployed(text: str, variables: dict[str, str]):
    """The value `--set-string x=TEXT` deploys in a build with these variables."""
    release = environments.Release("app", "app", None, (), (), ())
    staging = environments.Environment("staging", "staging", "staging", None, (), False)
    return vals.layered_values(release, staging, vals.Overrides(set_string=(f"x={text}",)), variables, {})[0]["x"]


TAGGED = {"DRONE_TAG": "v1.2.3", "DRONE_BRANCH": "feature/login.v2", "DRONE_COMMIT_SHA": "9f8e7d6c5b4a3928",
          "DRONE_REPO_NAME": "Hello_World", "CI_EMPTY": ""}


@pytest.mark.parametrize("text", [
    "${DRONE_TAG##v}", "${DRONE_TAG#v}", "${DRONE_TAG#*.}", "${DRONE_TAG##*.}", "${DRONE_TAG%.*}", "${DRONE_TAG%%.*}",
    "${DRONE_BRANCH##*/}", "${DRONE_BRANCH%/*}", "${DRONE_BRANCH/\\//-}", "${DRONE_BRANCH//\\//-}", "${DRONE_BRANCH//./}",
    "${DRONE_TAG/#v/release-}", "${DRONE_TAG/%3/4}", "${DRONE_TAG/./_}", "${DRONE_TAG:-latest}", "${CI_EMPTY:-latest}",
    "${CI_EMPTY=latest}", "${CI_EMPTY:=latest}", "${CI_EMPTY:-${DRONE_COMMIT_SHA:0:8}}", "${DRONE_TAG^^}", "${DRONE_TAG^}",
    "${DRONE_REPO_NAME,,}", "${DRONE_REPO_NAME,}", "${#DRONE_COMMIT_SHA}",
    "${DRONE_COMMIT_SHA:-4}", "${DRONE_COMMIT_SHA:-4:2}", "${DRONE_TAG#[a-z]}",
    "${DRONE_TAG##[^0-9]}", "${DRONE_TAG%?}", "${DRONE_TAG:0:${#DRONE_TAG}}", "${DRONE_BRANCH#${DRONE_TAG:0:1}}",
    "app-${DRONE_TAG##v}-${DRONE_COMMIT_SHA:0:7}", "${DRONE_BRANCH%%/*}",
])
def test_every_substitution_form_deploys_what_drones_own_envsubst_gives(envsubst, text):
    assert deployed(text, TAGGED) == substitute(envsubst, text, TAGGED)


def test_a_variable_without_braces_is_what_the_steps_shell_makes_of_it(envsubst):
    shell = subprocess.run(["/bin/sh", "-c", f"printf %s \"{substitute(envsubst, 'v-$DRONE_TAG', TAGGED)}\""],
                           env=TAGGED, capture_output=True, text=True, check=True)
    assert deployed("v-$DRONE_TAG", TAGGED) == shell.stdout == "v-v1.2.3"


TEXT = st.text(alphabet="abv01._-", max_size=4)
GLOB = st.lists(st.sampled_from(["a", "v", "1", ".", "-", "/", "*", "?", "[a-z]", "[^0-9]", "[.v]"]), min_size=1,
                max_size=4).map("".join)
EXPRESSIONS = st.one_of(
    st.sampled_from(["${X}", "${#X}", "${X^}", "${X^^}", "${X,}", "${X,,}"]),
    st.tuples(st.integers(-9, 9), st.none() | st.integers(0, 9)).map(
        lambda p: f"${{X:{p[0]}}}" if p[1] is None else f"${{X:{p[0]}:{p[1]}}}"),
    st.tuples(st.sampled_from([":-", "=", ":="]), TEXT).map(lambda p: f"${{X{p[0]}{p[1]}}}"),
    st.tuples(st.sampled_from(["#", "##"]), GLOB).map(lambda p: f"${{X{p[0]}{p[1]}}}"),
    st.tuples(st.sampled_from(["%", "%%"]), GLOB.filter(lambda g: "[" not in g)).map(lambda p: f"${{X{p[0]}{p[1]}}}"),
    st.tuples(st.sampled_from(["/", "//"]), TEXT.filter(bool), TEXT).map(lambda p: f"${{X{p[0]}{p[1]}/{p[2]}}}"),
    st.tuples(st.sampled_from(["/#", "/%"]), TEXT.filter(bool), TEXT.filter(bool)).map(
        lambda p: f"${{X{p[0]}{p[1]}/{p[2]}}}"),
)


@settings(max_examples=300, deadline=None)
@given(value=st.text(alphabet="abvV01._-/", max_size=10), expression=EXPRESSIONS)
def test_drones_forms_on_any_value_deploy_what_drone_gives(envsubst, value, expression):
    text = expression.replace("X", "DRONE_X")
    assert deployed(text, {"DRONE_X": value}) == substitute(envsubst, text, {"DRONE_X": value})


@settings(max_examples=300, deadline=None)
@given(value=st.text(alphabet="av1.-/éß€𝄞", max_size=8), expression=EXPRESSIONS)
def test_drone_counts_bytes_and_a_form_that_would_cut_a_character_in_two_is_refused(envsubst, value, expression):
    """Drone's lengths, offsets and trims count UTF-8 bytes (é is 2, € 3, 𝄞 4): the same here, and where Drone's
    result would cut a character in two (broken UTF-8, or U+FFFD in its place) it is refused, nowhere else."""
    text = expression.replace("X", "DRONE_X")
    drone = substitute(envsubst, text, {"DRONE_X": value})
    broken = drone.encode("utf-8", "surrogateescape") != drone.encode("utf-8", "replace") or "\ufffd" in drone
    try:
        ours = deployed(text, {"DRONE_X": value})
    except ToolError as exc:
        assert "would cut a character of ${DRONE_X} in two" in str(exc) and broken, (str(exc), drone)
        return
    assert ours == drone and not broken


def test_a_commit_author_cut_to_ten_bytes_is_what_drone_gives(envsubst):
    author = {"DRONE_COMMIT_AUTHOR_NAME": "José Müller"}
    assert deployed("${DRONE_COMMIT_AUTHOR_NAME:0:10}", author) == "José Mül" == substitute(
        envsubst, "${DRONE_COMMIT_AUTHOR_NAME:0:10}", author)
    assert deployed("${#DRONE_COMMIT_AUTHOR_NAME}", author) == "13"
    assert deployed("${DRONE_COMMIT_AUTHOR_NAME:4:0}", author) == "" == substitute(  # nothing kept: nothing cut
        envsubst, "${DRONE_COMMIT_AUTHOR_NAME:4:0}", author)
    with pytest.raises(ToolError, match=r"\$\{DRONE_COMMIT_AUTHOR_NAME:0:4\}: Drone counts bytes, not characters"):
        deployed("${DRONE_COMMIT_AUTHOR_NAME:0:4}", author)
