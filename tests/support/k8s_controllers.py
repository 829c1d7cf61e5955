"""What a cluster's controllers would do with a written object, done at once: the emulator has no kubelet.

- Deployment: a ReplicaSet per pod template (named <deployment>-<pod-template-hash>, owned by it), Pods for
  it, the old ReplicaSets scaled to zero once the new one is ready; status with observedGeneration, replica
  counts and the Available/Progressing conditions Helm's waits read (kstatus, and the legacy check of the
  newest ReplicaSet's readiness).
- ReplicaSet, StatefulSet, DaemonSet (one node), Job: their Pods and status.
- Pod: Running and Ready, or Succeeded for restartPolicy Never/OnFailure (Helm test hooks).
- CustomResourceDefinition: NamesAccepted and Established (the emulator then serves its resource).
A Pod whose image is in `broken` crash-loops: never Ready (a Job's fails), so whatever owns it never becomes
ready, under either of Helm's wait strategies. Readiness is recomputed on every write of the owner.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

Key = tuple[str, str, str | None, str]  # (group/version, plural, namespace, name)
Writes = list[tuple[Key, dict[str, Any] | None]]  # objects to store (None: to delete), in order
NODE = "emulated-node"
HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reconcile(store: dict[Key, dict[str, Any]], broken: set[str], key: Key) -> Writes:
    """The writes a controller would make after `key` was written (children first, the object's status last)."""
    obj = store.get(key)
    kind = (obj or {}).get("kind")
    if obj is None or kind not in RECONCILERS:
        return []
    return RECONCILERS[kind](store, broken, key, copy.deepcopy(obj))


def template_hash(template: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(HASH_ALPHABET[b % len(HASH_ALPHABET)] for b in digest[:10])


def owned_by(store: dict[Key, dict[str, Any]], plural: str, namespace: str | None, uid: str) -> list[tuple[Key, Any]]:
    """Objects whose controller reference is `uid`, oldest first."""
    found = [(k, o) for k, o in store.items() if k[1] == plural and k[2] == namespace
             and any(r.get("uid") == uid and r.get("controller") for r in o["metadata"].get("ownerReferences") or [])]
    return sorted(found, key=lambda item: (item[1]["metadata"].get("creationTimestamp", ""), item[0][3]))


def _owner(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _child(kind: str, api_version: str, namespace: str, name: str, owner: dict[str, Any], labels: dict[str, str],
           **parts: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "creationTimestamp": now(),
                         "generation": 1, "labels": labels, "ownerReferences": [_owner(owner)]}, **parts}


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    copied = copy.deepcopy(template)
    (copied.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    return copied


def _images(pod_spec: dict[str, Any]) -> list[str]:
    return [c.get("image", "") for c in [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]]


# --- Pods -------------------------------------------------------------------------------------------

def _new_pod(owner: dict[str, Any], name: str, template: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    meta = template.get("metadata") or {}
    pod = _child("Pod", "v1", owner["metadata"]["namespace"], name, owner, {**(meta.get("labels") or {}), **labels},
                 spec={**copy.deepcopy(template.get("spec") or {}), "nodeName": NODE})
    if meta.get("annotations"):
        pod["metadata"]["annotations"] = dict(meta["annotations"])
    return pod


def pod_status(pod: dict[str, Any], broken: set[str]) -> dict[str, Any]:
    spec, since = pod.get("spec") or {}, pod["metadata"].get("creationTimestamp", now())
    failing = any(image in broken for image in _images(spec))
    finite = spec.get("restartPolicy") in ("Never", "OnFailure")
    ready = not failing and not finite
    statuses = []
    for container in spec.get("containers") or []:
        if finite:
            state = {"terminated": {"exitCode": 1 if failing else 0, "reason": "Error" if failing else "Completed",
                                    "startedAt": since, "finishedAt": since}}
        elif failing:
            state = {"waiting": {"reason": "CrashLoopBackOff",
                                 "message": f"back-off restarting failed container {container.get('name')}"}}
        else:
            state = {"running": {"startedAt": since}}
        statuses.append({"name": container.get("name"), "image": container.get("image"), "ready": ready,
                         "started": ready, "restartCount": 3 if failing and not finite else 0, "state": state})
    conditions = [{"type": t, "status": "True" if ok else "False", "lastTransitionTime": since}
                  for t, ok in (("PodScheduled", True), ("Initialized", True), ("ContainersReady", ready),
                                ("Ready", ready))]
    phase = ("Failed" if failing else "Succeeded") if finite else "Running"
    address = f"10.42.{int(pod['metadata']['uid'][:2], 16)}.{int(pod['metadata']['uid'][2:4], 16) or 1}"
    return {"phase": phase, "conditions": conditions, "hostIP": "172.18.0.2", "podIP": address,
            "podIPs": [{"ip": address}], "startTime": since, "containerStatuses": statuses}


def _is_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def _pods(store: dict[Key, Any], broken: set[str], owner: dict[str, Any], wanted: dict[str, dict[str, Any]]) -> Writes:
    """Owned Pods made to be exactly `wanted` (name -> a new Pod, used only if that name is missing), with status."""
    meta = owner["metadata"]
    writes: Writes = []
    current = dict(owned_by(store, "pods", meta["namespace"], meta["uid"]))
    by_name = {k[3]: (k, pod) for k, pod in current.items()}
    for name, (key, _) in by_name.items():
        if name not in wanted:
            writes.append((key, None))
    for name, fresh in wanted.items():
        key, pod = by_name.get(name, (("v1", "pods", meta["namespace"], name), fresh))
        pod = copy.deepcopy(pod)
        pod["status"] = pod_status(pod, broken)
        writes.append((key, pod))
    return writes


def _ready_count(writes: Writes) -> int:
    return sum(1 for key, obj in writes if obj is not None and key[1] == "pods" and _is_ready(obj))


def _pod_names(store: dict[Key, Any], owner: dict[str, Any], count: int, template: dict[str, Any],
               labels: dict[str, str]) -> dict[str, dict[str, Any]]:
    """`count` Pods for a ReplicaSet or Job: the existing ones kept, new ones named <owner>-<5 letters>."""
    meta = owner["metadata"]
    existing = [k[3] for k, _ in owned_by(store, "pods", meta["namespace"], meta["uid"])][:count]
    while len(existing) < count:
        existing.append(f"{meta['name']}-{template_hash({'n': str(uuid.uuid4())})[:5]}")
    return {name: _new_pod(owner, name, template, labels) for name in existing}


# --- workloads ----------------------------------------------------------------------------------------

def _replicaset(store: dict[Key, Any], broken: set[str], key: Key, rs: dict[str, Any]) -> Writes:
    spec, stored = rs["spec"], store.get(key)
    if stored is not None and stored.get("spec") != spec:  # scaled by its Deployment: a new generation
        rs["metadata"]["generation"] = stored["metadata"].get("generation", 1) + 1
    labels = (spec["template"].get("metadata") or {}).get("labels") or {}
    hash_label = {"pod-template-hash": labels["pod-template-hash"]} if "pod-template-hash" in labels else {}
    writes = _pods(store, broken, rs, _pod_names(store, rs, spec.get("replicas", 1), spec["template"], hash_label))
    ready = _ready_count(writes)
    rs["status"] = {"replicas": spec.get("replicas", 1), "fullyLabeledReplicas": spec.get("replicas", 1),
                    "readyReplicas": ready, "availableReplicas": ready,
                    "observedGeneration": rs["metadata"].get("generation", 1)}
    return [*writes, (key, rs)]


def _deployment(store: dict[Key, Any], broken: set[str], key: Key, dep: dict[str, Any]) -> Writes:
    spec, meta = dep["spec"], dep["metadata"]
    template, replicas = spec["template"], spec.get("replicas", 1)
    owned = owned_by(store, "replicasets", key[2], meta["uid"])
    revisions = [int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "0"))
                 for _, rs in owned]
    current = next(((k, copy.deepcopy(rs)) for k, rs in owned
                    if _without_hash(rs["spec"]["template"]) == _without_hash(template)), None)
    if current is None:
        h = template_hash(template)
        labels = {**(template.get("metadata") or {}).get("labels", {}), "pod-template-hash": h}
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = h
        rs_template = {**copy.deepcopy(template), "metadata": {**(template.get("metadata") or {}), "labels": labels}}
        rs = _child("ReplicaSet", "apps/v1", key[2] or "", f"{meta['name']}-{h}", dep, labels,
                    spec={"replicas": replicas, "selector": selector, "template": rs_template})
        current = (("apps/v1", "replicasets", key[2], rs["metadata"]["name"]), rs)
    new_key, new_rs = current
    top = max(revisions, default=0)
    mine = int(new_rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "0"))
    revision = str(mine if mine == top and mine else top + 1)
    new_rs["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = revision
    new_rs["spec"]["replicas"] = replicas
    new_ready = not any(image in broken for image in _images(template.get("spec") or {}))
    writes = _replicaset(store, broken, new_key, new_rs)
    total, ready = replicas, _ready_count(writes)
    for old_key, old_rs in owned:
        if old_key == new_key:
            continue
        old_rs = copy.deepcopy(old_rs)
        if new_ready:
            old_rs["spec"]["replicas"] = 0
        old_writes = _replicaset(store, broken, old_key, old_rs)
        total += old_rs["spec"]["replicas"]
        ready += _ready_count(old_writes)
        writes += old_writes
    updated_ready = new_rs["status"]["readyReplicas"]
    available = updated_ready >= replicas
    dep["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = revision
    dep["status"] = {
        "observedGeneration": meta.get("generation", 1), "replicas": total, "updatedReplicas": replicas,
        "readyReplicas": ready, "availableReplicas": ready,
        **({"unavailableReplicas": total - ready} if total > ready else {}),
        "conditions": [
            {"type": "Available", "status": "True" if available else "False",
             "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable"},
            {"type": "Progressing", "status": "True",
             "reason": "NewReplicaSetAvailable" if available else "ReplicaSetUpdated",
             "message": f'ReplicaSet "{new_rs["metadata"]["name"]}" '
                        + ("has successfully progressed." if available else "is progressing.")}]}
    return [*writes, (key, dep)]


def _statefulset(store: dict[Key, Any], broken: set[str], key: Key, sts: dict[str, Any]) -> Writes:
    spec, meta = sts["spec"], sts["metadata"]
    replicas, template = spec.get("replicas", 1), spec["template"]
    revision = f"{meta['name']}-{template_hash(template)}"
    existing = {k[3]: pod for k, pod in owned_by(store, "pods", key[2], meta["uid"])}
    wanted = {}
    for index in range(replicas):
        name = f"{meta['name']}-{index}"
        pod = existing.get(name)
        if pod is None or pod["metadata"]["labels"].get("controller-revision-hash") != revision:
            pod = _new_pod(sts, name, template, {"controller-revision-hash": revision,
                                                 "statefulset.kubernetes.io/pod-name": name,
                                                 "apps.kubernetes.io/pod-index": str(index)})
        wanted[name] = pod
    writes: Writes = [(k, None) for k, _ in owned_by(store, "pods", key[2], meta["uid"]) if k[3] not in wanted]
    for name, pod in wanted.items():
        pod = copy.deepcopy(pod)
        pod["status"] = pod_status(pod, broken)
        writes.append((("v1", "pods", key[2], name), pod))
    ready = _ready_count(writes)
    current = (sts.get("status") or {}).get("currentRevision") or revision
    if ready == replicas:
        current = revision
    sts["status"] = {"observedGeneration": meta.get("generation", 1), "replicas": replicas, "readyReplicas": ready,
                     "currentReplicas": replicas if current == revision else 0, "updatedReplicas": replicas,
                     "availableReplicas": ready, "currentRevision": current, "updateRevision": revision,
                     "collisionCount": 0}
    return [*writes, (key, sts)]


def _daemonset(store: dict[Key, Any], broken: set[str], key: Key, ds: dict[str, Any]) -> Writes:
    meta, template = ds["metadata"], ds["spec"]["template"]
    revision = template_hash(template)
    name = f"{meta['name']}-{revision[:5]}"
    labels = {"controller-revision-hash": revision, "pod-template-generation": str(meta.get("generation", 1))}
    writes = _pods(store, broken, ds, {name: _new_pod(ds, name, template, labels)})
    ready = _ready_count(writes)
    ds["status"] = {"observedGeneration": meta.get("generation", 1), "desiredNumberScheduled": 1,
                    "currentNumberScheduled": 1, "updatedNumberScheduled": 1, "numberReady": ready,
                    "numberAvailable": ready, "numberMisscheduled": 0, **({"numberUnavailable": 1} if not ready else {})}
    return [*writes, (key, ds)]


def _job(store: dict[Key, Any], broken: set[str], key: Key, job: dict[str, Any]) -> Writes:
    spec, meta = job["spec"], job["metadata"]
    labels = {"job-name": meta["name"], "batch.kubernetes.io/job-name": meta["name"]}
    writes = _pods(store, broken, job, _pod_names(store, job, spec.get("completions", 1), spec["template"], labels))
    since = meta.get("creationTimestamp", now())
    if any(obj is not None and obj["status"]["phase"] == "Failed" for _, obj in writes):
        job["status"] = {"failed": spec.get("backoffLimit", 6) + 1, "startTime": since, "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit", "lastTransitionTime": since}]}
    else:
        job["status"] = {"succeeded": spec.get("completions", 1), "startTime": since, "completionTime": since,
                         "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": since}]}
    return [*writes, (key, job)]


def _pod(store: dict[Key, Any], broken: set[str], key: Key, pod: dict[str, Any]) -> Writes:
    pod.setdefault("spec", {}).setdefault("nodeName", NODE)
    pod["status"] = pod_status(pod, broken)
    return [(key, pod)]


def _crd(store: dict[Key, Any], broken: set[str], key: Key, crd: dict[str, Any]) -> Writes:
    names = dict(crd["spec"]["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", f"{names['kind']}List")
    since = crd["metadata"].get("creationTimestamp", now())
    crd["status"] = {"acceptedNames": names, "storedVersions": [v["name"] for v in crd["spec"]["versions"]
                                                                 if v.get("storage")],
                     "conditions": [
                         {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                          "message": "no conflicts found", "lastTransitionTime": since},
                         {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                          "message": "the initial names have been accepted", "lastTransitionTime": since}]}
    return [(key, crd)]


RECONCILERS = {"Deployment": _deployment, "ReplicaSet": _replicaset, "StatefulSet": _statefulset,
               "DaemonSet": _daemonset, "Job": _job, "Pod": _pod, "CustomResourceDefinition": _crd}
