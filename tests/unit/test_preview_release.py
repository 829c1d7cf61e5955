"""A branch's preview release name: a valid Helm release name and DNS-1123 label, one per branch."""

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scripts import preview_release
from tasks import environments
from tests.conftest import ROOT


@pytest.mark.parametrize("branch, name", [
    ("feature-login", "hello-world-feature-login"),
    ("fix-123", "hello-world-fix-123"),
    ("feature/login", "hello-world-feature-login-" + preview_release.name("x", "feature/login")[-6:]),
    ("Feature-Login", "hello-world-feature-login-" + preview_release.name("x", "Feature-Login")[-6:]),
    ("__", "hello-world-" + preview_release.name("x", "__")[-6:]),
])
def test_a_branch_keeps_its_name_when_it_is_already_a_label_and_gets_a_hash_otherwise(branch, name):
    assert preview_release.name("hello-world", branch) == name


def test_branches_that_slug_alike_are_still_two_releases():
    names = {preview_release.name("hello-world", b) for b in ("feature/login", "feature-login", "Feature/Login",
                                                              "feature_login", "feature--login")}
    assert len(names) == 5


@given(st.text(min_size=1, max_size=300))
def test_every_branch_name_gives_a_release_name_helm_and_kubernetes_accept(branch):
    name = preview_release.name("hello-world", branch)
    assert len(name) <= 53 and name.startswith("hello-world-")
    assert environments.release_settings(Path("."), name, {}).name == name  # the tasks' own check (Helm's rule)
    assert "." not in name and not name.endswith("-")  # and a DNS-1123 label


def test_the_preview_config_is_the_release_with_its_chart_from_the_checkout():
    project = {"release": {"releases": {"hello-world": {"chart": "hello-world", "version": "~0.1",
                                                        "values": ["environments/hello-world.yaml"]}}}}
    assert preview_release.config("hello-world", "hello-world-b", project) == {"release": {"releases": {
        "hello-world-b": {"chart": "./charts/hello-world", "values": ["environments/hello-world.yaml"]}}}}


def test_an_empty_branch_is_one_line_and_no_release_name(tmp_path):
    """PREVIEW=$(preview_release.py hello-world "$DRONE_BRANCH" ...) with the variable unset must stop the step,
    not deploy a release named `hello-world-`."""
    out = tmp_path / "preview.yaml"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "preview_release.py"), "hello-world", "", str(out)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: the branch (2nd argument) is empty; pass the branch name, e.g. \"$DRONE_BRANCH\"\n"
    assert not out.exists()
