"""The Kubernetes emulator answers as an API server would, so green release tests mean something.

Spoken to as clients speak to it: plain HTTPS requests with a bearer token, and Helm itself (helm_python) with
a kubeconfig from the emulator. Each test fails on the emulator that applied patches as JSON merge patches,
had no controllers, no CRDs, no validation, no size limit and no authentication.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from tests.conftest import corpus
from tests.support.k8s_pods import ENV_NAME_RULE
from tests.support.k8s_rules import LABEL_VALUE

DNS = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
       "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
       "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")

SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"


# --- helpers: a client, a namespace, charts -------------------------------------------------------------

def api(k8s: Any, method: str, path: str, body: Any = None, content_type: str = "application/json",
        token: str | None = None) -> tuple[int, dict[str, Any]]:
    """One request as client-go makes it: HTTPS verified against the cluster's CA, a bearer token."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if token != "":
        headers["Authorization"] = f"Bearer {token or k8s.token}"
    request = urllib.request.Request(k8s.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, context=ssl.create_default_context(cadata=k8s.ca.decode())) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def ns(k8s: Any) -> str:
    name = f"emu-{uuid.uuid4().hex[:8]}"
    k8s.create_namespace(name)
    return name


def helm(k8s: Any, namespace: str, token: str | None = None) -> Any:
    return helm_python.Config(kubeconfig_content=k8s.kubeconfig("emu", token=token), kube_context="emu",
                              namespace=namespace)


def make_chart(root: Path, name: str, templates: dict[str, str], values: dict[str, Any] | None = None,
               crds: dict[str, str] | None = None) -> Path:
    folder = root / name
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    (folder / "values.yaml").write_text(yaml.safe_dump(values or {}))
    for file, text in templates.items():
        (folder / "templates" / file).write_text(text)
    for file, text in (crds or {}).items():
        (folder / "crds").mkdir(exist_ok=True)
        (folder / "crds" / file).write_text(text)
    return folder


def deployment(name: str, image: str = "nginx:1.27", **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    container = {"name": "web", "image": image, "imagePullPolicy": "Always",
                 "ports": [{"name": "http", "containerPort": 8080}],
                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}, **spec}}


def directives(value: Any) -> list[str]:
    """Every key that starts with `$` anywhere in a stored object: patch directives must never be stored."""
    if isinstance(value, dict):
        return [k for k in value if k.startswith("$")] + [d for v in value.values() for d in directives(v)]
    if isinstance(value, list):
        return [d for v in value for d in directives(v)]
    return []


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


# --- 1. strategic merge patch and server-side apply ---------------------------------------------------

def test_a_three_way_strategic_merge_patch_changes_only_what_it_names_and_stores_no_directive(k8s, ns):
    live = deployment("shop")
    spec = pod_spec(live)
    spec["containers"][0]["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    spec["containers"][0]["volumeMounts"] = [{"name": "cache", "mountPath": "/cache"}]
    spec["initContainers"] = [{"name": "migrate", "image": "migrate:1", "args": ["up"]}]
    spec["volumes"] = [{"name": "cache", "emptyDir": {}}]
    spec["imagePullSecrets"] = [{"name": "registry"}]
    spec["tolerations"] = [{"key": "spot", "operator": "Exists"}]
    assert api(k8s, "POST", f"/apis/apps/v1/namespaces/{ns}/deployments", live)[0] == 201
    patch = {"spec": {"template": {"spec": {  # what Helm 3 / kubectl send: only the differences, with directives
        "$setElementOrder/containers": [{"name": "web"}],
        "containers": [{"name": "web", "image": "nginx:1.28",
                        "$setElementOrder/env": [{"name": "B"}, {"name": "C"}],
                        "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "A"}],
                        "$setElementOrder/ports": [{"containerPort": 8080}, {"containerPort": 9090}],
                        "ports": [{"name": "metrics", "containerPort": 9090}],
                        "$setElementOrder/volumeMounts": [{"mountPath": "/cache"}, {"mountPath": "/tmp"}],
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],
        "initContainers": [{"name": "migrate", "image": "migrate:2"}],
        "$setElementOrder/volumes": [{"name": "cache"}, {"name": "tmp"}],
        "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory"}}],
        "imagePullSecrets": [{"name": "mirror"}],
        "tolerations": [{"key": "gpu", "operator": "Exists"}]}}}}
    code, patched = api(k8s, "PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/shop", patch, SMP)
    assert code == 200, patched
    stored = k8s.store[("apps/v1", "deployments", ns, "shop")]
    assert directives(stored) == []
    spec = pod_spec(stored)
    [web] = spec["containers"]
    assert web["image"] == "nginx:1.28"
    assert (web["imagePullPolicy"], web["readinessProbe"]) == ("Always", {"httpGet": {"path": "/healthz", "port": "http"}})
    assert [(p["containerPort"], p["name"]) for p in web["ports"]] == [(8080, "http"), (9090, "metrics")]
    assert web["env"] == [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}]
    assert [m["mountPath"] for m in web["volumeMounts"]] == ["/cache", "/tmp"]
    assert spec["initContainers"][0]["image"] == "migrate:2" and spec["initContainers"][0]["args"] == ["up"]
    assert [v["name"] for v in spec["volumes"]] == ["cache", "tmp"]
    assert spec["imagePullSecrets"] == [{"name": "mirror"}, {"name": "registry"}]  # no order given: new first
    assert spec["tolerations"] == [{"key": "gpu", "operator": "Exists"}]  # no merge key: replaced whole


def test_strategic_merge_directives_replace_delete_retain_keys_and_primitive_lists(k8s, ns):
    live = deployment("api")
    live["metadata"]["finalizers"] = ["example.com/a", "example.com/b"]
    pod_spec(live)["containers"][0]["resources"] = {"limits": {"cpu": "1"}, "requests": {"cpu": "500m"}}
    pod_spec(live)["securityContext"] = {"runAsNonRoot": True}
    pod_spec(live)["volumes"] = [{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}]
    assert api(k8s, "POST", f"/apis/apps/v1/namespaces/{ns}/deployments", live)[0] == 201
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/api"
    recreate = {"spec": {"strategy": {"type": "Recreate"}}}
    code, refused = api(k8s, "PATCH", path, recreate, MERGE)  # the defaulted rollingUpdate stays: invalid
    assert (code, refused["reason"]) == (422, "Invalid")
    assert refused["details"]["causes"][0]["field"] == "spec.strategy.rollingUpdate"
    code, _ = api(k8s, "PATCH", path, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}, SMP)
    assert code == 200
    code, _ = api(k8s, "PATCH", path, {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"]},
        "spec": {"template": {"spec": {
            "securityContext": {"$patch": "delete"},
            "containers": [{"name": "web", "resources": {"$patch": "replace", "limits": {"memory": "1Gi"}}}],
            "volumes": [{"$patch": "replace"}, {"name": "c", "emptyDir": {}}]}}}}, SMP)
    assert code == 200
    stored = k8s.store[("apps/v1", "deployments", ns, "api")]
    assert stored["spec"]["strategy"] == {"type": "Recreate"}
    assert stored["metadata"]["finalizers"] == ["example.com/b"]
    assert pod_spec(stored)["securityContext"] == {}
    assert pod_spec(stored)["containers"][0]["resources"] == {"limits": {"memory": "1Gi"}}
    assert pod_spec(stored)["volumes"] == [{"name": "c", "emptyDir": {}}]
    assert directives(stored) == []


