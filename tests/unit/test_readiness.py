"""A workload's readiness as `kubectl rollout status` decides it (tasks.apiserver._ready), and which 403 means the
credentials may not write (tasks.apiserver.RBAC_DENIED): pure functions of what the API server returns."""

import pytest

from tasks.apiserver import RBAC_DENIED, _ready

ROLLING = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}


@pytest.mark.parametrize(("kind", "spec", "status", "expected"), [
    ("Deployment", {"replicas": 1}, ROLLING, ("0/1", "not ready")),  # the ready pod is the old one
    ("Deployment", {"replicas": 1}, {**ROLLING, "replicas": 1, "observedGeneration": 1}, ("1/1", "not ready")),
    ("Deployment", {"replicas": 0}, {"observedGeneration": 2}, ("0/0", "ready")),
    ("DaemonSet", {}, {}, ("0/0", "not ready")),  # its controller has not seen this spec yet
    ("StatefulSet", {"replicas": 3, "updateStrategy": {"rollingUpdate": {"partition": 2}}},
     {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "readyReplicas": 3, "currentRevision": "a",
      "updateRevision": "b"}, ("3/3", "ready")),  # a partitioned rollout, complete
    ("StatefulSet", {"replicas": 3}, {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
                                      "readyReplicas": 3, "currentRevision": "a", "updateRevision": "b"},
     ("3/3", "not ready")),
    ("Job", {"completions": 1}, {"failed": 6, "conditions": [{"type": "Failed", "status": "True"}]}, ("0/1", "failed")),
    ("Job", {"completions": 2}, {"succeeded": 2}, ("2/2", "ready")),
])
def test_readiness_counts_the_pods_of_the_current_spec(kind, spec, status, expected):
    assert _ready(kind, spec, status, 2) == expected


def test_only_an_rbac_denial_is_a_403_the_credentials_cause():
    rbac = ('deployments.apps "web" is forbidden: User "system:serviceaccount:ci:reader" cannot patch resource '
            '"deployments" in API group "apps" in the namespace "app"')
    quota = ('deployments.apps "web" is forbidden: exceeded quota: compute, requested: limits.cpu=2, used: '
             'limits.cpu=3, limited: limits.cpu=4')
    webhook = 'admission webhook "validation.gatekeeper.sh" denied the request: [no-latest] image tag latest'
    assert RBAC_DENIED.search(rbac) and not RBAC_DENIED.search(quota) and not RBAC_DENIED.search(webhook)
