"""A refusal Helm users meet on upgrades gets the step that recovers it (tasks.refusals.advice), in the words
Helm's client-side (`cannot patch`) and server-side apply (`failed for object`) errors give it."""

import pytest

from tasks.refusals import advice

STS = ("Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
       "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are "
       "forbidden")


@pytest.mark.parametrize(("message", "expected"), [
    (f'cannot patch "redis" with kind StatefulSet: StatefulSet.apps "redis" is invalid: spec: {STS}',
     ("delete StatefulSet redis but not its pods and volumes (kubectl --namespace app delete statefulset redis "
     "--cascade=orphan), then deploy again")),
    (('server-side apply failed for object other/web apps/v1, Kind=Deployment: Deployment.apps "web" is invalid: '
     'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"x"}}: field is immutable'),
     "delete Deployment web (kubectl --namespace other delete deployment web) and deploy again"),
    (('server-side apply failed for object /reader rbac.authorization.k8s.io/v1, Kind=ClusterRoleBinding: '
     'ClusterRoleBinding.rbac.authorization.k8s.io "reader" is invalid: roleRef: Invalid value: '
     'rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"view"}: cannot change roleRef'),
     "(kubectl delete clusterrolebinding reader)"),  # ValidateRoleBindingUpdate's words, nothing more
    (('cannot patch "web" with kind Service: Service "web" is invalid: spec.clusterIPs[0]: Invalid value: '
      '[]string{"10.96.100.100"}: may not change once set'),
     "delete Service web (kubectl --namespace app delete service web) and deploy again"),
    (('cannot patch "cfg" with kind ConfigMap: ConfigMap "cfg" is invalid: data: Forbidden: field is immutable when '
     '`immutable` is set'), "delete ConfigMap cfg (kubectl --namespace app delete configmap cfg)"),
    (('cannot patch "data" with kind PersistentVolumeClaim: PersistentVolumeClaim "data" is invalid: spec: Forbidden: '
     "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"),
     "keep claim data as it was created, or move the data to a claim with another name"),
])
def test_a_change_kubernetes_cannot_make_in_place_names_the_object_and_how_to_recreate_it(message, expected):
    assert expected in advice(message, "staging", "app")


def test_the_object_refused_for_an_immutable_field_is_the_one_named_not_an_earlier_refusal():
    message = ('Service "api" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535; '
               'Job.batch "seed" is invalid: spec.template: Invalid value: core.PodTemplateSpec{}: field is immutable')
    assert "delete Job seed (kubectl --namespace app delete job seed)" in advice(message, "staging", "app")


@pytest.mark.parametrize("message", [
    'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
    "failed to create typed patch object (app/web; apps/v1, Kind=Deployment): .spec.replica: field not declared",
    "context deadline exceeded",
])
def test_other_failures_get_no_advice_to_delete_anything(message):
    assert advice(message, "staging", "app") == ""


def test_a_missing_namespace_names_the_setting_that_creates_it():
    assert advice('namespaces "app" not found', "staging", "app") == (
        "; create the namespace, or set release.environments.staging.create_namespace: true")