def test_a_json_patch_applies_all_its_operations_or_none(k8s, ns):
    assert api(k8s, "POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("ops"))[0] == 201
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/ops"
    code, patched = api(k8s, "PATCH", path, [
        {"op": "replace", "path": "/spec/replicas", "value": 2},
        {"op": "add", "path": "/spec/template/spec/containers/0/env", "value": [{"name": "A", "value": "1"}]},
        {"op": "add", "path": "/metadata/labels/tier", "value": "web"}], JSON_PATCH)
    assert code == 200, patched
    assert (patched["spec"]["replicas"], patched["metadata"]["labels"]["tier"]) == (2, "web")
    assert pod_spec(patched)["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    code, refused = api(k8s, "PATCH", path, [{"op": "replace", "path": "/spec/replicas", "value": 5},
                                             {"op": "test", "path": "/spec/replicas", "value": 1}], JSON_PATCH)
    assert code == 422, refused
    assert k8s.store[("apps/v1", "deployments", ns, "ops")]["spec"]["replicas"] == 2


WEB = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: {{ .Values.image }}
          imagePullPolicy: Always
          {{- with .Values.env }}
          env: {{ toJson . }}
          {{- end }}
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /healthz, port: http}}
"""


def test_helm_upgrades_and_rollbacks_apply_what_the_chart_says_and_keep_what_others_set(k8s, ns, tmp_path):
    chart = str(make_chart(tmp_path, "web", {"deployment.yaml": WEB}))
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/web"
    with helm(k8s, ns) as client:
        client.install(chart, "web", {"image": "web:1", "env": [{"name": "A", "value": "1"}]}, wait="watcher",
                       timeout=60)
        injected = {"metadata": {"annotations": {"team": "payments"}},
                    "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1"}]}}}}
        assert api(k8s, "PATCH", f"{path}?fieldManager=injector", injected, SMP)[0] == 200
        client.upgrade(chart, "web", {"image": "web:2", "env": [{"name": "A", "value": "1"}, {"name": "B"}]},
                       wait="watcher", timeout=60)
        stored = k8s.store[("apps/v1", "deployments", ns, "web")]
        web, proxy = pod_spec(stored)["containers"]
        assert (web["image"], [e["name"] for e in web["env"]], proxy["image"]) == ("web:2", ["A", "B"], "envoy:1")
        assert web["ports"][0]["containerPort"] == 8080 and web["readinessProbe"] and web["imagePullPolicy"] == "Always"
        assert stored["metadata"]["annotations"]["team"] == "payments"
        managers = {(m["manager"], m["operation"]) for m in stored["metadata"]["managedFields"]}
        assert {("injector", "Update")} < managers and {op for _, op in managers} == {"Apply", "Update"}
        client.upgrade(chart, "web", {"image": "web:3"}, wait="watcher", timeout=60)
        web, proxy = pod_spec(k8s.store[("apps/v1", "deployments", ns, "web")])["containers"]
        assert "env" not in web and proxy["name"] == "proxy"  # what the chart no longer says is removed
        client.rollback("web", version=1, wait="watcher", timeout=60)
    stored = k8s.store[("apps/v1", "deployments", ns, "web")]
    web = pod_spec(stored)["containers"][0]
    assert (web["image"], web["env"]) == ("web:1", [{"name": "A", "value": "1"}])
    assert directives(stored) == []


def test_server_side_apply_conflicts_with_another_managers_field_unless_forced(k8s, ns):
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/cart"
    assert api(k8s, "PATCH", f"{path}?fieldManager=helm", deployment("cart"), APPLY)[0] == 201
    assert api(k8s, "PATCH", f"{path}?fieldManager=kubectl", {"spec": {"replicas": 3}}, SMP)[0] == 200
    wanted = {**deployment("cart"), "spec": {**deployment("cart")["spec"], "replicas": 2}}
    code, refused = api(k8s, "PATCH", f"{path}?fieldManager=helm&force=false", wanted, APPLY)
    assert (code, refused["reason"]) == (409, "Conflict")
    assert refused["message"] == 'Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas'
    assert k8s.store[("apps/v1", "deployments", ns, "cart")]["spec"]["replicas"] == 3
    code, forced = api(k8s, "PATCH", f"{path}?fieldManager=helm&force=true", wanted, APPLY)
    assert (code, forced["spec"]["replicas"]) == (200, 2)
    owners = {m["manager"]: m["fieldsV1"] for m in forced["metadata"]["managedFields"]}
    assert "f:replicas" in owners["helm"]["f:spec"] and "kubectl" not in owners


# --- 2. Services ----------------------------------------------------------------------------------------

def service(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}], **spec}}


def test_services_get_a_unique_cluster_ip_kept_across_updates_and_headless_stays_none(k8s, ns):
    import ipaddress

    base = f"/api/v1/namespaces/{ns}/services"
    first, second = (api(k8s, "POST", base, service(n))[1] for n in ("first", "second"))
    ips = [s["spec"]["clusterIP"] for s in (first, second)]
    assert ips[0] != ips[1] and all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12") for ip in ips)
    assert first["spec"]["clusterIPs"] == [ips[0]]
    applied = api(k8s, "PATCH", f"{base}/first?fieldManager=helm", service("first"), APPLY)[1]
    patched = api(k8s, "PATCH", f"{base}/first", {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, SMP)[1]
    assert applied["spec"]["clusterIP"] == patched["spec"]["clusterIP"] == ips[0]
    assert patched["spec"]["ports"] == [{"port": 80, "targetPort": 9090, "protocol": "TCP"}]
    code, refused = api(k8s, "PATCH", f"{base}/first", {"spec": {"clusterIP": ips[1]}}, MERGE)
    assert (code, refused["details"]["causes"][0]["field"]) == (422, "spec.clusterIPs[0]")
    code, taken = api(k8s, "POST", base, service("third", clusterIP=ips[1]))
    assert code == 422 and "provided IP is already allocated" in taken["message"]
    headless = api(k8s, "POST", base, service("peers", clusterIP="None"))[1]
    assert headless["spec"]["clusterIP"] == "None"
    assert api(k8s, "PATCH", f"{base}/peers", {"metadata": {"labels": {"a": "b"}}}, SMP)[1]["spec"]["clusterIP"] == "None"
    for name, spec, wanted in (
            ("dup", {"ports": [{"name": "http", "port": 80}, {"name": "http", "port": 81}]},
             'spec.ports[1].name: Duplicate value: "http"'),
            ("low", {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]},
             ("spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid "
             "ports is 30000-32767")),
            ("inner", {"ports": [{"port": 80, "nodePort": 30080}]},
             "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"),
            ("outer", {"type": "ExternalName", "ports": []}, "spec.externalName: Required value"),
            ("sticky", {"sessionAffinity": "Sticky"},
             'spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"'),
            ("unnamed", {"ports": [{"port": 80}, {"port": 81}]},  # was a 500: the emulator crashed
             "[spec.ports[0].name: Required value, spec.ports[1].name: Required value]")):
        code, refused = api(k8s, "POST", base, service(name, **spec))
        assert (code, refused["message"]) == (422, f'Service "{name}" is invalid: {wanted}')
    assert api(k8s, "POST", base, service("defaulted", sessionAffinity=""))[0] == 201
    code, refused = api(k8s, "POST", base, service("typo", clusterIP="not-an-ip"))  # was a 500: the emulator crashed
    assert (code, refused["message"]) == (422, (
        'Service "typo" is invalid: spec.clusterIPs[0]: Invalid value: "not-an-ip": must be a valid IP address, (e.g. '
        "10.9.8.7 or 2001:db8::ffff)"))
    nulls = service("nulls")  # `{"helm.sh/hook": pre-install,pre-upgrade}` in YAML: a key with a null value
    nulls["metadata"].update(labels={"a": None}, annotations={"pre-upgrade": None})
    assert api(k8s, "POST", base, nulls)[0] == 201  # decoded into map[string]string as "" (it was a 500)


# --- 3. workloads: controllers and both of Helm's waits -------------------------------------------------

def test_a_deployment_gets_replicasets_and_ready_pods_as_its_controller_would(k8s, ns):
    assert api(k8s, "POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("shop", replicas=2))[0] == 201
    shop = k8s.store[("apps/v1", "deployments", ns, "shop")]
    status = shop["status"]
    assert (status["observedGeneration"], status["readyReplicas"], status["updatedReplicas"]) == (1, 2, 2)
    assert {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]} == {
        "Available": ("True", "MinimumReplicasAvailable"), "Progressing": ("True", "NewReplicaSetAvailable")}
    [rs] = api(k8s, "GET", f"/apis/apps/v1/namespaces/{ns}/replicasets?labelSelector=app%3Dshop")[1]["items"]
    assert rs["metadata"]["ownerReferences"][0]["uid"] == shop["metadata"]["uid"]
    assert rs["status"]["readyReplicas"] == 2 and rs["status"]["observedGeneration"] == rs["metadata"]["generation"]
    pods = api(k8s, "GET", f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3Dshop")[1]["items"]
    assert len(pods) == 2 and all(p["metadata"]["labels"]["pod-template-hash"] == rs["metadata"]["labels"][
        "pod-template-hash"] for p in pods)
    assert all({"type": "Ready", "status": "True"}.items() <= c.items() for p in pods for c in p["status"]["conditions"]
               if c["type"] == "Ready")
    api(k8s, "PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/shop",
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}}, SMP)
    sets = api(k8s, "GET", f"/apis/apps/v1/namespaces/{ns}/replicasets?labelSelector=app%3Dshop")[1]["items"]
    assert sorted((s["metadata"]["annotations"]["deployment.kubernetes.io/revision"], s["spec"]["replicas"])
                  for s in sets) == [("1", 0), ("2", 2)]
    assert k8s.store[("apps/v1", "deployments", ns, "shop")]["status"]["observedGeneration"] == 2
    api(k8s, "DELETE", f"/apis/apps/v1/namespaces/{ns}/deployments/shop")
    assert not [k for k in k8s.store if k[2] == ns and k[1] in ("replicasets", "pods")]  # garbage collected


WORKLOADS = """apiVersion: apps/v1
kind: Deployment
metadata: {name: front}
spec:
  replicas: 2
  selector: {matchLabels: {app: front}}
  template:
    metadata: {labels: {app: front}}
    spec: {containers: [{name: front, image: "{{ .Values.images.deployment }}"}]}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: "{{ .Values.images.statefulset }}"}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: "{{ .Values.images.daemonset }}"}]}
