"""A Kubernetes API on 127.0.0.1 that behaves like an API server for what Helm does (tests only).

kmock 0.8's KubernetesEmulator (by the author of Kopf) serves discovery from a bundled K3s resource list;
this subclass serves the objects themselves, as an API server would:

- authentication: a bearer token the emulator knows, else 401 (RunningEmulator.accept_token adds one);
- writes: create, update (PUT, resourceVersion preconditions), JSON patch, JSON merge patch, strategic merge
  patch by Kubernetes' merge keys and directives (k8s_merge; not for custom resources), server-side apply
  with field managers and conflicts (k8s_apply); Helm's release Secrets arrive as protobuf (k8s_protobuf);
- what the registry does before storing: a body over 3 MiB is 413, a value its Go type refuses is refused
  (400 on create/update, 422 on patch, 500 on apply, as each path does), a field its kind does not declare is
  refused under fieldValidation=Strict (what Helm sends) and dropped otherwise (k8s_fields), defaults, validation
  as 422 (k8s_validation, including the 1 MiB limit of Secret and ConfigMap data, and what an update may not
  change: a StatefulSet's volume claims, a Job's pod template, a claim's spec), a custom resource's values
  against its CRD's schema (k8s_crd_values), Service clusterIPs;
- what controllers do, at once (k8s_controllers): ReplicaSets and Pods for Deployments, Pods for
  StatefulSets/DaemonSets/Jobs, their statuses, Established CRDs whose resources are then served and listed
  by discovery; a Pod whose image is in `broken` never gets ready (how waits that time out are tested);
- the namespaces every cluster has (default, kube-system, kube-public, kube-node-lease); others a test creates;
- deletes cascade to owned objects (garbage collection), namespaces and CRDs take their objects along;
- lists and watches with label and field selectors, sendInitialEvents answered with a BOOKMARK annotated
  k8s.io/initial-events-end; /openapi/v3 just enough for client-go to see PATCH takes fieldValidation, and
  /openapi/v2 an empty document (so a kind nobody serves is refused as an API server refuses it: "no matches for
  kind", not a 404 on the schema);
  the core group's groupVersion served as "v1" (kmock 0.8 says "/v1": Helm then cannot map kinds).

Objects live in one dict; the server runs on its own event loop in a thread, so tests and `invoke`
subprocesses reach it alike. Pinned with kmock==0.8: it touches kmock internals.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import ipaddress
import itertools
import json
import re
import ssl
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, ClassVar

import aiohttp.web
import attrs
import multidict
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kmock import KubernetesEmulator, ResourceInfo, resource
from kmock._internal.parsing import parse_path

from tests.support import k8s_apply, k8s_controllers, k8s_crd_values, k8s_fields, k8s_merge, k8s_validation
from tests.support.k8s_controllers import Key, now
from tests.support.k8s_protobuf import decode_protobuf
from tests.support.k8s_schema import mismatches, schema
from tests.support.k8s_status import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    go_plain,
    invalid,
    not_found,
    required,
    too_large,
    unauthorized,
    unclassified,
)

OPENAPI_V2 = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"  # as kube-openapi answers ("@" is not MIME)
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")  # every cluster has them
MAX_BODY = 3 * 1024 * 1024  # the API server's limit on a request body
VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


class HelmReadyEmulator(KubernetesEmulator):
    """KubernetesEmulator answering like an API server; see the module docstring."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources.load_bundled()
        self.store: dict[Key, dict[str, Any]] = {}
        self.broken: set[str] = set()  # images whose pods never get ready; all others are, at once
        self.tokens: set[str] = set()  # bearer tokens that authenticate; anything else is 401
        self.undeletable: set[Key] = set()  # objects RBAC does not let anyone delete: 403
        self.readers: set[str] = set()  # tokens RBAC lets read but not write (a pull request's pipeline): 403
        self.non_binders: set[str] = set()  # tokens that may write but not bind roles (a namespace's admin)
        self.custom: dict[str, list[Any]] = {}  # CRD name -> the resources it serves
        self.revision = itertools.count(1)
        self.watchers: list[tuple[Key, dict[str, str], asyncio.Queue[dict[str, Any]], str]] = []
        self.log: list[str] = []

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """Objects are served here (kmock's request parsing cannot take protobuf bodies); discovery by kmock."""
        self.log.append(f"{raw.method} {raw.path_qs}")
        try:
            scheme, _, token = raw.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or token not in self.tokens:
                raise unauthorized()
            if raw.path == "/openapi/v2":  # an empty Document, in the protobuf client-go asks for: no schemas to check
                return aiohttp.web.Response(body=b"", headers={"Content-Type": OPENAPI_V2})
            if raw.path.startswith("/openapi/v3"):
                return aiohttp.web.json_response(self._openapi(raw.path.removeprefix("/openapi/v3").strip("/")))
            if raw.path.rstrip("/") == "/api/v1/namespaces":  # the list itself, which kmock's parser cannot take
                path = attrs.evolve(parse_path("/api/v1/namespaces/x"), plural="namespaces", name=None, namespace=None)
            else:
                path = parse_path(raw.path)
            if path.group == "" and path.plural is None and path.namespace:  # /api/v1/namespaces/NAME itself
                path = attrs.evolve(path, plural="namespaces", name=path.namespace, namespace=None)
            if path.group is None or path.plural is None:
                return await super().__call__(raw)
            return await self._serve(raw, path)
        except ApiError as error:
            return aiohttp.web.json_response(error.body, status=error.body["code"])

    def _openapi(self, group_version: str) -> dict[str, Any]:
        """Just enough OpenAPI v3 for client-go to see that PATCH takes fieldValidation (Helm asks)."""
        served = {(f"apis/{r.group}/" if r.group else "api/") + str(r.version): r for r in self.resources}
        if not group_version:
            return {"paths": {gv: {"serverRelativeURL": f"/openapi/v3/{gv}"} for gv in sorted(served)}}
        paths = {}
        for key in self.resources:
            gv = (f"apis/{key.group}/" if key.group else "api/") + str(key.version)
            if gv != group_version:
                continue
            info = self.resources[key]
            scope = "/namespaces/{namespace}" if info.namespaced else ""
            paths[f"/{gv}{scope}/{key.plural}/{{name}}"] = {"patch": {
                "x-kubernetes-group-version-kind": {"group": key.group, "version": key.version, "kind": info.kind},
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}},
            }}
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.26.4"}, "paths": paths}

    async def _serve_version(self, request: Any) -> Any:
        served: Any = await super()._serve_version(request)
        served["groupVersion"] = served["groupVersion"].lstrip("/")  # kmock 0.8 says "/v1" for core
        return served

    # --- requests ---

    def _info(self, k8s: Any) -> Any:
        for key in self.resources:
            if (key.group, key.version, key.plural) == (k8s.group, k8s.version, k8s.plural):
                return self.resources[key]
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    async def _serve(self, raw: aiohttp.web.BaseRequest, k8s: Any) -> aiohttp.web.StreamResponse:
        gv = f"{k8s.group}/{k8s.version}".lstrip("/")
        stored = self._stored_version(k8s.group, k8s.plural, gv)
        info = self._info(k8s)
        namespace = k8s.namespace if info.namespaced else None
        name, method, plural = k8s.name, raw.method, k8s.plural
        if k8s.subresource not in (None, "status") or k8s.subresource and name is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method != "GET" and raw.headers.get("Authorization", "").partition(" ")[2] in self.readers:
            verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())
            raise forbidden(verb, plural, k8s.group, name or "", namespace, "system:serviceaccount:ci:reader")
        if method == "GET" and raw.query.get("watch") in ("true", "1"):
            return await self._watch(raw, (gv, stored), plural, namespace, name, info)
        if method == "GET" and name is None:
            items = [_in_version(o, gv) for (g, p, ns, _), o in sorted(self.store.items(), key=lambda kv: str(kv[0]))
                     if (g, p) == (stored, plural) and (namespace is None or ns == namespace)
                     and _selected(o, raw.query.get("labelSelector", ""))
                     and _field_selected(o, raw.query.get("fieldSelector", ""))]
            return aiohttp.web.json_response({
                "apiVersion": gv, "kind": f"{info.kind}List",
                "metadata": {"resourceVersion": str(next(self.revision))}, "items": items})
        key: Key = (stored, plural, namespace, name or "")
        old = self.store.get(key)
        if method == "GET":
            return aiohttp.web.json_response(_in_version(self._get(key), gv))
        body = await _read_body(raw)
        if method == "DELETE":
            options = {**_decode(body, raw.headers.get("Content-Type", "")), **raw.query}
            obj = self._get(key)
            if key in self.undeletable:
                raise forbidden("delete", plural, k8s.group, key[3], namespace, "system:serviceaccount:ci:deployer")
            if "dryRun" not in raw.query:
                await self._delete(key, orphan=options.get("propagationPolicy") == "Orphan")
            return aiohttp.web.json_response(_in_version(obj, gv))
        if namespace and ("v1", "namespaces", None, namespace) not in self.store:
            raise not_found("namespaces", "", namespace)  # as a real API server says
        content_type = raw.headers.get("Content-Type", "").split(";")[0].strip()
        data = _decode(body, content_type)
        manager = raw.query.get("fieldManager") or raw.headers.get("User-Agent", "unknown").split("/")[0]
        kind_schema = schema(k8s.group, info.kind)
        validation = raw.query.get("fieldValidation", "Warn")  # the API server's default
        owned = None
        applying = method == "PATCH" and content_type == "application/apply-patch+yaml"
        if method == "POST":
            meta = data.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + k8s_controllers.template_hash({"n": str(uuid.uuid4())})[:5]
            key = (stored, plural, namespace, meta.get("name") or "")
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
            if key in self.store:
                raise already_exists(plural, k8s.group, key[3])
            _refuse_types(data, kind_schema, "create", info.kind, gv)
            old, new = None, data
        elif method == "PUT":
            old = self._get(key)
            if data.get("metadata", {}).get("name") != name:
                raise bad_request(f"the name of the object ({data.get('metadata', {}).get('name')}) does not match "
                                  f"the name on the URL ({name})")
            wanted = data.get("metadata", {}).get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise conflict(plural, k8s.group, name, "the object has been modified; please apply your changes to "
                               "the latest version and try again")
            _refuse_types(data, kind_schema, "create", info.kind, gv)
            new = data
        elif applying:
            if not raw.query.get("fieldManager"):
                raise invalid("PatchOptions", "meta.k8s.io", "", [required("fieldManager",
                                                                           "is required for apply patch")])
            if data.get("apiVersion") != gv or data.get("kind") != info.kind:
                raise bad_request(f"Incorrect version specified in apply patch. Specified patch version: "
                                  f"{data.get('apiVersion', '')}, expected: {gv}")
            _refuse_types(data, kind_schema, "apply", info.kind, gv, namespace, name)
            warnings = self._unknown_fields(data, validation, "apply", info.kind, k8s, key)
            new, owned = k8s_apply.apply(old, data, manager, raw.query.get("force") == "true", kind_schema)
        elif method == "PATCH":
            old = self._get(key)
            custom = self._custom(k8s.group, k8s.version, plural)
            if content_type == "application/strategic-merge-patch+json" and not custom:
                new = k8s_merge.strategic_merge(old, data, kind_schema)
                _refuse_types(new, kind_schema, "strategic", info.kind, gv, patch=data)
            elif content_type in ("application/merge-patch+json", "application/json-patch+json"):
                new = k8s_merge.json_merge(old, data) if "merge" in content_type else k8s_merge.json_patch(old, data)
                _refuse_types(new, kind_schema, "merge", info.kind, gv)
            else:
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                               "accepted media types include: application/json-patch+json, "
                               "application/merge-patch+json, application/apply-patch+yaml")
        else:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if not applying:  # an applied object is checked before it is merged
            warnings = self._unknown_fields(new, validation, method, info.kind, k8s, key)
        if k8s.subresource == "status":
            new = {**(old or {}), "status": new.get("status")}
        if plural in ("rolebindings", "clusterrolebindings") and \
                raw.headers.get("Authorization", "").partition(" ")[2] in self.non_binders:
            self._bound_role(new, namespace)
        written = self._admit(key, old, new, info, k8s.group, subresource=k8s.subresource, manager=manager,
                              owned=owned)
        if "dryRun" not in raw.query:
            await self._commit(key, written)
            await self._reconcile(key)
        return aiohttp.web.json_response(_in_version(written, gv), status=201 if old is None else 200,
                                         headers=multidict.CIMultiDict(("Warning", w) for w in warnings))

    def _unknown_fields(self, obj: dict[str, Any], validation: str, method: str, kind: str, k8s: Any,
                        key: Key) -> list[str]:
        """Fields the kind does not declare: refused under Strict, else dropped, with warnings under Warn."""
        crd = self._crd(k8s.group, k8s.version, k8s.plural)
        if crd is not None and crd["spec"].get("preserveUnknownFields"):
            return []
        found = k8s_fields.unknown(obj, k8s.version, kind, _structural(crd, k8s.version) if crd is not None else None)
        if not found:
            return []
        if validation == "Strict" and method == "apply":
            first = k8s_fields.typed(obj, found[0], schema(k8s.group, kind))
            raise unclassified(f"failed to create typed patch object ({key[2] or ''}/{key[3]}; {key[0]}, "
                               f"Kind={kind}): {first}: field not declared in schema")
        named = ", ".join(f'unknown field "{k8s_fields.decoded(path)}"' for path in found)
        if validation == "Strict":
            where = f'{kind} in version "{k8s.version}" cannot be handled as a {kind}: ' if method in ("POST", "PUT") \
                else ""
            raise bad_request(f"{where}strict decoding error: {named}")
        k8s_fields.prune(obj, found)
        return [f'299 - "unknown field \\"{k8s_fields.decoded(path)}\\""' for path in found] \
            if validation == "Warn" else []

    def _crd(self, group: str, version: str, plural: str) -> dict[str, Any] | None:
        """The CustomResourceDefinition that serves these resources (None for a built-in kind)."""
        if not self._custom(group, version, plural):
            return None
        return next(c for (g, p, _, _), c in self.store.items() if p == "customresourcedefinitions"
                    and c["spec"]["group"] == group and c["spec"]["names"]["plural"] == plural)

    def _custom(self, group: str, version: str, plural: str) -> bool:
        """Served for a CRD (no Go type: no strategic merge, lists kept as sent)."""
        return any(resource(group, version, plural) in served for served in self.custom.values())

    def _bound_role(self, binding: dict[str, Any], namespace: str | None) -> None:
        """RBAC's escalation check, for a user who may not bind roles (no bind verb, not system:masters): the role a
        binding refers to must exist, for its rules to be compared with the user's (who here holds them all). A
        dry run too; the API server answers with the role's NotFound (GetRoleReferenceRules' error, unwrapped)."""
        ref = binding.get("roleRef") or {}
        plural = "roles" if ref.get("kind") == "Role" else "clusterroles"
        if ("rbac.authorization.k8s.io/v1", plural, namespace if plural == "roles" else None,
                str(ref.get("name"))) not in self.store:
            raise not_found(plural, "rbac.authorization.k8s.io", str(ref.get("name")))

    def _stored_version(self, group: str, plural: str, requested: str) -> str:
        """Where the store keeps a resource served in several versions (autoscaling/v1 and v2): under one, the
        highest (GA over beta over alpha), as the API server keeps one storage version; every version's requests
        read and write that object, each seeing it in its own version (the fields are not converted)."""
        versions = [str(k.version) for k in self.resources if k.group == group and k.plural == plural]
        return f"{group}/{max(versions, key=_version_order)}".lstrip("/") if len(versions) > 1 else requested

    def _get(self, key: Key) -> dict[str, Any]:
        if key not in self.store:
            raise not_found(key[1], key[0].rpartition("/")[0], key[3])
        return self.store[key]

    # --- the registry: what happens to an object between the request and the store ---

    def _admit(self, key: Key, old: dict[str, Any] | None, new: dict[str, Any], info: Any, group: str, *,
               subresource: str | None, manager: str, owned: Any) -> dict[str, Any]:
        gv, plural, namespace, name = key
        obj = copy.deepcopy(new) if self._custom(group, gv.split("/")[-1], plural) else _omit_empty_lists(new)
        obj["apiVersion"], obj["kind"] = gv, info.kind
        meta = obj.setdefault("metadata", {})
        meta.update(name=name, **({"namespace": namespace} if namespace else {}))
        meta.pop("managedFields", None)
        meta["uid"] = old["metadata"]["uid"] if old else str(uuid.uuid4())
        meta["creationTimestamp"] = old["metadata"]["creationTimestamp"] if old else now()
        if "status" in info.subresources and subresource is None:  # status is written through /status only
            obj.pop("status", None)
            if old and "status" in old:
                obj["status"] = old["status"]
        if isinstance(obj.get("stringData"), dict):
            obj.setdefault("data", {}).update(
                {k: base64.b64encode(str(v).encode()).decode() for k, v in obj.pop("stringData").items()})
        k8s_validation.set_defaults(obj, info.kind)
        if info.kind == "Service":
            taken = {s["spec"].get("clusterIP") for (_, p, _, _), s in self.store.items() if p == "services"}
            k8s_validation.allocate_cluster_ip(obj, old, taken)
        errors = k8s_validation.validate(obj, old, info.kind)
        crd = self._crd(group, gv.split("/")[-1], plural)
        if crd is not None and not crd["spec"].get("preserveUnknownFields"):
            errors += k8s_crd_values.errors(obj, _structural(crd, gv.split("/")[-1]))
        if errors:
            raise invalid(info.kind, group, name, errors)
        changed = old is None or {k: v for k, v in old.items() if k not in ("metadata", "status")} != \
            {k: v for k, v in obj.items() if k not in ("metadata", "status")}
        meta["generation"] = 1 if old is None else old["metadata"].get("generation", 1) + (1 if changed else 0)
        kind_schema = schema(group, info.kind)
        if owned is None:
            owned = k8s_apply.owners(old) if subresource else k8s_apply.record_update(old, obj, manager, kind_schema)
        meta["managedFields"] = k8s_apply.managed_fields(owned, gv, now())
        meta["resourceVersion"] = old["metadata"]["resourceVersion"] if old else ""
        return obj

    async def _commit(self, key: Key, obj: dict[str, Any] | None) -> None:
        """Store (or delete, for None) and tell the watchers; an unchanged object is not written again."""
        old = self.store.get(key)
        if obj is None:
            if old is not None:
                del self.store[key]
                await self._notify("DELETED", key, old)
            return
        if old is not None and _comparable(old) == _comparable(obj):
            return
        obj["metadata"]["resourceVersion"] = str(next(self.revision))
        self.store[key] = obj
        await self._notify("ADDED" if old is None else "MODIFIED", key, obj)

    async def _reconcile(self, key: Key) -> None:
        for child_key, child in k8s_controllers.reconcile(self.store, self.broken, key):
            if child is not None and child_key in self.store:
                child["metadata"]["resourceVersion"] = self.store[child_key]["metadata"]["resourceVersion"]
            await self._commit(child_key, child)
        crd = self.store.get(key)
        if crd is not None and crd.get("kind") == "CustomResourceDefinition":
            self._serve_custom(crd)

    def _serve_custom(self, crd: dict[str, Any]) -> None:
        """An Established CRD's resources join discovery (and so Helm's REST mapping)."""
        for served in self.custom.pop(crd["metadata"]["name"], []):
            del self.resources[served]
        spec = crd["spec"]
        names = crd["status"]["acceptedNames"]
        info = ResourceInfo(namespaced=spec["scope"] == "Namespaced", kind=names["kind"], singular=names["singular"],
                            verbs=set(VERBS), shortnames=set(names.get("shortNames") or []),
                            categories=set(names.get("categories") or []))
        for version in spec["versions"]:
            if version.get("served", True):
                served = resource(spec["group"], version["name"], names["plural"])
                subresources = {"status"} if (version.get("subresources") or {}).get("status") is not None else set()
                self.resources[served] = attrs.evolve(info, subresources=subresources)
                self.custom.setdefault(crd["metadata"]["name"], []).append(served)

    async def _delete(self, key: Key, *, orphan: bool = False) -> None:
        """Delete with what garbage collection does: owned objects go too (or are orphaned)."""
        obj = self.store.get(key)
        if obj is None:
            return
        await self._commit(key, None)
        uid = obj["metadata"]["uid"]
        for other_key, other in list(self.store.items()):
            refs = other["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == uid for r in refs):
                if orphan:
                    other = copy.deepcopy(other)
                    other["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    await self._commit(other_key, other)
                else:
                    await self._delete(other_key)
        if obj["kind"] == "Namespace":
            for other_key in [k for k in self.store if k[2] == key[3]]:
                await self._delete(other_key)
        if obj["kind"] == "CustomResourceDefinition":
            group, plural = obj["spec"]["group"], obj["spec"]["names"]["plural"]
            for other_key in [k for k in self.store if k[0].split("/")[0] == group and k[1] == plural]:
                await self._delete(other_key)
            for served in self.custom.pop(obj["metadata"]["name"], []):
                del self.resources[served]

    # --- watches ---

    async def _notify(self, kind: str, key: Key, obj: dict[str, Any]) -> None:
        for (stored, plural, namespace, name), selector, queue, version in list(self.watchers):
            if (stored, plural) == key[:2] and (namespace is None or namespace == key[2]) and name in ("", key[3]) \
                    and _selected(obj, selector.get("labelSelector", "")) \
                    and _field_selected(obj, selector.get("fieldSelector", "")):
                queue.put_nowait({"type": kind, "object": _in_version(obj, version)})

    async def _watch(self, raw: aiohttp.web.BaseRequest, versions: tuple[str, str], plural: str,
                     namespace: str | None, name: str | None, info: Any) -> aiohttp.web.StreamResponse:
        """Events of the objects a watch selects, in the version it asked for (`versions`: that, and the stored)."""
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        query = dict(raw.query)
        gv, stored = versions
        watcher = ((stored, plural, namespace, name or ""), query, queue, gv)
        self.watchers.append(watcher)
        try:
            if query.get("sendInitialEvents") == "true":
                for (g, p, ns, n), obj in list(self.store.items()):
                    if (g, p) == (stored, plural) and (namespace is None or ns == namespace) and name in (None, n) \
                            and _selected(obj, query.get("labelSelector", "")) \
                            and _field_selected(obj, query.get("fieldSelector", "")):
                        await response.write(json.dumps({"type": "ADDED", "object": _in_version(obj, gv)}).encode()
                                             + b"\n")
                bookmark = {"kind": info.kind, "apiVersion": gv, "metadata": {
                    "resourceVersion": str(next(self.revision)),
                    "annotations": {"k8s.io/initial-events-end": "true"}}}
                await response.write(json.dumps({"type": "BOOKMARK", "object": bookmark}).encode() + b"\n")
            deadline = asyncio.get_running_loop().time() + float(query.get("timeoutSeconds", "300"))
            while asyncio.get_running_loop().time() < deadline:
                if raw.transport is None or raw.transport.is_closing():
                    break  # the client went away (a Helm process that ended): stop feeding its queue
                try:
                    event = await asyncio.wait_for(queue.get(), 1.0)
                except TimeoutError:
                    continue
                await response.write(json.dumps(event).encode() + b"\n")
        except (TimeoutError, ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.watchers.remove(watcher)
        return response


def _in_version(obj: dict[str, Any], version: str) -> dict[str, Any]:
    """The object as a request in `version` (group/version) sees it."""
    return obj if obj.get("apiVersion") == version else {**obj, "apiVersion": version}


def _version_order(version: str) -> tuple[int, int, int]:
    """Kubernetes' version priority: v2 > v1 > v1beta2 > v1beta1 > v1alpha1."""
    found = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if found is None:
        return (-1, 0, 0)
    return ({"alpha": 0, "beta": 1}.get(found[2] or "", 2), int(found[1]), int(found[3] or 0))


def _structural(crd: dict[str, Any], version: str) -> dict[str, Any]:
    """The structural schema a CRD gives one of its versions."""
    served = [v for v in crd.get("spec", {}).get("versions", []) if v["name"] == version]
    return ((served[0].get("schema") or {}).get("openAPIV3Schema") or {}) if served else {}


def _omit_empty_lists(value: Any) -> Any:
    """A copy without empty lists: Go's omitempty, so a built-in type never stores `env: []`."""
    if isinstance(value, dict):
        return {k: _omit_empty_lists(v) for k, v in value.items() if v != []}
    if isinstance(value, list):
        return [_omit_empty_lists(v) for v in value]
    return value


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without what every write renews (resourceVersion, managedFields times)."""
    managed = [{k: v for k, v in e.items() if k != "time"} for e in obj["metadata"].get("managedFields") or []]
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": "", "managedFields": managed}}


async def _read_body(raw: aiohttp.web.BaseRequest) -> bytes:
    """The body, refused past the API server's 3 MiB (read in full, so the client sees the answer)."""
    chunks, size = [], 0
    async for chunk in raw.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size <= MAX_BODY:
            chunks.append(chunk)
    if size > MAX_BODY:
        raise too_large(MAX_BODY)
    return b"".join(chunks)


class GoYAML(yaml.SafeLoader):
    """YAML as the API server's decoder reads it (sigs.k8s.io/yaml, go-yaml v2): `y`/`n`/`on`/`off` are booleans,
    `1e3` a number, `12:30`, `=` and timestamps strings (PyYAML's YAML 1.1 makes 750, a constructor error and dates)."""

    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {}


for _tag, _pattern, _first in (
        ("bool", r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
         "yYnNtTfFoO"),
        ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("int", r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+|0o?[0-7_]+|0b[01_]+)$", "-+0123456789"),
        ("float", (r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                  r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), "-+.0123456789")):
    GoYAML.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))
GoYAML.add_constructor("tag:yaml.org,2002:bool", lambda loader, node: node.value in (
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"))


def _decode(body: bytes, content_type: str) -> Any:
    """An object (a list of operations for a JSON patch); what does not parse is 400."""
    if not body:
        return {}
    try:
        if "protobuf" in content_type:
            return decode_protobuf(body)
        data = yaml.load(body, Loader=GoYAML) if "yaml" in content_type else json.loads(body)
    except (ValueError, yaml.YAMLError) as error:
        raise bad_request(f"error decoding request body: {error}") from None
    if not isinstance(data, list if content_type == "application/json-patch+json" else dict):
        raise bad_request("the body of the request was not an object")
    return data


def _refuse_types(obj: dict[str, Any], kind_schema: Any, path: str, kind: str, gv: str, namespace: str | None = None,
                  name: str | None = None, patch: dict[str, Any] | None = None) -> None:
    """A value its Go type cannot hold, refused as each request path of the API server words it."""
    found = next(mismatches(obj, kind_schema), None)
    if found is None:
        return
    if path == "create":
        raise bad_request(f'{kind} in version "{gv.split("/")[-1]}" cannot be handled as a {kind}: '
                          f"{found.decode_error()}")
    if path == "apply":
        raise unclassified(f"failed to create typed patch object ({namespace or ''}/{name}; "
                           f"{gv}, Kind={kind}): {found.apply_error()}")
    shown = go_plain(patch) if path == "strategic" else json.dumps(obj, separators=(",", ":"))
    detail = f"unrecognized type: {found.expected.go}" if path == "strategic" else found.decode_error()
    raise ApiError(422, "Invalid", f' "" is invalid: patch: Invalid value: "{shown}": {detail}',
                   {"causes": [{"reason": "FieldValueInvalid", "message": f'Invalid value: "{shown}": {detail}',
                                "field": "patch"}]})


def _selected(obj: dict[str, Any], selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _field_selected(obj: dict[str, Any], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        k, v = term.replace("==", "=").split("=", 1)
        current: Any = obj
        for part in k.split("."):
            current = current.get(part, {}) if isinstance(current, dict) else {}
        if str(current) != v:
            return False
    return True


def _self_signed(directory: Path) -> tuple[bytes, ssl.SSLContext]:
    """A certificate for 127.0.0.1 that is its own CA (PEM), and the server's TLS context with it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes-emulator")])
    today = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(today - datetime.timedelta(days=1)).not_valid_after(today + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    (directory / "tls.crt").write_bytes(pem)
    (directory / "tls.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "tls.crt", directory / "tls.key")
    return pem, context


class RunningEmulator:
    """The emulator served over HTTPS on 127.0.0.1 from a background thread; a kubeconfig that points at it.

    HTTPS because client-go sends a kubeconfig's token only over TLS (clientcmd sets credentials for TLS
    connections alone): over http:// every client is anonymous and no token could be checked.
    """

    def __init__(self) -> None:
        self.emulator: HelmReadyEmulator | None = None
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self.url = ""
        self.token = f"emulator-{uuid.uuid4().hex}"  # what kubeconfig() carries
        self._files = tempfile.TemporaryDirectory(prefix="k8s-emulator-")
        self.ca, self._tls = _self_signed(Path(self._files.name))  # the cluster's CA certificate, PEM
        self.ca_file = str(Path(self._files.name) / "tls.crt")
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with HelmReadyEmulator() as emulator:
            emulator.tokens.add(self.token)
            runner = aiohttp.web.ServerRunner(aiohttp.web.Server(emulator), handle_signals=False)
            await runner.setup()
            site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self._tls)
            await site.start()
            self.emulator = emulator
            self.url = f"https://127.0.0.1:{runner.addresses[0][1]}"
            self._started.set()
            await self._stop.wait()
            await runner.cleanup()

    def start(self) -> RunningEmulator:
        self._thread.start()
        if not self._started.wait(30):
            raise RuntimeError("the Kubernetes emulator did not start")
        for name in SYSTEM_NAMESPACES:
            self.create_namespace(name)
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._files.cleanup()

    @property
    def ca_base64(self) -> str:
        """The CA as CI secrets carry it (<PREFIX>_KUBERNETES_CERTIFICATE, kube_certificate)."""
        return base64.b64encode(self.ca).decode()

    @property
    def store(self) -> dict[Key, dict[str, Any]]:
        assert self.emulator is not None
        return self.emulator.store

    def accept_token(self, token: str, *, read_only: bool = False, binds: bool = True) -> str:
        """A bearer token the API server knows from now on (a CI secret a test passes as <PREFIX>_KUBERNETES_TOKEN);
        `read_only`: RBAC lets it get, list and watch, and refuses every write (403), dry runs included; not
        `binds`: it may write everything but bind roles (a namespace's admin): a binding of a role that does not exist
        is refused (404, the role's NotFound). The cluster's default ClusterRoles (view, edit) are not there."""
        assert self.emulator is not None
        self.emulator.tokens.add(token)
        if read_only:
            self.emulator.readers.add(token)
        if not binds:
            self.emulator.non_binders.add(token)
        return token

    def ci_env(self, prefix: str, token: str) -> dict[str, str]:
        """A CI's credentials for this cluster: <PREFIX>_API_SERVER, _KUBERNETES_TOKEN (accepted), _CERTIFICATE."""
        return {f"{prefix}_API_SERVER": self.url, f"{prefix}_KUBERNETES_TOKEN": self.accept_token(token),
                f"{prefix}_KUBERNETES_CERTIFICATE": self.ca_base64}

    def create_namespace(self, name: str) -> None:
        """What the platform team does once per environment; writes into namespaces that do not exist fail."""
        self.store[("v1", "namespaces", None, name)] = {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": str(uuid.uuid4()), "resourceVersion": "1"},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}

    def break_image(self, image: str) -> None:
        """Pods running `image` never become ready (a crash-looping release); nor does what owns them."""
        assert self.emulator is not None
        self.emulator.broken.add(image)

    def forbid_delete(self, key: Key, forbidden: bool = True) -> None:
        """RBAC refuses to delete this object from now on (403 Forbidden, naming it, as an API server does); with
        `forbidden` False, allows it again."""
        assert self.emulator is not None
        (self.emulator.undeletable.add if forbidden else self.emulator.undeletable.discard)(key)

    def delete(self, key: Key, *, orphan: bool = False) -> None:
        """What `kubectl delete` does (with --cascade=orphan: what the object owns stays)."""
        assert self.emulator is not None
        asyncio.run_coroutine_threadsafe(self.emulator._delete(key, orphan=orphan), self.loop).result(30)

    def kubeconfig(self, *contexts: str, token: str | None = None) -> str:
        """A kubeconfig with these contexts, all on the emulator; no current context (nothing may rely on it)."""
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url,
                                                          "certificate-authority-data": self.ca_base64}}],
            "users": [{"name": "emulator", "user": {"token": token or self.token}}],
            "contexts": [{"name": c, "context": {"cluster": "emulator", "user": "emulator"}} for c in contexts],
        })
