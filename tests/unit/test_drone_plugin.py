"""The plugin's translation of Drone settings into one task call: every setting, alias and refusal, on data."""

import base64
import textwrap
from pathlib import Path

import pytest

from scripts import drone_plugin as plugin
from tasks import ui
from tests.support.leaks import forms, found

CREDENTIALS = {"KUBE_API_SERVER": "https://k8s.example.com", "KUBE_TOKEN": "token-1234"}
CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"
# Every setting pelotech/drone-helm3 documents (docs/parameter_reference.md, aliases included) and every flag
# of ipedrazas/drone-helm (main.go), plus drone-helm's credential variables read as settings.
DRONE_HELM3 = (
    "mode", "helm_command", "update_dependencies", "add_repos", "helm_repos", "repo_certificate", "repo_ca_certificate",
    "chart_name_selector", "ignore_releases", "namespace", "debug", "chart", "values", "string_values", "values_files",
    "lint_strictly", "release", "skip_kubeconfig", "kube_api_server", "api_server", "kube_token", "kubernetes_token",
    "kube_service_account", "service_account", "kube_certificate", "kubernetes_certificate", "chart_version", "dry_run",
    "dependencies_action", "wait_for_upgrade", "wait", "timeout", "force_upgrade", "force", "atomic_upgrade",
    "cleanup_failed_upgrade", "history_max", "reuse_values", "skip_tls_verify", "create_namespace", "skip_crds",
    "keep_history",
)
DRONE_HELM = (
    "helm_command", "kube_config", "namespace", "release", "helm_repos", "chart", "chart_version", "eks_cluster",
    "eks_role_arn", "values", "string_values", "values_files", "skip_tls_verify", "debug", "dry_run", "prefix",
    "tiller_ns", "wait", "recreate_pods", "upgrade", "canary_image", "client_only", "reuse_values", "timeout", "force",
    "purge", "update_dependencies", "stable_repo_url", "api_server", "kubernetes_token", "kubernetes_certificate",
)


