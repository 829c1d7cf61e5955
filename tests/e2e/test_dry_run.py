"""What `release.deploy --dry-run` checks, as its help says: everything before the API server, then each object by
the API server itself, as a server-side apply dry run, so it is refused for what the deploy would be."""

from tests.conftest import invoke


def test_a_dry_run_is_refused_for_what_only_the_api_server_refuses_and_its_help_says_so(cluster):
    shown = " ".join(invoke(cluster.project, "--help", "release.deploy").stdout.split())
    assert "have the API server check each object as a server-side apply dry run" in shown
    wrong_type = ("release.deploy", "--env", "staging", "--set", "replicaCount=Zebra")
    checked = invoke(cluster.project, *wrong_type, "--dry-run", env=cluster.env, check=False)
    assert checked.returncode == 1 and checked.stderr == (
        "error: dry run of hello-world 0.1.0 as hello-world: the API server refuses Deployment "
        "hello-world-hello-world: "
        f"failed to create typed patch object ({cluster.namespaces['staging']}/hello-world-hello-world; apps/v1, "
        "Kind=Deployment): .spec.replicas: expected numeric (int or float), got string; the deploy would fail: nothing "
        "changed in the cluster\n")
    assert cluster.release_secrets() == [] and not [k for k in cluster.emulator.store
                                                    if k[2] == cluster.namespaces["staging"] and k[1] != "secrets"]
    deployed = invoke(cluster.project, *wrong_type, env=cluster.env, check=False)
    assert deployed.returncode == 1 and ".spec.replicas: expected numeric (int or float), got string" in deployed.stderr
    assert invoke(cluster.project, "release.deploy", "--env", "staging", "--dry-run", env=cluster.env).returncode == 0
    invoke(cluster.project, "release.deploy", "--env", "staging", env=cluster.env)
    unrendered = invoke(cluster.project, "release.deploy", "--env", "staging", "--dry-run", "--set", "service=none",
                        env=cluster.env, check=False)  # the chart's template fails: Helm's error, not the API server's
    assert unrendered.returncode == 1 and unrendered.stderr.startswith("error: dry run of hello-world 0.1.0 as ")
    assert unrendered.stderr.endswith("; nothing changed in the cluster\n")  # not `the release is now at revision 1`


def test_what_the_cluster_cannot_check_yet_is_a_warning_and_a_missing_namespace_without_create_is_refused(cluster):
    import yaml

    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    staging = config["release"]["environments"]["staging"]
    staging.update(namespace="brand-new-" + cluster.namespaces["staging"], create_namespace=True)
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    checked = invoke(cluster.project, "release.deploy", "--env", "staging", "--dry-run", env=cluster.env)
    assert (f"warning: hello-world: not checked by the API server: Service hello-world-hello-world (namespace "
            f"{staging['namespace']} is created by the deploy); Deployment hello-world-hello-world") in checked.stderr
    assert ("v1", "namespaces", None, staging["namespace"]) not in cluster.emulator.store
    staging["create_namespace"] = False
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    refused = invoke(cluster.project, "release.deploy", "--env", "staging", "--dry-run", env=cluster.env, check=False)
    assert refused.returncode == 1 and f'namespaces "{staging["namespace"]}" not found' in refused.stderr
    assert refused.stderr.strip().endswith("set release.environments.staging.create_namespace: true")


def test_the_items_of_a_list_are_each_checked_as_helm_sends_them(cluster):
    """A template may wrap objects in `kind: List` (Helm's client sends its items one by one): each is checked."""
    cluster.folder_release("listed", {"values.yaml": "extra: ''\n", "templates/list.yaml": (
        "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: one}\n"
        "    data: {a: '1'}\n    {{- .Values.extra | nindent 4 }}\n")})
    args = ("release.deploy", "--env", "staging", "--release", "listed", "--dry-run")
    assert invoke(cluster.project, *args, env=cluster.env).stderr == ""  # checked, not a kind it cannot check
    refused = invoke(cluster.project, *args, "--set", "extra=colour: red", env=cluster.env, check=False)
    assert refused.returncode == 1 and "the API server refuses ConfigMap one: failed to create typed patch object" \
        in refused.stderr and ".colour: field not declared in schema" in refused.stderr


def test_credentials_that_may_only_read_dry_run_with_a_warning_that_nothing_was_checked(cluster):
    """A pull request's pipeline often gets a token RBAC lets read, never write: Helm's dry run needs no more, and
    the API server's check, which needs patch even as a dry run, is then a warning, not a failure."""
    cluster.emulator.accept_token("reader-token-31c7", read_only=True)
    env = {"KUBECONFIG": "/nonexistent", **cluster.emulator.ci_env("STAGING", "reader-token-31c7")}
    checked = invoke(cluster.project, "release.deploy", "--env", "staging", "--dry-run", env=env)
    assert "warning: hello-world: not checked by the API server: Service hello-world-hello-world (these credentials " \
           "may not patch it, not even as a dry run: " in checked.stderr
    assert 'User "system:serviceaccount:ci:reader" cannot patch resource "services"' in checked.stderr
    refused = invoke(cluster.project, "release.deploy", "--env", "staging", env=env, check=False)
    assert refused.returncode == 1 and "forbidden" in refused.stderr  # the deploy itself is refused, as it should be


