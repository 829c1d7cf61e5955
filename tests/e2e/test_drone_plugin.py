"""The plugin entrypoint, driven as Drone drives it: PLUGIN_* variables (and the step's environment), then the tasks."""

import base64
import json
import shutil
import subprocess
import sys

from tests.conftest import ROOT
from tests.support.leaks import found

IMAGE = "quay.io/honestbee/hello-drone-helm"
DB_PASSWORD = "db-Pa55word-7e1c"
API_KEY = "api-Key-0b3d9f"


def plugin(workspace, settings, env=None):
    """`docker run` of the plugin image, minus Docker: the entrypoint in the workspace, settings as PLUGIN_*."""
    variables = {f"PLUGIN_{k.upper()}": v for k, v in settings.items()}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "drone_plugin.py")], cwd=workspace,
                          env={"PATH": "/usr/bin:/bin", "CI": "true", **variables, **(env or {})},
                          capture_output=True, text=True, timeout=120, check=False)


def chart_workspace(tmp_path):
    """A repository whose root is the chart, as drone-helm3's README examples have it (chart: ./)."""
    workspace = tmp_path / "workspace"
    shutil.copytree(ROOT / "charts" / "hello-world", workspace)
    return workspace


def never_printed(result, *values):
    text = result.stdout + result.stderr
    for value in values:
        assert value not in text and base64.b64encode(value.encode()).decode() not in text


def test_the_articles_drone_helm_step_deploys_with_its_own_setting_names(cluster, tmp_path):
    repo = f"file://{cluster.project / 'dist' / 'repo'}"
    values = tmp_path / "values-staging.yaml"
    values.write_text("replicaCount: 2\n")
    result = plugin(tmp_path, {
        "helm_repos": f"public-charts={repo}", "chart": "public-charts/hello-world",
        "values": f"image.repository={IMAGE},image.tag=feature-abc1234", "values_files": values.name,
        "release": "hello-world", "prefix": "STAGING", "namespace": cluster.namespaces["staging"],
        "wait": "true", "timeout": "120", "tiller_ns": "kube-system",
    }, env=cluster.emulator.ci_env("STAGING", "plugin-token-77"))
    assert result.returncode == 0, result.stderr
    assert cluster.image() == f"{IMAGE}:feature-abc1234"
    assert cluster.deployment()["spec"]["replicas"] == 2
    assert "warning: setting tiller_ns is ignored: Helm 3+ has no Tiller" in result.stderr
    never_printed(result, "plugin-token-77")


def test_drone_helm3_readme_examples_lint_deploy_and_uninstall_with_their_own_names(k8s, tmp_path):
    """The three steps of drone-helm3's README, settings and environment as written there (chart: ./, no namespace)."""
    workspace = chart_workspace(tmp_path)
    trusted = tmp_path / "ca.pem"  # the cluster's certificate is one the image trusts, as the README assumes
    trusted.write_bytes(k8s.ca)
    credentials = {"KUBE_API_SERVER": k8s.url, "KUBE_TOKEN": k8s.accept_token("readme-token-5a1f"),
                   "SSL_CERT_FILE": str(trusted)}
    lint = plugin(workspace, {"mode": "lint", "chart": "./"})
    assert lint.returncode == 0, lint.stderr
    assert "lint: 1 chart(s) ok" in lint.stdout
    deploy = plugin(workspace, {"mode": "upgrade", "chart": "./", "release": "my-project"}, env=credentials)
    assert deploy.returncode == 0, deploy.stderr
    deployment = k8s.store[("apps/v1", "deployments", "default", "my-project-hello-world")]
    assert deployment["metadata"]["labels"]["helm.sh/chart"] == "hello-world-0.1.0"
    uninstall = plugin(workspace, {"mode": "uninstall", "release": "my-project"}, env=credentials)
    assert uninstall.returncode == 0, uninstall.stderr
    assert not [key for key in k8s.store if key[2] == "default" and "my-project" in key[3]]
    for result in (lint, deploy, uninstall):
        never_printed(result, "readme-token-5a1f")


