"""What the API server does to an object before storing it: defaults, clusterIPs, validation, size limits.

Checks and wording follow k8s.io/kubernetes pkg/apis/core/validation and pkg/apis/apps/validation for what
charts get wrong: names (DNS-1123), labels, a workload's selector against its template, containers without a
name or image, ports, Service ports and types, ConfigMap/Secret keys and the 1 MiB limit of their data
(MaxSecretSize), CRD names; and what an update may not change (a workload's selector, a StatefulSet's spec but
for its template and scaling, a Job's pod template, quoted whole as Go prints it, a claim's spec, an immutable
ConfigMap's or Secret's data, a Secret's type). Each failure is a FieldError; the emulator answers them with one 422.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import re
from typing import Any

from tests.support import k8s_fields
from tests.support.k8s_status import FieldError, invalid, invalid_value, required

WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
MAX_DATA = 1024 * 1024  # core.MaxSecretSize: a Secret's or ConfigMap's data, in bytes
MAX_ANNOTATIONS = 256 * 1024
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")

SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
QUALIFIED = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
NAME_RULES = {
    "subdomain": (SUBDOMAIN, 253, ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                  "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
                  "'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"
                  "([-a-z0-9]*[a-z0-9])?)*')")),
    "label": (LABEL, 63, ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
              "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
              "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")),
    "dns1035": (DNS1035, 63, ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                "with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
                "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")),
    "segment": (re.compile(r"(?!\.\.?$)[^/%]+"), 10**6, "may not contain '/' or '%' and may not be '.' or '..'"),
}
LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
               "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
               "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
QUALIFIED_NAME = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                  "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                  "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
NAMES = {"Namespace": "label", "Service": "dns1035", "Role": "segment", "ClusterRole": "segment",
         "RoleBinding": "segment", "ClusterRoleBinding": "segment"}
PROTOCOLS = ("SCTP", "TCP", "UDP")


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
        if ipaddress.ip_address(wanted) not in SERVICE_CIDR:
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
    errors = _metadata(obj.get("metadata") or {}, NAMES.get(kind, "subdomain"))
    spec: dict[str, Any] = obj["spec"] if isinstance(obj.get("spec"), dict) else {}
    old_spec = (old or {}).get("spec") or {}
    if kind in WORKLOADS:
        errors += _workload(spec, old_spec if old else None, kind)
    elif kind in ("Job", "Pod"):
        pod = spec if kind == "Pod" else (spec.get("template") or {}).get("spec") or {}
        errors += _pod_spec(pod, "spec" if kind == "Pod" else "spec.template.spec")
    elif kind == "Service":
        errors += _service(spec)
    elif kind in ("ConfigMap", "Secret"):
        errors += _data(obj, kind)
    elif kind == "CustomResourceDefinition":
        errors += _crd(obj)
    return errors + (_update(obj, old, kind) if old is not None else [])


STATEFULSET_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                      "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
IMMUTABLE_DATA = "field is immutable when `immutable` is set"


def _update(obj: dict[str, Any], old: dict[str, Any], kind: str) -> list[FieldError]:
    """What an update may not change (ValidateStatefulSetUpdate, ValidateJobUpdate, ValidatePersistentVolumeClaimUpdate,
    ValidateConfigMapUpdate, ValidateSecretUpdate): the errors that make Helm users delete and recreate objects."""
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


def name_errors(field: str, name: Any, rule: str) -> list[FieldError]:
    pattern, limit, message = NAME_RULES[rule]
    errors = []
    if len(name) > limit:
        errors.append(invalid_value(field, name, f"must be no more than {limit} characters"))
    if not pattern.fullmatch(name):
        errors.append(invalid_value(field, name, message))
    return errors


def _metadata(meta: dict[str, Any], rule: str) -> list[FieldError]:
    name = meta.get("name")
    errors = name_errors("metadata.name", name, rule) if name else \
        [required("metadata.name", "name or generateName is required")]
    for key, value in (meta.get("labels") or {}).items():
        errors += _qualified_key("metadata.labels", key)
        if len(value) > 63:
            errors.append(invalid_value("metadata.labels", value, "must be no more than 63 characters"))
        if value and not QUALIFIED.fullmatch(value):
            errors.append(invalid_value("metadata.labels", value, LABEL_VALUE))
    annotations = meta.get("annotations") or {}
    for key in annotations:
        errors += _qualified_key("metadata.annotations", key)
    if sum(len(k) + len(v) for k, v in annotations.items()) > MAX_ANNOTATIONS:
        errors.append(FieldError("TooLong", "metadata.annotations", detail=f"must have at most {MAX_ANNOTATIONS} bytes"))
    return errors


def _qualified_key(field: str, key: str) -> list[FieldError]:
    prefix, _, name = key.rpartition("/")
    errors = name_errors(field, prefix, "subdomain") if prefix else []
    if len(name) > 63:
        errors.append(invalid_value(field, key, "name part must be no more than 63 characters"))
    if not QUALIFIED.fullmatch(name):
        errors.append(invalid_value(field, key, QUALIFIED_NAME))
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
        errors.append(invalid_value("spec.replicas", spec["replicas"], "must be greater than or equal to 0"))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate" and strategy.get("rollingUpdate") is not None:
        errors.append(FieldError("Forbidden", "spec.strategy.rollingUpdate",
                                 detail="may not be specified when strategy `type` is 'Recreate'"))
    return errors + _pod_spec(template.get("spec") or {}, "spec.template.spec")


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


def _pod_spec(spec: dict[str, Any], at: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if not spec.get("containers"):
        errors.append(required(f"{at}.containers"))
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(group) or []):
            errors += _container(container, f"{at}.{group}[{i}]", seen)
    policy = spec.get("restartPolicy")
    if policy is not None and policy not in ("Always", "OnFailure", "Never"):
        errors.append(FieldError("NotSupported", f"{at}.restartPolicy", policy,
                                 'supported values: "Always", "OnFailure", "Never"'))
    return errors


def _container(container: dict[str, Any], at: str, seen: set[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    name = container.get("name")
    if not name:
        errors.append(required(f"{at}.name"))
    elif name in seen:
        errors.append(FieldError("Duplicate", f"{at}.name", name))
    else:
        errors += name_errors(f"{at}.name", name, "label")
    seen.add(name or "")
    if not container.get("image"):
        errors.append(required(f"{at}.image"))
    for j, port in enumerate(container.get("ports") or []):
        number = port.get("containerPort")
        if not number:
            errors.append(required(f"{at}.ports[{j}].containerPort"))
        else:
            errors += _port_number(f"{at}.ports[{j}].containerPort", number)
        if port.get("name"):
            errors += port_name_errors(f"{at}.ports[{j}].name", port["name"])
        errors += _protocol(f"{at}.ports[{j}].protocol", port.get("protocol", "TCP"))
    for j, env in enumerate(container.get("env") or []):
        if not env.get("name"):
            errors.append(required(f"{at}.env[{j}].name"))
    return errors


def _port_number(field: str, number: int) -> list[FieldError]:
    return [] if 1 <= number <= 65535 else [invalid_value(field, number, "must be between 1 and 65535, inclusive")]


def _protocol(field: str, protocol: str) -> list[FieldError]:
    if protocol in PROTOCOLS:
        return []
    return [FieldError("NotSupported", field, protocol, "supported values: " + ", ".join(f'"{p}"' for p in PROTOCOLS))]


def port_name_errors(field: str, name: str) -> list[FieldError]:
    """IsValidPortName (an IANA_SVC_NAME)."""
    problems = []
    if len(name) > 15:
        problems.append("must be no more than 15 characters")
    if not re.fullmatch(r"[-a-z0-9]+", name):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        problems.append("must not contain consecutive hyphens")
    if not re.search(r"[a-z]", name):
        problems.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return [invalid_value(field, name, problem) for problem in problems]


def _service(spec: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    kind = spec.get("type", "ClusterIP")
    if kind not in ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort"):
        errors.append(FieldError("NotSupported", "spec.type", kind,
                                 'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'))
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        errors.append(required("spec.ports"))
    seen = set()
    for i, port in enumerate(ports):
        at = f"spec.ports[{i}]"
        if len(ports) > 1 and not port.get("name"):
            errors.append(required(f"{at}.name"))
        errors += _port_number(f"{at}.port", port.get("port") or 0)
        target = port.get("targetPort")
        if isinstance(target, int):
            errors += _port_number(f"{at}.targetPort", target)
        elif target:
            errors += port_name_errors(f"{at}.targetPort", target)
        errors += _protocol(f"{at}.protocol", port.get("protocol", "TCP"))
        if (port.get("port"), port.get("protocol", "TCP")) in seen:
            errors.append(FieldError("Duplicate", at, port))
        seen.add((port.get("port"), port.get("protocol", "TCP")))
    return errors


def _data(obj: dict[str, Any], kind: str) -> list[FieldError]:
    errors: list[FieldError] = []
    binary = "data" if kind == "Secret" else "binaryData"
    total = 0
    for field in ("data", "binaryData"):
        for key, value in (obj.get(field) or {}).items():
            if len(key) > 253 or not CONFIG_KEY.fullmatch(key):
                errors.append(invalid_value(f"{field}[{key}]", key, "a valid config key must consist of alphanumeric "
                                            "characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
                                            "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"))
            total += len(base64.b64decode(value)) if field == binary else len(value.encode())
    if total > MAX_DATA:
        errors.append(FieldError("TooLong", "data" if kind == "Secret" else "[]",
                                 detail=f"must have at most {MAX_DATA} bytes"))
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
