"""What the API server does to an object before storing it: defaults, clusterIPs, validation, size limits.

Checks and wording follow k8s.io/kubernetes pkg/apis/{core,apps,batch,networking,policy}/validation and
apimachinery's helpers for what charts get wrong: names (DNS-1123), labels, a workload's selector against its
template; pod specs (volumes with one source, containers with a name and an image, named ports, env sources, mounts
of volumes the pod has, probes and hooks with one handler, resources whose requests fit their limits); Service ports
and types; a Job's restart policy, a CronJob's schedule (robfig/cron) and name; Ingress hosts, paths and backends;
PodDisruptionBudgets; typed Secrets' keys; a claim's access modes and storage; ConfigMap/Secret keys and the 1 MiB
limit of their data (MaxSecretSize), CRD names; and what an update may not change (a workload's selector, a
StatefulSet's spec but for its template and scaling, a Job's pod template, quoted whole as Go prints it, a claim's
spec, an immutable ConfigMap's or Secret's data, a Secret's type). Each failure is a FieldError; the emulator answers
them with one 422. A resource quantity that does not parse (`memory: 1GB`) fails before that, as the decoder refuses it.
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
from tests.support.k8s_quantity import quantity
from tests.support.k8s_status import FieldError, GoSyntax, invalid, invalid_value, required, undecodable

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
    "wildcard": (re.compile(r"\*\." + SUBDOMAIN.pattern), 253, (
        "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of "
        "lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', "
        "regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")),
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
NEGATIVE = "must be greater than or equal to 0"  # apimachineryvalidation.IsNegativeErrorMsg
API_VERSIONS = {  # the built-in kinds validated here; a custom resource of the same kind is not
    "Pod": "v1", "PodTemplate": "v1", "Service": "v1", "ConfigMap": "v1", "Secret": "v1", "PersistentVolumeClaim": "v1",
    "ResourceQuota": "v1", "LimitRange": "v1", "Deployment": "apps/v1", "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1",
    "Ingress": "networking.k8s.io/v1", "PodDisruptionBudget": "policy/v1",
    "CustomResourceDefinition": "apiextensions.k8s.io/v1"}
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
        _pod_defaults(_dict(_dict(_dict(spec.get("jobTemplate")).get("spec")).get("template")).get("spec"))
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
        errors += _pod_spec(spec, "spec")
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
    elif kind == "CustomResourceDefinition":
        errors += _crd(obj)
    changes = _update(obj, old, kind) if old is not None else []  # ValidateSecretUpdate (ConfigMap's) checks them first
    return changes + errors if kind in ("ConfigMap", "Secret") else errors + changes


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
        dotted = rule == "label" and SUBDOMAIN.fullmatch(name)  # IsDNS1123Label: a subdomain, so it has dots
        errors.append(invalid_value(field, name, "must not contain dots" if dotted else message))
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
        errors.append(invalid_value("spec.replicas", spec["replicas"], NEGATIVE))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate" and strategy.get("rollingUpdate") is not None:
        errors.append(FieldError("Forbidden", "spec.strategy.rollingUpdate",
                                 detail="may not be specified when strategy `type` is 'Recreate'"))
    pod = _dict(template.get("spec"))
    if kind != "StatefulSet":  # ValidatePodTemplateSpecForStatefulSet leaves it be: its mounts name claim templates
        errors += _pod_spec(pod, "spec.template.spec")
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


def _pod_spec(spec: dict[str, Any], at: str) -> list[FieldError]:
    """ValidatePodSpec: the volumes, then the containers and init containers (each against the volumes that passed),
    then the restart policy."""
    volumes, errors = _volumes(_list(spec.get("volumes")), f"{at}.volumes")
    containers = _list(spec.get("containers"))
    if not containers:
        errors.append(required(f"{at}.containers"))
    names: set[str] = set()
    for i, container in enumerate(map(_dict, containers)):
        path = f"{at}.containers[{i}]"
        errors += _container(container, path, volumes)
        name = container.get("name") or ""
        if name in names:
            errors.append(FieldError("Duplicate", f"{path}.name", name))
        names.add(name)
        errors += _hooks_and_probes(container, path)
        if container.get("restartPolicy") is not None:
            errors.append(FieldError("Forbidden", f"{path}.restartPolicy",
                                     detail="may not be set for non-init containers"))
    for i, container in enumerate(map(_dict, _list(spec.get("initContainers")))):
        errors += _init_container(container, f"{at}.initContainers[{i}]", volumes, names)
    policy = spec.get("restartPolicy") or "Always"  # SetDefaults_PodSpec
    if policy not in ("Always", "OnFailure", "Never"):
        errors.append(FieldError("NotSupported", f"{at}.restartPolicy", policy,
                                 'supported values: "Always", "OnFailure", "Never"'))
    return errors


def _init_container(container: dict[str, Any], at: str, volumes: set[str], names: set[str]) -> list[FieldError]:
    """validateInitContainers: probes and hooks only for a sidecar (restartPolicy: Always), names unique with the
    containers'."""
    errors = _container(container, at, volumes)
    policy = container.get("restartPolicy")
    if policy is not None and policy != "Always":
        errors.append(FieldError("NotSupported", f"{at}.restartPolicy", policy, 'supported values: "Always"'))
    name = container.get("name")
    if name in names:
        errors.append(FieldError("Duplicate", f"{at}.name", name))
    elif name:
        names.add(name)
    if policy == "Always":
        return errors + _hooks_and_probes(container, at)
    return errors + [FieldError("Forbidden", f"{at}.{field}", detail="may not be set for init containers without "
                                "restartPolicy=Always") for field in ("lifecycle", *PROBES) if container.get(field)]