@pytest.fixture
def workspace(tmp_path):
    """A checkout whose root is a chart (drone-helm3's `chart: ./`), with another chart under charts/."""
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 0.3.0\n")
    (tmp_path / "charts" / "web").mkdir(parents=True)
    (tmp_path / "charts" / "web" / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 1.2.3\n")
    return tmp_path


def env_of(settings, env=None):
    return {**{f"PLUGIN_{k.upper()}": v for k, v in settings.items()}, **(CREDENTIALS if env is None else env)}


def call(workspace, settings, env=None):
    environ = env_of(settings, env)
    return plugin.translate(plugin.read_settings(environ), environ, workspace, Path("/scratch"))


def refusal(workspace, settings, env=None):
    with pytest.raises(plugin.PluginError) as stop:
        call(workspace, settings, env)
    return str(stop.value)


BASE = {"chart": "./", "release": "app"}
DEFAULTS: dict[str, object] = {"env": "drone", "release": "app", "url": None, "version": None, "set_": [],
                               "set_string": [], "set_secret": [], "values": [], "wait": True, "dry_run": False,
                               "timeout": "5m", "yes": True}


@pytest.mark.parametrize("settings, arguments", [
    ({}, {}),
    ({"values": "image.tag=v2,ports={80,443},name=a\\,b"}, {"set_": ["image.tag=v2", "ports={80,443}", "name=a\\,b"]}),
    ({"values": "image.tag=v2, replicaCount=3 ,x=1"}, {"set_": ["image.tag=v2", "replicaCount=3", "x=1"]}),
    ({"values": '"image.tag=v2,replicaCount=2"'}, {"set_": ["image.tag=v2", "replicaCount=2"]}),  # drone-helm's unQuote
    ({"values": '["image.tag=v2", "replicaCount=2,x={1,2}"]'}, {"set_": ["image.tag=v2", "replicaCount=2", "x={1,2}"]}),
    ({"values_files": '["values/a.yaml"]', "secrets": '["db.password=DB_PASSWORD"]'},
     {"values": ["WS/values/a.yaml"], "set_secret": ["db.password=DB_PASSWORD"]}),
    ({"values": "tag=${DRONE_COMMIT_SHA:0:7},branch=$DRONE_BRANCH,price=$$5"},
     {"set_": ["tag=${DRONE_COMMIT_SHA:0:7}", "branch=${DRONE_BRANCH}", "price=$$5"]}),
    ({"values": "tag=${DRONE_TAG##v},name=app-$DRONE_BRANCH,x=${CI_X:-${DRONE_TAG}},n=${#DRONE_BRANCH}"},  # every form
     {"set_": ["tag=${DRONE_TAG##v}", "name=app-$DRONE_BRANCH", "x=${CI_X:-${DRONE_TAG}}", "n=${#DRONE_BRANCH}"]}),
    ({"values": "db.password=$DB_PASSWORD,api.key=${API_KEY}"},
     {"set_secret": ["db.password=DB_PASSWORD", "api.key=API_KEY"]}),
    ({"secrets": "db.password=DB_PASSWORD,api.key=API_KEY"},
     {"set_secret": ["db.password=DB_PASSWORD", "api.key=API_KEY"]}),
    ({"string_values": "build=0123,flag=true,db.password=$DB_PASSWORD"},
     {"set_string": ["build=0123", "flag=true"], "set_secret": ["db.password=DB_PASSWORD"]}),
    ({"values_files": "values/a.yaml, values/b.yaml"}, {"values": ["WS/values/a.yaml", "WS/values/b.yaml"]}),
    ({"wait_for_upgrade": "false"}, {"wait": False}),
    ({"wait": "false"}, {"wait": False}),
    ({"wait": "false", "atomic_upgrade": "true"}, {"wait": True}),
    ({"wait": "False", "wait_for_upgrade": "false"}, {"wait": False}),  # two names, one meaning: no conflict
    ({"wait": "1", "wait_for_upgrade": "TRUE"}, {"wait": True}),
    ({"timeout": "300"}, {"timeout": "300s"}),
    ({"timeout": "1m30s"}, {"timeout": "1m30s"}),
    ({"dry_run": "true"}, {"dry_run": True}),
    ({"chart_version": "0.3.0"}, {"version": "0.3.0"}),
    ({"chart": "charts/web"}, {}),
    ({"chart": "repo/web", "add_repos": "repo=https://charts.example.com"}, {"url": "https://charts.example.com"}),
    ({"chart": "repo/web", "helm_repos": "repo=https://charts.example.com"}, {"url": "https://charts.example.com"}),
    ({"chart": "web", "repo_url": "s3://charts-bucket"}, {"url": "s3://charts-bucket"}),
    ({"chart": "repo/web", "add_repos": "repo=https://charts.example.com", "chart_version": "~1.2"},
     {"url": "https://charts.example.com", "version": "~1.2"}),
    ({"update_dependencies": "true"}, {}),
    ({"dependencies_action": "build"}, {}),
    ({"debug": "true", "kube_service_account": "helm", "cleanup_failed_upgrade": "true"}, {}),
], ids=lambda v: str(v) if isinstance(v, dict) and v else None)
def test_each_supported_setting_becomes_the_intended_release_deploy_argument(workspace, settings, arguments):
    made = call(workspace, {**BASE, **settings}, {**CREDENTIALS, "DB_PASSWORD": "p", "API_KEY": "k"})
    expected = {**DEFAULTS, **{k: [x.replace("WS", str(workspace)) for x in v] if k == "values" else v
                               for k, v in arguments.items()}}
    assert (made.task, made.arguments) == ("release.deploy", expected)


def test_a_values_reference_helm_types_is_a_typed_set_item_its_value_masked_and_text_stays_secret(workspace):
    """As drone-helm3's --set types it: false stays false for `{{ if }}`, 2 a number for a schema."""
    env = {**CREDENTIALS, "FLAG": "false", "REPLICAS": "2", "PORT": "+8080", "NOTHING": "null", "NAME": "hello",
           "LIST": "1,2", "PRICE": "$5", "ZIP": "007", "LOUD": "TRUE"}
    made = call(workspace, {**BASE, "values": "a=1,on=$FLAG,n=${REPLICAS},port=$PORT,x=$NOTHING,name=$NAME,l=$LIST,"
                                              "p=$PRICE,zip=$ZIP,up=$LOUD", "string_values": "s=$FLAG"}, env)
    assert made.arguments["set_"] == ["a=1", "on=false", "n=2", "port=+8080", "x=null", "up=TRUE"]  # Helm types them
    assert made.arguments["set_secret"] == ["name=NAME", "l=LIST", "p=PRICE", "zip=ZIP", "s=FLAG"]  # text, as before
    # registered by main before the task runs: as given, and as Helm writes what it made of them
    assert made.secrets == ("false", "false", "2", "2", "+8080", "8080", "null", "null", "TRUE", "true")
    assert plugin.rename("--set #2 (not shown: it holds a secret): bad", made.sources) == (
        "setting values 'on=$FLAG': bad")


def test_history_max_becomes_the_environments_history_limit(workspace):
    made = call(workspace, {**BASE, "history_max": "5"})
    assert made.config["release"]["environments"]["drone"]["history_max"] == 5
    with pytest.raises(plugin.PluginError, match="history_max is 'many', not a whole number"):
        call(workspace, {**BASE, "history_max": "many"})


def test_the_release_environment_holds_namespace_credentials_and_create_namespace(workspace):
    made = call(workspace, {**BASE, "namespace": "staging", "create_namespace": "true", "kube_certificate": CA})
    assert made.config == {
        "release": {"environments": {"drone": {"secrets_prefix": "PLUGIN", "namespace": "staging",
                                               "create_namespace": True}},
                    "releases": {"app": {"chart": str(workspace)}}},
        "repo": {"build_dir": "/scratch", "dependency_repositories": {}},
    }
    assert made.environment == {"PLUGIN_API_SERVER": "https://k8s.example.com", "PLUGIN_KUBERNETES_TOKEN": "token-1234",
                                "PLUGIN_KUBERNETES_CERTIFICATE": CA}
    assert call(workspace, BASE).config["release"]["environments"]["drone"]["namespace"] == "default"  # as Helm


def test_a_repository_given_twice_with_one_url_is_one_repository(workspace):
    made = call(workspace, {"chart": "r/web", "release": "web", "add_repos": "r=https://h/charts, r=https://h/charts"})
    assert made.config["repo"]["dependency_repositories"] == {"r": "https://h/charts"}


def test_a_repository_chart_is_fetched_by_name_and_add_repos_serve_its_dependencies(workspace):
    made = call(workspace, {"chart": "repo/web", "release": "web", "add_repos": "repo=https://c.example.com,"
                            "deps=https://$REPO_USER:$REPO_PASSWORD@deps.example.com"},
                {**CREDENTIALS, "REPO_USER": "u", "REPO_PASSWORD": "pw"})
    assert made.config["release"]["releases"] == {"web": {"chart": "web"}}
    assert made.config["repo"]["dependency_repositories"] == {"repo": "https://c.example.com",
                                                              "deps": "https://u:pw@deps.example.com"}
    assert made.sources["repo.url"] == "setting add_repos"  # what errors about the repository name
    assert call(workspace, {"chart": "web", "release": "web", "repo_url": "s3://b"}).sources["repo.url"] == (
        "setting repo_url")


def test_add_repos_credentials_are_secrets_in_every_encoding_from_when_the_setting_is_read(workspace):
    """Invoke logs its config, the URLs in it, before any task runs (--debug): a password read from a variable not
    named like one (typed with blanks, which no URL pattern finds in text) and a literal one are registered first."""
    secrets = {"from the environment": "pa55 w0rd with blanks-L6", "literal": "l1teral-Pa55-L6"}
    repos = f"repo=http://bot:$REPO_PW@127.0.0.1:47003/a,lit=https://ci:{secrets['literal']}@h/c"
    made = call(workspace, {"chart": "repo/web", "release": "web", "add_repos": repos},
                {**CREDENTIALS, "REPO_PW": secrets["from the environment"]})
    text = f"DEBUG:invoke:Overrides: {made.config}\n" + "\n".join(sorted(forms(secrets["from the environment"]) |
                                                                          forms(secrets["literal"])))
    assert {hit.partition(":")[0] for hit in found(text, secrets)} == set(secrets)  # the scan sees both
    assert found(ui.redact(text), secrets) == []


@pytest.mark.parametrize("repos", [
    "repo=https://bot:Xk9,rT5mQw2zz@127.0.0.1:1/charts",  # a literal password: `add_repos: {from_secret: ...}`
    "repo=https://bot:Xk9,,rT5mQw2zz@h/charts",
    "repo=https://bot:Xk9,rT5mQw2zz=x@h/charts",  # its tail looks like NAME=URL
    "repo=https://h/charts, deps=https://bot:Xk9 , rT5mQw2zz@h/deps",  # typed with blanks
    '["repo=https://bot:Xk9,rT5mQw2zz@h/charts"]',
])
def test_a_comma_typed_in_an_add_repos_password_is_refused_with_the_fix_and_no_piece_of_it_shown(workspace, repos):
    """The list is split at every comma, as drone-helm3 splits it: the password's pieces would be entries of their
    own, one echoed as `'rT5mQw2zz@127.0.0.1:1/charts' is not NAME=URL`, which a registered secret does not mask."""
    message = refusal(workspace, {"chart": "repo/web", "release": "web", "add_repos": repos})
    assert message == ("setting add_repos: a URL's user name or password holds a comma, which splits the list there (a "
                       "list setting is comma-separated, as Drone passes it): percent-encode it as %2C")
    assert not [piece for piece in ("Xk9", "rT5mQw2zz") if piece in ui.redact(message)]


def test_a_urls_credentials_in_any_setting_are_secrets_once_read_whole_before_a_list_is_split():
    secrets = {"add_repos": "Xk9,rT5mQw2zz-read", "repo_url": "s3cret Key-with blank"}
    plugin.read_settings({"PLUGIN_ADD_REPOS": f"r=https://h/c,repo=https://bot:{secrets['add_repos']}@h/charts",
                          "REPO_URL": f"s3://AKIA:{secrets['repo_url']}@bucket/charts"})
    text = "\n".join(sorted(forms(secrets["add_repos"]) | forms(secrets["repo_url"])))
    assert found(ui.redact(text), secrets) == []


def test_add_repos_is_split_at_commas_as_drone_helm3_splits_it_and_a_percent_encoded_comma_is_kept(workspace):
    repos = "repo=https://bot:Xk9%2CrT5mQw2zz@h/charts,deps=https://h/deps?a=1, other=https://ci:pw@h/o"
    made = call(workspace, {"chart": "repo/web", "release": "web", "add_repos": repos})
    assert made.config["repo"]["dependency_repositories"] == {
        "repo": "https://bot:Xk9%2CrT5mQw2zz@h/charts", "deps": "https://h/deps?a=1", "other": "https://ci:pw@h/o"}


def test_a_certificate_wrapped_at_76_columns_as_base64_writes_it_is_taken(workspace):
    """`base64 ca.pem` wraps its output; the tasks (as kubectl) drop the line breaks, so the plugin takes it too."""
    wrapped = "\n".join(textwrap.wrap(base64.b64encode(b"-----BEGIN CERTIFICATE-----\n" + b"A" * 300).decode(), 76))
    made = call(workspace, {**BASE, "kube_certificate": wrapped + "\n"})
    assert made.environment["PLUGIN_KUBERNETES_CERTIFICATE"] == wrapped + "\n"


@pytest.mark.parametrize("settings, env, prefix, variables", [
    ({"kube_api_server": "https://a", "kube_token": "tok-1"}, {}, "PLUGIN",
     {"PLUGIN_API_SERVER": "https://a", "PLUGIN_KUBERNETES_TOKEN": "tok-1"}),
    ({"api_server": "https://a", "kubernetes_token": "tok-1", "kubernetes_certificate": CA}, {}, "PLUGIN",
     {"PLUGIN_API_SERVER": "https://a", "PLUGIN_KUBERNETES_TOKEN": "tok-1", "PLUGIN_KUBERNETES_CERTIFICATE": CA}),
    ({}, {"API_SERVER": "https://a", "KUBERNETES_TOKEN": "tok-1"}, "PLUGIN",
     {"PLUGIN_API_SERVER": "https://a", "PLUGIN_KUBERNETES_TOKEN": "tok-1"}),
    ({"prefix": "staging"}, {"STAGING_API_SERVER": "https://a", "STAGING_KUBERNETES_TOKEN": "tok-1"}, "STAGING", {}),
])
def test_credentials_under_both_plugins_names_reach_the_tasks(workspace, settings, env, prefix, variables):
    made = call(workspace, {**BASE, **settings}, env)
    assert made.config["release"]["environments"]["drone"]["secrets_prefix"] == prefix
    assert made.environment == variables


STAGING = {"STAGING_API_SERVER": "https://a", "STAGING_KUBERNETES_TOKEN": "tok-1"}


@pytest.mark.parametrize("settings, set_secret", [
    ({"values": "secret.password=${SECRET_PASSWORD},tag=$DRONE_TAG"}, ["secret.password=STAGING_SECRET_PASSWORD"]),
    ({"string_values": "secret.password=$SECRET_PASSWORD"}, ["secret.password=STAGING_SECRET_PASSWORD"]),
    ({"values": "db=$STAGING_DB"}, ["db=STAGING_DB"]),  # prefixed already
    ({"values": "pw=$secret_password"}, ["pw=STAGING_SECRET_PASSWORD"]),  # upper-cased whole, as drone-helm reads it
    ({"values": "netrc=$DRONE_NETRC_PASSWORD"}, ["netrc=DRONE_NETRC_PASSWORD"]),  # a build variable
    ({"secrets": "secret.password=SECRET_PASSWORD"}, ["secret.password=SECRET_PASSWORD"]),  # drone-helm's: no prefix
])
def test_with_a_prefix_a_values_reference_reads_the_prefixed_variable_as_drone_helm_does(workspace, settings,
                                                                                        set_secret):
    env = {**STAGING, "STAGING_SECRET_PASSWORD": "s", "SECRET_PASSWORD": "p", "STAGING_DB": "d", "DRONE_TAG": "v1",
           "DRONE_NETRC_PASSWORD": "n"}
    assert call(workspace, {**BASE, "prefix": "staging", **settings}, env).arguments["set_secret"] == set_secret


def test_with_a_prefix_a_missing_prefixed_variable_is_refused_even_where_the_unprefixed_one_is_set(workspace):
    message = refusal(workspace, {**BASE, "prefix": "STAGING", "values": "secret.password=$SECRET_PASSWORD"},
                      {**STAGING, "SECRET_PASSWORD": "another-environments"})
    assert message == (
        "setting values: secret.password reads STAGING_SECRET_PASSWORD ($SECRET_PASSWORD with setting prefix STAGING), "
        "which is not set; add STAGING_SECRET_PASSWORD to the step's environment (from_secret: ...); SECRET_PASSWORD "
        "is not read instead: with a prefix, unprefixed variables never are (as for the cluster credentials)")


@pytest.mark.parametrize("mode, event, task", [
    ("upgrade", "", "release.deploy"), ("install", "", "release.deploy"), ("uninstall", "", "release.uninstall"),
    ("delete", "", "release.uninstall"), ("lint", "", "repo.lint"), ("help", "", "help"),
    (None, "push", "release.deploy"), (None, "promote", "release.deploy"), (None, "tag", "release.deploy"),
    (None, "delete", "release.uninstall"), (None, "", "release.deploy"),
])
def test_modes_and_helm_command_and_drone_helm3s_choice_by_event(workspace, mode, event, task):
    for name in ("mode", "helm_command"):
        settings = {**BASE, **({name: mode} if mode else {})}
        assert call(workspace, settings, {**CREDENTIALS, "DRONE_BUILD_EVENT": event}).task == task


def test_uninstall_and_lint_calls(workspace):
    uninstall = call(workspace, {"mode": "uninstall", "release": "app", "namespace": "ns", "timeout": "90",
                                 "wait": "false", "values": "a=1"})
    assert uninstall.arguments == {"env": "drone", "release": "app", "wait": False, "timeout": "90s", "yes": True}
    assert uninstall.warnings == ("setting values is ignored with mode uninstall",)
    lint = call(workspace, {"mode": "lint", "chart": "./charts/web"}, {})
    assert (lint.task, lint.arguments) == ("repo.lint", {"chart": None})
    assert lint.config["repo"]["charts_dir"] == str(workspace / "charts" / "web")
    assert lint.warnings == ()
    assert call(workspace, {"mode": "lint", "chart": "./charts/web", "lint_strictly": "false"}, {}).warnings == ()
    told = call(workspace, {"mode": "lint", "chart": "./charts/web", "release": "app", "wait": "false"}, {})
    assert told.warnings == ("setting release is ignored with mode lint: it lints the chart, and deploys nothing",
                             "setting wait is ignored with mode lint: it lints the chart, and deploys nothing")
    for values in ("values", "string_values", "values_files", "secrets"):
        with pytest.raises(plugin.PluginError, match=f"setting {values} is not supported with mode lint"):
            call(workspace, {"mode": "lint", "chart": "./charts/web", values: "x=1"}, {})


@pytest.mark.parametrize("alias, canonical", [
    ("helm_command", "mode"), ("helm_repos", "add_repos"), ("api_server", "kube_api_server"),
    ("kubernetes_token", "kube_token"), ("kubernetes_certificate", "kube_certificate"), ("wait", "wait_for_upgrade"),
])
def test_drone_helms_names_mean_what_drone_helm3s_do(workspace, alias, canonical):
    given = {"mode": "upgrade", "add_repos": "r=https://r.example.com", "kube_api_server": "https://b",
             "kube_token": "tok-2", "kube_certificate": CA, "wait_for_upgrade": "false"}
    credentials = {k: given[k] for k in ("kube_api_server", "kube_token") if k != canonical}
    made = [call(workspace, {**BASE, **credentials, name: given[canonical]}, {}) for name in (alias, canonical)]
    first, second = ((c.task, c.arguments, c.config, c.environment) for c in made)
    assert first == second
    assert made[0].sources.get(f"PLUGIN_{plugin.CREDENTIALS.get(canonical)}", f"setting {alias}") == f"setting {alias}"


def test_every_setting_either_plugin_documents_is_supported_ignored_or_refused():
    assert set(DRONE_HELM3) | set(DRONE_HELM) <= set(plugin.NAMES)
    groups = [plugin.SUPPORTED, set(plugin.IGNORED), set(plugin.REFUSED)]
    assert sum(map(len, groups)) == len(set().union(*groups))  # each in exactly one group
    assert set(plugin.ALIASES.values()) <= set(plugin.KNOWN)


@pytest.mark.parametrize("name", sorted(plugin.REFUSED))
def test_a_setting_that_would_change_the_deploy_fails_naming_it(workspace, name):
    value = "true" if name in plugin.BOOLEAN else "x=1"
    message = refusal(workspace, {**BASE, name: value})
    assert message.startswith(f"setting {name}{': true' if name in plugin.BOOLEAN else ''} is not supported: ")
    if name in plugin.BOOLEAN:
        call(workspace, {**BASE, name: "false"})  # false is what the tasks do anyway


@pytest.mark.parametrize("name", sorted(plugin.IGNORED))
def test_a_setting_that_changes_nothing_deployed_is_ignored_with_a_warning(workspace, name):
    made = call(workspace, {**BASE, name: "true" if name in plugin.BOOLEAN else "x"})
    assert made.warnings == (f"setting {name} is ignored: {plugin.IGNORED[name]}",)


@pytest.mark.parametrize("settings, env, message", [
    ({"chart_verison": "1.0.0"}, None, ("setting chart_verison is unknown; did you mean chart_version? remove it "
                                       "(supported settings: README, Plugin mode)")),
    ({"force": "true"}, None, ("setting force: true is not supported: it replaces resources by deleting them; "
                               "remove it")),
    ({"wait": "sometimes"}, None, "setting wait is 'sometimes', not a boolean; use true or false"),
    ({"values": "url=https://$HOST/x"}, None, ("setting values: url holds $HOST inside its value, which would be "
     "deployed literally; a secret is a whole value (url=$NAME) or a secrets entry (url=NAME), and a literal $ is "
     "written $$")),
    ({"values": "tag=v-${GIT_SHA}"}, None, ("setting values: tag holds ${GIT_SHA} inside its value, which would be "
     "deployed literally; a secret is a whole value (tag=$NAME) or a secrets entry (tag=NAME), and a literal $ is "
     "written $$")),
    ({"values": "tag=${DRONE_TAG##v}-$HOST"}, None, ("setting values: tag holds $HOST inside its value, which would "
     "be deployed literally; a secret is a whole value (tag=$NAME) or a secrets entry (tag=NAME), and a literal $ is "
     "written $$")),
    ({"values": "db=$DB_PASS"}, None, ("setting values: db reads DB_PASS, which is not set; add DB_PASS to the step's "
                                      "environment (from_secret: ...)")),
    ({"secrets": "prod_api_server"}, None, ("setting secrets: 'prod_api_server' is not PATH=ENV_VAR (e.g. "
     "db.password=DB_PASSWORD); the variable comes from the step's environment (from_secret)")),
    ({}, {"KUBE_TOKEN": "t"}, ("setting kube_api_server is not set; give it in settings (kube_api_server: "
     "https://kubernetes.example.com) or as KUBE_API_SERVER in the step's environment, or use prefix")),
    ({}, {"API_SERVER": "https://a"}, ("setting kube_token is not set; give it in settings (kube_token: {from_secret: "
     "kube_token}) or as KUBE_TOKEN in the step's environment, or use prefix")),
    ({"wait": "false", "wait_for_upgrade": "true"}, None, ("setting wait and setting wait_for_upgrade differ; keep one "
                                                           "of them")),
    ({"values": '["image.tag=v2", 2]'}, None, ("setting values starts with [ but is not a JSON list of strings; write "
                                              "a YAML list (values: [a, b]) or one string (a,b)")),
    ({"values": "[image.tag=v2]"}, None, ("setting values starts with [ but is not a JSON list of strings; write a "
                                         "YAML list (values: [a, b]) or one string (a,b)")),
    ({"kube_api_server": "https://a"}, None, ("setting kube_api_server and KUBE_API_SERVER (environment) differ; keep "
                                             "one of them")),
    ({"kube_certificate": "not base64!"}, None, ("setting kube_certificate is not base64; give the cluster CA's PEM, "
                                                "base64-encoded")),
    ({"prefix": "STAGING"}, None, ("setting prefix (STAGING) and KUBE_API_SERVER (environment) both say which cluster; "
     "keep one (prefix reads STAGING_API_SERVER and STAGING_KUBERNETES_TOKEN)")),
    ({"prefix": "STAGING"}, {"STAGING_API_SERVER": "https://a"}, ("STAGING_KUBERNETES_TOKEN is not set (setting prefix "
     "is STAGING); add it to the step's environment (from_secret: staging_kubernetes_token)")),
    ({"prefix": "staging-eu"}, {}, "setting prefix 'STAGING-EU' is not a variable prefix; use one like STAGING"),
    ({"mode": "rollback"}, None, "setting mode 'rollback' is not a mode; use upgrade, uninstall (delete) or lint"),
    ({"timeout": "1.5h"}, None, "setting timeout '1.5h': use seconds (300) or a duration like 5m30s"),
    ({"chart": "charts/web", "add_repos": "charts=https://c"}, None, ("setting chart 'charts/web' is both a folder of "
     "the workspace and chart web of repository charts; write ./charts/web for the folder, or rename the repository")),
    ({"chart": "other/web", "add_repos": "c=https://c"}, None, ("setting chart 'other/web': repository 'other' is not "
                                                               "in add_repos (c); add other=URL")),
    ({"chart": "web"}, None, "setting chart 'web': name its repository as NAME/web (add_repos has none)"),
    ({"chart": "oci://registry/web"}, None, ("setting chart 'oci://registry/web': a URL is not supported; add_repos: "
                                            "NAME=URL and chart: NAME/CHART")),
    ({"add_repos": "charts"}, None, "setting add_repos: 'charts' is not NAME=URL (e.g. charts=https://...)"),
    ({"add_repos": "https://c.example.com"}, None, ("setting add_repos: entry 1 (not shown: it may hold a URL's "
                                                   "credentials) is not NAME=URL (e.g. charts=https://...)")),
    ({"add_repos": "c=https://c, https://ci:pw@h/x=y"}, None, ("setting add_repos: entry 2 (not shown: it may hold a "
     "URL's credentials) is not NAME=URL (e.g. charts=https://...)")),
    ({"chart": "r/web", "add_repos": "r=https://h/charts,r=https://h2"}, None, ("setting add_repos: r is given twice, "
     "as https://h/charts and https://h2; give each repository its own name")),
    ({"chart_version": "0.4.0"}, None, ("setting chart_version is 0.4.0 but the chart folder WS holds version 0.3.0; "
                                       "fix one of them")),
    ({"atomic_upgrade": "false"}, None, ("setting atomic_upgrade: false is not supported: a failed deploy is always "
                                        "rolled back; remove it")),
    ({"mode": "uninstall", "dry_run": "true"}, None, ("setting dry_run: true is not supported with mode uninstall (an "
                                                     "uninstall has no dry run); remove it, or the step")),
    ({"mode": "lint", "values": "a=1"}, None, ("setting values is not supported with mode lint: the chart is linted "
                                              "with its own values (invoke repo.lint); remove it")),
    ({"release": ""}, None, "setting release is required"),
], ids=lambda v: str(v) if isinstance(v, dict) and v else None)
def test_bad_settings_are_one_clear_line_naming_what_the_user_wrote(workspace, settings, env, message):
    assert refusal(workspace, {**BASE, **settings}, env) == message.replace("WS", str(workspace))


BOMB = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
    b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n" % ((c, c) + (c - 1,) * 10) for c in b"bcdefgh"
) + b"apiVersion: v2\nname: app\nversion: *h\n"