def test_the_issues_drone_helm3_step_deploys_and_names_its_settings_in_errors(cluster, tmp_path):
    """Credentials in KUBE_API_SERVER / KUBE_TOKEN, kube_certificate, kube_service_account, skip_tls_verify."""
    workspace = chart_workspace(tmp_path)
    settings = {"mode": "upgrade", "chart": "./", "release": "hello-world", "namespace": cluster.namespaces["staging"],
                "kube_certificate": cluster.emulator.ca_base64, "kube_service_account": "helm",
                "skip_tls_verify": "false",
                "values": '["image.tag=v3", "replicaCount=3, image.pullPolicy=Always"]'}  # JSON, spaces after commas
    env = {"KUBE_API_SERVER": cluster.emulator.url, "KUBE_TOKEN": cluster.emulator.accept_token("direct-token-31")}
    missing = plugin(workspace, settings, env={"KUBE_API_SERVER": cluster.emulator.url})
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1].startswith(
        "error: setting kube_token is not set; give it in settings (kube_token: {from_secret: kube_token}) or as "
        "KUBE_TOKEN in the step's environment")
    insecure = plugin(workspace, {**settings, "skip_tls_verify": "true"}, env=env)
    assert insecure.returncode == 1
    assert insecure.stderr.strip() == (
        "error: setting skip_tls_verify: true is not supported: the cluster's certificate is always verified (the tool "
        "has no way to skip it); give the cluster's CA, base64-encoded, as kube_certificate")
    assert cluster.release_secrets() == []
    result = plugin(workspace, settings, env=env)
    assert result.returncode == 0, result.stderr
    assert cluster.image() == f"{IMAGE}:v3"
    assert cluster.deployment()["spec"]["replicas"] == 3
    assert cluster.deployment()["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert "warning: setting kube_service_account is ignored" in result.stderr
    assert f"(KUBE_API_SERVER (environment) + KUBE_TOKEN (environment), namespace {cluster.namespaces['staging']})" \
        in result.stdout  # the variables the step set, not the ones the plugin hands the tasks
    assert "PLUGIN_" not in result.stdout + result.stderr
    never_printed(result, "direct-token-31")


def test_an_unreachable_cluster_is_named_by_the_setting_that_gave_it(tmp_path):
    result = plugin(chart_workspace(tmp_path), {"chart": "./", "release": "r", "namespace": "ns",
                                                "kube_api_server": "https://127.0.0.1:9", "kube_token": "t-1234"})
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert "the API server in setting kube_api_server" in line, line
    assert "PLUGIN_" not in result.stderr


def test_a_values_secret_reference_is_deployed_as_the_secrets_value_and_never_printed(cluster, tmp_path):
    """drone-helm3's documented idiom `values: db=$DB_PASSWORD`, and a `secrets` entry, with --debug on. With
    drone-helm's prefix the reference reads STAGING_DB_PASSWORD, never DB_PASSWORD (another environment's)."""
    settings = {"chart": "./", "release": "hello-world", "prefix": "STAGING",
                "namespace": cluster.namespaces["staging"], "values": "image.tag=v5,secretEnv.DB_PASSWORD=$DB_PASSWORD",
                "secrets": "secretEnv.API_KEY=API_KEY", "debug": "true"}
    env = {**cluster.emulator.ci_env("STAGING", "staging-token-19"), "STAGING_DB_PASSWORD": DB_PASSWORD,
           "DB_PASSWORD": "production-Pa55-90", "API_KEY": API_KEY}
    workspace = chart_workspace(tmp_path)
    dry = plugin(workspace, {**settings, "dry_run": "true"}, env=env)
    assert dry.returncode == 0, dry.stderr
    result = plugin(workspace, settings, env=env)
    assert result.returncode == 0, result.stderr
    secret = cluster.emulator.store[("v1", "secrets", cluster.namespaces["staging"], "hello-world-hello-world")]
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "DB_PASSWORD": DB_PASSWORD, "API_KEY": API_KEY}
    assert "helm upgrade --install" in result.stderr + result.stdout  # --debug logged the Helm call, redacted
    for run in (dry, result):
        never_printed(run, DB_PASSWORD, API_KEY, "staging-token-19")