"""


@pytest.mark.parametrize("strategy", ["watcher", "legacy"])
@pytest.mark.parametrize("broken_kind", ["deployment", "statefulset", "daemonset"])
def test_helms_waits_accept_ready_workloads_and_time_out_on_a_crash_looping_one(k8s, ns, tmp_path, strategy,
                                                                               broken_kind):
    images = {kind: f"example.com/{kind}:1" for kind in ("deployment", "statefulset", "daemonset")}
    chart = str(make_chart(tmp_path, "workloads", {"all.yaml": WORKLOADS}, {"images": images}))
    broken = f"example.com/{broken_kind}:crash-{uuid.uuid4().hex[:6]}"
    k8s.break_image(broken)
    with helm(k8s, ns) as client:
        client.install(chart, "apps", {}, wait=strategy, timeout=60)
        assert client.status("apps")["status"] == "deployed"
        with pytest.raises(helm_python.HelmError) as failed:
            client.upgrade(chart, "apps", {"images": {**images, broken_kind: broken}}, wait=strategy, timeout=2)
        assert client.status("apps")["status"] == "failed"
    name = {"deployment": "front", "statefulset": "db", "daemonset": "agent"}[broken_kind]
    assert any(reason in str(failed.value) for reason in ("context deadline exceeded", "timed out", f"/{name} not ready"))


# --- 4. CRDs ----------------------------------------------------------------------------------------------

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"""
WIDGET = """apiVersion: example.com/v1
kind: Widget
metadata: {name: gear}
spec: {teeth: 12}
"""