@pytest.mark.parametrize("content, problem", [
    (b"apiVersion: v2\nname: [\nversion: 0.3.0\n", "not valid YAML"),
    (b"\xff\xfeapiVersion: v2\n", "not UTF-8"),
    (b"- apiVersion: v2\n- name: app\n", "must be a mapping"),
    (BOMB, "excessive aliasing"),
], ids=["syntax", "bytes", "list", "alias bomb"])
def test_a_broken_chart_yaml_checked_for_chart_version_is_one_line_naming_it(workspace, content, problem):
    (workspace / "charts" / "web" / "Chart.yaml").write_bytes(content)
    message = refusal(workspace, {**BASE, "chart": "./charts/web", "chart_version": "0.3.0"})
    assert message.startswith("charts/web/Chart.yaml: ") and problem in message, message
    assert "\n" not in message and len(message) < 300


def test_a_dependency_update_is_refused_only_where_a_lock_makes_it_differ_from_a_build(workspace):
    call(workspace, {**BASE, "update_dependencies": "true"})
    (workspace / "Chart.lock").write_text("dependencies: []\n")
    assert refusal(workspace, {**BASE, "dependencies_action": "update"}).startswith(
        "setting dependencies_action (helm dependency update) is not supported for a chart with a Chart.lock")
    call(workspace, {**BASE, "dependencies_action": "build"})


