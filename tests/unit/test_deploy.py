"""Release planning on data: CI variable expansion, durations, cluster access, versions, rollback target."""

from pathlib import Path

import pytest
import yaml

from tasks import chart_source, cluster, deploy, drone_subst, environments, manifests, ui
from tasks import values as vals
from tasks.errors import ToolError

ROOT = Path("/project")


def environment(**overrides):
    base = {"name": "staging", "namespace": "staging", "kube_context": "staging", "secrets_prefix": "STAGING",
            "values": (), "protected": False}
    return environments.Environment(**{**base, **overrides})


@pytest.mark.parametrize("text, expected", [
    ("${DRONE_BRANCH}-${DRONE_COMMIT_SHA:0:7}", "main-abcdef0"),
    ("${DRONE_COMMIT_SHA:4}", "ef0123456789"),
    ("${DRONE_COMMIT_SHA:-4}", "abcdef0123456789"),  # :- is a default, in Drone as in a shell; not an offset of -4
    ("cost-$$5", "cost-$5"),
    ("plain", "plain"),
    ("${CI_BUILD}", "7"),
])
def test_ci_variables_expand_like_drone(text, expected):
    env = {"DRONE_BRANCH": "main", "DRONE_COMMIT_SHA": "abcdef0123456789", "CI_BUILD": "7"}
    assert drone_subst.expand(text, env, "--set") == expected


def test_only_ci_variables_expand_so_a_set_cannot_pull_in_a_secret():
    with pytest.raises(ToolError, match=r"--set: \$\{AWS_SECRET_ACCESS_KEY\} is not expanded"):
        drone_subst.expand("${AWS_SECRET_ACCESS_KEY}", {"AWS_SECRET_ACCESS_KEY": "x"}, "--set")
    with pytest.raises(ToolError, match=r"\$\{DRONE_TAG\} is not set"):
        drone_subst.expand("${DRONE_TAG}", {}, "--set")


@pytest.mark.parametrize("text, seconds", [("5m", 300), ("90s", 90), ("1h30m", 5400), ("42", 42)])
def test_timeouts_take_helms_duration_syntax(text, seconds):
    assert deploy.timeout_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "m", "-3"])
def test_bad_timeout_is_refused(text):
    with pytest.raises(ToolError, match="--timeout"):
        deploy.timeout_seconds(text)


def test_laptop_access_is_the_environments_context_never_the_current_one():
    access = cluster.cluster_access(environment(), {})
    assert (access.kubeconfig, access.context, access.namespace) == (None, "staging", "staging")
    with pytest.raises(ToolError, match=r"release.environments.staging.kube_context is not set"):
        cluster.cluster_access(environment(kube_context=None, secrets_prefix=None), {})


def test_ci_access_builds_a_kubeconfig_from_prefixed_variables_and_registers_the_token_as_secret():
    env = {"STAGING_API_SERVER": "https://k8s.example.com", "STAGING_KUBERNETES_TOKEN": "tok-123456",
           "STAGING_KUBERNETES_CERTIFICATE": "Y2VydA==", "API_SERVER": "https://wrong.example.com"}
    access = cluster.cluster_access(environment(), env)
    config = yaml.safe_load(access.kubeconfig)
    assert config["clusters"][0]["cluster"] == {"server": "https://k8s.example.com",
                                                "certificate-authority-data": "Y2VydA=="}
    assert config["users"][0]["user"] == {"token": "tok-123456"}
    assert (access.context, access.namespace, access.source) == ("staging", "staging", "STAGING_API_SERVER + STAGING_KUBERNETES_TOKEN")
    assert ui.redact("token tok-123456") == "token ***"


