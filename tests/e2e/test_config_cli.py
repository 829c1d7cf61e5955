"""`invoke config`: each setting with its value and source; credentials shown by name, never by value."""

import json

import yaml

from tests.conftest import invoke


def test_config_shows_values_and_sources_and_never_a_token(project):
    env = {"INVOKE_REPO_URL": "s3://charts-from-env", "STAGING_API_SERVER": "https://k8s.example.com",
           "STAGING_KUBERNETES_TOKEN": "config-token-5e1", "PLUGIN_KUBE_TOKEN": "plugin-token-5e1",
           "DRONE_BRANCH": "feature-x"}
    result = invoke(project, "config", "--json", env=env)
    rows = {r["setting"]: (r["value"], r["source"]) for r in json.loads(result.stdout)}
    assert rows["repo.url"] == ("s3://charts-from-env", "env INVOKE_REPO_URL")
    assert rows["repo.public_url"] == ("", "default")
    assert rows["release.environments.staging.cluster"][0] == "STAGING_API_SERVER + STAGING_KUBERNETES_TOKEN"
    assert rows["release.environments.production.cluster"][0] == "kubeconfig context production"
    assert rows["release.releases.hello-world.chart"] == ("hello-world ~0.1", "invoke.yaml")
    assert rows["DRONE_BRANCH"] == ("feature-x", "env")
    assert rows["PLUGIN_KUBE_TOKEN"] == ("set", "env")  # a credential: by name only
    assert "token-5e1" not in result.stdout + result.stderr


def test_a_flag_beats_the_drone_setting_which_beats_invoke_yaml(project):
    published = invoke(project, "repo.publish", "--url", "dist/flag-repo",
                       env={"PLUGIN_REPO_URL": "dist/plugin-repo", "INVOKE_REPO_URL": "dist/env-repo"})
    assert "published to file://" in published.stdout and "/dist/flag-repo:" in published.stdout
    from_drone = invoke(project, "config", "--json", env={"PLUGIN_REPO_URL": "s3://drone-bucket"})
    rows = {r["setting"]: (r["value"], r["source"]) for r in json.loads(from_drone.stdout)}
    assert rows["repo.url"] == ("s3://drone-bucket", "env PLUGIN_REPO_URL")


def test_a_value_invoke_yaml_sets_is_from_invoke_yaml_even_when_it_is_the_default(project):
    """The project's invoke.yaml writes `url: dist/repo`, which is also the built-in default."""
    assert "url: dist/repo" in (project / "invoke.yaml").read_text()
    rows = {r["setting"]: (r["value"], r["source"]) for r in json.loads(invoke(project, "config", "--json").stdout)}
    assert rows["repo.url"] == (f"file://{project.resolve()}/dist/repo", "invoke.yaml")
    assert rows["repo.build_dir"][1] == "default"  # not in the file
    assert rows["repo.public_url"] == ("", "default")  # `public_url: null` in the file sets nothing


def test_the_table_shows_every_row_as_setting_value_source(project):
    config = yaml.safe_load((project / "invoke.yaml").read_text())
    config["repo"]["dependency_repositories"] = {"stable": "https://charts.example.com"}
    (project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    lines = invoke(project, "config").stdout.splitlines()
    assert next(line for line in lines if line.startswith("repo.dependency_repositories.")).split() == [
        "repo.dependency_repositories.stable", "https://charts.example.com", "invoke.yaml"]


def test_release_parallel_says_where_its_value_came_from(project):
    """It said "invoke.yaml / INVOKE_RELEASE_PARALLEL" whatever set it, the built-in default too."""
    def parallel(env=None):
        rows = {r["setting"]: (r["value"], r["source"]) for r in json.loads(invoke(project, "config", "--json",
                                                                                   env=env).stdout)}
        return rows["release.parallel"]

    assert parallel() == ("4", "default")
    assert parallel({"INVOKE_RELEASE_PARALLEL": "2"}) == ("2", "env INVOKE_RELEASE_PARALLEL")
    config = yaml.safe_load((project / "invoke.yaml").read_text())
    config["release"]["parallel"] = 4  # the default's own value, written in the file
    (project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert parallel() == ("4", "invoke.yaml")
