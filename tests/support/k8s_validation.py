"""What the API server does to an object before storing it: defaults, clusterIPs, validation, size limits.

Checks and wording follow k8s.io/kubernetes pkg/apis/{core,apps,batch,networking,policy}/validation and
apimachinery's helpers (k8s_rules) for what charts get wrong: names (DNS-1123), labels (a pod template's too), a
workload's selector against its template; pod specs (k8s_pods); Service ports, names, node ports and types; RBAC
rules; a Job's restart policy, a CronJob's schedule (robfig/cron) and name; Ingress hosts, paths and backends;
PodDisruptionBudgets; typed Secrets' keys; a claim's access modes and storage; ConfigMap/Secret keys and the 1 MiB
limit of their data (MaxSecretSize), CRD names; and what an update may not change (a workload's selector, a
StatefulSet's spec but for its template and scaling, a Job's pod template, quoted whole as Go prints it, a claim's
spec, an immutable ConfigMap's or Secret's data, a Secret's type). Each failure is a FieldError; the emulator
answers them with one 422. A resource quantity that does not parse (`memory: 1GB`) fails before that, as the decoder
refuses it.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import re
from collections.abc import Iterator
from typing import Any

from tests.support import k8s_fields
from tests.support.k8s_cron import cron_error
from tests.support.k8s_pods import pod_only_errors, pod_spec_errors
from tests.support.k8s_quantity import quantity
from tests.support.k8s_rules import (
    NEGATIVE,
    as_dict,
    as_list,
    as_str,
    config_key_errors,
    label_errors,
    name_errors,
    port_name_errors,
    port_number_errors,
    protocol_errors,
    qualified_key_errors,
)
from tests.support.k8s_status import FieldError, GoSyntax, invalid, invalid_value, required, undecodable

WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
MAX_DATA = 1024 * 1024  # core.MaxSecretSize: a Secret's or ConfigMap's data, in bytes
MAX_ANNOTATIONS = 256 * 1024
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")

NAMES = {"Namespace": "label", "Service": "dns1035", "Role": "segment", "ClusterRole": "segment",
         "RoleBinding": "segment", "ClusterRoleBinding": "segment"}
API_VERSIONS = {  # the built-in kinds validated here; a custom resource of the same kind is not
    "Pod": "v1", "PodTemplate": "v1", "Service": "v1", "ConfigMap": "v1", "Secret": "v1", "PersistentVolumeClaim": "v1",
    "ResourceQuota": "v1", "LimitRange": "v1", "Deployment": "apps/v1", "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1",
    "Ingress": "networking.k8s.io/v1", "PodDisruptionBudget": "policy/v1",
    "CustomResourceDefinition": "apiextensions.k8s.io/v1",
    **dict.fromkeys(("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"), "rbac.authorization.k8s.io/v1")}
POD_SPECS = {"Pod": ("spec",), "PodTemplate": ("template", "spec"), **{kind: ("spec", "template", "spec") for kind in (
    *WORKLOADS, "Job")}, "CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}


# --- defaults (pkg/apis/*/v1/defaults.go, the ones waits and merges depend on) ---------------------

def set_defaults(obj: dict[str, Any], kind: str) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if kind in WORKLOADS:
        if kind != "DaemonSet":
            spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        _pod_defaults((spec.get("template") or {}).get("spec"))
    if kind == "Deployment":
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        if strategy.setdefault("type", "RollingUpdate") == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
    elif kind == "StatefulSet":
        spec.setdefault("podManagementPolicy", "OrderedReady")
        strategy = spec.setdefault("updateStrategy", {})
        if strategy.setdefault("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    elif kind == "DaemonSet":
        strategy = spec.setdefault("updateStrategy", {})
        if strategy.setdefault("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {}).setdefault("maxUnavailable", 1)
            strategy["rollingUpdate"].setdefault("maxSurge", 0)
    elif kind == "Job":
        for name, value in (("backoffLimit", 6), ("completions", 1), ("parallelism", 1)):
            spec.setdefault(name, value)
        _pod_defaults((spec.get("template") or {}).get("spec"))
    elif kind == "CronJob":
        _pod_defaults(as_dict(as_dict(as_dict(spec.get("jobTemplate")).get("spec")).get("template")).get("spec"))
    elif kind == "Pod":
        _pod_defaults(spec)
    elif kind == "Service":
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))


def _pod_defaults(spec: Any) -> None:
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if not isinstance(container, dict):
            continue
        image = str(container.get("image", ""))
        latest = image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1] and "@" not in image
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def allocate_cluster_ip(service: dict[str, Any], old: dict[str, Any] | None, taken: set[str | None]) -> None:
    """ClusterIPs from 10.96.0.0/12, unique, kept on updates that leave them out; None (headless) stays None."""
    spec, name = service["spec"], service["metadata"]["name"]
    kept = (old or {}).get("spec", {}).get("clusterIP")
    if spec.get("type") == "ExternalName":
        return
    wanted = spec.get("clusterIP") or kept
    if kept and wanted != kept:
        raise invalid("Service", "", name, [invalid_value("spec.clusterIPs[0]", [wanted], "may not change once set")])
    if not wanted:
        wanted = next(str(ip) for ip in itertools.islice(SERVICE_CIDR.hosts(), 10, None) if str(ip) not in taken)
    elif wanted != "None" and not kept:
        error = None
        try:
            address = ipaddress.ip_address(wanted)
        except ValueError:
            raise invalid("Service", "", name, [invalid_value("spec.clusterIPs[0]", wanted, (
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))]) from None
        if address not in SERVICE_CIDR:
            error = f"provided IP is not in the valid range. The range of valid IPs is {SERVICE_CIDR}"
        elif wanted in taken:
            error = "provided IP is already allocated"
        if error:
            raise invalid("Service", "", name, [invalid_value("spec.clusterIPs", [wanted],
                                                              f"failed to allocate IP {wanted}: {error}")])
    spec.update(clusterIP=wanted, clusterIPs=[wanted], internalTrafficPolicy="Cluster")
    if wanted != "None":
        spec.update(ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack")


# --- validation --------------------------------------------------------------------------------------

def validate(obj: dict[str, Any], old: dict[str, Any] | None, kind: str) -> list[FieldError]:
    """The API server's validation of a create or update. A quantity it cannot decode is refused before, with the
    decoder's 400 as a create or update gets it (a patch gets it as a 422, an apply as a 500: not told apart here)."""
    built_in = obj.get("apiVersion") == API_VERSIONS.get(kind)
    if built_in and (error := _undecodable(obj, kind)):
        raise undecodable(kind, obj["apiVersion"].rpartition("/")[2], error)
    errors = _metadata(obj.get("metadata") or {}, NAMES.get(kind, "subdomain"))
    if not built_in:
        return errors
    spec: dict[str, Any] = obj["spec"] if isinstance(obj.get("spec"), dict) else {}
    old_spec = (old or {}).get("spec") or {}
    if kind in WORKLOADS:
        errors += _workload(spec, old_spec if old else None, kind)
    elif kind == "Pod":
        errors += pod_spec_errors(spec, "spec") + pod_only_errors(spec)
    elif kind == "Job":
        errors += _job_spec(spec, "spec")
    elif kind == "CronJob":
        errors += _cron_job(obj, old)
    elif kind == "Service":
        errors += _service(spec)
    elif kind in ("ConfigMap", "Secret"):
        errors += _data(obj, kind) + (_secret_type(obj) if kind == "Secret" else [])
    elif kind == "PersistentVolumeClaim":
        errors += _claim_spec(spec, "spec")
    elif kind == "Ingress":
        errors += _ingress(obj, old)
    elif kind == "PodDisruptionBudget":
        errors += _disruption_budget(spec)
    elif kind in ("Role", "ClusterRole"):
        errors += _policy_rules(obj.get("rules") or [])
    elif kind == "CustomResourceDefinition":
        errors += _crd(obj)
    changes = _update(obj, old, kind) if old is not None else []  # ValidateSecretUpdate (ConfigMap's) checks them first
    return changes + errors if kind in ("ConfigMap", "Secret") else errors + changes


STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                      "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
IMMUTABLE_DATA = "field is immutable when `immutable` is set"


def _update(obj: dict[str, Any], old: dict[str, Any], kind: str) -> list[FieldError]:
    """What an update may not change (ValidateStatefulSetUpdate, ValidateJobUpdate, ValidatePersistentVolumeClaimUpdate,
    ValidateConfigMapUpdate, ValidateSecretUpdate, ValidateRoleBindingUpdate): the errors that make Helm users delete
    and recreate objects."""
    spec, was = obj.get("spec") or {}, old.get("spec") or {}
    errors: list[FieldError] = []
    if kind == "StatefulSet" and _except(spec, STATEFULSET_MUTABLE) != _except(was, STATEFULSET_MUTABLE):
        errors.append(FieldError("Forbidden", "spec", detail="updates to statefulset spec for fields other than " +
                                 ", ".join(f"'{f}'" for f in STATEFULSET_MUTABLE[:-1]) +
                                 f" and '{STATEFULSET_MUTABLE[-1]}' are forbidden"))
    elif kind == "Job":
        for field in ("completions", "completionMode", "template"):
            if spec.get(field) != was.get(field):
                value = spec.get(field)
                shown = k8s_fields.go_syntax(value, "V1PodTemplateSpec") if field == "template" else value
                errors.append(invalid_value(f"spec.{field}", shown, "field is immutable"))
    elif kind == "PersistentVolumeClaim":
        if _except(spec, ("resources", "volumeAttributesClassName")) != \
                _except(was, ("resources", "volumeAttributesClassName")):
            errors.append(FieldError("Forbidden", "spec", detail="spec is immutable after creation except "
                                     "resources.requests and volumeAttributesClassName for bound claims"))
        storage, before = (as_dict(as_dict(s.get("resources")).get("requests")).get("storage") for s in (spec, was))
        if storage is not None and before is not None and quantity(storage).value < quantity(before).value:
            errors.append(FieldError("Forbidden", "spec.resources.requests.storage",
                                     detail="field can not be less than previous value"))
    elif kind in ("RoleBinding", "ClusterRoleBinding") and obj.get("roleRef") != old.get("roleRef"):
        ref = as_dict(obj.get("roleRef"))
        shown = ", ".join(f'{k}:"{ref.get(f, "")}"' for k, f in (("APIGroup", "apiGroup"), ("Kind", "kind"),
                                                                   ("Name", "name")))
        errors.append(invalid_value("roleRef", GoSyntax(f"rbac.RoleRef{{{shown}}}"), "cannot change roleRef"))
    elif kind in ("ConfigMap", "Secret") and old.get("immutable") is True:
        if obj.get("immutable") is not True:
            errors.append(FieldError("Forbidden", "immutable", detail=IMMUTABLE_DATA))
        for field in ("data", "binaryData"):
            if (obj.get(field) or {}) != (old.get(field) or {}):
                errors.append(FieldError("Forbidden", field, detail=IMMUTABLE_DATA))
    if kind == "Secret" and obj.get("type", "Opaque") != old.get("type", "Opaque"):
        errors.append(invalid_value("type", obj.get("type", "Opaque"), "field is immutable"))
    return errors