@pytest.mark.parametrize("env, missing", [
    ({"STAGING_API_SERVER": "https://k"}, "STAGING_KUBERNETES_TOKEN"),
    ({"STAGING_KUBERNETES_TOKEN": "t", "API_SERVER": "https://unprefixed"}, "STAGING_API_SERVER"),
])
def test_a_partial_set_of_prefixed_credentials_fails_instead_of_falling_back(env, missing):
    with pytest.raises(ToolError, match=f"^{missing} is not set"):
        cluster.cluster_access(environment(), env)


def test_prefix_without_kube_context_requires_the_ci_variables():
    with pytest.raises(ToolError, match="^STAGING_API_SERVER is not set"):
        cluster.cluster_access(environment(kube_context=None), {"API_SERVER": "x", "KUBERNETES_TOKEN": "y"})


def test_bad_ca_certificate_is_refused_naming_the_variable():
    env = {"STAGING_API_SERVER": "https://k", "STAGING_KUBERNETES_TOKEN": "tok-abc", "STAGING_KUBERNETES_CERTIFICATE": "%%"}
    with pytest.raises(ToolError, match="STAGING_KUBERNETES_CERTIFICATE is not base64"):
        cluster.cluster_access(environment(), env)


def test_merge_is_helms_coalescing_maps_merge_other_values_replace():
    base = {"image": {"repository": "r", "tag": "1"}, "ports": [80], "keep": True}
    assert vals.merge(base, {"image": {"tag": "2"}, "ports": [443]}) == {
        "image": {"repository": "r", "tag": "2"}, "ports": [443], "keep": True}


ENTRIES = [{"version": v} for v in ["0.1.0", "0.1.5", "0.2.0", "1.2.0", "1.3.0-rc.1", "1.9.9", "2.0.0"]]


@pytest.mark.parametrize("constraint, chosen", [
    (None, "2.0.0"), ("~0.1", "0.1.5"), ("^1.2", "1.9.9"), ("1.x", "1.9.9"), (">=1.2 <2", "1.9.9"),
    (">=1.2, <2", "1.9.9"), ("0.1.0", "0.1.0"), ("~0.1 || ^2.0", "2.0.0"), ("1.3.0-rc.1", "1.3.0-rc.1"),
])
def test_newest_version_matching_a_masterminds_style_constraint(constraint, chosen):
    assert chart_source.choose_version(ENTRIES, constraint, "app", "--version")["version"] == chosen


def test_prereleases_are_chosen_only_when_asked_for():
    assert chart_source.choose_version(ENTRIES, "^1.2", "app", "x")["version"] != "1.3.0-rc.1"
    assert chart_source.choose_version([{"version": "1.0.0-rc.1"}], None, "app", "x")["version"] == "1.0.0-rc.1"


@pytest.mark.parametrize("constraint, message", [
    ("~9.0", "no version of app satisfies '~9.0'"),
    ("3.0.0", "app 3.0.0 is not in the repository"),
    ("not a constraint!", "is not a version constraint"),
])
def test_unsatisfiable_constraints_name_the_setting(constraint, message):
    with pytest.raises(ToolError, match=f"^release.releases.app.version: .*{message}"):
        chart_source.choose_version(ENTRIES, constraint, "app", "release.releases.app.version")


def rev(n, status, content=None):
    return {"name": "app", "revision": n, "status": status, "content": content or f"content of {n}"}


def content(revision):
    return revision["content"]


def target(revisions, revision=None, allow_failed=False):
    current, chosen = deploy.rollback_target(revisions, revision, content, allow_failed=allow_failed)
    return current["revision"], chosen["revision"]


def test_rollback_target_is_the_newest_good_revision_before_the_current_one_not_current_minus_one():
    assert target([rev(1, "superseded"), rev(2, "failed"), rev(3, "failed")]) == (3, 1)
    assert target([rev(1, "superseded"), rev(2, "deployed"), rev(3, "pending-upgrade")]) == (3, 2)
    assert target([rev(1, "superseded"), rev(2, "deployed")], 1) == (2, 1)