def test_an_event_that_implies_no_mode_asks_for_one(workspace):
    assert refusal(workspace, BASE, {**CREDENTIALS, "DRONE_BUILD_EVENT": "cron"}) == (
        "setting mode is not set and a cron build implies none; set mode: upgrade")


def test_task_error_lines_name_the_settings_the_user_wrote():
    sources = {"PLUGIN_API_SERVER": "KUBE_API_SERVER (environment)", "--set": "setting values",
               "--set-secret": "setting secrets", "release.releases.app": "setting release"}
    assert plugin.rename("cluster unreachable (tried the API server in PLUGIN_API_SERVER; check it)", sources) == (
        "cluster unreachable (tried the API server in KUBE_API_SERVER (environment); check it)")
    assert plugin.rename("--set-secret 'x': bad; --set 'y': bad", sources) == (
        "setting secrets 'x': bad; setting values 'y': bad")
    assert plugin.rename("release.releases.app: release name 'app' is invalid", sources) == (
        "setting release: release name 'app' is invalid")


def test_error_lines_name_only_settings_the_user_gave_and_never_rename_the_helm_command_they_quote(workspace):
    helm_command = "helm upgrade --install app app --version 0.3.0 --namespace default (...): failed"
    assert "--version" not in call(workspace, BASE).sources
    sources = call(workspace, {**BASE, "chart_version": "0.3.0", "values": "a=1"}).sources
    assert plugin.rename(helm_command, sources) == helm_command  # Helm's --version, not the setting
    assert plugin.rename("--version: app 0.4.0 is not in the repository", sources) == (
        "setting chart_version: app 0.4.0 is not in the repository")
    assert plugin.rename("--set: ${X} is not set", sources) == "setting values: ${X} is not set"
    assert plugin.rename("create the namespace, or set release.environments.drone.create_namespace: true",
                         call(workspace, BASE).sources).endswith(
        "or set setting create_namespace: true")


