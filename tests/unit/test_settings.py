"""Settings: flag > Drone env > invoke config > default, and clear errors for bad repository URLs."""

import re
from pathlib import Path

import pytest

from tasks import environments, settings
from tasks.errors import ToolError

ROOT = Path("/project")


def test_default_repository_is_the_local_folder_under_the_project_root():
    s = settings.resolve_repo(ROOT, {}, env={})
    assert s.url == "file:///project/dist/repo"
    assert s.sources["url"] == "default"
    assert s.packages_dir == Path("/project/dist/packages")


def test_flag_beats_drone_env_beats_invoke_config():
    config = {"url": "s3://from-config"}
    assert settings.resolve_repo(ROOT, config, env={}).url == "s3://from-config"
    from_env = settings.resolve_repo(ROOT, config, env={"PLUGIN_REPO_URL": "s3://from-drone"})
    assert (from_env.url, from_env.sources["url"]) == ("s3://from-drone", "env PLUGIN_REPO_URL")
    flagged = settings.resolve_repo(ROOT, config, url="s3://from-flag/charts/", env={"PLUGIN_REPO_URL": "s3://x-y"})
    assert (flagged.url, flagged.sources["url"]) == ("s3://from-flag/charts", "flag")


@pytest.mark.parametrize("url, expected", [
    ("dist/repo", "file:///project/dist/repo"),
    ("file://dist/repo", "file:///project/dist/repo"),
    ("file:///srv/charts", "file:///srv/charts"),
    ("s3://helm-repo.example.com", "s3://helm-repo.example.com"),
    ("s3://bucket/team/charts/", "s3://bucket/team/charts"),
    ("https://charts.example.com/", "https://charts.example.com"),
])
def test_repository_urls_are_normalised(url, expected):
    assert settings.normalize_repo_url(url, ROOT) == expected


@pytest.mark.parametrize("url, message", [
    ("ftp://host/charts", "unknown scheme 'ftp'"),
    ("gs://bucket", "unknown scheme 'gs'"),
    ("s3://Bad_Bucket", "not a valid S3 bucket name"),
    ("  ", "repo.url is empty"),
])
def test_bad_repository_url_names_the_setting_and_the_fix(url, message):
    with pytest.raises(ToolError, match=message) as error:
        settings.normalize_repo_url(url, ROOT)
    assert "repo.url" in str(error.value)


def test_public_url_must_be_http_and_loses_its_trailing_slash():
    assert settings.resolve_repo(ROOT, {"public_url": "https://c.example.com/"}, env={}).public_url == "https://c.example.com"
    with pytest.raises(ToolError, match="repo.public_url"):
        settings.resolve_repo(ROOT, {"public_url": "c.example.com"}, env={})


def test_home_folder_in_paths_and_folder_urls_is_expanded(monkeypatch):
    monkeypatch.setenv("HOME", "/home/me")
    s = settings.resolve_repo(ROOT, {"url": "~/charts-repo", "charts_dir": "~/charts"}, env={})
    assert (s.url, s.charts_dir) == ("file:///home/me/charts-repo", Path("/home/me/charts"))
    assert settings.resolve_repo(ROOT, {"url": "file://~/r"}, env={}).url == "file:///home/me/r"
    staging = environments.environment_settings(ROOT, "staging", {"namespace": "staging",
                                                                  "values": ["~/staging.yaml", "environments/x.yaml"]})
    assert staging.values == (Path("/home/me/staging.yaml"), ROOT / "environments/x.yaml")


@pytest.mark.parametrize("url", ["file://", "file:", " file:// "])
def test_a_file_url_without_a_path_is_refused_not_the_project_root(url):
    with pytest.raises(ToolError, match="repo.url 'file://' names no folder"):
        settings.resolve_repo(ROOT, {"url": url}, env={})


@pytest.mark.parametrize("config, message", [
    ({"urll": "x"}, "repo.urll in invoke.yaml is not a setting; did you mean url?"),
    ({"charts_dir": ["a"]}, "repo.charts_dir in invoke.yaml is a list, not text"),
])
def test_repo_settings_have_types_and_known_names(config, message):
    with pytest.raises(ToolError, match=message.replace(".", r"\.").replace("?", r"\?")):
        settings.resolve_repo(ROOT, config, env={})


INVOKE_DEFAULTS = {"run": {"echo": False}, "tasks": {"dedupe": True}}