def _container(container: dict[str, Any], at: str, volumes: set[str]) -> list[FieldError]:
    """validateContainerCommon: name, image, ports, env, volume mounts and resources."""
    errors: list[FieldError] = []
    name = container.get("name")
    if not name:
        errors.append(required(f"{at}.name"))
    else:
        errors += name_errors(f"{at}.name", name, "label")
    if not container.get("image"):
        errors.append(required(f"{at}.image"))
    errors += _container_ports(_list(container.get("ports")), f"{at}.ports")
    for j, env in enumerate(map(_dict, _list(container.get("env")))):
        if not env.get("name"):
            errors.append(required(f"{at}.env[{j}].name"))
        errors += _env_source(env, f"{at}.env[{j}].valueFrom")
    errors += _volume_mounts(_list(container.get("volumeMounts")), f"{at}.volumeMounts", volumes)
    return errors + _resources(_dict(container.get("resources")), f"{at}.resources")


def _container_ports(ports: list[Any], at: str) -> list[FieldError]:
    """validateContainerPorts: IANA_SVC_NAME names unique in the container, port numbers, protocols."""
    errors: list[FieldError] = []
    names: set[str] = set()
    for j, port in enumerate(map(_dict, ports)):
        name = port.get("name")
        if name:
            wrong = port_name_errors(f"{at}[{j}].name", name)
            errors += wrong or ([FieldError("Duplicate", f"{at}[{j}].name", name)] if name in names else [])
            names.add(name)
        number = port.get("containerPort")
        if not number:
            errors.append(required(f"{at}[{j}].containerPort"))
        else:
            errors += _port_number(f"{at}[{j}].containerPort", number)
        if port.get("hostPort"):
            errors += _port_number(f"{at}[{j}].hostPort", port["hostPort"])
        errors += _protocol(f"{at}[{j}].protocol", port.get("protocol", "TCP"))
    return errors


ENV_SOURCES = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")


