"""The API server's own check of a release before it is deployed (the only import of Kubernetes' Python client).

Helm's dry run renders the chart and asks the cluster only to look things up: a field its kind does not declare,
a change Kubernetes cannot make in place, a value the API server's validation refuses are left for the deploy to
find, after the release has been half applied and rolled back. Here each object of the rendered manifest is
applied server-side with dryRun=All and fieldValidation=Strict, as `kubectl apply --server-side --dry-run=server`
sends it and as Helm's deploy will send it, so a dry run is refused for what the deploy would be refused.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml

from .cluster import Access
from .errors import ToolError


@dataclass
class Check:
    refused: list[str] = field(default_factory=list)  # "Deployment web: MESSAGE", as the API server words it
    unchecked: list[str] = field(default_factory=list)  # what the cluster cannot check yet, and why


def check(access: Access, manifest: str, *, create_namespace: bool) -> Check:
    """Every object of `manifest` applied as a dry run; namespaced ones without a namespace go to the release's."""
    objects = [d for d in yaml.safe_load_all(manifest) if isinstance(d, dict) and d.get("kind")]
    found = Check()
    if not objects:
        return found
    with _client(access) as call:
        served: dict[str, dict[str, tuple[str, bool]] | None] = {}
        missing: set[str] = set()  # namespaces the deploy creates (create_namespace), not there yet
        for obj in objects:
            version, kind, name = obj.get("apiVersion", ""), obj["kind"], (obj.get("metadata") or {}).get("name")
            if version not in served:
                served[version] = _resources(call, version)
            resource = (served[version] or {}).get(kind)
            if resource is None:
                found.unchecked.append(f"{kind} {name} (the cluster does not serve {kind} in {version} yet)")
                continue
            plural, namespaced = resource
            obj.setdefault("metadata", {})
            namespace = (obj["metadata"].get("namespace") or access.namespace) if namespaced else ""
            if namespaced:
                obj["metadata"]["namespace"] = namespace
            if namespace and create_namespace and _absent(call, namespace, missing):
                found.unchecked.append(f"{kind} {name} (namespace {namespace} is created by the deploy)")
                continue
            where = f"namespaces/{namespace}/" if namespace else ""
            path = f"/{'apis' if '/' in version else 'api'}/{version}/{where}{plural}/{name}"
            try:
                call("PATCH", path, {"dryRun": "All", "fieldManager": _manager(), "force": "true",
                                     "fieldValidation": "Strict"}, obj)
            except _Refused as exc:
                found.refused.append(f"{kind} {name}: {exc}")
    return found


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
        listed = call("GET", f"/{'apis' if '/' in version else 'api'}/{version}")
    except _Refused as exc:
        if exc.status == 404:
            return None
        raise ToolError(f"the API server refused to list what it serves in {version}: {exc}") from None
    return {r["kind"]: (r["name"], r.get("namespaced", False)) for r in listed.get("resources", [])
            if "/" not in r["name"]}


def _absent(call: Any, namespace: str, missing: set[str]) -> bool:
    if namespace not in missing:
        try:
            call("GET", f"/api/v1/namespaces/{namespace}")
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
        if body is not None:
            headers["Content-Type"] = "application/apply-patch+yaml"
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
