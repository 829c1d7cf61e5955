"""What the emulator knows of Kubernetes' Go types: merge keys, list semantics and scalar types of core kinds.

Taken from the struct tags of k8s.io/api (core/v1, apps/v1, batch/v1): `patchMergeKey`/`patchStrategy` drive
strategic merge patches, `+listType=map`/`+listMapKey` server-side apply, and the Go field types decide what
the API server refuses to decode (`replicas: "Zebra"`). Kinds and fields not listed here are free-form, as for
a custom resource: maps merge key by key, lists are replaced whole.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.k8s_status import go_plain


@dataclass(frozen=True)
class Field:
    type: str = "any"  # object | list | map | string | int32 | int64 | boolean | int-or-string | bytes | any
    go: str = ""  # the Go type as decode errors name it: int32, v1.PodSpec, []v1.Container, map[string]string
    struct: str = ""  # the Go struct of an object, or of a list's items (decode errors name the innermost one)
    fields: Mapping[str, Field] = field(default_factory=dict)  # an object's fields, or a list's items' fields
    values: Field | None = None  # a map's value type
    merge_key: str = ""  # patchMergeKey: strategic merge patches merge this list item by item
    list_keys: tuple[str, ...] = ()  # +listMapKey: server-side apply's item identity (default: the merge key)
    key_defaults: Mapping[str, Any] = field(default_factory=dict)  # key fields the API server defaults
    scalar_set: bool = False  # patchStrategy merge on a list of scalars (metadata.finalizers)
    atomic: bool = False  # +structType=atomic: server-side apply owns and replaces it whole

    def child(self, name: str) -> Field:
        if self.type == "map" and self.values is not None:
            return self.values
        return self.fields.get(name, ANY)

    @property
    def keys(self) -> tuple[str, ...]:
        return self.list_keys or ((self.merge_key,) if self.merge_key else ())


ANY = Field()
STRING = Field("string", "string")
INT32 = Field("int32", "int32")
INT64 = Field("int64", "int64")
BOOL = Field("boolean", "bool")
INT_OR_STRING = Field("int-or-string", "intstr.IntOrString")
STRINGS = Field("list", "[]string", values=STRING)
STRING_MAP = Field("map", "map[string]string", values=STRING)
BYTES_MAP = Field("map", "map[string][]uint8", values=Field("bytes", "[]uint8"))


def obj(struct: str, **fields: Field) -> Field:
    return Field("object", f"v1.{struct}", struct, fields)


def items(struct: str, key: str = "", list_keys: tuple[str, ...] = (), defaults: Mapping[str, Any] | None = None,
          **fields: Field) -> Field:
    """A list of objects; with a key it merges item by item, without one it is replaced whole (atomic)."""
    return Field("list", f"[]v1.{struct}", struct, fields, merge_key=key, list_keys=list_keys,
                 key_defaults=defaults or {})


META = obj("ObjectMeta", name=STRING, namespace=STRING, generateName=STRING, labels=STRING_MAP,
           annotations=STRING_MAP, finalizers=Field("list", "[]string", values=STRING, scalar_set=True),
           ownerReferences=items("OwnerReference", "uid"))
CONTAINER = items(
    "Container", "name", name=STRING, image=STRING, imagePullPolicy=STRING, workingDir=STRING, command=STRINGS,
    args=STRINGS, envFrom=items("EnvFromSource"),
    ports=items("ContainerPort", "containerPort", ("containerPort", "protocol"), {"protocol": "TCP"},
                containerPort=INT32, hostPort=INT32, name=STRING, protocol=STRING),
    env=items("EnvVar", "name", name=STRING, value=STRING),
    volumeMounts=items("VolumeMount", "mountPath", name=STRING, mountPath=STRING, readOnly=BOOL),
    volumeDevices=items("VolumeDevice", "devicePath"))
POD_SPEC = obj(
    "PodSpec", containers=CONTAINER, initContainers=CONTAINER, ephemeralContainers=CONTAINER,
    volumes=items("Volume", "name", name=STRING), imagePullSecrets=items("LocalObjectReference", "name"),
    hostAliases=items("HostAlias", "ip"), schedulingGates=items("PodSchedulingGate", "name"),
    resourceClaims=items("PodResourceClaim", "name"), tolerations=items("Toleration"),
    topologySpreadConstraints=items("TopologySpreadConstraint", "topologyKey", ("topologyKey", "whenUnsatisfiable")),
    terminationGracePeriodSeconds=INT64, activeDeadlineSeconds=INT64, restartPolicy=STRING,
    serviceAccountName=STRING, hostNetwork=BOOL, automountServiceAccountToken=BOOL, nodeSelector=STRING_MAP,
    priority=INT32)
TEMPLATE = obj("PodTemplateSpec", metadata=META, spec=POD_SPEC)
SELECTOR = Field("object", "v1.LabelSelector", "LabelSelector", atomic=True,
                 fields={"matchLabels": STRING_MAP, "matchExpressions": items("LabelSelectorRequirement")})


def _workload(kind: str, **spec: Field) -> Field:
    return obj(kind, metadata=META, spec=obj(f"{kind}Spec", replicas=INT32, minReadySeconds=INT32,
                                             revisionHistoryLimit=INT32, selector=SELECTOR, template=TEMPLATE, **spec))


JOB_SPEC = obj("JobSpec", template=TEMPLATE, backoffLimit=INT32, completions=INT32, parallelism=INT32,
               activeDeadlineSeconds=INT64)
KINDS: dict[tuple[str, str], Field] = {
    ("apps", "Deployment"): _workload("Deployment", progressDeadlineSeconds=INT32, paused=BOOL),
    ("apps", "ReplicaSet"): _workload("ReplicaSet"),
    ("apps", "StatefulSet"): _workload("StatefulSet", serviceName=STRING, podManagementPolicy=STRING),
    ("apps", "DaemonSet"): _workload("DaemonSet"),
    ("batch", "Job"): obj("Job", metadata=META, spec=JOB_SPEC),
    ("batch", "CronJob"): obj("CronJob", metadata=META, spec=obj(
        "CronJobSpec", schedule=STRING, jobTemplate=obj("JobTemplateSpec", metadata=META, spec=JOB_SPEC))),
    ("", "Pod"): obj("Pod", metadata=META, spec=POD_SPEC),
    ("", "PodTemplate"): obj("PodTemplate", metadata=META, template=TEMPLATE),
    ("", "Service"): obj("Service", metadata=META, spec=obj(
        "ServiceSpec", type=STRING, clusterIP=STRING, clusterIPs=STRINGS, selector=STRING_MAP, externalName=STRING,
        ports=items("ServicePort", "port", ("port", "protocol"), {"protocol": "TCP"}, port=INT32, nodePort=INT32,
                    targetPort=INT_OR_STRING, name=STRING, protocol=STRING))),
    ("", "ConfigMap"): obj("ConfigMap", metadata=META, data=STRING_MAP, binaryData=BYTES_MAP, immutable=BOOL),
    ("", "Secret"): obj("Secret", metadata=META, data=BYTES_MAP, stringData=STRING_MAP, type=STRING, immutable=BOOL),
}


def schema(group: str, kind: str) -> Field:
    return KINDS.get((group, kind), obj(kind, metadata=META))


# --- decoding: the value a Go field cannot take ---------------------------------------------------

@dataclass(frozen=True)
class Mismatch:
    """A value the Go type refuses, with what each API path needs to word it."""

    keys: tuple[str, ...]  # JSON keys from the root, list indices left out (as encoding/json names it)
    path: str  # structured-merge-diff's path: .spec.template.spec.containers[name="web"].image
    struct: str  # the Go struct holding the field
    expected: Field
    value: Any

    @property
    def json_kind(self) -> str:
        if isinstance(self.value, bool):
            return "bool"
        if isinstance(self.value, int | float):
            return f"number {self.value}"
        kinds: dict[type, str] = {str: "string", dict: "object", list: "array"}
        return kinds.get(type(self.value), "null")

    def decode_error(self) -> str:
        """encoding/json's UnmarshalTypeError, as the API server quotes it for a create or update."""
        kind = self.json_kind if self.json_kind.startswith("number") and self.expected.type != "string" else \
            self.json_kind.split()[0]
        if self.expected.type == "bytes":
            return "illegal base64 data at input byte 0"
        return f"json: cannot unmarshal {kind} into Go struct field {self.struct}.{'.'.join(self.keys)} " \
               f"of type {self.expected.go}"

    def apply_error(self) -> str:
        """structured-merge-diff's wording when server-side apply cannot type the applied object."""
        wanted = {"int32": "numeric (int or float)", "int64": "numeric (int or float)", "boolean": "bool",
                  "object": "map", "list": "list", "map": "map"}.get(self.expected.type, "string")
        got = "string" if isinstance(self.value, str) else f"&value.valueUnstructured{{Value:{go_plain(self.value)}}}"
        return f"{self.path}: expected {wanted}, got {got}"


