"""The plugin entrypoint, driven as Drone drives it: PLUGIN_* variables, then the release tasks run."""

import subprocess
import sys

import pytest

from scripts import drone_plugin
from tests.conftest import ROOT

IMAGE = "quay.io/honestbee/hello-drone-helm"


def plugin(workspace, settings, env=None):
    """`docker run` of the plugin image, minus Docker: the entrypoint in the workspace, settings as PLUGIN_*."""
    variables = {f"PLUGIN_{k.upper()}": v for k, v in settings.items()}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "drone_plugin.py")], cwd=workspace,
                          env={"PATH": "/usr/bin:/bin", "CI": "true", **variables, **(env or {})},
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_articles_drone_helm_step_deploys_with_its_own_setting_names(cluster, tmp_path):
    repo = f"file://{cluster.project / 'dist' / 'repo'}"
    values = tmp_path / "values-staging.yaml"
    values.write_text("replicaCount: 2\n")
    result = plugin(tmp_path, {
        "helm_repos": f"public-charts={repo}", "chart": "public-charts/hello-world",
        "values": f"image.repository={IMAGE},image.tag=feature-abc1234", "values_files": values.name,
        "release": "hello-world", "prefix": "STAGING", "namespace": cluster.namespaces["staging"],
        "wait": "true", "timeout": "120", "tiller_ns": "kube-system", "shiny_new_thing": "x",
    }, env={"STAGING_API_SERVER": cluster.emulator.url, "STAGING_KUBERNETES_TOKEN": "plugin-token-77"})
    assert result.returncode == 0, result.stderr
    assert cluster.image() == f"{IMAGE}:feature-abc1234"
    assert cluster.deployment()["spec"]["replicas"] == 2
    assert "warning: setting shiny_new_thing is unknown; ignored" in result.stderr
    assert "warning: setting tiller_ns is not supported: Helm 3+ has no Tiller; ignored" in result.stderr
    assert "plugin-token-77" not in result.stdout + result.stderr


def test_drone_helm3_names_with_credentials_given_directly(cluster, tmp_path):
    repo = f"file://{cluster.project / 'dist' / 'repo'}"
    result = plugin(tmp_path, {
        "add_repos": f"charts={repo}", "chart": "charts/hello-world", "chart_version": "0.1.0",
        "values": "image.tag=v3", "release": "hello-world", "namespace": cluster.namespaces["staging"],
        "kube_api_server": cluster.emulator.url, "kube_token": "direct-token-31", "mode": "upgrade",
        "timeout": "2m",
    })
    assert result.returncode == 0, result.stderr
    assert cluster.image() == f"{IMAGE}:v3"
    uninstalled = plugin(tmp_path, {"chart": "./x", "release": "hello-world", "mode": "uninstall",
                                    "namespace": cluster.namespaces["staging"], "kube_api_server": cluster.emulator.url,
                                    "kube_token": "direct-token-31"})
    assert uninstalled.returncode == 0, uninstalled.stderr
    assert cluster.release_secrets() == []


def test_a_prefix_whose_variables_are_missing_fails_instead_of_using_unprefixed_ones(cluster, tmp_path):
    result = plugin(tmp_path, {
        "helm_repos": f"c=file://{cluster.project / 'dist' / 'repo'}", "chart": "c/hello-world",
        "release": "hello-world", "prefix": "STAGING", "namespace": cluster.namespaces["staging"],
        "api_server": cluster.emulator.url, "kubernetes_token": "unprefixed-token",
    }, env={"API_SERVER": cluster.emulator.url, "KUBERNETES_TOKEN": "x"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: STAGING_API_SERVER is not set")
    assert cluster.release_secrets() == []


@pytest.mark.parametrize("settings, message", [
    ({"chart": "c/hello-world", "namespace": "ns"}, "error: setting release is required (PLUGIN_RELEASE)"),
    ({"chart": "other/hello-world", "release": "r", "namespace": "ns", "helm_repos": "c=https://c.example.com"},
     "error: chart 'other/hello-world': repository 'other' is not in helm_repos (c); add other=URL"),
    ({"chart": "hello-world", "release": "r", "namespace": "ns"},
     "error: chart 'hello-world': name its repository as ALIAS/hello-world (helm_repos has none)"),
    ({"chart": "c/x", "release": "r", "namespace": "ns", "helm_repos": "c=https://c", "mode": "lint"},
     "error: setting mode 'lint' is not supported; use upgrade or uninstall"),
])
def test_bad_plugin_settings_are_one_clear_line(settings, message, tmp_path):
    with pytest.raises(SystemExit) as stop:
        drone_plugin.plan(drone_plugin.read_settings({f"PLUGIN_{k.upper()}": v for k, v in settings.items()})[0],
                          {}, tmp_path)
    assert str(stop.value) == message


def test_drone_helm_timeouts_in_seconds_and_helm3_durations_both_work(tmp_path):
    base = {"PLUGIN_CHART": "c/x", "PLUGIN_RELEASE": "r", "PLUGIN_NAMESPACE": "ns", "PLUGIN_HELM_REPOS": "c=https://c"}
    for given, expected in (("300", "300s"), ("5m0s", "5m0s")):
        _, arguments, _ = drone_plugin.plan(drone_plugin.read_settings({**base, "PLUGIN_TIMEOUT": given})[0], {}, tmp_path)
        assert arguments["timeout"] == expected