def _env_source(env: dict[str, Any], at: str) -> list[FieldError]:
    """validateEnvVarValueFrom: exactly one source, and none beside a `value`; a key selector names its object and
    key."""
    if env.get("valueFrom") is None:
        return []
    source = _dict(env["valueFrom"])
    errors: list[FieldError] = []
    for kind in ("configMapKeyRef", "secretKeyRef"):  # validateConfigMapKeySelector, validateSecretKeySelector
        if source.get(kind) is not None:
            selector = _dict(source[kind])
            errors += name_errors(f"{at}.{kind}.name", _str(selector.get("name")), "subdomain")
            key = _str(selector.get("key"))
            errors += config_key_errors(f"{at}.{kind}.key", key) if key else [required(f"{at}.{kind}.key")]
    count = sum(source.get(kind) is not None for kind in ENV_SOURCES)
    if count == 0:
        errors.append(invalid_value(at, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` "
                                    "or `secretKeyRef`"))
    elif env.get("value"):
        errors.append(invalid_value(at, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        errors.append(invalid_value(at, "", "may not have more than one field specified at a time"))
    return errors


def _volume_mounts(mounts: list[Any], at: str, volumes: set[str]) -> list[FieldError]:
    """ValidateVolumeMounts: each names a volume of the pod (one that passed validation) and a path of its own."""
    errors: list[FieldError] = []
    paths: set[str] = set()
    for j, mount in enumerate(map(_dict, mounts)):
        name, path = mount.get("name") or "", mount.get("mountPath") or ""
        if not name:
            errors.append(required(f"{at}[{j}].name"))
        if name not in volumes:
            errors.append(FieldError("NotFound", f"{at}[{j}].name", name))
        if not path:
            errors.append(required(f"{at}[{j}].mountPath"))
        if path in paths:
            errors.append(invalid_value(f"{at}[{j}].mountPath", path, "must be unique"))
        paths.add(path)
    return errors


VOLUME_SOURCES = ("emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs",
                  "iscsi", "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs", "quobyte",
                  "downwardAPI", "fc", "flexVolume", "configMap", "azureFile", "vsphereVolume", "photonPersistentDisk",
                  "portworxVolume", "azureDisk", "storageos", "projected", "scaleIO", "csi", "ephemeral", "image")
FORBIDDEN_AS = {"cephfs": "cephFS", "downwardAPI": "downwarAPI"}  # validateVolumeSource names these two so
SOURCE_NAMES = {"hostPath": "path", "secret": "secretName", "configMap": "name", "persistentVolumeClaim": "claimName"}


def _volumes(volumes: list[Any], at: str) -> tuple[set[str], list[FieldError]]:
    """ValidateVolumes: the names of the volumes that pass (what mounts may name), and the errors of the others."""
    names: set[str] = set()
    errors: list[FieldError] = []
    for i, volume in enumerate(map(_dict, volumes)):
        found = _volume_source(volume, f"{at}[{i}]")
        name = volume.get("name") or ""
        found += name_errors(f"{at}[{i}].name", name, "label") if name else [required(f"{at}[{i}].name")]
        if name in names:
            found.append(FieldError("Duplicate", f"{at}[{i}].name", name))
        if found:
            errors += found
        else:
            names.add(name)
    return names, errors


def _volume_source(volume: dict[str, Any], at: str) -> list[FieldError]:
    """validateVolumeSource: exactly one source; what the common ones require."""
    kinds = [kind for kind in VOLUME_SOURCES if volume.get(kind) is not None]
    if not kinds:
        return [required(at, "must specify a volume type")]
    first, source = kinds[0], _dict(volume[kinds[0]])
    errors = [required(f"{at}.{first}.{SOURCE_NAMES[first]}")] \
        if first in SOURCE_NAMES and not source.get(SOURCE_NAMES[first]) else []
    if first == "emptyDir" and quantity(source.get("sizeLimit")).value < 0:
        errors.append(FieldError("Forbidden", f"{at}.emptyDir.sizeLimit",
                                 detail="SizeLimit field must be a valid resource quantity"))
    return errors + [FieldError("Forbidden", f"{at}.{FORBIDDEN_AS.get(kind, kind)}",
                                detail="may not specify more than 1 volume type") for kind in kinds[1:]]


PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
PROBE_HANDLERS, HOOK_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc"), ("exec", "httpGet", "tcpSocket", "sleep")


def _hooks_and_probes(container: dict[str, Any], at: str) -> list[FieldError]:
    """validateLifecycle and the probes: one handler each; a liveness or startup probe succeeds once."""
    errors: list[FieldError] = []
    lifecycle = _dict(container.get("lifecycle"))
    for hook in ("postStart", "preStop"):
        if lifecycle.get(hook) is not None:
            errors += _handler(_dict(lifecycle[hook]), f"{at}.lifecycle.{hook}", HOOK_HANDLERS)
    for kind in PROBES:
        if container.get(kind) is not None:
            errors += _probe(_dict(container[kind]), f"{at}.{kind}", kind)
    return errors


def _probe(probe: dict[str, Any], at: str, kind: str) -> list[FieldError]:
    """validateProbe, with validateLivenessProbe's, validateReadinessProbe's and validateStartupProbe's rules (a
    threshold left 0 is defaulted to 1 first)."""
    errors = _handler(probe, at, PROBE_HANDLERS)
    for name in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        if isinstance(probe.get(name), int) and probe[name] < 0:
            errors.append(invalid_value(f"{at}.{name}", probe[name], NEGATIVE))
    grace = probe.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace <= 0:
        errors.append(invalid_value(f"{at}.terminationGracePeriodSeconds", grace, "must be greater than 0"))
    if kind != "readinessProbe" and (probe.get("successThreshold") or 1) != 1:
        errors.append(invalid_value(f"{at}.successThreshold", probe["successThreshold"], "must be 1"))
    if kind == "readinessProbe" and grace is not None:
        errors.append(invalid_value(f"{at}.terminationGracePeriodSeconds", grace,
                                    "must not be set for readinessProbes"))
    return errors


def _handler(handler: dict[str, Any], at: str, kinds: tuple[str, ...]) -> list[FieldError]:
    """validateHandler: the first handler given is checked, any further one is forbidden, none is required."""
    given = [kind for kind in kinds if handler.get(kind) is not None]
    if not given:
        return [required(at, "must specify a handler type")]
    action, errors = _dict(handler[given[0]]), []
    if given[0] == "exec" and not action.get("command"):
        errors.append(required(f"{at}.exec.command"))
    elif given[0] in ("httpGet", "tcpSocket", "grpc"):
        errors += _port_number_or_name(f"{at}.{given[0]}.port", action.get("port"))
    return errors + [FieldError("Forbidden", f"{at}.{kind}", detail="may not specify more than 1 handler type")
                     for kind in given[1:]]


def _port_number_or_name(field: str, port: Any) -> list[FieldError]:
    """ValidatePortNumOrName: an IntOrString, so "8080" is a name (and no valid one)."""
    if isinstance(port, str):
        return port_name_errors(field, port)
    return _port_number(field, port if isinstance(port, int) and not isinstance(port, bool) else 0)


STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory",
                      "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods",
                      "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
                      "persistentvolumeclaims", "storage", "requests.storage", "services.nodeports",
                      "services.loadbalancers")  # helper.standardResources


def _resources(resources: dict[str, Any], at: str) -> list[FieldError]:
    """validateResourceRequirements: standard names, no negative quantity, requests within their limits (equal to them
    for a resource that cannot be overcommitted, such as nvidia.com/gpu)."""
    errors: list[FieldError] = []
    limits, requests = _dict(resources.get("limits")), _dict(resources.get("requests"))
    for name, value in limits.items():
        errors += _resource_name(f"{at}.limits[{name}]", name) + _negative(f"{at}.limits[{name}]", value)
    for name, value in requests.items():
        errors += _resource_name(f"{at}.requests[{name}]", name) + _negative(f"{at}.requests[{name}]", value)
        request, overcommits = quantity(value), ("/" not in name or "kubernetes.io/" in name) \
            and not name.startswith("hugepages-")
        if name in limits:
            limit = quantity(limits[name])
            if not overcommits and request.value != limit.value:
                errors.append(invalid_value(f"{at}.requests", str(request),
                                            f"must be equal to {name} limit of {limit}"))
            elif request.value > limit.value:
                errors.append(invalid_value(f"{at}.requests", str(request),
                                            f"must be less than or equal to {name} limit of {limit}"))
        elif not overcommits:
            errors.append(required(f"{at}.limits", "Limit must be set for non overcommitable resources"))
    return errors


def _resource_name(field: str, name: str) -> list[FieldError]:
    """validateContainerResourceName for a name without a domain (an extended resource's is left unchecked)."""
    if "/" in name:
        return []
    errors = [invalid_value(field, name, "name part must be non-empty")] if not name else \
        [invalid_value(field, name, "name part must be no more than 63 characters")] if len(name) > 63 else []
    if not QUALIFIED.fullmatch(name):
        errors.append(invalid_value(field, name, QUALIFIED_NAME))
    if not errors and name not in STANDARD_RESOURCES and not name.startswith(("hugepages-", "requests.hugepages-")):
        errors.append(invalid_value(field, name, "must be a standard resource type or fully qualified"))
    if name not in ("cpu", "memory", "ephemeral-storage") and not name.startswith("hugepages-"):
        errors.append(invalid_value(field, name, "must be a standard resource for containers"))
    return errors


def _negative(field: str, value: Any) -> list[FieldError]:
    """ValidateNonnegativeQuantity, showing the quantity as String() does."""
    found = quantity(value)
    return [invalid_value(field, str(found), NEGATIVE)] if found.value < 0 else []


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
    if not re.search(r"[a-z]", name):
        problems.append("must contain at least one letter (a-z)")
    if "--" in name:
        problems.append("must not contain consecutive hyphens")
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


def config_key_errors(field: str, key: str) -> list[FieldError]:
    """IsConfigMapKey: a ConfigMap's, a Secret's or a key selector's key."""
    errors = [invalid_value(field, key, "must be no more than 253 characters")] if len(key) > 253 else []
    if not CONFIG_KEY.fullmatch(key):
        errors.append(invalid_value(field, key, "a valid config key must consist of alphanumeric characters, '-', '_' "
                                    "or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                                    "validation is '[-._a-zA-Z0-9]+')"))
    if key in (".", ".."):
        errors.append(invalid_value(field, key, f"must not be '{key}'"))
    elif key.startswith(".."):
        errors.append(invalid_value(field, key, "must not start with '..'"))
    return errors


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
    kind, data = secret.get("type"), _dict(secret.get("data"))
    if kind == "kubernetes.io/service-account-token":
        if not _dict(_dict(secret.get("metadata")).get("annotations")).get("kubernetes.io/service-account.name"):
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
    modes = _list(spec.get("accessModes"))
    errors = [] if modes else [required(f"{at}.accessModes", "at least 1 access mode is required")]
    errors += [FieldError("NotSupported", f"{at}.accessModes", mode, "supported values: " +
                          ", ".join(f'"{m}"' for m in ACCESS_MODES)) for mode in modes if mode not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and any(m in ACCESS_MODES and m != "ReadWriteOncePod" for m in modes):
        errors.append(FieldError("Forbidden", f"{at}.accessModes",
                                 detail="may not use ReadWriteOncePod with other access modes"))
    requests = _dict(_dict(spec.get("resources")).get("requests"))
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
    pod = _dict(_dict(spec.get("template")).get("spec"))
    errors += _pod_spec(pod, f"{at}.template.spec")
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
    spec, errors = _dict(cron_job.get("spec")), []
    schedule = spec.get("schedule") or ""
    if not schedule:
        errors.append(required("spec.schedule"))
    elif problem := cron_error(schedule):
        errors.append(invalid_value("spec.schedule", schedule, problem))
    if "TZ" in schedule and "TZ" not in str(_dict((old or {}).get("spec")).get("schedule")):
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
    job = _dict(_dict(spec.get("jobTemplate")).get("spec"))
    errors += _job_spec(job, "spec.jobTemplate.spec")
    if job.get("selector") is not None:
        errors.append(invalid_value("spec.jobTemplate.spec.selector", job["selector"],
                                    "`selector` will be auto-generated"))
    errors += [invalid_value(f"spec.{name}", spec[name], NEGATIVE) for name in (
        "successfulJobsHistoryLimit", "failedJobsHistoryLimit") if isinstance(spec.get(name), int) and spec[name] < 0]
    name = str(_dict(cron_job.get("metadata")).get("name") or "")
    if old is None and len(name) > 52:  # DNS1035LabelMaxLength-11: the Jobs it creates append -<11 digits>
        errors.append(invalid_value("metadata.name", name, "must be no more than 52 characters"))
    return errors


# --- networking.k8s.io/v1 Ingress, policy/v1 PodDisruptionBudget ------------------------------------------

INGRESS_CLASS = "kubernetes.io/ingress.class"


def _ingress(ingress: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    """ValidateIngressCreate/Update for networking.k8s.io/v1 (ValidateIngressSpec): rules or a default backend, DNS
    hosts (a wildcard only as '*.'), each path typed, absolute where its type says and backed by a service port (by
    number or name) or a resource; on create, a class in the field or the annotation, not both."""
    spec, errors = _dict(ingress.get("spec")), []
    rules = _list(spec.get("rules"))
    if not rules and spec.get("defaultBackend") is None:
        errors.append(invalid_value("spec", GoSyntax("[]networking.IngressRule(nil)"),
                                    "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        errors += _ingress_backend(_dict(spec["defaultBackend"]), "spec.defaultBackend")
    for i, rule in enumerate(map(_dict, rules)):
        host = _str(rule.get("host"))
        if host:
            if _is_ip(host):
                errors.append(invalid_value(f"spec.rules[{i}].host", host, "must be a DNS name, not an IP address"))
            errors += name_errors(f"spec.rules[{i}].host", host, "wildcard" if "*" in host else "subdomain")
        if rule.get("http") is not None:
            paths = _list(_dict(rule["http"]).get("paths"))
            errors += [] if paths else [required(f"spec.rules[{i}].http.paths")]
            for j, path in enumerate(map(_dict, paths)):
                errors += _ingress_path(path, f"spec.rules[{i}].http.paths[{j}]")
    for i, tls in enumerate(map(_dict, _list(spec.get("tls")))):
        for j, host in enumerate(map(_str, _list(tls.get("hosts")))):
            errors += name_errors(f"spec.tls[{i}].hosts[{j}]", host, "wildcard" if "*" in host else "subdomain")
        if _str(tls.get("secretName")):
            errors += name_errors(f"spec.tls[{i}].secretName", tls["secretName"], "subdomain")
    if spec.get("ingressClassName") is not None:
        errors += name_errors("spec.ingressClassName", _str(spec["ingressClassName"]), "subdomain")
        annotations = _dict(_dict(ingress.get("metadata")).get("annotations"))
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
    kind, value = path.get("pathType"), _str(path.get("path"))
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
    return errors + _ingress_backend(_dict(path.get("backend")), f"{at}.backend")


def _ingress_backend(backend: dict[str, Any], at: str) -> list[FieldError]:
    """validateIngressBackend: a service (a DNS-1035 name and a port number or name) or a resource, not both."""
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [invalid_value(at, "", "cannot set both resource and service backends")]
    if resource is not None:  # validateIngressTypedLocalObjectReference
        return [required(f"{at}.resource.{name}", f"{name} is required") for name in ("kind", "name")
                if not _dict(resource).get(name)]
    if service is None:
        return [invalid_value(at, "", "resource or service backend is required")]
    name = _str(_dict(service).get("name"))
    errors = name_errors(f"{at}.service.name", name, "dns1035") if name else [required(f"{at}.service.name")]
    port = _dict(_dict(service).get("port"))
    port_name, number = _str(port.get("name")), port.get("number") if isinstance(port.get("number"), int) else 0
    if port_name and number:
        errors.append(invalid_value(at, "", "cannot set both port name & port number"))
    elif port_name:
        errors += port_name_errors(f"{at}.service.port.name", port_name)
    elif number:
        errors += _port_number(f"{at}.service.port.number", number)
    else:
        errors.append(required(at, "port name or number is required"))
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
    spec = _dict(obj.get("spec"))
    if kind in POD_SPECS:
        pod = obj
        for key in POD_SPECS[kind]:
            pod = _dict(pod.get(key))
        for group in ("containers", "initContainers", "ephemeralContainers"):
            for container in map(_dict, _list(pod.get(group))):
                yield from _resource_values(container.get("resources"))
        yield from _dict(pod.get("overhead")).values()
        yield from _resource_values(pod.get("resources"))
        for volume in map(_dict, _list(pod.get("volumes"))):
            yield _dict(volume.get("emptyDir")).get("sizeLimit")
            claim = _dict(_dict(volume.get("ephemeral")).get("volumeClaimTemplate"))
            yield from _resource_values(_dict(claim.get("spec")).get("resources"))
    claims = [spec] if kind == "PersistentVolumeClaim" else \
        [_dict(_dict(c).get("spec")) for c in _list(spec.get("volumeClaimTemplates"))] if kind == "StatefulSet" else []
    for claim in claims:
        yield from _resource_values(claim.get("resources"))
    if kind == "ResourceQuota":
        yield from _dict(spec.get("hard")).values()
    for limit in map(_dict, _list(spec.get("limits")) if kind == "LimitRange" else []):
        for field in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            yield from _dict(limit.get(field)).values()


def _resource_values(resources: Any) -> Iterator[Any]:
    for field in ("limits", "requests"):
        yield from _dict(_dict(resources).get(field)).values()


def _dict(value: Any) -> dict[str, Any]:
    """A field that should hold an object, or {} (what a field of the wrong type is to these checks)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