def test_a_chart_with_crds_installs_and_its_custom_resources_are_served(k8s, ns, tmp_path):
    chart = str(make_chart(tmp_path, "widgets", {"widget.yaml": WIDGET}, crds={"widgets.yaml": CRD}))
    with helm(k8s, ns) as client:
        client.install(chart, "widgets", {}, wait="watcher", timeout=60)
    crd = k8s.store[("apiextensions.k8s.io/v1", "customresourcedefinitions", None, "widgets.example.com")]
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]} == {"NamesAccepted": "True",
                                                                             "Established": "True"}
    groups = api(k8s, "GET", "/apis")[1]["groups"]
    assert {"groupVersion": "example.com/v1", "version": "v1"} in next(g for g in groups if g["name"] == "example.com")[
        "versions"]
    resources = {r["name"]: r for r in api(k8s, "GET", "/apis/example.com/v1")[1]["resources"]}
    assert (resources["widgets"]["kind"], resources["widgets"]["namespaced"]) == ("Widget", True)
    assert "widgets/status" in resources
    code, gear = api(k8s, "GET", f"/apis/example.com/v1/namespaces/{ns}/widgets/gear")
    assert (code, gear["spec"]) == (200, {"teeth": 12})
    assert api(k8s, "PATCH", f"/apis/example.com/v1/namespaces/{ns}/widgets/gear", {"spec": {}}, SMP)[0] == 415
    assert api(k8s, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")[0] == 200
    assert "example.com" not in [g["name"] for g in api(k8s, "GET", "/apis")[1]["groups"]]
    assert api(k8s, "GET", f"/apis/example.com/v1/namespaces/{ns}/widgets/gear")[0] == 404


def test_a_custom_resource_is_checked_against_its_crds_schema_as_the_api_server_checks_it(k8s, ns):
    """A ServiceMonitor whose interval a value made "30 seconds", or whose scheme is ftp, was stored (201); a real
    API server refuses it (apiextensions-apiserver's validation). The CRD is prometheus-operator's own."""
    source = corpus().joinpath("prometheus-operator-crds", "charts", "crds", "templates", "crd-servicemonitors.yaml")
    crd = yaml.safe_load("\n".join(line for line in source.read_text().splitlines() if "{{" not in line))
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    assert api(k8s, "POST", crds, crd)[0] == 201
    try:
        checked_against_its_schema(k8s, f"/apis/monitoring.coreos.com/v1/namespaces/{ns}/servicemonitors")
    finally:  # cluster-wide: a chart that installs it, in a later test, would not own it
        api(k8s, "DELETE", f"{crds}/{crd['metadata']['name']}")


def checked_against_its_schema(k8s: Any, base: str) -> None:

    def monitor(name: str, **endpoint: Any) -> dict[str, Any]:
        return {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": name},
                "spec": {"selector": {"matchLabels": {"app": "x"}}, "endpoints": [{"port": "http", **endpoint}]}}

    assert api(k8s, "POST", base, monitor("good", interval="30s", scheme="https"))[0] == 201
    assert api(k8s, "POST", base, monitor("unset", interval=None))[0] == 201  # a null is dropped, not refused
    code, refused = api(k8s, "POST", base, monitor("slow", interval="30 seconds"))
    assert code == 422 and refused["message"].startswith(
        'ServiceMonitor.monitoring.coreos.com "slow" is invalid: spec.endpoints[0].interval: Invalid value: '
        '"30 seconds": spec.endpoints[0].interval in body should match \'^(0|(([0-9]+)y)?')
    code, refused = api(k8s, "POST", base, monitor("plain", scheme="ftp"))
    assert code == 422 and 'spec.endpoints[0].scheme: Unsupported value: "ftp": supported values: ' \
        in refused["message"]
    unselected = monitor("none")
    del unselected["spec"]["selector"]
    code, refused = api(k8s, "POST", base, unselected)
    assert (code, refused["details"]["causes"][0]["field"]) == (422, "spec.selector")
    code, refused = api(k8s, "PATCH", f"{base}/good", {"spec": {"endpoints": [{"port": 8080}]}}, MERGE)
    assert code == 422 and "spec.endpoints[0].port in body must be of type string" in refused["message"]
    assert api(k8s, "GET", f"{base}/good")[1]["spec"]["endpoints"][0]["interval"] == "30s"  # nothing stored

# --- 5. validation ----------------------------------------------------------------------------------------

def test_a_value_its_go_type_refuses_is_refused_on_every_write_path_and_never_stored(k8s, ns):
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    zebra = {**deployment("zoo"), "spec": {**deployment("zoo")["spec"], "replicas": "Zebra"}}
    code, refused = api(k8s, "POST", base, zebra)
    assert (code, refused["reason"]) == (400, "BadRequest")
    assert refused["message"] == ('Deployment in version "v1" cannot be handled as a Deployment: json: cannot '
                                  'unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32')
    code, refused = api(k8s, "PATCH", f"{base}/zoo?fieldManager=helm", zebra, APPLY)
    assert code == 500 and refused["message"].endswith(".spec.replicas: expected numeric (int or float), got string")
    assert ("apps/v1", "deployments", ns, "zoo") not in k8s.store
    assert api(k8s, "POST", base, deployment("zoo"))[0] == 201
    for content_type in (SMP, MERGE):
        code, refused = api(k8s, "PATCH", f"{base}/zoo", {"spec": {"replicas": "Zebra"}}, content_type)
        assert (code, refused["reason"]) == (422, "Invalid"), refused
    port = deployment("ports")
    pod_spec(port)["containers"][0]["ports"] = [{"containerPort": "http"}]
    code, refused = api(k8s, "POST", base, port)
    assert code == 400 and "Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of " \
                           "type int32" in refused["message"]
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"PORT": 8080}}
    code, refused = api(k8s, "POST", f"/api/v1/namespaces/{ns}/configmaps", config)
    assert code == 400 and "into Go struct field ConfigMap.data of type string" in refused["message"]
    assert k8s.store[("apps/v1", "deployments", ns, "zoo")]["spec"]["replicas"] == 1


