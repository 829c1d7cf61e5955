"""CI credentials as Drone secrets hold them: a token or address pasted with its line break still reaches the cluster."""

import json

import yaml

from tests.conftest import invoke


def staging_on(project, k8s, namespace):
    config = yaml.safe_load((project / "invoke.yaml").read_text())
    config["release"]["environments"]["staging"]["namespace"] = namespace
    (project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    k8s.create_namespace(namespace)


def test_a_token_server_and_ca_with_line_breaks_around_are_read_as_kubectl_reads_them(project, k8s):
    """`kubectl create token ... > token` and `echo $TOKEN | drone secret add` leave a line break; client-go trims
    a token file, so the same secret must work here (it gave `invalid header field value for "Authorization"`)."""
    staging_on(project, k8s, "token-newline")
    env = k8s.ci_env("STAGING", "newline-token-4d2e")
    ca = env["STAGING_KUBERNETES_CERTIFICATE"]  # as `base64` prints it: wrapped at 76 columns, as kubectl reads it
    env = {**env, "STAGING_KUBERNETES_TOKEN": env["STAGING_KUBERNETES_TOKEN"] + "\n",
           "STAGING_API_SERVER": f" {env['STAGING_API_SERVER']}\n",
           "STAGING_KUBERNETES_CERTIFICATE": "\n".join(ca[i:i + 76] for i in range(0, len(ca), 76)) + "\n"}
    result = invoke(project, "release.list", "--env", "staging", "--json", env=env)
    assert [(r["release"], r["namespace"]) for r in json.loads(result.stdout)] == [("hello-world", "token-newline")]
    assert "newline-token-4d2e" not in result.stdout + result.stderr


def test_an_api_server_without_a_scheme_is_reached_over_https_with_or_without_its_ca(project, k8s):
    """`kube.example.com:6443`, as drone-helm pipelines give it: client-go took plain http without a CA, sending the
    token in clear (and failing with a bare EOF)."""
    staging_on(project, k8s, "no-scheme")
    env = k8s.ci_env("STAGING", "schemeless-token-7b1f")
    env["STAGING_API_SERVER"] = env["STAGING_API_SERVER"].removeprefix("https://")
    result = invoke(project, "release.list", "--env", "staging", "--json", env=env)
    assert [(r["release"], r["namespace"]) for r in json.loads(result.stdout)] == [("hello-world", "no-scheme")]
    del env["STAGING_KUBERNETES_CERTIFICATE"]
    untrusted = invoke(project, "release.list", "--env", "staging", env=env, check=False)
    assert untrusted.returncode == 1 and "certificate signed by unknown authority" in untrusted.stderr, untrusted.stderr
    assert "schemeless-token-7b1f" not in untrusted.stdout + untrusted.stderr


def test_a_token_with_a_line_break_inside_is_one_line_naming_the_variable_never_the_token(project, k8s):
    staging_on(project, k8s, "token-broken")
    env = {**k8s.ci_env("STAGING", "split-token-9c1a"), "STAGING_KUBERNETES_TOKEN": "split-token\n-9c1a"}
    result = invoke(project, "release.list", "--env", "staging", env=env, check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == ("error: STAGING_KUBERNETES_TOKEN holds a line break or a space inside the token; set the "
                             "secret to the token alone\n")


def test_a_kubeconfig_whose_user_is_an_exec_plugin_deploys_and_dry_runs_as_kubectl_would(cluster, tmp_path):
    """EKS's and GKE's kubeconfigs get their token from a command (`aws eks get-token`): Helm and the API server's
    dry-run check both run it, and the token it prints is never shown."""
    import stat
    import sys

    token = cluster.emulator.accept_token("exec-plugin-token-7b1d")
    plugin = tmp_path / "get-token"
    plugin.write_text(f"#!{sys.executable}\nimport json\nprint(json.dumps({{'apiVersion': "
                      "'client.authentication.k8s.io/v1beta1', 'kind': 'ExecCredential', 'status': {'token': "
                      f"{token!r}}}}}))\n")
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    config = yaml.safe_load(cluster.emulator.kubeconfig("staging"))
    config["users"] = [{"name": "emulator", "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin), "interactiveMode": "Never"}}}]
    kubeconfig = tmp_path / "exec-kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    env = {"KUBECONFIG": str(kubeconfig)}
    outputs = [invoke(cluster.project, "release.deploy", "--env", "staging", *dry_run, env=env)
               for dry_run in (("--dry-run",), ())]
    assert "deployed:" in outputs[1].stdout and cluster.image() == "quay.io/honestbee/hello-drone-helm:latest"
    assert not [o for o in outputs if token in o.stdout + o.stderr]
    plugin.write_text("#!/bin/sh\necho 'no credentials: run aws sso login' >&2\nexit 1\n")
    failed = invoke(cluster.project, "release.deploy", "--env", "staging", "--dry-run", env=env, check=False)
    assert failed.returncode == 1 and failed.stderr.startswith("no credentials: run aws sso login\n")  # as kubectl
    error = failed.stderr.splitlines()[1:]  # then one line: which command failed, and which context was tried
    assert len(error) == 1 and "get-token failed with exit code 1 (tried context staging" in error[0], error