def test_after_an_automatic_rollback_the_target_is_older_content_not_what_runs_now():
    revisions = [rev(1, "superseded", "v1"), rev(2, "superseded", "v2"), rev(3, "failed", "v3"),
                 rev(4, "deployed", "v2")]  # 4 is Helm's "Rollback to 2"
    assert target(revisions) == (4, 1)
    assert target([*revisions[:2], rev(3, "superseded", "v2"), rev(4, "deployed", "v2")]) == (4, 1)


def test_a_failed_or_stuck_current_revision_goes_back_to_the_newest_good_one_even_with_the_same_content():
    assert target([rev(1, "deployed", "v1"), rev(2, "failed", "v2"), rev(3, "pending-rollback", "v1")]) == (3, 1)
    assert target([rev(1, "superseded", "v1"), rev(2, "failed", "v1")]) == (2, 1)


def test_a_failed_revision_is_a_target_only_when_allowed():
    revisions = [rev(1, "superseded"), rev(2, "failed"), rev(3, "deployed")]
    with pytest.raises(ToolError, match="^--revision 2 is failed: rolling back to it deploys what did not work; "
                                        "pass --allow-failed to do it anyway$"):
        target(revisions, 2)
    assert target(revisions, 2, allow_failed=True) == (3, 2)


@pytest.mark.parametrize("revisions, revision, message", [
    ([rev(1, "failed"), rev(2, "failed")], None, "nothing to roll back to: no revision before 2 was deployed"),
    ([rev(1, "deployed")], 7, "--revision 7: no such revision; known: 1"),
    ([rev(1, "superseded", "same"), rev(2, "deployed", "same")], None,
     r"nothing to roll back to: every earlier good revision \(1\) runs the same chart and values as revision 2"),
])
def test_rollback_without_a_target_says_why(revisions, revision, message):
    with pytest.raises(ToolError, match=message):
        target(revisions, revision)


@pytest.mark.parametrize("status", deploy.PENDING)
def test_a_pending_release_is_refused_with_the_recovery_command(status):
    with pytest.raises(ToolError, match=f"is {status} since .*another deploy is running, or one was interrupted; "
                                        "if none is running, recover with: invoke release.rollback"):
        deploy.refuse_if_stuck([rev(1, "deployed"), rev(2, status)], "invoke release.rollback --env s")
    deploy.refuse_if_stuck([rev(1, "deployed"), rev(2, "failed")], "unused")


def test_an_uninstall_that_did_not_finish_is_refused_and_finished_by_uninstall():
    stuck = [rev(1, "superseded"), rev(2, "uninstalling")]
    recover = deploy.recovery("staging", "app", stuck)
    assert recover == "invoke release.uninstall --env staging --release app (to finish it)"
    with pytest.raises(ToolError, match="is uninstalling since .*an uninstall did not finish .*, or is running; if none "
                                        "is running, recover with: invoke release.uninstall --env staging --release app"):
        deploy.refuse_if_stuck(stuck, recover)


def test_a_dry_run_falls_back_only_for_want_of_the_kinds_the_charts_crds_define():
    crds = manifests.crd_manifest([{"filename": "crds/w.yaml", "data": (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n"
        "spec: {group: example.com, names: {kind: Widget, plural: widgets}}")}])
    built = "unable to build kubernetes objects from release manifest: "
    named = built + 'resource mapping not found for name: "w" namespace: "" from "": no matches for kind "{}" in ' \
                    'version "{}"\nensure CRDs are installed first'
    assert deploy.needs_its_crds(crds, named.format("Widget", "example.com/v1"))
    assert deploy.needs_its_crds(crds, built + "error validating data: the server could not find the requested resource")
    assert not deploy.needs_its_crds(crds, named.format("Gizmo", "example.com/v1"))  # not one of its own
    assert not deploy.needs_its_crds(crds, named.format("Widget", "other.io/v1"))
    assert not deploy.needs_its_crds("", named.format("Widget", "example.com/v1"))  # no crds/ of its own
    assert not deploy.needs_its_crds(crds, 'Deployment.apps "web" is invalid')