def mismatches(value: Any, schema: Field) -> Iterator[Mismatch]:
    """Every value that does not fit its Go type, outermost first."""
    yield from _walk(value, schema, (), "", schema.struct)


def _walk(value: Any, f: Field, keys: tuple[str, ...], path: str, struct: str) -> Iterator[Mismatch]:
    if value is None or f.type == "any":
        return
    if not _fits(value, f):
        yield Mismatch(keys, path, struct, f, value)
        return
    if f.type == "object":
        for name, child in value.items():
            yield from _walk(child, f.child(name), (*keys, name), f"{path}.{name}", f.struct)
    elif f.type == "map" and f.values is not None:
        for name, child in value.items():
            yield from _walk(child, f.values, keys, f"{path}.{name}", struct)
    elif f.type == "list":
        for index, item in enumerate(value):
            where = f"{path}[{index}]"
            if f.values is not None:
                yield from _walk(item, f.values, keys, where, struct)
            elif isinstance(item, dict):
                where = path + element_label(item, f) if f.keys else where
                for name, child in item.items():
                    yield from _walk(child, f.child(name), (*keys, name), f"{where}.{name}", f.struct)
            else:
                yield Mismatch(keys, where, f.struct, Field("object", f"v1.{f.struct}"), item)


def _fits(value: Any, f: Field) -> bool:
    if f.type in ("int32", "int64"):
        limit = 2**31 if f.type == "int32" else 2**63
        return isinstance(value, int) and not isinstance(value, bool) and -limit <= value < limit
    if f.type == "int-or-string":
        return isinstance(value, str) or isinstance(value, int) and not isinstance(value, bool)
    if f.type == "bytes":
        return isinstance(value, str) and _base64(value)
    expected = {"string": str, "boolean": bool, "object": dict, "map": dict, "list": list}[f.type]
    return isinstance(value, expected)


def _base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def element_label(item: dict[str, Any], f: Field) -> str:
    """[name="web"] or [containerPort=8080,protocol="TCP"]: a keyed list item as structured-merge-diff names it."""
    parts = [f"{k}={json.dumps(item.get(k, f.key_defaults.get(k)))}" for k in f.keys
             if item.get(k, f.key_defaults.get(k)) is not None]
    return "[" + ",".join(parts) + "]"