@pytest.mark.parametrize("settings, message, renamed", [
    ({"values": "image.tag=${DRONE_NOPE}"}, "--set image.tag=${DRONE_NOPE}: ${DRONE_NOPE} is not set",
     "setting values 'image.tag=${DRONE_NOPE}': ${DRONE_NOPE} is not set"),
    ({"values": "a=1,branch=$DRONE_BRANCH"}, "--set 'branch=${DRONE_BRANCH}': bad",
     "setting values 'branch=$DRONE_BRANCH': bad"),
    ({"values": "a..b=$DB_PASSWORD"}, "--set-secret 'a..b=DB_PASSWORD': not a values path",
     "setting values 'a..b=$DB_PASSWORD': not a values path"),
    ({"values": "a..b=$DB_PASSWORD", "secrets": "api.key=API_KEY"},
     "--set-secret 'a..b=DB_PASSWORD': not a values path",
     "setting values 'a..b=$DB_PASSWORD': not a values path"),
    ({"string_values": "a=1,b=${API_KEY}"}, "--set-secret 'b=API_KEY': x; --set-string 'a=1': y",
     "setting string_values 'b=${API_KEY}': x; setting string_values 'a=1': y"),
    ({"values": "a=1,b=2"}, "--set #2 (not shown: it holds a secret): bad", "setting values 'b=2': bad"),
], ids=["drone_subst", "build variable", "secret", "secret and secrets", "string_values", "secret item"])
def test_an_error_about_one_item_names_its_setting_and_the_item_as_written(workspace, settings, message, renamed):
    sources = call(workspace, {**BASE, **settings}, {**CREDENTIALS, "DB_PASSWORD": "p", "API_KEY": "k"}).sources
    assert plugin.rename(message, sources) == renamed


@pytest.mark.parametrize("text, items", [
    ("a=1,b=2", ["a=1", "b=2"]), ("a={1,2},b=3", ["a={1,2}", "b=3"]), ("a=x\\,y,b=2", ["a=x\\,y", "b=2"]),
    ("a=1,", ["a=1"]), ("", []),
])
def test_values_split_into_helms_set_items(text, items):
    assert plugin.split_set(text) == items