def test_recovery_of_a_stuck_first_install_is_uninstall():
    assert deploy.recovery("staging", "app", [rev(1, "pending-install")]).startswith("invoke release.uninstall")
    assert deploy.recovery("staging", "app", [rev(1, "deployed"), rev(2, "pending-upgrade")]) == \
        "invoke release.rollback --env staging --release app"


MANIFEST = """---
# Source: app/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: app
data:
  KEY: c2VjcmV0
  SAME: c2FtZQ==
---
# Source: app/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: app
data:
  greeting: hello
"""


def test_secret_values_are_masked_and_other_documents_kept_verbatim():
    masked = manifests.mask_secrets(MANIFEST)
    assert "c2VjcmV0" not in masked and "KEY: '***'" in masked
    assert "# Source: app/templates/secret.yaml" in masked
    assert "# Source: app/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap" in masked


def test_diff_marks_a_changed_secret_without_showing_it():
    changed = MANIFEST.replace("c2VjcmV0", "bmV3LXNlY3JldA==").replace("hello", "hi")
    out = manifests.diff(MANIFEST, changed, "app (revision 1, deployed)", "app (this deploy)")
    assert "-  KEY: '***'\n+  KEY: '*** (changed)'" in out
    assert "SAME: '*** (changed)'" not in out
    assert "-  greeting: hello\n+  greeting: hi" in out
    assert "bmV3" not in out and "c2Vj" not in out


def test_protected_environment_needs_yes_or_a_typed_confirmation():
    protected, open_ = environment(protected=True), environment()
    with pytest.raises(ToolError, match="^environment staging is protected: pass --yes to deploy app "):
        deploy.confirm(protected, "deploy app", yes=False, interactive=False, ask=input)
    deploy.confirm(protected, "deploy app", yes=True, interactive=False, ask=input)
    deploy.confirm(open_, "deploy app", yes=False, interactive=False, ask=input)
    deploy.confirm(protected, "deploy app", yes=False, interactive=True, ask=lambda prompt: "y")
    with pytest.raises(ToolError, match="^deploy app: not confirmed; nothing changed"):
        deploy.confirm(protected, "deploy app", yes=False, interactive=True, ask=lambda prompt: "")


def test_an_always_confirmed_action_needs_a_yes_even_in_an_open_environment():
    with pytest.raises(ToolError, match="^uninstall app needs a yes: pass --yes to uninstall app "):
        deploy.confirm(environment(), "uninstall app", yes=False, interactive=False, ask=input, always=True)
    asked = []
    deploy.confirm(environment(), "uninstall app", yes=False, interactive=True, ask=lambda p: asked.append(p) or "yes",
                   always=True)
    assert asked == ["Uninstall app? [y/N] "]


CONFIG = {
    "environments": {"staging": {"namespace": "staging", "kube_context": "staging"}},
    "releases": {"app": {"chart": "app", "version": "~1.0"}, "other": {}},
}


@pytest.mark.parametrize("env_name, release_name, message", [
    (None, "app", "--env is required; environments in invoke.yaml: staging"),
    ("qa", "app", "--env 'qa': no such environment in invoke.yaml"),
    ("staging", None, "--release is required: staging has app, other"),
    ("staging", "nope", "--release 'nope': not in invoke.yaml"),
])
def test_release_settings_errors_name_the_flag_or_key(env_name, release_name, message):
    with pytest.raises(ToolError, match=message.replace("(", r"\(").replace(")", r"\)")):
        environments.resolve_release(ROOT, CONFIG, env_name=env_name, release_name=release_name)