def test_objects_the_api_servers_validation_refuses_get_422_naming_each_field(k8s, ns):
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    mismatched = deployment("mismatch")
    mismatched["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    nameless = deployment("nameless")
    del pod_spec(nameless)["containers"][0]["image"]
    far = deployment("far")
    pod_spec(far)["containers"][0]["ports"][0]["containerPort"] = 70000
    cases = [
        (deployment("Bad_Name"), "metadata.name", "FieldValueInvalid"),
        (mismatched, "spec.template.metadata.labels", "FieldValueInvalid"),
        (nameless, "spec.template.spec.containers[0].image", "FieldValueRequired"),
        (far, "spec.template.spec.containers[0].ports[0].containerPort", "FieldValueInvalid"),
        ({**deployment("minus"), "spec": {**deployment("minus")["spec"], "replicas": -1}}, "spec.replicas",
         "FieldValueInvalid"),
    ]
    for body, field, reason in cases:
        code, refused = api(k8s, "POST", base, body)
        assert (code, refused["reason"], refused["details"]["kind"]) == (422, "Invalid", "Deployment"), refused
        assert (refused["details"]["causes"][0]["field"], refused["details"]["causes"][0]["reason"]) == (field, reason)
        assert refused["message"].startswith(f'Deployment.apps "{body["metadata"]["name"]}" is invalid: {field}: ')
    assert not [k for k in k8s.store if k[2] == ns]
    code, refused = api(k8s, "POST", f"/api/v1/namespaces/{ns}/services", service("1st"))
    assert code == 422 and "a DNS-1035 label must consist of lower case alphanumeric characters" in refused["message"]
    assert api(k8s, "POST", base, deployment("moving"))[0] == 201
    code, refused = api(k8s, "PATCH", f"{base}/moving", {"spec": {"selector": {"matchLabels": {"app": "x"}},
                                                                  "template": {"metadata": {"labels": {"app": "x"}}}}},
                        SMP)
    assert code == 422 and refused["message"].endswith("field is immutable")


def test_fields_a_kind_does_not_declare_are_refused_under_strict_and_dropped_otherwise(k8s, ns):
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    odd = deployment("odd")
    odd["spec"]["bogus"] = 1
    pod_spec(odd)["containers"][0]["colour"] = "red"
    code, refused = api(k8s, "POST", f"{base}?fieldValidation=Strict", odd)
    assert (code, refused["message"]) == (400, ('Deployment in version "v1" cannot be handled as a Deployment: strict '
                                          'decoding error: unknown field "spec.template.spec.containers[0].colour", '
                                          'unknown field "spec.bogus"'))
    code, refused = api(k8s, "PATCH", f"{base}/odd?fieldManager=helm&fieldValidation=Strict", odd, APPLY)
    assert (code, refused["message"]) == (500, (f"failed to create typed patch object ({ns}/odd; apps/v1, "
                                          'Kind=Deployment): .spec.template.spec.containers[name="web"].colour: field '
                                          "not declared in schema"))
    assert ("apps/v1", "deployments", ns, "odd") not in k8s.store
    for query in ("", "?fieldValidation=Ignore"):  # Warn is the default: stored, without what it does not declare
        name = f"odd{len(query)}"
        assert api(k8s, "POST", base + query, {**odd, "metadata": {"name": name}})[0] == 201
        stored = k8s.store[("apps/v1", "deployments", ns, name)]
        assert "bogus" not in stored["spec"] and "colour" not in pod_spec(stored)["containers"][0]
    code, refused = api(k8s, "PATCH", f"{base}/odd0?fieldValidation=Strict", {"spec": {"paused": True, "x": 1}}, SMP)
    assert (code, refused["message"]) == (400, 'strict decoding error: unknown field "spec.x"')
    strict = CRD.replace("          x-kubernetes-preserve-unknown-fields: true\n", STRUCTURAL)
    assert api(k8s, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", yaml.safe_load(strict))[0] == 201
    try:
        gear = {**yaml.safe_load(WIDGET), "spec": {"teeth": 12, "wobble": True, "labels": {"any": "x"}}}
        code, refused = api(k8s, "PATCH", f"/apis/example.com/v1/namespaces/{ns}/widgets/gear?fieldManager=helm&"
                            "fieldValidation=Strict", gear, APPLY)
        assert (code, refused["message"]) == (500, (f"failed to create typed patch object ({ns}/gear; example.com/v1, "
                                              "Kind=Widget): .spec.wobble: field not declared in schema"))
        assert api(k8s, "POST", f"/apis/example.com/v1/namespaces/{ns}/widgets", gear)[0] == 201
        assert k8s.store[("example.com/v1", "widgets", ns, "gear")]["spec"] == {"teeth": 12, "labels": {"any": "x"}}
    finally:
        api(k8s, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")


# as controller-gen writes a CRD's schema (prometheus-operator's among them): metadata declared as a bare object,
# which the API server still reads as ObjectMeta
STRUCTURAL = """          properties:
            apiVersion: {type: string}
            kind: {type: string}
            metadata: {type: object}
            spec:
              type: object
              properties:
                teeth: {type: integer}
                labels: {type: object, additionalProperties: {type: string}}
"""


def test_what_an_update_may_not_change_is_refused_as_the_api_server_refuses_it(k8s, ns):
    """The refusals that make Helm users delete and recreate objects; a Job's quotes its whole pod template."""
    sts = {**deployment("db"), "apiVersion": "apps/v1", "kind": "StatefulSet"}
    sts["spec"] = {**sts["spec"], "serviceName": "db", "volumeClaimTemplates": [
        {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                "resources": {"requests": {"storage": "1Gi"}}}}]}
    base = f"/apis/apps/v1/namespaces/{ns}/statefulsets"
    assert api(k8s, "POST", base, sts)[0] == 201
    assert api(k8s, "PATCH", f"{base}/db", {"spec": {"replicas": 3}}, SMP)[0] == 200
    grown = {"spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}}]}}
    code, refused = api(k8s, "PATCH", f"{base}/db", grown, MERGE)
    assert (code, refused["message"]) == (422, ('StatefulSet.apps "db" is invalid: spec: Forbidden: updates to '
                                          "statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                                          "'updateStrategy', 'revisionHistoryLimit', "
                                          "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "m", "image": "m:1", "env": [
            {"name": "PASSWORD", "value": 'pa"ss\u00a0word'}]}]}}}}
    assert api(k8s, "POST", f"/apis/batch/v1/namespaces/{ns}/jobs", job)[0] == 201
    code, refused = api(k8s, "PATCH", f"/apis/batch/v1/namespaces/{ns}/jobs/migrate", {"spec": {"template": {
        "spec": {"containers": [{"name": "m", "image": "m:2"}]}}}}, SMP)
    assert code == 422 and refused["message"].startswith(
        'Job.batch "migrate" is invalid: spec.template: Invalid value: core.PodTemplateSpec{Spec:core.PodSpec{')
    assert 'Env:[]core.EnvVar{core.EnvVar{Name:"PASSWORD", Value:"pa\\"ss\\u00a0word"}}' in refused["message"]
    assert refused["message"].endswith("}: field is immutable")
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    assert api(k8s, "POST", f"/api/v1/namespaces/{ns}/persistentvolumeclaims", claim)[0] == 201
    path = f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data"
    assert api(k8s, "PATCH", path, {"spec": {"resources": {"requests": {"storage": "2Gi"}}}}, MERGE)[0] == 200
    code, refused = api(k8s, "PATCH", path, {"spec": {"storageClassName": "fast"}}, MERGE)
    assert (code, refused["message"]) == (422, ('PersistentVolumeClaim "data" is invalid: spec: Forbidden: spec is '
                                          "immutable after creation except resources.requests and "
                                          "volumeAttributesClassName for bound claims"))
    code, refused = api(k8s, "PATCH", path, {"spec": {"resources": {"requests": {"storage": "1536Mi"}}}}, MERGE)
    assert (code, refused["message"]) == (422, ('PersistentVolumeClaim "data" is invalid: '
                                          "spec.resources.requests.storage: Forbidden: field can not be less than "
                                          "previous value"))
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "read"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
               "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]}
    bindings = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"
    assert api(k8s, "POST", bindings, binding)[0] == 201
    code, refused = api(k8s, "PATCH", f"{bindings}/read", {"roleRef": {**binding["roleRef"], "name": "edit"}}, MERGE)
    assert (code, refused["message"]) == (422, (
        'RoleBinding.rbac.authorization.k8s.io "read" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:'
        '"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef'))
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}, {"apiGroups": [""]}]}
    code, refused = api(k8s, "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", role)
    assert (code, refused["message"]) == (422, (
        'Role.rbac.authorization.k8s.io "r" is invalid: [rules[1].verbs: Required value: verbs must contain at least '
        "one value, rules[1].resources: Required value: resource rules must supply at least one resource]"))
    frozen = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "frozen"}, "data": {"a": "1"},
              "immutable": True}
    assert api(k8s, "POST", f"/api/v1/namespaces/{ns}/configmaps", frozen)[0] == 201
    code, refused = api(k8s, "PATCH", f"/api/v1/namespaces/{ns}/configmaps/frozen", {"data": {"a": "2"}}, MERGE)
    assert (code, refused["message"]) == (422, ('ConfigMap "frozen" is invalid: data: Forbidden: field is immutable '
                                          "when `immutable` is set"))
    tls = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"}, "stringData": {"a": "1"}}
    assert api(k8s, "POST", f"/api/v1/namespaces/{ns}/secrets", tls)[0] == 201
    code, refused = api(k8s, "PATCH", f"/api/v1/namespaces/{ns}/secrets/tls", {"type": "kubernetes.io/tls"}, MERGE)
    assert (code, refused["message"]) == (422, ('Secret "tls" is invalid: [type: Invalid value: "kubernetes.io/tls": '
                                          "field is immutable, data[tls.crt]: Required value, data[tls.key]: "
                                          "Required value]"))
    assert k8s.store[("batch/v1", "jobs", ns, "migrate")]["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "m:1"


QUANTITY_FORMAT = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def sized(name: str, **resources: Any) -> dict[str, Any]:
    body = deployment(name)
    pod_spec(body)["containers"][0]["resources"] = resources
    return body


def test_a_quantity_that_does_not_parse_is_400_and_one_out_of_bounds_422_as_the_api_server_words_them(k8s, ns):
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    for memory, error in (("1GB", QUANTITY_FORMAT), ("1 Gi", QUANTITY_FORMAT), ("abc", QUANTITY_FORMAT),
                          ("192i", "unable to parse quantity's suffix"), (True, QUANTITY_FORMAT)):
        code, refused = api(k8s, "POST", base, sized("sized", limits={"memory": memory}))
        assert (code, refused["reason"], refused["message"]) == (
            400, "BadRequest", f'Deployment in version "v1" cannot be handled as a Deployment: {error}'), memory
    for i, memory in enumerate(("1G", "1Gi", "1.5Gi", " 512Mi ", 512000000, "1e9")):
        assert api(k8s, "POST", base, sized(f"fits{i}", limits={"memory": memory}))[0] == 201, memory
    code, refused = api(k8s, "PATCH", f"{base}/fits0", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "resources": {"requests": {"cpu": "100 m"}}}]}}}}, SMP)
    assert code >= 400 and refused["message"].endswith(QUANTITY_FORMAT)  # a real one words a patch's as a 422
    assert "requests" not in pod_spec(k8s.store[("apps/v1", "deployments", ns, "fits0")])["containers"][0]["resources"]
    at = "spec.template.spec.containers[0].resources"
    code, refused = api(k8s, "POST", base, sized("over", limits={"cpu": "1", "memory": "1Gi"},
                                                  requests={"cpu": 1.5, "memory": "2048Mi"}))
    assert (code, refused["message"]) == (422, (
        f'Deployment.apps "over" is invalid: [{at}.requests: Invalid value: "1500m": must be less than or equal to '
        f'cpu limit of 1, {at}.requests: Invalid value: "2Gi": must be less than or equal to memory limit of 1Gi]'))
    code, refused = api(k8s, "POST", base, sized("minus", limits={"memory": "-1Gi", "memroy": "1Gi"}))
    assert refused["message"] == (
        f'Deployment.apps "minus" is invalid: [{at}.limits[memory]: Invalid value: "-1Gi": must be greater than or '
        f'equal to 0, {at}.limits[memroy]: Invalid value: "memroy": must be a standard resource type or fully '
        f'qualified, {at}.limits[memroy]: Invalid value: "memroy": must be a standard resource for containers]')
    claims = f"/api/v1/namespaces/{ns}/persistentvolumeclaims"
    for name, requests, wanted in (
            ("none", {}, 'PersistentVolumeClaim "none" is invalid: spec.resources[storage]: Required value'),
            ("zero", {"storage": "0Gi"}, ('PersistentVolumeClaim "zero" is invalid: spec.resources[storage]: Invalid '
                                          'value: "0": must be greater than zero')),
            ("gb", {"storage": "10GB"}, ('PersistentVolumeClaim in version "v1" cannot be handled as a '
                                         f"PersistentVolumeClaim: {QUANTITY_FORMAT}"))):
        claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
                 "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": requests}}}
        assert api(k8s, "POST", claims, claim)[1]["message"] == wanted
    assert not [k for k in k8s.store if k[2] == ns and k[3] in ("sized", "over", "minus", "none", "zero", "gb")]


