"""The API server's own check of a release before it is deployed, the workloads an upgrade would take from their
autoscaler, and its workloads' readiness after (the only import of Kubernetes' Python client).

Helm's dry run renders the chart and asks the cluster only to look things up: a field its kind does not declare,
a change Kubernetes cannot make in place, a value the API server's validation refuses are left for the deploy to
find, after the release has been half applied and rolled back. Here each object of the rendered manifest is
applied server-side with dryRun=All, fieldValidation=Strict and conflicts forced, as `kubectl apply --server-side
--force-conflicts --dry-run=server` sends it and as the deploy will (helm._FORCE), so a dry run is refused for what
the deploy would be refused.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import manifests, safe_yaml
from .cluster import Access
from .errors import ToolError


@dataclass
class Check:
    refused: list[tuple[str, str]] = field(default_factory=list)  # ("Deployment web: MESSAGE", its namespace)
    unchecked: list[str] = field(default_factory=list)  # what the cluster cannot check yet, and why


RBAC_DENIED = re.compile(r'User ".*" cannot patch resource')  # a 403 from RBAC; a quota's or a webhook's is a refusal


def check(access: Access, manifest: str, *, create_namespace: bool, stand_ins: Mapping[str, str]) -> Check:
    """Every object of `manifest` applied as a dry run; namespaced ones without a namespace go to the release's.
    `stand_ins`: the real name of each object sent under a stand-in (hooks.for_check), which only they show."""
    found = Check()
    missing: set[str] = set()  # namespaces the deploy creates (create_namespace), not there yet
    objects = list(_flat(manifest))
    roles = {(kind, stand_ins.get(name, name)) for kind, name in
             ((str(o["kind"]), str(o["metadata"].get("name"))) for o, _ in objects
              if o["kind"] in ("Role", "ClusterRole") and isinstance(o.get("metadata"), dict))}
    for call, obj, path, body in _objects(access, objects, lambda kind: True):
        kind, name, namespace = obj["kind"], obj["metadata"].get("name"), obj["metadata"].get("namespace")
        if path is None:
            found.unchecked.append(f"{kind} {name} (the cluster does not serve {kind} in {obj['apiVersion']} yet)")
        elif not name:
            found.unchecked.append(f"{kind} with generateName {obj['metadata'].get('generateName')} (no name to apply)")
        elif namespace == access.namespace and create_namespace and _absent(call, namespace, missing):
            found.unchecked.append(f"{kind} {name} (namespace {namespace} is created by the deploy)")
        else:
            try:
                call("PATCH", path, {"dryRun": "All", "fieldManager": _manager(), "force": "true",
                                     "fieldValidation": "Strict"}, body)
            except _Refused as exc:
                if exc.status == 403 and RBAC_DENIED.search(str(exc)):  # credentials that may only read (a pull
                    # request's pipeline) check nothing
                    found.unchecked.append(f"{kind} {name} (these credentials may not patch it, not even as a dry "
                                           f"run: {exc})")
                elif exc.status == 404 and _unbound(obj, str(exc)) in roles:  # RBAC's escalation check
                    found.unchecked.append(f"{kind} {name} (it binds {' '.join(_binds(obj))}, which the deploy "
                                           "creates before it; these credentials may bind only a role that exists)")
                else:
                    found.refused.append((f"{kind} {name}: {exc}", namespace or ""))
    for stand_in, real in stand_ins.items():
        found.refused = [(text.replace(stand_in, real), namespace) for text, namespace in found.refused]
        found.unchecked = [text.replace(stand_in, real) for text in found.unchecked]
    return found


def _binds(obj: dict[str, Any]) -> tuple[str, str]:
    """The role a RoleBinding or ClusterRoleBinding binds: (kind, name)."""
    ref = obj.get("roleRef") if obj.get("kind") in ("RoleBinding", "ClusterRoleBinding") else None
    return (str(ref.get("kind")), str(ref.get("name"))) if isinstance(ref, dict) else ("", "")


def _unbound(obj: dict[str, Any], message: str) -> tuple[str, str] | None:
    """The role of a binding refused because that role does not exist (its NotFound: credentials that may not `bind`,
    a namespace's admin, may bind only a role that exists, whose rules RBAC compares with theirs), None otherwise."""
    kind, name = _binds(obj)
    plural = {"Role": "roles", "ClusterRole": "clusterroles"}.get(kind)
    return (kind, name) if plural and message == f'{plural}.rbac.authorization.k8s.io "{name}" not found' else None


SCALED = ("Deployment", "StatefulSet", "ReplicaSet")  # what a HorizontalPodAutoscaler scales


def autoscaled(access: Access, manifest: str, before: str) -> list[str]:
    """The workloads an upgrade or rollback from `before` to `manifest` would scale away from where an autoscaler
    has them: each sets spec.replicas, to the same count in both (a count the chart changes is set, as Helm 3 set
    it), a HorizontalPodAutoscaler in the cluster scales it, and it runs at another count now. Server-side apply,
    conflicts forced, sets the manifest's count where Helm 3's three-way merge left it: the pods beyond it stop until
    the autoscaler scales back. The cluster is asked only when such a workload is there; an autoscaler these
    credentials may not list is not known."""
    kept = {_identity(o, access.namespace): str(o["spec"]["replicas"]) for o, _ in _flat(before) if _scaled(o)}
    objects = list(_flat(manifest))
    if not any(kept.get(_identity(o, access.namespace)) == str(o["spec"]["replicas"]) for o, _ in objects
               if _scaled(o)):
        return []
    found: list[str] = []
    autoscalers: dict[str, dict[tuple[str, str], str]] = {}  # by namespace: (kind, name) -> the autoscaler's name
    for call, obj, path, _ in _objects(access, objects, lambda kind: kind in SCALED):
        wanted, namespace = (obj.get("spec") or {}).get("replicas"), obj["metadata"].get("namespace")
        if path is None or wanted is None or kept.get(_identity(obj, access.namespace)) != str(wanted):
            continue
        if namespace not in autoscalers:
            autoscalers[namespace] = _autoscalers(call, namespace)
        scaler = autoscalers[namespace].get((obj["kind"], obj["metadata"]["name"]))
        try:
            now = (call("GET", path).get("spec") or {}).get("replicas") if scaler else None
        except _Refused:
            continue  # not there yet (nothing to scale down), or not readable: not known
        if now is not None and str(now) != str(wanted):
            found.append(f"{obj['kind']} {obj['metadata']['name']} (replicas: {wanted} in the chart; "
                         f"HorizontalPodAutoscaler {scaler} has it at {now})")
    return found


def _scaled(obj: dict[str, Any]) -> bool:
    return obj["kind"] in SCALED and isinstance(obj.get("spec"), dict) and obj["spec"].get("replicas") is not None \
        and isinstance(obj.get("metadata"), dict)


def _identity(obj: dict[str, Any], namespace: str) -> tuple[str, str, str]:
    """A workload by kind, name and namespace (the release's `namespace` where none is written)."""
    return obj["kind"], str(obj["metadata"].get("name")), str(obj["metadata"].get("namespace") or namespace)


def _autoscalers(call: Any, namespace: str) -> dict[tuple[str, str], str]:
    """What the HorizontalPodAutoscalers of a namespace scale: (kind, name) -> the autoscaler's name."""
    for version in ("autoscaling/v2", "autoscaling/v1"):
        try:
            listed = call("GET", f"{_served_at(version)}/namespaces/{_segment(namespace)}/horizontalpodautoscalers")
        except _Refused:
            continue
        targets = {}
        for autoscaler in listed.get("items") or []:
            ref = (autoscaler.get("spec") or {}).get("scaleTargetRef") or {}
            targets[(str(ref.get("kind")), str(ref.get("name")))] = str(autoscaler["metadata"]["name"])
        return targets
    return {}


WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def readiness(access: Access, manifest: str) -> list[dict[str, Any]]:
    """Each workload of a release's manifest as the cluster has it now: kind, name, namespace, ready ("2/3": pods
    ready of those wanted, a Job's succeeded of its completions) and its state: ready (all of them, of its current
    spec), not ready, failed (a Job), or missing."""
    found = []
    for call, obj, path, _ in _objects(access, list(_flat(manifest)), lambda kind: kind in WORKLOADS):
        meta = obj["metadata"]
        row = {"kind": obj["kind"], "name": meta.get("name"), "namespace": meta.get("namespace", ""),
               "ready": "", "state": "missing"}
        try:
            live = call("GET", path) if path else None
        except _Refused as exc:
            if exc.status != 404:
                row["state"] = f"unknown ({exc})"
            live = None
        if live is not None:
            row["ready"], row["state"] = _ready(obj["kind"], live.get("spec") or {}, live.get("status") or {},
                                                (live.get("metadata") or {}).get("generation", 0))
        found.append(row)
    return found


def _ready(kind: str, spec: dict[str, Any], status: dict[str, Any], generation: int) -> tuple[str, str]:
    """As `kubectl rollout status` decides: the pods of the current spec, ready, and no old ones left (during a
    rollout the ready ones are the old ones); a StatefulSet's partition keeps its lower pods on the old spec; a spec
    its controller has not seen yet is not ready, whatever its status says."""
    if kind == "Job":
        done, wanted = status.get("succeeded", 0), spec.get("completions", 1)
        failed = any(c.get("type") == "Failed" and c.get("status") == "True" for c in status.get("conditions") or [])
        return f"{done}/{wanted}", "failed" if failed else "ready" if done >= wanted else "not ready"
    current = status.get("observedGeneration", 0) >= generation
    if kind == "DaemonSet":
        wanted, updated = status.get("desiredNumberScheduled", 0), status.get("updatedNumberScheduled", 0)
        done = min(updated, status.get("numberAvailable", 0))
    elif kind == "StatefulSet":
        wanted, updated = spec.get("replicas", 1), status.get("updatedReplicas", 0)
        partition = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition") or 0
        done = min(updated + partition, status.get("readyReplicas", 0))
        current = current and (partition > 0 or status.get("currentRevision") == status.get("updateRevision"))
    else:  # a Deployment: the available pods beyond those of old ReplicaSets
        wanted, updated = spec.get("replicas", 1), status.get("updatedReplicas", 0)
        done = max(0, min(updated, status.get("availableReplicas", 0) - (status.get("replicas", 0) - updated)))
    return f"{done}/{wanted}", "ready" if current and done >= wanted else "not ready"


def _objects(access: Access, objects: list[tuple[dict[str, Any], Any]], wanted: Callable[[str], bool]
             ) -> Iterator[tuple[Callable[..., Any], dict[str, Any], str | None, Any]]:
    """(call, object, its API path, the body to apply) for each of `objects` (a manifest read by _flat, once per
    caller) of a `wanted` kind, its namespace set (the release's, when a namespaced one names none); the path is None
    for a kind the cluster does not serve. The cluster is asked nothing when no object is wanted."""
    chosen = [(obj, body) for obj, body in objects if wanted(str(obj.get("kind")))]
    if not chosen:
        return
    with _client(access) as call:
        served: dict[str, dict[str, tuple[str, bool]] | None] = {}
        for obj, body in chosen:
            version, meta = str(obj.get("apiVersion", "")), obj.setdefault("metadata", {})
            if version not in served:
                served[version] = _resources(call, version)
            resource = (served[version] or {}).get(obj["kind"])
            if resource is None:
                yield call, obj, None, body
                continue
            plural, namespaced = resource
            if namespaced:
                meta["namespace"] = meta.get("namespace") or access.namespace
            where = f"namespaces/{_segment(meta['namespace'])}/" if namespaced else ""
            path = f"{_served_at(version)}/{where}{plural}/{_segment(meta.get('name'))}"
            yield call, obj, path, body


def _served_at(version: str) -> str:
    """Where the API server serves a group version: /api/v1 for the core group, /apis/GROUP/VERSION for the others."""
    return f"/{'apis' if '/' in version else 'api'}/{version}"


def _segment(name: Any) -> str:
    """A name as one segment of a URL path: `x?y` is not the object `x` with a query."""
    return urllib.parse.quote(str(name), safe="")


def _flat(manifest: str) -> Iterator[tuple[dict[str, Any], Any]]:
    """(object, body) for each object; a List's items one by one (`kind: List`, `ConfigMapList`).

    The body is the document's own text: the API server reads it as Helm's client does (go-yaml: `y` a boolean,
    `12:30` and `=` strings), which PyYAML would not; the object is read with every scalar but booleans and nulls
    left as text, for its kind, name and namespace. A List's items (Helm's client sends them one by one) are
    each sent as the JSON PyYAML makes of them."""
    for text, document in manifests.documents(manifest, safe_yaml.TextLoader):
        if not isinstance(document, dict) or not document.get("kind"):
            continue
        if str(document["kind"]).endswith("List") and isinstance(document.get("items"), list):
            try:
                items = yaml.safe_load(text)["items"]
            except (yaml.YAMLError, TypeError, KeyError):
                continue
            yield from ((dict(item), item) for item in items if isinstance(item, dict) and item.get("kind"))
        else:
            yield document, text


class _Refused(Exception):
    """The API server's answer to a request it refused: its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _manager() -> str:
    """The field manager Helm's apply uses: its process's program name (Helm's getManagedFieldsManager)."""
    return os.path.basename(sys.orig_argv[0]) if sys.orig_argv and sys.orig_argv[0] else "unknown"


def _resources(call: Any, version: str) -> dict[str, tuple[str, bool]] | None:
    """kind -> (plural, namespaced) of what the API server serves in `version` (group/version), None if nothing."""
    try:
        listed = call("GET", _served_at(version))
    except _Refused as exc:
        if exc.status == 404:
            return None
        raise ToolError(f"the API server refused to list what it serves in {version}: {exc}") from None
    return {r["kind"]: (r["name"], r.get("namespaced", False)) for r in listed.get("resources", [])
            if "/" not in r["name"]}


def _absent(call: Any, namespace: str, missing: set[str]) -> bool:
    if namespace not in missing:
        try:
            call("GET", f"/api/v1/namespaces/{_segment(namespace)}")
            return False
        except _Refused as exc:
            if exc.status != 404:
                raise ToolError(f"the API server refused to read namespace {namespace}: {exc}") from None
            missing.add(namespace)
    return True


@contextmanager
def _client(access: Access) -> Iterator[Any]:
    """call(method, path, query, body) -> the answer's JSON, on the environment's cluster, authenticated as Helm is
    (kubeconfig context or CI variables, exec plugins included); a refusal raises _Refused with its message."""
    import urllib3
    from kubernetes import config
    from kubernetes.client.rest import ApiException

    for name in ("kubernetes", "urllib3"):  # their debug logs print request and response bodies: secrets
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        if access.kubeconfig is not None:
            api = config.new_client_from_config_dict(yaml.safe_load(access.kubeconfig), context=access.context,
                                                     persist_config=False)
        else:
            api = config.new_client_from_config(context=access.context, persist_config=False)
    except config.ConfigException as exc:
        raise ToolError(f"{access.source}: {exc}") from None

    def call(method: str, path: str, query: dict[str, str] | None = None, body: Any = None) -> Any:
        headers = {"Accept": "application/json"}
        token = api.configuration.get_api_key_with_prefix("authorization")  # refreshed by an exec plugin's hook
        if token:
            headers["Authorization"] = token
        if body is not None:  # with a parameter, so Kubernetes' client sends a text body as it is, not as JSON
            headers["Content-Type"] = "application/apply-patch+yaml; charset=utf-8"
            body = body if isinstance(body, str) else json.dumps(body)
        try:
            return api.call_api(path, method, query_params=list((query or {}).items()), header_params=headers,
                                body=body, response_types_map={200: "object"},
                                _return_http_data_only=True, _request_timeout=60)
        except ApiException as exc:
            raise _Refused(exc.status or 0, _message(exc)) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # the cluster cannot be reached
            raise ToolError(f"cannot reach the API server ({access.source}): {type(exc).__name__}") from None

    with api:
        yield call


def _message(exc: Any) -> str:
    try:
        found = yaml.safe_load(exc.body or "")
    except yaml.YAMLError:
        found = None
    return str(found["message"]) if isinstance(found, dict) and found.get("message") else str(exc.reason)