@pytest.mark.parametrize("releases, message", [
    ({"Hello": {}}, "release name 'Hello' is invalid"),
    ({"x" * 54: {}}, "is invalid: at most 53"),
    ({"app": {"values": "one.yaml"}}, "release.releases.app.values in invoke.yaml must be a list"),
])
def test_bad_release_config_names_the_key(releases, message):
    with pytest.raises(ToolError, match=message):
        environments.resolve_release(ROOT, {**CONFIG, "releases": releases}, env_name="staging", release_name=None)


def test_environment_without_namespace_is_refused():
    config = {**CONFIG, "environments": {"staging": {"kube_context": "x"}}}
    with pytest.raises(ToolError, match="release.environments.staging.namespace is missing"):
        environments.resolve_release(ROOT, config, env_name="staging", release_name="app")


@pytest.mark.parametrize("namespace", ["team.a", "Staging", "x" * 64, "-a"])
def test_a_namespace_kubernetes_would_refuse_is_refused_naming_the_key(namespace):
    config = {**CONFIG, "environments": {"staging": {"namespace": namespace, "kube_context": "x"}}}
    with pytest.raises(ToolError, match=r"release.environments.staging.namespace is '.*' \(invalid\)"):
        environments.resolve_release(ROOT, config, env_name="staging", release_name="app")


@pytest.mark.parametrize("name", ["DRONE_NETRC_PASSWORD", "DRONE_NETRC_USERNAME", "CI_JOB_TOKEN", "DRONE_SSH_KEY",
                                  "CI_REGISTRY_PASSWORD", "DRONE_DEPLOY_CERTIFICATE"])
def test_ci_variables_that_hold_credentials_are_refused_with_the_reason(name):
    with pytest.raises(ToolError, match=rf"--set x=\${{{name}}}: \${{{name}}} is a credential \(DRONE_NETRC_\* and names "
                                        rf"ending in _TOKEN, _PASSWORD, _KEY, \.\.\. are never expanded\); to pass a "
                                        rf"secret, use --set-secret PATH={name}"):
        drone_subst.expand(f"${{{name}}}", {name: "credential-value"}, f"--set x=${{{name}}}")


def test_secret_paths_are_masked_in_a_copy_of_the_values_and_nothing_else():
    release = environments.Release("app", "app", None, (), ("image.tag=v1",), (("db.password", "DB_PW"),))
    env = {"DB_PW": "it's-a-s3cret: yes", "LIST": "second-item-secret", "SHORT": "x"}
    overrides = vals.Overrides(set_secret=("hosts[1].key=LIST", "pin=SHORT"))
    values, paths = vals.layered_values(release, environment(), overrides, env, {"image.tag": "v1"})
    assert paths == [("db", "password"), ("hosts", 1, "key"), ("pin",)]
    shown = vals.masked(values, paths)
    assert shown == {"image": {"tag": "v1"}, "db": {"password": "***"}, "hosts": [None, {"key": "***"}], "pin": "***"}
    assert values["db"]["password"] == "it's-a-s3cret: yes" and values["pin"] == "x"  # what Helm gets is intact


def test_a_secret_a_chart_copies_into_another_document_is_masked_in_its_data():
    ui.add_secret("pässwörd-in-a-configmap")
    manifest = MANIFEST.replace("greeting: hello", 'password: "p\\xE4ssw\\xF6rd-in-a-configmap"')
    masked = manifests.mask_secrets(manifest)
    assert "password: '***'" in masked and "xF6" not in masked
    assert "# Source: app/templates/cm.yaml\n" in masked