def test_pod_templates_are_refused_for_what_only_a_pod_would_trip_over(k8s, ns):
    """Mounts of volumes the pod lacks, volumes without a source, probes without a handler, env values with a source
    too: what a chart's values get wrong and a real API server refuses before any pod is made."""
    at = "spec.template.spec.containers[0]"
    cases = [
        ({"volumeMounts": [{"name": "data", "mountPath": "/data"}]}, {},
         f'{at}.volumeMounts[0].name: Not found: "data"'),
        ({"volumeMounts": [{"name": "data", "mountPath": "/data"}]}, {"volumes": [{"name": "data"}]},
         (f'[spec.template.spec.volumes[0]: Required value: must specify a volume type, {at}.volumeMounts[0].name: '
          'Not found: "data"]')),
        ({}, {"volumes": [{"name": "cache", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}]},
         'spec.template.spec.volumes[1].name: Duplicate value: "cache"'),
        ({}, {"volumes": [{"name": "tls", "secret": {"secretName": ""}}]},
         "spec.template.spec.volumes[0].secret.secretName: Required value"),
        ({"readinessProbe": {"periodSeconds": 5}}, {},
         f"{at}.readinessProbe: Required value: must specify a handler type"),
        ({"livenessProbe": {"tcpSocket": {"port": "http"}, "successThreshold": 3}}, {},
         f"{at}.livenessProbe.successThreshold: Invalid value: 3: must be 1"),
        ({"env": [{"name": "TOKEN", "value": "x", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}]},
         {}, f'{at}.env[0].valueFrom: Invalid value: "": may not be specified when `value` is not empty'),
        ({"env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "", "key": "token"}}}]}, {},
         (f'{at}.env[0].valueFrom.secretKeyRef.name: Invalid value: "": a lowercase RFC 1123 subdomain must consist '
          "of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
          "(e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"
          "([-a-z0-9]*[a-z0-9])?)*')")),
        ({"ports": [{"name": "http", "containerPort": 8080}, {"name": "http", "containerPort": 9090}]}, {},
         f'{at}.ports[1].name: Duplicate value: "http"'),
        ({"imagePullPolicy": "Sometimes"}, {}, (f'{at}.imagePullPolicy: Unsupported value: "Sometimes": supported '
                                                'values: "Always", "IfNotPresent", "Never"')),
        ({"env": [{"name": "A=B", "value": "x"}]}, {}, f'{at}.env[0].name: Invalid value: "A=B": {ENV_NAME_RULE}'),
        ({}, {"dnsPolicy": "Weird"}, ('spec.template.spec.dnsPolicy: Unsupported value: "Weird": supported values: '
                                      '"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"')),
        ({}, {"serviceAccountName": "Bad_SA"},
         f'spec.template.spec.serviceAccountName: Invalid value: "Bad_SA": {DNS}'),
        ({}, {"nodeSelector": {"zone": "has space"}}, (f'spec.template.spec.nodeSelector: Invalid value: "has space": '
                                                      f"{LABEL_VALUE}")),
        ({}, {"labels": {"tier": "has space"}}, f'spec.template.labels: Invalid value: "has space": {LABEL_VALUE}'),
    ]
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    for container, spec, wanted in cases:
        body = deployment("web")
        pod_spec(body)["containers"][0].update(container)
        template = body["spec"]["template"]["metadata"]
        template["labels"] = {**template["labels"], **spec.pop("labels", {})}  # its own: deployment() shares one
        pod_spec(body).update(spec)
        code, refused = api(k8s, "POST", base, body)
        assert (code, refused["message"]) == (422, f'Deployment.apps "web" is invalid: {wanted}')
    defaulted = deployment("defaulted")  # "" is defaulted before validation; blanks around an image fail its pods
    pod_spec(defaulted)["containers"][0].update(image=" nginx:1.27 ", imagePullPolicy="")
    pod_spec(defaulted)["dnsPolicy"] = ""
    assert api(k8s, "POST", base, defaulted)[0] == 201
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "blank"}, "spec": pod_spec(defaulted)}
    code, refused = api(k8s, "POST", f"/api/v1/namespaces/{ns}/pods", pod)  # a Pod itself is refused for it
    assert (code, refused["message"]) == (422, ('Pod "blank" is invalid: spec.containers[0].image: Invalid value: '
                                               '" nginx:1.27 ": must not have leading or trailing whitespace'))
    mounted = deployment("web")
    pod_spec(mounted)["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    pod_spec(mounted)["volumes"] = [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}]
    assert api(k8s, "POST", base, mounted)[0] == 201
    sts = {**deployment("db"), "kind": "StatefulSet"}  # its mounts name claim templates: its pod spec is not checked
    pod_spec(sts)["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    sts["spec"] |= {"serviceName": "db", "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}
    assert api(k8s, "POST", f"/apis/apps/v1/namespaces/{ns}/statefulsets", sts)[0] == 201
    batch = f"/apis/batch/v1/namespaces/{ns}"
    pod = {"containers": [{"name": "m", "image": "m:1"}]}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
           "spec": {"template": {"spec": pod}}}
    code, refused = api(k8s, "POST", f"{batch}/jobs", job)  # the API server defaults restartPolicy: Always
    assert (code, refused["message"]) == (422, ('Job.batch "migrate" is invalid: spec.template.spec.restartPolicy: '
                                           'Required value: valid values: "OnFailure", "Never"'))

    def cron_job(name: str, schedule: str) -> dict[str, Any]:
        return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name}, "spec": {
            "schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {**pod, "restartPolicy": "Never"}}}}}}

    for name, schedule, wanted in (
            ("nightly", "0 0 * * * *", ('spec.schedule: Invalid value: "0 0 * * * *": expected exactly 5 fields, '
                                        "found 6: [0 0 * * * *]")),
            ("nightly", "0 24 * * *", ('spec.schedule: Invalid value: "0 24 * * *": end of range (24) above maximum '
                                       "(23): 24")),
            ("a" * 53, "@daily", f'metadata.name: Invalid value: "{"a" * 53}": must be no more than 52 characters')):
        code, refused = api(k8s, "POST", f"{batch}/cronjobs", cron_job(name, schedule))
        assert (code, refused["message"]) == (422, f'CronJob.batch "{name}" is invalid: {wanted}')
    assert api(k8s, "POST", f"{batch}/cronjobs", cron_job("nightly", "30 2 * * mon-fri"))[0] == 201
    assert not [k for k in k8s.store if k[2] == ns and k[1] in ("deployments", "jobs")
                and k[3] not in ("web", "defaulted")]


def test_ingresses_disruption_budgets_and_typed_secrets_are_refused_as_the_api_server_refuses_them(k8s, ns):
    import re

    def ingress(path: dict[str, Any], host: str = "shop.example.com", **spec: Any) -> dict[str, Any]:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "shop"}, "spec": {
            "rules": [{"host": host, "http": {"paths": [{"path": "/", **path}]}}], **spec}}

    backend = {"service": {"name": "shop", "port": {"name": "http"}}}
    at = "spec.rules[0].http.paths[0]"
    cases = [
        (ingress({"backend": backend}), f"{at}.pathType: Required value: pathType must be specified"),
        (ingress({"pathType": "Prefix", "backend": {"service": {"name": "shop", "port": {"name": "x", "number": 80}}}}),
         f'{at}.backend: Invalid value: "": cannot set both port name & port number'),
        (ingress({"pathType": "Prefix", "backend": {"service": {"name": "shop"}}}),
         f"{at}.backend: Required value: port name or number is required"),
        (ingress({"pathType": "Exact", "path": "api", "backend": backend}),
         f'{at}.path: Invalid value: "api": must be an absolute path'),
        (ingress({"pathType": "Prefix", "backend": backend}, host="shop.*.example.com"),
         ('spec.rules[0].host: Invalid value: "shop.*.example.com": a wildcard DNS-1123 subdomain must start with '
          "'*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or "
          "'.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is "
          "'\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")),
        (ingress({"pathType": "Prefix", "backend": backend}, host="10.0.0.1"),
         'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address'),
        ({**ingress({"pathType": "Prefix", "backend": backend}, ingressClassName="nginx"), "metadata": {
            "name": "shop", "annotations": {"kubernetes.io/ingress.class": "nginx"}}},
         ('annotations.kubernetes.io/ingress.class: Invalid value: "nginx": can not be set when the class field is '
          "also set")),
    ]
    base = f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"
    for body, wanted in cases:
        code, refused = api(k8s, "POST", base, body)
        assert (code, refused["message"]) == (422, f'Ingress.networking.k8s.io "shop" is invalid: {wanted}')
    assert api(k8s, "POST", base, ingress({"pathType": "Prefix", "backend": backend}, host="*.example.com",
                                          ingressClassName="nginx"))[0] == 201
    budgets = f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets"
    budget = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "shop"},
              "spec": {"minAvailable": 1, "maxUnavailable": "150%", "selector": {"matchLabels": {"app": "shop"}}}}
    code, refused = api(k8s, "POST", budgets, budget)
    assert code == 422 and re.fullmatch(
        r'PodDisruptionBudget\.policy "shop" is invalid: \[spec: Invalid value: policy\.PodDisruptionBudgetSpec\{'
        r"MinAvailable:\(\*intstr\.IntOrString\)\(0xc[0-9a-f]+\), Selector:\(\*v1\.LabelSelector\)\(0xc[0-9a-f]+\), "
        r"MaxUnavailable:\(\*intstr\.IntOrString\)\(0xc[0-9a-f]+\), UnhealthyPodEvictionPolicy:\(\*policy\."
        r"UnhealthyPodEvictionPolicyType\)\(nil\)\}: minAvailable and maxUnavailable cannot be both set, "
        r"spec\.maxUnavailable: Invalid value: 150%: must not be greater than 100%\]", refused["message"])
    del budget["spec"]["maxUnavailable"]
    assert api(k8s, "POST", budgets, budget)[0] == 201
    cert = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cert"}, "type": "kubernetes.io/tls",
            "stringData": {"tls.crt": "-----BEGIN CERTIFICATE-----"}}
    code, refused = api(k8s, "POST", f"/api/v1/namespaces/{ns}/secrets", cert)
    assert (code, refused["message"]) == (422, 'Secret "cert" is invalid: data[tls.key]: Required value')