def test_a_secret_interpolated_into_a_value_is_refused_with_the_fix_and_nothing_deployed(cluster, tmp_path):
    result = plugin(chart_workspace(tmp_path), {
        "chart": "./", "release": "hello-world", "prefix": "STAGING", "namespace": cluster.namespaces["staging"],
        "values": "image.tag=v1,db.dsn=dbname=app password=$DB_PASSWORD",
    }, env={"STAGING_API_SERVER": cluster.emulator.url, "STAGING_KUBERNETES_TOKEN": "t-5678", "DB_PASSWORD": "pw-1"})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: setting values: db.dsn holds $DB_PASSWORD inside its value, which would be deployed literally; a "
        "secret is a whole value (db.dsn=$NAME) or a secrets entry (db.dsn=NAME), and a literal $ is written $$")
    assert cluster.release_secrets() == []


def test_settings_that_would_deploy_something_else_fail_the_step_naming_them(cluster, tmp_path):
    base = {"chart": "./", "release": "hello-world", "prefix": "STAGING", "namespace": cluster.namespaces["staging"]}
    env = {"STAGING_API_SERVER": cluster.emulator.url, "STAGING_KUBERNETES_TOKEN": "t-9012"}
    workspace = chart_workspace(tmp_path)
    for extra, line in (
        ({"force_upgrade": "true"}, ("error: setting force_upgrade: true is not supported: it replaces resources by "
                                    "deleting them; remove it")),
        ({"reuse_values": "true"}, ("error: setting reuse_values: true is not supported: values are always given in "
                                   "full (values, values_files, secrets); remove it")),
        ({"skip_crds": "true"}, ("error: setting skip_crds: true is not supported: CRDs in the chart are always "
                                "installed; remove it")),
        ({"chart_verison": "9.9.9"}, ("error: setting chart_verison is unknown; did you mean chart_version? remove it "
                                     "(supported settings: README, Plugin mode)")),
    ):
        result = plugin(workspace, {**base, **extra}, env=env)
        assert (result.returncode, result.stderr.strip()) == (1, line)
    assert cluster.release_secrets() == []


def test_a_prefix_whose_variables_are_missing_fails_instead_of_using_other_credentials(cluster, tmp_path):
    base = {"helm_repos": f"c=file://{cluster.project / 'dist' / 'repo'}", "chart": "c/hello-world",
            "release": "hello-world", "prefix": "STAGING", "namespace": cluster.namespaces["staging"]}
    unprefixed = plugin(tmp_path, base, env={"API_SERVER": cluster.emulator.url, "KUBERNETES_TOKEN": "x-token-1"})
    assert unprefixed.returncode == 1
    assert unprefixed.stderr.strip() == (
        "error: setting prefix (STAGING) and API_SERVER (environment) both say which cluster; keep one (prefix reads "
        "STAGING_API_SERVER and STAGING_KUBERNETES_TOKEN)")
    missing = plugin(tmp_path, base, env={"STAGING_API_SERVER": cluster.emulator.url})
    assert missing.stderr.strip() == ("error: STAGING_KUBERNETES_TOKEN is not set (setting prefix is STAGING); add it "
                                      "to the step's environment (from_secret: staging_kubernetes_token)")
    assert cluster.release_secrets() == []