def test_what_templates_make_of_a_secret_is_the_text_where_renders_from_real_and_masked_values_differ():
    cert = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END KEY-----"
    real = {"app/templates/cm.yaml": "kind: ConfigMap\nmetadata:\n  name: db-HUNTER2\ndata:\n  url: \"pg://app:"
                                     "hunter2@db\"\n  same: value\n  cert: |\n" + "".join(
                                         f"    {line}\n" for line in cert.splitlines()) + "  after: kept\n",
            "app/templates/NOTES.txt": "connect with aHVudGVyMg==\n", "app/templates/plain.yaml": "kind: x\n"}
    masked = {"app/templates/cm.yaml": "kind: ConfigMap\nmetadata:\n  name: db-***\ndata:\n  url: \"pg://app:***@db\"\n"
                                       "  same: value\n  cert: |\n    ***\n  after: kept\n",
              "app/templates/NOTES.txt": "connect with Kioq\n", "app/templates/plain.yaml": "kind: x\n"}
    assert manifests.derived_values(real, masked) == {"HUNTER2", "hunter2", cert.splitlines()[1], "aHVudGVyMg=="}
    assert manifests.derived_values(real, real) == set()
    assert vals.masked({"cert": cert}, [("cert",)], lines=True) == {"cert": "***\n***\n***"}  # lines kept
    # each value on a line on its own (an error may quote one); a test or a count of a secret is no text to mask
    line = {"t.yaml": "a: HUNTER2-X and hunter2.x\nstrong: true\nsize: 128Mi\nsum: 9f86d081884c7d65\n"}
    shown = {"t.yaml": "a: *** and ***\nstrong: false\nsize: 3Mi\nsum: 7ad5d5d3bb0e9b25\n"}
    assert manifests.derived_values(line, shown) == {"HUNTER2-X", "hunter2.x", "9f86d081884c7d65"}


@pytest.mark.parametrize("after, message", [
    ([], "the release is not installed; nothing to recover"),
    ([{"revision": 1, "status": "superseded"}, {"revision": 2, "status": "failed"}, {"revision": 3, "status": "deployed"}],
     "Helm rolled it back: the release is at revision 3 (deployed, app-1.0.0); nothing to recover"),
    ([{"revision": 1, "status": "deployed"}, {"revision": 2, "status": "pending-rollback"}],
     ("the release is at revision 2 (pending-rollback, app-1.0.0); recover with: invoke release.rollback --env staging "
      "--release app")),
    ([{"revision": 1, "status": "pending-install"}],
     ("the release is at revision 1 (pending-install, app-1.0.0); recover with: invoke release.uninstall --env staging "
      "--release app (no earlier revision was deployed)")),
])
def test_an_interrupted_deploy_says_where_the_release_is_and_the_command_that_recovers_it(after, message):
    before = [{"revision": 1, "status": "deployed"}] if len(after) == 3 else []
    chart = {"chart_name": "app", "chart_version": "1.0.0"}
    assert deploy.left_at("staging", "app", before, [{**r, **chart} for r in after]) == message


def test_a_token_is_never_sent_to_an_http_api_server():
    env = {"STAGING_API_SERVER": "http://10.0.0.1:6443", "STAGING_KUBERNETES_TOKEN": "t0ken-for-staging"}
    with pytest.raises(ToolError, match="STAGING_API_SERVER is an http:// address: .* use its https:// address"):
        cluster.cluster_access(environment(), env)


def test_where_an_interrupted_deploy_left_a_release_counts_revisions_not_history_entries_helm_prunes():
    """At history_max, Helm drops the oldest revision as it adds one: a failed upgrade and its rollback (two new
    revisions) left the history one entry longer, and the line said the new deploy went through."""
    def revision(number, status):
        return {"revision": number, "status": status, "chart_name": "memcached", "chart_version": "6.0.0"}

    before = [revision(n, "superseded") for n in range(5, 14)] + [revision(14, "deployed")]
    after = [revision(n, "superseded") for n in range(7, 15)] + [revision(15, "failed"), revision(16, "deployed")]
    assert len(after) == len(before)
    assert deploy.left_at("staging", "memcached", before, after) == (
        "Helm rolled it back: the release is at revision 16 (deployed, memcached-6.0.0); nothing to recover")
    assert deploy.left_at("staging", "memcached", before, before[1:] + [revision(15, "deployed")]) == (
        "the release is at revision 15 (deployed, memcached-6.0.0); nothing to recover")