def test_helm_cannot_install_replicas_zebra(k8s, ns, tmp_path):
    template = WEB.replace("replicas: 1", "replicas: {{ .Values.replicas }}")
    chart = str(make_chart(tmp_path, "zebra", {"deployment.yaml": template}))
    with helm(k8s, ns) as client, pytest.raises(helm_python.HelmError) as failed:
        client.install(chart, "zebra", {"image": "web:1", "replicas": "Zebra"}, wait="watcher", timeout=30)
    assert ".spec.replicas: expected numeric (int or float), got string" in str(failed.value)
    assert ("apps/v1", "deployments", ns, "web") not in k8s.store


# --- 6. size limits -----------------------------------------------------------------------------------------

def test_secret_and_configmap_data_over_1_mib_and_bodies_over_3_mib_are_refused_as_the_api_server_does(k8s, ns):
    def secret(name: str, size: int) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                "data": {"blob": base64.b64encode(b"x" * size).decode()}}

    base = f"/api/v1/namespaces/{ns}"
    assert api(k8s, "POST", f"{base}/secrets", secret("fits", 1024 * 1024))[0] == 201
    code, refused = api(k8s, "POST", f"{base}/secrets", secret("over", 1024 * 1024 + 1))
    assert (code, refused["message"]) == (422, 'Secret "over" is invalid: data: Too long: must have at most 1048576 bytes')
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "over"}, "data": {"a": "x" * 2**20 + "y"}}
    code, refused = api(k8s, "POST", f"{base}/configmaps", config)
    assert (code, refused["message"]) == (422, 'ConfigMap "over" is invalid: []: Too long: must have at most 1048576 bytes')
    code, refused = api(k8s, "POST", f"{base}/secrets", secret("huge", 3 * 1024 * 1024))
    assert (code, refused["reason"], refused["message"]) == (413, "RequestEntityTooLarge",
                                                             "Request entity too large: limit is 3145728")
    assert [k[3] for k in k8s.store if k[2] == ns] == ["fits"]