def test_the_api_server_reads_each_document_as_helms_client_does_not_as_pyyaml_would(cluster):
    """go-yaml, not YAML 1.1: `12:30` and `=` are strings (PyYAML: 750, and no constructor at all), `y` a boolean
    (PyYAML: a string). A dry run agrees with the deploy on each: passes what it takes, refuses what it refuses."""
    cluster.folder_release("scalars", {"values.yaml": "extra: ''\n", "templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: scalars}\ndata:\n  at: 12:30\n  sign: =\n"
        "  {{- .Values.extra | nindent 2 }}\n")})
    args = ("release.deploy", "--env", "staging", "--release", "scalars")
    assert invoke(cluster.project, *args, "--dry-run", env=cluster.env).stderr == ""
    invoke(cluster.project, *args, env=cluster.env)
    stored = cluster.emulator.store[("v1", "configmaps", cluster.namespaces["staging"], "scalars")]["data"]
    assert stored == {"at": "12:30", "sign": "="}
    for dry_run in (("--dry-run",), ()):
        refused = invoke(cluster.project, *args, "--set", "extra=flag: y", *dry_run, env=cluster.env, check=False)
        assert refused.returncode == 1, refused.stderr
        assert ".data.flag: expected string, got &value.valueUnstructured{Value:true}" in refused.stderr


def test_each_refusal_gets_the_advice_for_its_own_object_and_namespace(cluster):
    """Two objects Kubernetes cannot change in place, one in another namespace: the dry run says what recovers each,
    in the namespace the object is in (the release's own would make `kubectl delete` answer NotFound)."""
    other = f"other-{cluster.namespaces['staging']}"
    cluster.emulator.create_namespace(other)
    cluster.folder_release("pair", {"values.yaml": f"storage: 1Gi\nimage: busybox:1\nother: {other}\n",
                                    "templates/objects.yaml": (
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, namespace: '{{ .Values.other }}'}\nspec:\n"
        "  serviceName: db\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n"
        "    spec: {containers: [{name: db, image: postgres}]}\n  volumeClaimTemplates:\n"
        "    - metadata: {name: data}\n"
        "      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: '{{ .Values.storage }}'}}}\n"
        "---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: seed}\nspec:\n  template:\n    spec:\n"
        "      restartPolicy: Never\n      containers: [{name: seed, image: '{{ .Values.image }}'}]\n")})
    args = ("release.deploy", "--env", "staging", "--release", "pair")
    invoke(cluster.project, *args, env=cluster.env)
    refused = invoke(cluster.project, *args, "--dry-run", "--set", "storage=2Gi", "--set", "image=busybox:2",
                     env=cluster.env, check=False)
    assert refused.returncode == 1
    assert f"(kubectl --namespace {other} delete statefulset db --cascade=orphan)" in refused.stderr
    assert f"(kubectl --namespace {cluster.namespaces['staging']} delete job seed)" in refused.stderr


HOOKED = {
    "values.yaml": "image: busybox:1\nrestart: Never\nextra: ''\n",
    "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hooked}\ndata: {a: b}\n",
    "templates/migrate.yaml": (  # no delete policy: Helm's default, before-hook-creation, leaves it for the next one
        'apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: "{{ .Release.Name }}-migrate"\n  annotations:\n'
        '    "helm.sh/hook": pre-install, pre-upgrade\nspec:\n  template:\n    spec:\n'
        "      restartPolicy: {{ .Values.restart }}\n      containers: [{name: m, image: '{{ .Values.image }}'}]\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: seeded\n  annotations:\n"
        "    helm.sh/hook: post-upgrade\n    helm.sh/hook-delete-policy: hook-failed\ndata:\n  at: '1'\n"
        "{{ .Values.extra }}\n"),
    "templates/not-run.yaml": (  # hooks a deploy does not run: never checked, whatever they hold
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: undo\n  annotations: {helm.sh/hook: pre-rollback}\n"
        "spec: {template: {spec: {restartPolicy: Always, containers: [{name: c, image: busybox}]}}}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: smoke\n  annotations: {helm.sh/hook: test}\n"
        "spec: {restartPolicy: Never, colour: red, containers: [{name: t, image: busybox}]}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: unknown\n  annotations: {helm.sh/hook: 'pre-upgrade,later'}\n"
        "spec: {colour: red, containers: [{name: t, image: busybox}]}\n"),
}