def _except(spec: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in fields}


def _metadata(meta: dict[str, Any], rule: str) -> list[FieldError]:
    name = meta.get("name")
    errors = name_errors("metadata.name", name, rule) if name else \
        [required("metadata.name", "name or generateName is required")]
    return errors + labels_and_annotations(meta, "metadata")


def labels_and_annotations(meta: dict[str, Any], at: str) -> list[FieldError]:
    """ValidateLabels and ValidateAnnotations, of an object's metadata or of a pod template's (ValidatePodTemplateSpec
    checks those too)."""
    errors = label_errors(as_dict(meta.get("labels")), f"{at}.labels")
    annotations = as_dict(meta.get("annotations"))
    for key in annotations:
        errors += qualified_key_errors(f"{at}.annotations", key)
    if sum(len(k) + len(v or "") for k, v in annotations.items()) > MAX_ANNOTATIONS:
        errors.append(FieldError("TooLong", f"{at}.annotations", detail=f"must have at most {MAX_ANNOTATIONS} bytes"))
    return errors


def _workload(spec: dict[str, Any], old: dict[str, Any] | None, kind: str) -> list[FieldError]:
    errors: list[FieldError] = []
    selector, template = spec.get("selector"), spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector:
        errors.append(required("spec.selector"))
    elif not selector.get("matchLabels") and not selector.get("matchExpressions"):
        errors.append(invalid_value("spec.selector", selector, f"empty selector is invalid for {kind.lower()}"))
    elif not selects(selector, labels):
        errors.append(invalid_value("spec.template.metadata.labels", labels,
                                    "`selector` does not match template `labels`"))
    if old is not None and selector != old.get("selector"):
        errors.append(invalid_value("spec.selector", selector, "field is immutable"))
    if isinstance(spec.get("replicas"), int) and spec["replicas"] < 0:
        errors.append(invalid_value("spec.replicas", spec["replicas"], NEGATIVE))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate" and strategy.get("rollingUpdate") is not None:
        errors.append(FieldError("Forbidden", "spec.strategy.rollingUpdate",
                                 detail="may not be specified when strategy `type` is 'Recreate'"))
    pod = as_dict(template.get("spec"))
    errors += labels_and_annotations(as_dict(template.get("metadata")), "spec.template")  # ValidatePodTemplateSpec
    if kind != "StatefulSet":  # ValidatePodTemplateSpecForStatefulSet leaves it be: its mounts name claim templates
        errors += pod_spec_errors(pod, "spec.template.spec")
    if (pod.get("restartPolicy") or "Always") != "Always":
        errors.append(FieldError("NotSupported", "spec.template.spec.restartPolicy", pod["restartPolicy"],
                                 'supported values: "Always"'))
    if pod.get("activeDeadlineSeconds") is not None:
        owner = "ReplicaSet" if kind == "Deployment" else kind
        errors.append(FieldError("Forbidden", "spec.template.spec.activeDeadlineSeconds",
                                 detail=f"activeDeadlineSeconds in {owner} is not Supported"))
    return errors


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for term in selector.get("matchExpressions") or []:
        key, values, operator = term.get("key"), term.get("values") or [], term.get("operator")
        if operator == "In" and labels.get(key) not in values or operator == "NotIn" and labels.get(key) in values \
                or operator == "Exists" and key not in labels or operator == "DoesNotExist" and key in labels:
            return False
    return True


