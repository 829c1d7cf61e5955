"""A pod spec as the API server's ValidatePodSpec checks it, for what charts get wrong: volumes with one source,
containers with a name and an image, named ports, env sources, mounts of volumes the pod has, probes and hooks with
one handler, resources whose requests fit their limits. Every workload's template goes through it (a StatefulSet's
does not: upstream leaves it out)."""

from __future__ import annotations

import re
from typing import Any

from tests.support.k8s_quantity import quantity
from tests.support.k8s_rules import (
    NEGATIVE,
    QUALIFIED,
    QUALIFIED_NAME,
    as_dict,
    as_list,
    as_str,
    config_key_errors,
    label_errors,
    name_errors,
    port_name_errors,
    port_number_errors,
    protocol_errors,
)
from tests.support.k8s_status import FieldError, invalid_value, required

ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")  # IsEnvVarName (Kubernetes 1.26)
ENV_NAME_RULE = ("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
                 "and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used "
                 "for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')")


def pod_spec_errors(spec: dict[str, Any], at: str) -> list[FieldError]:
    """ValidatePodSpec: the volumes, then the containers and init containers (each against the volumes that passed),
    then the restart policy."""
    volumes, errors = _volumes(as_list(spec.get("volumes")), f"{at}.volumes")
    containers = as_list(spec.get("containers"))
    if not containers:
        errors.append(required(f"{at}.containers"))
    names: set[str] = set()
    for i, container in enumerate(map(as_dict, containers)):
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
    for i, container in enumerate(map(as_dict, as_list(spec.get("initContainers")))):
        errors += _init_container(container, f"{at}.initContainers[{i}]", volumes, names)
    policy = spec.get("restartPolicy") or "Always"  # SetDefaults_PodSpec
    if policy not in ("Always", "OnFailure", "Never"):
        errors.append(FieldError("NotSupported", f"{at}.restartPolicy", policy,
                                 'supported values: "Always", "OnFailure", "Never"'))
    errors += _one_of(spec, "dnsPolicy", at, ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"))
    if spec.get("serviceAccountName"):
        errors += name_errors(f"{at}.serviceAccountName", str(spec["serviceAccountName"]), "subdomain")
    return errors + label_errors(as_dict(spec.get("nodeSelector")), f"{at}.nodeSelector")


def pod_only_errors(spec: dict[str, Any]) -> list[FieldError]:
    """validateContainersOnlyForPod: what a Pod is refused for and a pod template is not (an image with blanks around
    it: a template's pods fail to be created instead)."""
    return [invalid_value(f"spec.containers[{i}].image", image, "must not have leading or trailing whitespace")
            for i, image in enumerate(as_dict(c).get("image") for c in as_list(spec.get("containers")))
            if isinstance(image, str) and image and image != image.strip()]


def _one_of(obj: dict[str, Any], field: str, at: str, supported: tuple[str, ...]) -> list[FieldError]:
    """An enum field set to a value the API server does not know (NotSupported); "" is defaulted first."""
    value = obj.get(field)
    if not value or value in supported:
        return []
    return [FieldError("NotSupported", f"{at}.{field}", value, "supported values: " +
                       ", ".join(f'"{v}"' for v in supported))]


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
    errors += _one_of(container, "imagePullPolicy", at, ("Always", "IfNotPresent", "Never"))
    errors += _container_ports(as_list(container.get("ports")), f"{at}.ports")
    for j, env in enumerate(map(as_dict, as_list(container.get("env")))):
        if not env.get("name"):
            errors.append(required(f"{at}.env[{j}].name"))
        elif not ENV_NAME.fullmatch(str(env["name"])):
            errors.append(invalid_value(f"{at}.env[{j}].name", env["name"], ENV_NAME_RULE))
        errors += _env_source(env, f"{at}.env[{j}].valueFrom")
    errors += _volume_mounts(as_list(container.get("volumeMounts")), f"{at}.volumeMounts", volumes)
    return errors + _resources(as_dict(container.get("resources")), f"{at}.resources")


def _container_ports(ports: list[Any], at: str) -> list[FieldError]:
    """validateContainerPorts: IANA_SVC_NAME names unique in the container, port numbers, protocols."""
    errors: list[FieldError] = []
    names: set[str] = set()
    for j, port in enumerate(map(as_dict, ports)):
        name = port.get("name")
        if name:
            wrong = port_name_errors(f"{at}[{j}].name", name)
            errors += wrong or ([FieldError("Duplicate", f"{at}[{j}].name", name)] if name in names else [])
            names.add(name)
        number = port.get("containerPort")
        if not number:
            errors.append(required(f"{at}[{j}].containerPort"))
        else:
            errors += port_number_errors(f"{at}[{j}].containerPort", number)
        if port.get("hostPort"):
            errors += port_number_errors(f"{at}[{j}].hostPort", port["hostPort"])
        errors += protocol_errors(f"{at}[{j}].protocol", port.get("protocol", "TCP"))
    return errors


ENV_SOURCES = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")


def _env_source(env: dict[str, Any], at: str) -> list[FieldError]:
    """validateEnvVarValueFrom: exactly one source, and none beside a `value`; a key selector names its object and
    key."""
    if env.get("valueFrom") is None:
        return []
    source = as_dict(env["valueFrom"])
    errors: list[FieldError] = []
    for kind in ("configMapKeyRef", "secretKeyRef"):  # validateConfigMapKeySelector, validateSecretKeySelector
        if source.get(kind) is not None:
            selector = as_dict(source[kind])
            errors += name_errors(f"{at}.{kind}.name", as_str(selector.get("name")), "subdomain")
            key = as_str(selector.get("key"))
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
    for j, mount in enumerate(map(as_dict, mounts)):
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
    for i, volume in enumerate(map(as_dict, volumes)):
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
    first, source = kinds[0], as_dict(volume[kinds[0]])
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
    lifecycle = as_dict(container.get("lifecycle"))
    for hook in ("postStart", "preStop"):
        if lifecycle.get(hook) is not None:
            errors += _handler(as_dict(lifecycle[hook]), f"{at}.lifecycle.{hook}", HOOK_HANDLERS)
    for kind in PROBES:
        if container.get(kind) is not None:
            errors += _probe(as_dict(container[kind]), f"{at}.{kind}", kind)
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
    action, errors = as_dict(handler[given[0]]), []
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
    return port_number_errors(field, port if isinstance(port, int) and not isinstance(port, bool) else 0)


STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory",
                      "requests.ephemeral-storage", "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods",
                      "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
                      "persistentvolumeclaims", "storage", "requests.storage", "services.nodeports",
                      "services.loadbalancers")  # helper.standardResources


def _resources(resources: dict[str, Any], at: str) -> list[FieldError]:
    """validateResourceRequirements: standard names, no negative quantity, requests within their limits (equal to them
    for a resource that cannot be overcommitted, such as nvidia.com/gpu)."""
    errors: list[FieldError] = []
    limits, requests = as_dict(resources.get("limits")), as_dict(resources.get("requests"))
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
