"""A chart that sets replicas beside a HorizontalPodAutoscaler: server-side apply with conflicts forced would set the
chart's count on every upgrade (Helm 3's three-way merge left a count the chart did not change), stopping the pods the
autoscaler added until it scales back. Such an upgrade or rollback is refused, dry run too, unless --reset-replicas;
a count the chart changes is set, as Helm 3 set it."""

import json

from tests.conftest import invoke

CHART = {
    "values.yaml": "replicas: 2\nimage: busybox:1\n",
    "templates/web.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: {{ .Values.replicas }}\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec: {containers: [{name: web, image: '{{ .Values.image }}'}]}\n---\n"
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web-scaler}\nspec:\n"
        "  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 2\n  maxReplicas: 10\n"),
}


def test_an_upgrade_that_would_undo_what_an_autoscaler_scaled_is_refused_unless_asked_for(cluster):
    cluster.folder_release("scaled", CHART)
    args = ("release.deploy", "--env", "staging", "--release", "scaled")
    invoke(cluster.project, *args, env=cluster.env)
    key = ("apps/v1", "deployments", cluster.namespaces["staging"], "web")
    assert invoke(cluster.project, *args, "--set", "image=busybox:2", env=cluster.env).returncode == 0  # at 2: as is
    cluster.emulator.store[key]["spec"]["replicas"] = 7  # what the autoscaler did under load
    history = ("release.history", "--env", "staging", "--release", "scaled", "--json")
    revisions = len(json.loads(invoke(cluster.project, *history, env=cluster.env).stdout))
    for dry_run in (("--dry-run",), ()):
        refused = invoke(cluster.project, *args, "--set", "image=busybox:3", *dry_run, env=cluster.env, check=False)
        assert refused.returncode == 1 and refused.stderr == (
            f"error: {'dry run' if dry_run else 'deploy'} of scaled 0.1.0 as scaled: it would set Deployment web "
            "(replicas: 2 in the chart; HorizontalPodAutoscaler web-scaler has it at 7) to that count, and the pods "
            "beyond it would stop until the autoscaler scales back; nothing changed in the cluster; leave "
            "replicas out of the chart while an autoscaler scales it ({{- if not .Values.autoscaling.enabled }} around "
            "it), or pass --reset-replicas to deploy anyway\n")
    assert cluster.emulator.store[key]["spec"]["replicas"] == 7
    assert len(json.loads(invoke(cluster.project, *history, env=cluster.env).stdout)) == revisions  # no revision
    invoke(cluster.project, *args, "--set", "image=busybox:3", "--reset-replicas", env=cluster.env)
    assert cluster.emulator.store[key]["spec"]["replicas"] == 2
    cluster.emulator.store[key]["spec"]["replicas"] = 7
    assert invoke(cluster.project, *args, "--set", "replicas=3", env=cluster.env).stderr == ""  # the chart changes it:
    assert cluster.emulator.store[key]["spec"]["replicas"] == 3  # set, as Helm 3's merge set a count the chart changed


def test_a_rollback_that_would_undo_what_an_autoscaler_scaled_is_refused_unless_asked_for(cluster):
    """A rollback restores its revision's manifest, replicas too: in an incident, when the autoscaler has scaled up."""
    cluster.folder_release("scaled", CHART)
    args = ("release.deploy", "--env", "staging", "--release", "scaled")
    invoke(cluster.project, *args, "--set", "replicas=4", env=cluster.env)
    invoke(cluster.project, *args, "--set", "replicas=4", "--set", "image=busybox:2", env=cluster.env)
    key = ("apps/v1", "deployments", cluster.namespaces["staging"], "web")
    cluster.emulator.store[key]["spec"]["replicas"] = 9
    rollback = ("release.rollback", "--env", "staging", "--release", "scaled")
    refused = invoke(cluster.project, *rollback, env=cluster.env, check=False)
    assert refused.returncode == 1 and refused.stderr == (
        "error: rollback of scaled to revision 1: it would set Deployment web (replicas: 4 in the chart; "
        "HorizontalPodAutoscaler web-scaler has it at 9) to that count, and the pods beyond it would stop until the "
        "autoscaler scales back; nothing changed in the cluster; pass --reset-replicas to roll back anyway, or deploy "
        "the chart you want instead\n")
    assert cluster.emulator.store[key]["spec"]["replicas"] == 9
    invoke(cluster.project, *rollback, "--reset-replicas", env=cluster.env)
    assert cluster.emulator.store[key]["spec"]["replicas"] == 4
