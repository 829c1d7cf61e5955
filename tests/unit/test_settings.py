"""Settings: flag > Drone env > invoke config > default, and clear errors for bad repository URLs."""

from pathlib import Path

import pytest

from tasks import settings
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