def test_the_hooks_a_deploy_runs_are_checked_too_and_those_helm_replaces_as_created_anew(cluster):
    """A dry run's manifest has no hooks: those this deploy runs are checked from the chart rendered as the deploy
    renders it. One Helm deletes before it creates it again (before-hook-creation, the default) is checked as
    created anew, under a name the refusal never shows: its new pod template is no change refused over the Job
    the last deploy left. Hooks of other events (pre-rollback, test) and of an event Helm does not know are left."""
    cluster.folder_release("hooked", HOOKED)
    args = ("release.deploy", "--env", "staging", "--release", "hooked")
    refusal = ('Job.batch "hooked-migrate" is invalid: spec.template.spec.restartPolicy: Required value: valid '
               'values: "OnFailure", "Never"')
    refused = [invoke(cluster.project, *args, "--set", "restart=Always", *dry_run, env=cluster.env, check=False)
               for dry_run in (("--dry-run",), ())]
    assert [r.returncode for r in refused] == [1, 1] and all(refusal in r.stderr for r in refused), refused
    assert "the API server refuses Job hooked-migrate: " in refused[0].stderr
    skipped = "helm: skipping unknown hooks hookTypes=pre-upgrade,later\n"  # Helm's own words, and nothing else
    checked = invoke(cluster.project, *args, "--dry-run", env=cluster.env, check=False)
    assert checked.returncode == 0 and checked.stderr == skipped, checked.stderr
    invoke(cluster.project, *args, env=cluster.env)
    job = ("batch/v1", "jobs", cluster.namespaces["staging"], "hooked-migrate")
    assert cluster.emulator.store[job]["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1"
    changed = invoke(cluster.project, *args, "--dry-run", "--set", "image=busybox:2", env=cluster.env, check=False)
    assert changed.returncode == 0 and changed.stderr == skipped, changed.stderr  # not "field is immutable"
    invoke(cluster.project, *args, "--set", "image=busybox:2", env=cluster.env)
    assert cluster.emulator.store[job]["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:2"
    kept = invoke(cluster.project, *args, "--dry-run", "--set", "extra=colour: red", env=cluster.env, check=False)
    assert kept.returncode == 1 and "the API server refuses ConfigMap seeded: failed to create typed patch object" \
        in kept.stderr and ".colour: field not declared in schema" in kept.stderr


def test_a_binding_of_a_role_the_deploy_creates_is_left_unchecked_for_credentials_that_may_not_bind_roles(cluster):
    """A namespace's admin (no `bind`) may bind only roles that exist: RBAC compares their rules with its own. A dry
    run creates no Role, so the binding of one the release itself makes cannot be checked before the deploy creates
    it (Helm creates Roles before their bindings): a warning. A binding of a role nobody makes is a refusal."""
    admin = cluster.emulator.accept_token("namespace-admin-5e1d", binds=False)
    env = {"KUBECONFIG": "/nonexistent", **cluster.emulator.ci_env("STAGING", admin)}
    cluster.folder_release("rbac", {"values.yaml": "role: pod-reader\n", "templates/rbac.yaml": (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: pod-reader}\n"
        "rules: [{apiGroups: [''], resources: [pods], verbs: [get]}]\n---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: reads}\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: '{{ .Values.role }}'}\n"
        "subjects: [{kind: ServiceAccount, name: default}]\n"), "templates/hook.yaml": (  # deleted once it ran
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: hook-reader\n  annotations:\n"
        "    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded\n"
        "rules: [{apiGroups: [''], resources: [pods], verbs: [get]}]\n---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: hook-reads\n  annotations:\n"
        "    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded\n"
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: hook-reader}\n"
        "subjects: [{kind: ServiceAccount, name: default}]\n")})
    args = ("release.deploy", "--env", "staging", "--release", "rbac")
    hook = ("RoleBinding hook-reads (it binds Role hook-reader, which the deploy creates before it; these credentials "
            "may bind only a role that exists)")
    checked = invoke(cluster.project, *args, "--dry-run", env=env)
    assert checked.stderr == ("warning: rbac: not checked by the API server: RoleBinding reads (it binds Role "
                              f"pod-reader, which the deploy creates before it; these credentials may bind only a role "
                              f"that exists); {hook}\n")
    refused = invoke(cluster.project, *args, "--dry-run", "--set", "role=nobody", env=env, check=False)
    assert refused.returncode == 1 and ('the API server refuses RoleBinding reads: roles.rbac.authorization.k8s.io '
                                        '"nobody" not found') in refused.stderr
    invoke(cluster.project, *args, env=env)
    assert ("rbac.authorization.k8s.io/v1", "roles", cluster.namespaces["staging"], "hook-reader") not in \
        cluster.emulator.store  # its hook ran, and was deleted
    again = invoke(cluster.project, *args, "--dry-run", env=env)
    assert again.stderr == f"warning: rbac: not checked by the API server: {hook}\n"  # pod-reader exists: checked