@pytest.mark.parametrize("text, message", [
    ("release:\n  environments: [staging]\n", "release.environments in invoke.yaml must be a mapping, not a list"),
    ("release:\n  releases:\n", "release.releases in invoke.yaml must be a mapping, not empty; write {} or remove"),
    ("run: true\n", "run in invoke.yaml must be a mapping, not the boolean true"),
    ("repo:\n  url: {a: b}\n", "repo.url in invoke.yaml must be a single value, not a mapping"),
    ("- repo\n", "invoke.yaml must be a mapping of settings (repo:, release:), not a list"),
    ("repo: [\n", "invoke.yaml: not valid YAML at line 2"),
    ("release:\n  environments:\n    staging: {namespace: s, protected: 'no'}\n",
     "release.environments.staging.protected in invoke.yaml is the text 'no', not a boolean"),
    ("release:\n  releases:\n    app: {chrat: x}\n", "did you mean chart?"),
    ("release:\n  environmnets: {}\n", "release.environmnets in invoke.yaml is not a setting; did you mean environments?"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh")),
     "invoke.yaml: yaml: document contains excessive aliasing, which Helm refuses too"),
])
def test_invoke_yaml_is_checked_before_invoke_merges_it(tmp_path, text, message):
    (tmp_path / "invoke.yaml").write_text(text)
    with pytest.raises(ToolError) as error:
        settings.check_project_file(tmp_path, INVOKE_DEFAULTS)
    assert message in str(error.value)


def test_a_good_or_missing_invoke_yaml_passes_and_json_is_checked_too(tmp_path):
    settings.check_project_file(tmp_path, INVOKE_DEFAULTS)
    (tmp_path / "invoke.yaml").write_text((Path(__file__).parents[2] / "invoke.yaml").read_text())
    settings.check_project_file(tmp_path, INVOKE_DEFAULTS)
    (tmp_path / "invoke.yaml").unlink()
    (tmp_path / "invoke.json").write_text('{"release": {"releases": ["app"]}}')
    with pytest.raises(ToolError, match="release.releases in invoke.yaml must be a mapping, not a list"):
        settings.check_project_file(tmp_path, INVOKE_DEFAULTS)


@pytest.mark.parametrize("url", ["https:/reader:Typo-Pass-51@charts.example.com/x", "s3:charts-bucket", "oci:/r/x"])
def test_a_url_with_one_slash_is_refused_never_taken_as_a_folder_nor_shown(url, tmp_path):
    with pytest.raises(ToolError) as refused:
        settings.normalize_repo_url(url, tmp_path)
    assert "needs two slashes" in str(refused.value) and url not in str(refused.value)
    assert "Typo-Pass-51" not in str(refused.value) and not list(tmp_path.iterdir())
    assert settings.normalize_repo_url(f"./{url}", tmp_path) == f"file://{tmp_path}/{url}"  # a folder, said so
    assert settings.normalize_repo_url(f"file:{tmp_path}/repo", tmp_path) == f"file://{tmp_path}/repo"  # RFC 8089


@pytest.mark.parametrize("url, message", [
    ("oci://registry.example.com/MyCharts", "'MyCharts' cannot be part of an OCI reference"),
    ("oci://registry.example.com/a//b", "'' cannot be part of an OCI reference"),
    ("oci://registry.example.com/-bad", "'-bad' cannot be part of an OCI reference"),
    ("oci://registry.example.com/charts:1.0", "an OCI repository is oci://HOST[:PORT]/PATH, with no tag or digest"),
    ("oci://registry.example.com/charts@sha256:abc", "an OCI repository is oci://HOST[:PORT]/PATH, with no tag"),
])
def test_an_oci_repository_no_registry_takes_is_refused_as_a_setting_not_blamed_on_credentials(url, message, tmp_path):
    with pytest.raises(ToolError, match=re.escape(message)):
        settings.normalize_repo_url(url, tmp_path)
    assert settings.normalize_repo_url("oci://Registry.example.com:5000/team/charts/", tmp_path) == \
        "oci://registry.example.com:5000/team/charts"


def test_set_values_in_invoke_yaml_are_typed_as_helm_types_a_values_file(tmp_path):
    """PyYAML made `12:30` the number 750 (base 60) and left `1e3`, `0o17` and `y` as text; Helm's YAML reads them as
    text, 1000, 15 and true, and a release deployed 750 where a values file with the same line gives '12:30'."""
    (tmp_path / "invoke.yaml").write_text(
        "release:\n  releases:\n    app:\n      set: {at: 12:30, num: 1e3, mode: 0o17, flag: y, day: 2024-01-01}\n")
    checked = settings.check_project_file(tmp_path, INVOKE_DEFAULTS)
    assert checked is not None
    assert checked[1]["release"]["releases"]["app"]["set"] == {"at": "12:30", "num": 1000.0, "mode": 15, "flag": True,
                                                                "day": "2024-01-01"}