def _service(spec: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    kind = spec.get("type", "ClusterIP")
    if kind not in ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort"):
        errors.append(FieldError("NotSupported", "spec.type", kind,
                                 'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'))
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        errors.append(required("spec.ports"))
    seen, names = set(), set()
    for i, port in enumerate(ports):
        at = f"spec.ports[{i}]"
        if len(ports) > 1 and not port.get("name"):
            errors.append(required(f"{at}.name"))
        if port.get("name") and port["name"] in names:
            errors.append(FieldError("Duplicate", f"{at}.name", port["name"]))
        names.add(port.get("name"))
        errors += _node_port(port.get("nodePort"), kind, f"{at}.nodePort")
        errors += port_number_errors(f"{at}.port", port.get("port") or 0)
        target = port.get("targetPort")
        if isinstance(target, int):
            errors += port_number_errors(f"{at}.targetPort", target)
        elif target:
            errors += port_name_errors(f"{at}.targetPort", target)
        errors += protocol_errors(f"{at}.protocol", port.get("protocol", "TCP"))
        if (port.get("port"), port.get("protocol", "TCP")) in seen:
            errors.append(FieldError("Duplicate", at, port))
        seen.add((port.get("port"), port.get("protocol", "TCP")))
    if kind == "ExternalName" and not spec.get("externalName"):
        errors.append(required("spec.externalName"))
    if (spec.get("sessionAffinity") or "None") not in ("None", "ClientIP"):  # "" is defaulted first
        errors.append(FieldError("NotSupported", "spec.sessionAffinity", spec["sessionAffinity"],
                                 'supported values: "ClientIP", "None"'))
    if spec.get("externalTrafficPolicy") and kind not in ("NodePort", "LoadBalancer") and not spec.get("externalIPs"):
        errors.append(invalid_value("spec.externalTrafficPolicy", spec["externalTrafficPolicy"],
                                    "may only be set for externally-accessible services"))
    return errors


def _node_port(port: Any, kind: str, at: str) -> list[FieldError]:
    """A nodePort: only where the type has node ports, and in the API server's default range (the allocator's words)."""
    if not port:
        return []
    if kind == "ClusterIP":
        return [FieldError("Forbidden", at, detail="may not be used when `type` is 'ClusterIP'")]
    if not isinstance(port, int) or not 30000 <= port <= 32767:
        return [invalid_value(at, port, "provided port is not in the valid range. The range of valid ports is "
                                        "30000-32767")]
    return []


def _data(obj: dict[str, Any], kind: str) -> list[FieldError]:
    errors: list[FieldError] = []
    binary = "data" if kind == "Secret" else "binaryData"
    total = 0
    for field in ("data", "binaryData"):
        for key, value in (obj.get(field) or {}).items():
            errors += config_key_errors(f"{field}[{key}]", key)
            total += len(base64.b64decode(value)) if field == binary else len(value.encode())
    if total > MAX_DATA:
        errors.append(FieldError("TooLong", "data" if kind == "Secret" else "[]",
                                 detail=f"must have at most {MAX_DATA} bytes"))
    return errors


SECRET_KEYS = {"kubernetes.io/dockercfg": (".dockercfg",), "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
               "kubernetes.io/tls": ("tls.crt", "tls.key")}


def _secret_type(secret: dict[str, Any]) -> list[FieldError]:
    """ValidateSecret's switch on the type: the keys each built-in type needs (their contents are not parsed here)."""
    kind, data = secret.get("type"), as_dict(secret.get("data"))
    if kind == "kubernetes.io/service-account-token":
        if not as_dict(as_dict(secret.get("metadata")).get("annotations")).get("kubernetes.io/service-account.name"):
            return [required("metadata.annotations[kubernetes.io/service-account.name]")]
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            return [required("data[username]"), required("data[password]")]
    elif kind == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            return [required("data[ssh-privatekey]")]
    elif kind in SECRET_KEYS:
        return [required(f"data[{key}]") for key in SECRET_KEYS[kind] if key not in data]
    return []


ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")


def _claim_spec(spec: dict[str, Any], at: str) -> list[FieldError]:
    """ValidatePersistentVolumeClaimSpec: access modes, and a storage request above zero."""
    modes = as_list(spec.get("accessModes"))
    errors = [] if modes else [required(f"{at}.accessModes", "at least 1 access mode is required")]
    errors += [FieldError("NotSupported", f"{at}.accessModes", mode, "supported values: " +
                          ", ".join(f'"{m}"' for m in ACCESS_MODES)) for mode in modes if mode not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and any(m in ACCESS_MODES and m != "ReadWriteOncePod" for m in modes):
        errors.append(FieldError("Forbidden", f"{at}.accessModes",
                                 detail="may not use ReadWriteOncePod with other access modes"))
    requests = as_dict(as_dict(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        errors.append(required(f"{at}.resources[storage]"))
    elif (storage := quantity(requests["storage"])).value <= 0:
        errors.append(invalid_value(f"{at}.resources[storage]", str(storage), "must be greater than zero"))
    return errors


def _crd(obj: dict[str, Any]) -> list[FieldError]:
    spec = obj.get("spec") or {}
    names, group = spec.get("names") or {}, spec.get("group")
    errors = [required(f"spec.{f}") for f in ("group", "names.plural", "names.kind")
              if not (names.get(f.split(".")[-1]) if "." in f else group)]
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errors.append(FieldError("NotSupported", "spec.scope", spec.get("scope"),
                                 'supported values: "Cluster", "Namespaced"'))
    versions = spec.get("versions") or []
    if not versions:
        errors.append(required("spec.versions"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        errors.append(invalid_value("spec.versions", versions, "must have exactly one version marked as storage version"))
    name = (obj.get("metadata") or {}).get("name")
    if names.get("plural") and group and name != f"{names['plural']}.{group}":
        errors.append(invalid_value("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    return errors


# --- batch/v1 (pkg/apis/batch/validation) ---------------------------------------------------------------

def _job_spec(spec: dict[str, Any], at: str) -> list[FieldError]:
    """validateJobSpec: counts that may not be negative, the pod template, and a restart policy a Job can use (the
    one the API server defaults, Always, is not)."""
    errors = [invalid_value(f"{at}.{name}", spec[name], NEGATIVE) for name in (
        "parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished")
        if isinstance(spec.get(name), int) and spec[name] < 0]
    pod = as_dict(as_dict(spec.get("template")).get("spec"))
    errors += labels_and_annotations(as_dict(as_dict(spec.get("template")).get("metadata")), f"{at}.template")
    errors += pod_spec_errors(pod, f"{at}.template.spec")
    policy = pod.get("restartPolicy") or "Always"
    if policy == "Always":
        errors.append(required(f"{at}.template.spec.restartPolicy", 'valid values: "OnFailure", "Never"'))
    elif policy not in ("OnFailure", "Never"):
        errors.append(FieldError("NotSupported", f"{at}.template.spec.restartPolicy", policy,
                                 'supported values: "OnFailure", "Never"'))
    return errors


def _cron_job(cron_job: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    """ValidateCronJobCreate/Update: a schedule robfig/cron parses (a time zone in its own field), a job template
    valid as a Job's spec but for its selector, and on create a name that leaves room for the Jobs' suffix."""
    spec, errors = as_dict(cron_job.get("spec")), []
    schedule = spec.get("schedule") or ""
    if not schedule:
        errors.append(required("spec.schedule"))
    elif problem := cron_error(schedule):
        errors.append(invalid_value("spec.schedule", schedule, problem))
    if "TZ" in schedule and "TZ" not in str(as_dict((old or {}).get("spec")).get("schedule")):
        errors.append(invalid_value("spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone "
                                    "field instead"))
    elif "TZ" in schedule and spec.get("timeZone") is not None:
        errors.append(invalid_value("spec.schedule", schedule, "cannot use both timeZone field and TZ or CRON_TZ in "
                                    "schedule"))
    if isinstance(spec.get("startingDeadlineSeconds"), int) and spec["startingDeadlineSeconds"] < 0:
        errors.append(invalid_value("spec.startingDeadlineSeconds", spec["startingDeadlineSeconds"], NEGATIVE))
    if (spec.get("concurrencyPolicy") or "Allow") not in ("Allow", "Forbid", "Replace"):  # SetDefaults_CronJob
        errors.append(FieldError("NotSupported", "spec.concurrencyPolicy", spec["concurrencyPolicy"],
                                 'supported values: "Allow", "Forbid", "Replace"'))
    job = as_dict(as_dict(spec.get("jobTemplate")).get("spec"))
    errors += _job_spec(job, "spec.jobTemplate.spec")
    if job.get("selector") is not None:
        errors.append(invalid_value("spec.jobTemplate.spec.selector", job["selector"],
                                    "`selector` will be auto-generated"))
    errors += [invalid_value(f"spec.{name}", spec[name], NEGATIVE) for name in (
        "successfulJobsHistoryLimit", "failedJobsHistoryLimit") if isinstance(spec.get(name), int) and spec[name] < 0]
    name = str(as_dict(cron_job.get("metadata")).get("name") or "")
    if old is None and len(name) > 52:  # DNS1035LabelMaxLength-11: the Jobs it creates append -<11 digits>
        errors.append(invalid_value("metadata.name", name, "must be no more than 52 characters"))
    return errors


# --- networking.k8s.io/v1 Ingress, policy/v1 PodDisruptionBudget ------------------------------------------

INGRESS_CLASS = "kubernetes.io/ingress.class"


def _ingress(ingress: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    """ValidateIngressCreate/Update for networking.k8s.io/v1 (ValidateIngressSpec): rules or a default backend, DNS
    hosts (a wildcard only as '*.'), each path typed, absolute where its type says and backed by a service port (by
    number or name) or a resource; on create, a class in the field or the annotation, not both."""
    spec, errors = as_dict(ingress.get("spec")), []
    rules = as_list(spec.get("rules"))
    if not rules and spec.get("defaultBackend") is None:
        errors.append(invalid_value("spec", GoSyntax("[]networking.IngressRule(nil)"),
                                    "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        errors += _ingress_backend(as_dict(spec["defaultBackend"]), "spec.defaultBackend")
    for i, rule in enumerate(map(as_dict, rules)):
        host = as_str(rule.get("host"))
        if host:
            if _is_ip(host):
                errors.append(invalid_value(f"spec.rules[{i}].host", host, "must be a DNS name, not an IP address"))
            errors += name_errors(f"spec.rules[{i}].host", host, "wildcard" if "*" in host else "subdomain")
        if rule.get("http") is not None:
            paths = as_list(as_dict(rule["http"]).get("paths"))
            errors += [] if paths else [required(f"spec.rules[{i}].http.paths")]
            for j, path in enumerate(map(as_dict, paths)):
                errors += _ingress_path(path, f"spec.rules[{i}].http.paths[{j}]")
    for i, tls in enumerate(map(as_dict, as_list(spec.get("tls")))):
        for j, host in enumerate(map(as_str, as_list(tls.get("hosts")))):
            errors += name_errors(f"spec.tls[{i}].hosts[{j}]", host, "wildcard" if "*" in host else "subdomain")
        if as_str(tls.get("secretName")):
            errors += name_errors(f"spec.tls[{i}].secretName", tls["secretName"], "subdomain")
    if spec.get("ingressClassName") is not None:
        errors += name_errors("spec.ingressClassName", as_str(spec["ingressClassName"]), "subdomain")
        annotations = as_dict(as_dict(ingress.get("metadata")).get("annotations"))
        if old is None and INGRESS_CLASS in annotations:
            errors.append(invalid_value(f"annotations.{INGRESS_CLASS}", annotations[INGRESS_CLASS],
                                        "can not be set when the class field is also set"))
    return errors


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _ingress_path(path: dict[str, Any], at: str) -> list[FieldError]:
    """validateHTTPIngressPath: a pathType first of all, then the path it allows, then the backend."""
    kind, value = path.get("pathType"), as_str(path.get("path"))
    if kind is None:
        return [required(f"{at}.pathType", "pathType must be specified")]
    errors: list[FieldError] = []
    if (kind in ("Exact", "Prefix") or kind == "ImplementationSpecific" and value) and not value.startswith("/"):
        errors.append(invalid_value(f"{at}.path", value, "must be an absolute path"))
    if kind in ("Exact", "Prefix") and value:
        errors += [invalid_value(f"{at}.path", value, f"must not contain '{part}'")
                   for part in ("//", "/./", "/../", "%2f", "%2F") if part in value]
        errors += [invalid_value(f"{at}.path", value, f"cannot end with '{end}'")
                   for end in ("/..", "/.") if value.endswith(end)]
    elif kind not in ("Exact", "Prefix", "ImplementationSpecific"):
        errors.append(FieldError("NotSupported", f"{at}.pathType", kind,
                                 'supported values: "Exact", "ImplementationSpecific", "Prefix"'))
    return errors + _ingress_backend(as_dict(path.get("backend")), f"{at}.backend")


def _ingress_backend(backend: dict[str, Any], at: str) -> list[FieldError]:
    """validateIngressBackend: a service (a DNS-1035 name and a port number or name) or a resource, not both."""
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [invalid_value(at, "", "cannot set both resource and service backends")]
    if resource is not None:  # validateIngressTypedLocalObjectReference
        return [required(f"{at}.resource.{name}", f"{name} is required") for name in ("kind", "name")
                if not as_dict(resource).get(name)]
    if service is None:
        return [invalid_value(at, "", "resource or service backend is required")]
    name = as_str(as_dict(service).get("name"))
    errors = name_errors(f"{at}.service.name", name, "dns1035") if name else [required(f"{at}.service.name")]
    port = as_dict(as_dict(service).get("port"))
    port_name, number = as_str(port.get("name")), port.get("number") if isinstance(port.get("number"), int) else 0
    if port_name and number:
        errors.append(invalid_value(at, "", "cannot set both port name & port number"))
    elif port_name:
        errors += port_name_errors(f"{at}.service.port.name", port_name)
    elif number:
        errors += port_number_errors(f"{at}.service.port.number", number)
    else:
        errors.append(required(at, "port name or number is required"))
    return errors


def _policy_rules(rules: list[Any]) -> list[FieldError]:
    """ValidatePolicyRule: a rule grants verbs, on resources of API groups or on non-resource URLs."""
    errors = []
    for i, rule in enumerate(as_dict(r) for r in rules):
        if not rule.get("verbs"):
            errors.append(required(f"rules[{i}].verbs", "verbs must contain at least one value"))
        if rule.get("nonResourceURLs"):
            continue
        if not rule.get("apiGroups"):
            errors.append(required(f"rules[{i}].apiGroups", "resource rules must supply at least one api group"))
        if not rule.get("resources"):
            errors.append(required(f"rules[{i}].resources", "resource rules must supply at least one resource"))
    return errors


def _disruption_budget(spec: dict[str, Any]) -> list[FieldError]:
    """ValidatePodDisruptionBudgetSpec: minAvailable or maxUnavailable, each a count or a percentage up to 100%. Both
    set is refused quoting the internal spec as Go's %#v prints it, pointers included (these addresses are made up)."""
    errors: list[FieldError] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        fields = (("MinAvailable", "intstr.IntOrString", "minAvailable"), ("Selector", "v1.LabelSelector", "selector"),
                  ("MaxUnavailable", "intstr.IntOrString", "maxUnavailable"),
                  ("UnhealthyPodEvictionPolicy", "policy.UnhealthyPodEvictionPolicyType", "unhealthyPodEvictionPolicy"))
        shown = ", ".join(f"{name}:(*{go})({f'0xc0004e{0x2a0 + 0x20 * i:04x}' if spec.get(key) is not None else 'nil'})"
                          for i, (name, go, key) in enumerate(fields))
        errors.append(invalid_value("spec", GoSyntax(f"policy.PodDisruptionBudgetSpec{{{shown}}}"),
                                    "minAvailable and maxUnavailable cannot be both set"))
    for name in ("minAvailable", "maxUnavailable"):
        value = spec.get(name)
        if isinstance(value, str) and not re.fullmatch(r"[0-9]+%", value):  # IsValidPercent; IntOrString prints bare
            errors.append(invalid_value(f"spec.{name}", GoSyntax(value), "a valid percent string must be a numeric "
                                        "string followed by an ending '%' (e.g. '1%',  or '93%', regex used for "
                                        "validation is '[0-9]+%')"))
        elif isinstance(value, str) and int(value[:-1]) > 100:
            errors.append(invalid_value(f"spec.{name}", GoSyntax(value), "must not be greater than 100%"))
        elif isinstance(value, int) and value < 0:
            errors.append(invalid_value(f"spec.{name}", value, NEGATIVE))
    return errors


def _undecodable(obj: dict[str, Any], kind: str) -> str | None:
    """The decoder's error for the first quantity of the object that does not parse."""
    for value in _quantities(obj, kind):
        try:
            quantity(value)
        except ValueError as error:
            return str(error)
    return None


def _quantities(obj: dict[str, Any], kind: str) -> Iterator[Any]:
    """Every value of a resource.Quantity field of a built-in kind: container and pod resources, emptyDir size
    limits, claims' resources (of PersistentVolumeClaims, StatefulSets' claim templates and ephemeral volumes), quota
    and limit ranges."""
    spec = as_dict(obj.get("spec"))
    if kind in POD_SPECS:
        pod = obj
        for key in POD_SPECS[kind]:
            pod = as_dict(pod.get(key))
        for group in ("containers", "initContainers", "ephemeralContainers"):
            for container in map(as_dict, as_list(pod.get(group))):
                yield from _resource_values(container.get("resources"))
        yield from as_dict(pod.get("overhead")).values()
        yield from _resource_values(pod.get("resources"))
        for volume in map(as_dict, as_list(pod.get("volumes"))):
            yield as_dict(volume.get("emptyDir")).get("sizeLimit")
            claim = as_dict(as_dict(volume.get("ephemeral")).get("volumeClaimTemplate"))
            yield from _resource_values(as_dict(claim.get("spec")).get("resources"))
    templates = [as_dict(as_dict(c).get("spec")) for c in as_list(spec.get("volumeClaimTemplates"))]
    claims = [spec] if kind == "PersistentVolumeClaim" else templates if kind == "StatefulSet" else []
    for claim in claims:
        yield from _resource_values(claim.get("resources"))
    if kind == "ResourceQuota":
        yield from as_dict(spec.get("hard")).values()
    for limit in map(as_dict, as_list(spec.get("limits")) if kind == "LimitRange" else []):
        for field in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            yield from as_dict(limit.get(field)).values()


def _resource_values(resources: Any) -> Iterator[Any]:
    for field in ("limits", "requests"):
        yield from as_dict(as_dict(resources).get(field)).values()