def test_an_http_api_server_is_refused_before_a_token_is_sent(tmp_path):
    result = plugin(chart_workspace(tmp_path), {"chart": "./", "release": "r", "namespace": "ns",
                                                "kube_api_server": "http://127.0.0.1:9", "kube_token": "t-1234"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: setting kube_api_server is an http:// address")


def test_a_bad_add_repos_url_is_named_by_the_setting_the_user_wrote(tmp_path):
    """The URL reaches release.deploy as its repository (repo.url, there): errors name add_repos (or helm_repos)."""
    base = {"chart": "repo/hello-world", "release": "r", "namespace": "ns", "kube_api_server": "https://127.0.0.1:9",
            "kube_token": "t-1234"}
    ambiguous = plugin(tmp_path, {**base, "add_repos": "repo=http://user:$REPO_PASSWORD@127.0.0.1:9/charts"},
                       env={"REPO_PASSWORD": "pass/word-77"})
    assert (ambiguous.returncode, ambiguous.stderr.strip()) == (1, (
        "error: setting add_repos 'http://***@127.0.0.1:9/charts': '@' after '/', '?' or '#' is ambiguous; "
        "percent-encode them in a user name or password (/ %2F, ? %3F, # %23, @ %40)"))
    unreachable = plugin(tmp_path, {**base, "helm_repos": "repo=http://user:$REPO_PASSWORD@127.0.0.1:9/charts",
                                    "debug": "true"},  # Invoke logs its config, the URL in it, before any task runs
                         env={"REPO_PASSWORD": "password-77"})
    assert unreachable.returncode == 1
    assert unreachable.stderr.strip().endswith("; check setting helm_repos"), unreachable.stderr
    never_printed(ambiguous, "pass/word-77")
    never_printed(unreachable, "password-77")


def test_an_add_repos_password_from_a_variable_of_any_name_is_never_printed_even_in_the_debug_log(tmp_path):
    """With debug, Invoke logs its config (the URL, the password filled in) before any task runs. REPO_PW is not named
    like a credential, and a password typed with blanks is in no URL a pattern finds in text: both are secrets as the
    plugin reads them, in the debug log, the error and whatever the task prints."""
    for password in ("pa55 w0rd with blanks-L6", "Pa55w0rd-e2e-L6"):
        result = plugin(tmp_path, {"chart": "repo/hello-world", "release": "r", "namespace": "ns", "debug": "true",
                                   "kube_api_server": "https://127.0.0.1:9", "kube_token": "t-1234",
                                   "add_repos": "repo=http://bot:$REPO_PW@127.0.0.1:9/a"}, env={"REPO_PW": password})
        assert found(result.stdout + result.stderr, {"password": password}) == []
        assert "DEBUG:invoke:Overrides: " in result.stderr and "'http://***@127.0.0.1:9/a'" in result.stderr
        line = result.stderr.strip().splitlines()[-1]  # the blanks refused, or the repository unreachable
        assert result.returncode == 1 and line.startswith("error: ") and "add_repos" in line, line


def test_a_comma_in_a_literal_add_repos_password_fails_with_the_fix_and_shows_no_piece_of_it(tmp_path):
    """`add_repos: {from_secret: ...}` holding a password with a comma: split at commas (as drone-helm3 splits it),
    its tail was echoed as `'rT5mQw2zz@127.0.0.1:1/charts' is not NAME=URL`."""
    result = plugin(tmp_path, {"chart": "repo/hello-world", "release": "r", "namespace": "ns",
                               "kube_api_server": "https://127.0.0.1:9", "kube_token": "t-1234",
                               "add_repos": "repo=https://bot:Xk9,rT5mQw2zz@127.0.0.1:1/charts"})
    assert found(result.stdout + result.stderr, {"password": "Xk9,rT5mQw2zz", "its tail": "rT5mQw2zz"}) == []
    assert (result.returncode, result.stderr.strip()) == (1, (
        "error: setting add_repos: a URL's user name or password holds a comma, which splits the list there (a list "
        "setting is comma-separated, as Drone passes it): percent-encode it as %2C"))


def test_an_api_server_written_without_a_scheme_is_reached_over_https(cluster, tmp_path):
    """drone-helm3 writes `kube_api_server: 127.0.0.1:6443` into a kubeconfig, where client-go takes https (a CA is
    given); sent as it was, it went over plain HTTP and failed with "cluster unreachable: EOF"."""
    server = cluster.emulator.url.removeprefix("https://")
    result = plugin(chart_workspace(tmp_path), {
        "chart": "./", "release": "hello-world", "namespace": cluster.namespaces["staging"], "kube_api_server": server,
        "kube_certificate": cluster.emulator.ca_base64, "kube_token": cluster.emulator.accept_token("noscheme-token-4"),
    })
    assert result.returncode == 0, result.stderr
    assert cluster.image() == f"{IMAGE}:latest"
    never_printed(result, "noscheme-token-4")


def test_a_broken_chart_yaml_checked_for_chart_version_fails_in_one_line_without_a_traceback(tmp_path):
    workspace = chart_workspace(tmp_path)
    (workspace / "Chart.yaml").write_text("apiVersion: v2\nname: [\nversion: 0.1.0\n")
    result = plugin(workspace, {"chart": "./", "release": "r", "chart_version": "0.1.0",
                                "kube_api_server": "https://127.0.0.1:9", "kube_token": "t-1234"})
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {tmp_path.name}/workspace/Chart.yaml: not valid YAML at line ")
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_an_error_about_one_values_item_names_the_setting_and_the_item_as_the_user_wrote_it(tmp_path):
    """Not the task flags the plugin hands them to (--set, --set-secret), which the user never wrote."""
    base = {"chart": "./", "release": "r", "kube_api_server": "https://127.0.0.1:9", "kube_token": "t-1234"}
    for values, line in (
        ("image.tag=${DRONE_NOPE}", ("error: setting values 'image.tag=${DRONE_NOPE}': ${DRONE_NOPE} is not set; set "
                                     "it, give a default (${DRONE_NOPE:-DEFAULT}), or write $$ for a literal $")),
        ("a..b=$DB_PASSWORD", ("error: setting values 'a..b=$DB_PASSWORD': not a values path; use dotted keys like "
                               "db.password (list items as hosts[0])")),
    ):
        result = plugin(chart_workspace(tmp_path / values[0]), {**base, "values": values},
                        env={"DB_PASSWORD": DB_PASSWORD})
        assert (result.returncode, result.stderr.strip()) == (1, line)


def typed_chart_workspace(tmp_path):
    """The chart with a schema that wants numbers and a ConfigMap that only `feature.enabled` true makes."""
    workspace = chart_workspace(tmp_path)
    integer = {"type": "integer"}
    (workspace / "values.schema.json").write_text(json.dumps({"type": "object", "properties": {
        "replicaCount": integer, "service": {"type": "object", "properties": {"targetPort": integer}}}}))
    (workspace / "templates" / "feature.yaml").write_text(
        "{{- if .Values.feature.enabled }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: {{ .Release.Name }}-feature\n{{- end }}\n")
    with (workspace / "values.yaml").open("a") as values:
        values.write("feature:\n  enabled: true\n")
    return workspace


def test_a_values_reference_helm_types_is_deployed_typed_as_drone_helm3s_set_deploys_it(cluster, tmp_path):
    """drone-helm3 expands `replicaCount=$REPLICAS` and hands it to --set, which makes 2 a number: as text (what
    --set-secret sets) a values.schema.json that wants an integer refuses it."""
    result = plugin(typed_chart_workspace(tmp_path), {
        "chart": "./", "release": "hello-world", "prefix": "STAGING", "namespace": cluster.namespaces["staging"],
        "values": "replicaCount=$REPLICAS",
    }, env={**cluster.emulator.ci_env("STAGING", "typed-token-21"), "STAGING_REPLICAS": "2"})
    assert result.returncode == 0, result.stderr
    assert cluster.deployment()["spec"]["replicas"] == 2


def test_a_values_reference_to_a_boolean_or_a_number_is_deployed_typed_and_never_printed(cluster, tmp_path):
    """`feature.enabled=$FEATURE_ENABLED` false must be false to `{{ if }}` (the text "false" is true)."""
    result = plugin(typed_chart_workspace(tmp_path), {
        "chart": "./", "release": "hello-world", "prefix": "STAGING", "namespace": cluster.namespaces["staging"],
        "values": "feature.enabled=$FEATURE_ENABLED,service.targetPort=$TARGET_PORT",
    }, env={**cluster.emulator.ci_env("STAGING", "typed-token-22"), "STAGING_FEATURE_ENABLED": "false",
            "STAGING_TARGET_PORT": "18081"})
    assert result.returncode == 0, result.stderr
    container = cluster.deployment()["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == 18081
    assert ("v1", "configmaps", cluster.namespaces["staging"], "hello-world-feature") not in cluster.emulator.store
    never_printed(result, "18081", "typed-token-22")