def test_a_release_whose_record_is_over_1_mib_fails_as_on_a_real_cluster(k8s, ns, tmp_path):
    chart = str(make_chart(tmp_path, "big", {"deployment.yaml": WEB}))
    noise = secrets.token_urlsafe(1_200_000)  # does not compress: Helm's release Secret ends up over 1 MiB
    with helm(k8s, ns) as client, pytest.raises(helm_python.HelmError) as failed:
        client.install(chart, "big", {"image": "web:1", "blob": noise}, wait="watcher", timeout=30)
    assert "Too long: must have at most 1048576 bytes" in str(failed.value)
    assert not [k for k in k8s.store if k[2] == ns]


# --- 7. authentication --------------------------------------------------------------------------------------

def test_a_wrong_or_missing_bearer_token_gets_401_everywhere(k8s, ns):
    for path in ("/version", "/api", "/apis", "/api/v1", "/openapi/v3", f"/api/v1/namespaces/{ns}/secrets"):
        for token in ("wrong-token", ""):
            code, refused = api(k8s, "GET", path, token=token)
            assert (code, refused["reason"], refused["message"]) == (401, "Unauthorized", "Unauthorized"), path
        assert api(k8s, "GET", path)[0] == 200
    ci = k8s.accept_token(f"ci-{uuid.uuid4().hex}")
    assert api(k8s, "GET", f"/api/v1/namespaces/{ns}/secrets", token=ci)[0] == 200


def test_a_resource_served_in_two_versions_is_one_object_seen_in_each(k8s, ns):
    """autoscaling/v1 and v2 serve the same HorizontalPodAutoscalers, as one storage version does: written in one,
    read, listed and watched in the other (Helm's wait watches the version its REST mapper prefers)."""
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 1, "maxReplicas": 3}}
    assert api(k8s, "POST", f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers", hpa)[0] == 201
    code, found = api(k8s, "GET", f"/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers/web")
    assert (code, found["apiVersion"], found["spec"]["maxReplicas"]) == (200, "autoscaling/v1", 3)
    listed = api(k8s, "GET", f"/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers")[1]
    assert [(i["apiVersion"], i["metadata"]["name"]) for i in listed["items"]] == [("autoscaling/v1", "web")]
    request = urllib.request.Request(
        f"{k8s.url}/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers?watch=true&sendInitialEvents=true"
        "&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan", headers={"Authorization": f"Bearer {k8s.token}"})
    with urllib.request.urlopen(request, context=ssl.create_default_context(cadata=k8s.ca.decode())) as stream:
        event = json.loads(stream.readline())
    assert (event["type"], event["object"]["apiVersion"], event["object"]["metadata"]["name"]) == (
        "ADDED", "autoscaling/v1", "web")
    assert api(k8s, "DELETE", f"/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers/web")[0] == 200
    assert api(k8s, "GET", f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/web")[0] == 404


def test_a_token_that_may_not_bind_roles_binds_only_roles_that_exist_as_rbacs_escalation_check_wants(k8s, ns):
    """A namespace's admin holds every permission there but not `bind`: the API server compares a binding's role
    with what the user holds, so the role must exist, dry run or not (kubernetes' rolebinding/policybased)."""
    admin = k8s.accept_token(f"admin-{uuid.uuid4().hex}", binds=False)
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "reads"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
               "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]}
    for query in ("", "?dryRun=All"):
        code, refused = api(k8s, "POST", f"{rbac}/namespaces/{ns}/rolebindings{query}", binding, token=admin)
        assert (code, refused["message"]) == (404, 'roles.rbac.authorization.k8s.io "reader" not found')
    code, _ = api(k8s, "PATCH", f"{rbac}/namespaces/{ns}/rolebindings/reads?fieldManager=helm&dryRun=All", binding,
                  APPLY, token=admin)
    assert code == 404
    cluster_wide = {**binding, "kind": "ClusterRoleBinding", "metadata": {"name": f"reads-{ns}"},
                    "roleRef": {**binding["roleRef"], "kind": "ClusterRole", "name": f"reader-{ns}"}}
    code, refused = api(k8s, "POST", f"{rbac}/clusterrolebindings", cluster_wide, token=admin)
    assert (code, refused["message"]) == (404, f'clusterroles.rbac.authorization.k8s.io "reader-{ns}" not found')
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    assert api(k8s, "POST", f"{rbac}/namespaces/{ns}/roles", role, token=admin)[0] == 201
    assert api(k8s, "POST", f"{rbac}/namespaces/{ns}/rolebindings", binding, token=admin)[0] == 201
    assert api(k8s, "POST", f"{rbac}/clusterrolebindings", cluster_wide)[0] == 201  # who may bind: no role needed
    api(k8s, "DELETE", f"{rbac}/clusterrolebindings/reads-{ns}")


def test_helm_with_a_wrong_token_is_unauthorized_and_changes_nothing(k8s, ns, tmp_path):
    chart = str(make_chart(tmp_path, "web", {"deployment.yaml": WEB}))
    with helm(k8s, ns, token="not-a-known-token") as client, pytest.raises(helm_python.HelmError) as failed:
        client.install(chart, "web", {"image": "web:1"}, wait="watcher", timeout=30)
    assert "the server has asked for the client to provide credentials" in str(failed.value)
    assert not [k for k in k8s.store if k[2] == ns]


def test_a_chart_that_makes_a_namespace_installs_and_waits_as_on_a_cluster(k8s, ns, tmp_path):
    """Helm's wait lists and watches the Namespaces a chart makes: /api/v1/namespaces itself is served."""
    name = f"made-{uuid.uuid4().hex[:8]}"
    chart = str(make_chart(tmp_path, "maker", {"ns.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"}))
    with helm(k8s, ns) as client:
        client.install(chart, "maker", {}, wait="watcher", timeout=60)
    code, listed = api(k8s, "GET", "/api/v1/namespaces")
    assert code == 200 and name in [item["metadata"]["name"] for item in listed["items"]]
