"""A Kubernetes API on 127.0.0.1 that Helm's own release code can talk to (tests only).

kmock 0.8's KubernetesEmulator (by the author of Kopf) serves discovery from a bundled K3s resource
list; this subclass fills the gaps Helm v4 runs into, as found with helm_python 0.2.2 (Helm v4.2.3):

- the core group's groupVersion is served as "/v1": Helm then cannot map kind ServiceAccount;
- Helm validates with fieldValidation=Strict after fetching /openapi/v3 (then /openapi/v2);
- release storage sends Secret bodies as application/vnd.kubernetes.protobuf: decoded here;
- PUT (replace), server-side apply (PATCH application/apply-patch+yaml), merge patches;
- lists honour equality labelSelectors and carry a typed kind (SecretList), or Helm sees no releases;
- writes into a namespace that does not exist fail with 404, as on a real API server;
- watches: JSON lines, sendInitialEvents=true answered with a BOOKMARK annotated
  k8s.io/initial-events-end, and Deployments marked ready at once, as their controller would, unless
  their image is in `broken` (how a wait that times out, and the rollback after it, are tested).

Objects live in one dict; the server runs on its own event loop in a thread, so tests and `invoke`
subprocesses reach it alike. Pinned with kmock==0.8: it touches kmock internals.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import aiohttp.web
import attrs
import yaml
from kmock import KubernetesEmulator, Server
from kmock._internal.parsing import parse_path

Key = tuple[str, str, str | None, str]  # (apiVersion-ish "group/version", plural, namespace, name)


# --- a protobuf wire-format reader: enough of Secret, ConfigMap and ObjectMeta -------------------

def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            length, i = _varint(data, i)
            value, i = data[i:i + length], i + length
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"protobuf wire type {wire} not supported")
        yield number, wire, value


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


def _map_entry(data: bytes) -> tuple[str, bytes]:
    parts = {number: value for number, _, value in _fields(data)}
    return parts.get(1, b"").decode(), parts.get(2, b"")


def _object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    names = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    for number, _, value in _fields(data):
        if number in names:
            meta[names[number]] = value.decode()
        elif number in (11, 12):
            k, v = _map_entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[k] = v.decode()
        elif number == 14:
            meta.setdefault("finalizers", []).append(value.decode())
    return meta


def decode_protobuf(body: bytes) -> dict[str, Any]:
    """A Secret or ConfigMap from Kubernetes' protobuf envelope ('k8s\\0' + runtime.Unknown)."""
    if not body.startswith(b"k8s\x00"):
        raise ValueError("not a Kubernetes protobuf body")
    envelope = {number: value for number, _, value in _fields(body[4:])}
    type_meta = {number: value.decode() for number, _, value in _fields(envelope.get(1, b""))}
    api_version, kind = type_meta.get(1, "v1"), type_meta.get(2, "")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    for number, wire, value in _fields(envelope.get(2, b"")):
        if number == 1:
            obj["metadata"] = _object_meta(value)
        elif kind == "Secret" and number in (2, 4):
            k, v = _map_entry(value)
            field = "data" if number == 2 else "stringData"
            obj.setdefault(field, {})[k] = base64.b64encode(v).decode() if number == 2 else v.decode()
        elif kind == "Secret" and number == 3:
            obj["type"] = value.decode()
        elif kind == "ConfigMap" and number in (2, 3):
            k, v = _map_entry(value)
            field = "data" if number == 2 else "binaryData"
            obj.setdefault(field, {})[k] = v.decode() if number == 2 else base64.b64encode(v).decode()
        elif number == 5 and wire == 0 and kind == "Secret" or number == 4 and wire == 0 and kind == "ConfigMap":
            obj["immutable"] = bool(value)
    return obj


# --- the emulator -------------------------------------------------------------------------------



class HelmReadyEmulator(KubernetesEmulator):
    """KubernetesEmulator plus what Helm v4 needs; see the module docstring."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources.load_bundled()
        self.store: dict[Key, dict[str, Any]] = {}
        self.broken: set[str] = set()  # images whose pods never get ready; all others are, at once
        self.revision = itertools.count(1)
        self.watchers: list[tuple[Key, dict[str, str], asyncio.Queue[dict[str, Any]]]] = []
        self.log: list[str] = []

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """Objects are served here (kmock's request parsing cannot take protobuf bodies); discovery by kmock."""
        self.log.append(f"{raw.method} {raw.path_qs}")
        if raw.path.startswith("/openapi/v3"):
            return aiohttp.web.json_response(self._openapi(raw.path.removeprefix("/openapi/v3").strip("/")))
        path = parse_path(raw.path)
        if path.group == "" and path.plural is None and path.namespace:  # /api/v1/namespaces/NAME itself
            path = attrs.evolve(path, plural="namespaces", name=path.namespace, namespace=None)
        if path.group is None or path.plural is None:
            return await super().__call__(raw)
        try:
            return await self._serve(raw, path)
        except _Status as status:
            return aiohttp.web.json_response(status.body, status=status.body["code"])

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

    # --- CRUD ---

    def _info(self, k8s: Any) -> Any:
        for key in self.resources:
            if (key.group, key.version, key.plural) == (k8s.group, k8s.version, k8s.plural):
                return self.resources[key]
        raise _Status(404, "NotFound", f"the server could not find the requested resource ({k8s.plural})")

    async def _serve(self, raw: aiohttp.web.BaseRequest, k8s: Any) -> aiohttp.web.StreamResponse:
        gv = f"{k8s.group}/{k8s.version}".lstrip("/")
        info = self._info(k8s)
        namespace = k8s.namespace if info.namespaced else None
        name, method = k8s.name, raw.method
        if k8s.subresource == "status" and name is None:
            raise _Status(404, "NotFound", "no such subresource")
        if method == "GET" and raw.query.get("watch") in ("true", "1"):
            return await self._watch(raw, gv, k8s.plural, namespace, name, info)
        if method == "GET" and name is None:
            items = [o for (g, p, ns, _), o in sorted(self.store.items(), key=lambda kv: str(kv[0]))
                     if (g, p) == (gv, k8s.plural) and (namespace is None or ns == namespace)
                     and _selected(o, raw.query.get("labelSelector", ""))]
            return aiohttp.web.json_response({
                "apiVersion": gv, "kind": f"{info.kind}List",
                "metadata": {"resourceVersion": str(self._now_revision())}, "items": items})
        key: Key = (gv, k8s.plural, namespace, name or "")
        if method == "GET":
            return aiohttp.web.json_response(self._get(key, info))
        if method == "DELETE":
            obj = self._get(key, info)
            del self.store[key]
            await self._notify("DELETED", key, obj)
            return aiohttp.web.json_response(obj)
        if namespace and ("v1", "namespaces", None, namespace) not in self.store:
            raise _Status(404, "NotFound", f'namespaces "{namespace}" not found')  # as a real API server says
        body = await raw.read()
        data = _decode(body, raw.headers.get("Content-Type", ""))
        dry_run = "dryRun" in raw.query
        if method == "POST":
            key = (gv, k8s.plural, namespace, data.get("metadata", {}).get("name", ""))
            if key in self.store:
                raise _Status(409, "AlreadyExists", f'{k8s.plural} "{key[3]}" already exists')
            return self._reply(await self._write(key, data, info, created=True, dry_run=dry_run), 201)
        if method == "PUT":
            self._get(key, info)
            return self._reply(await self._write(key, data, info, created=False, dry_run=dry_run), 200)
        if method == "PATCH":
            kind = raw.headers.get("Content-Type", "")
            existing = self.store.get(key)
            if existing is None and "apply-patch" not in kind:
                self._get(key, info)
            if "apply-patch" in kind or existing is None:
                merged = data
            elif "json-patch" in kind:
                raise _Status(415, "UnsupportedMediaType", "json-patch is not emulated")
            else:
                merged = _merge(copy.deepcopy(existing), data)
            if k8s.subresource == "status" and existing is not None:
                merged = {**existing, "status": data.get("status", existing.get("status"))}
            status = 201 if existing is None else 200
            return self._reply(await self._write(key, merged, info, created=existing is None, dry_run=dry_run), status)
        raise _Status(405, "MethodNotAllowed", f"{method} is not emulated")

    def _get(self, key: Key, info: Any) -> dict[str, Any]:
        if key not in self.store:
            raise _Status(404, "NotFound", f'{key[1]} "{key[3]}" not found')
        return self.store[key]

    def _now_revision(self) -> int:
        return next(self.revision)

    def _reply(self, obj: dict[str, Any], status: int) -> aiohttp.web.StreamResponse:
        return aiohttp.web.json_response(obj, status=status)

    async def _write(self, key: Key, data: dict[str, Any], info: Any, *, created: bool, dry_run: bool) -> dict[str, Any]:
        gv, _, namespace, name = key
        old = self.store.get(key)
        obj = copy.deepcopy(data)
        obj.setdefault("apiVersion", gv)
        obj.setdefault("kind", info.kind)
        meta = obj.setdefault("metadata", {})
        meta.update(name=name, **({"namespace": namespace} if namespace else {}))
        meta.pop("managedFields", None)
        meta["uid"] = old["metadata"]["uid"] if old else str(uuid.uuid4())
        meta["creationTimestamp"] = old["metadata"]["creationTimestamp"] if old else _timestamp()
        spec_changed = old is None or old.get("spec") != obj.get("spec")
        meta["generation"] = (old["metadata"].get("generation", 1) + (1 if spec_changed else 0)) if old else 1
        meta["resourceVersion"] = str(self._now_revision())
        if "stringData" in obj:
            obj.setdefault("data", {}).update(
                {k: base64.b64encode(v.encode()).decode() for k, v in obj.pop("stringData").items()})
        if obj.get("kind") == "Deployment":
            obj["status"] = self._deployment_status(obj, old)
        if dry_run:
            return obj
        self.store[key] = obj
        await self._notify("ADDED" if created else "MODIFIED", key, obj)
        return obj

    def _deployment_status(self, obj: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        replicas = obj.get("spec", {}).get("replicas", 1)
        containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        if any(c.get("image") in self.broken for c in containers):
            return {"observedGeneration": obj["metadata"]["generation"], "replicas": replicas,
                    "updatedReplicas": replicas, "readyReplicas": 0, "availableReplicas": 0,
                    "unavailableReplicas": replicas,
                    "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
                                   {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}]}
        return {"observedGeneration": obj["metadata"]["generation"], "replicas": replicas,
                "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                               {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}

    # --- watches ---

    async def _notify(self, kind: str, key: Key, obj: dict[str, Any]) -> None:
        for (gv, plural, namespace, name), selector, queue in list(self.watchers):
            if (gv, plural) == key[:2] and (namespace is None or namespace == key[2]) and name in ("", key[3]) \
                    and _selected(obj, selector.get("labelSelector", "")) \
                    and _field_selected(obj, selector.get("fieldSelector", "")):
                queue.put_nowait({"type": kind, "object": obj})

    async def _watch(self, raw: aiohttp.web.BaseRequest, gv: str, plural: str, namespace: str | None,
                     name: str | None, info: Any) -> aiohttp.web.StreamResponse:
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        query = dict(raw.query)
        watcher = ((gv, plural, namespace, name or ""), query, queue)
        self.watchers.append(watcher)
        try:
            if query.get("sendInitialEvents") == "true":
                for (g, p, ns, n), obj in list(self.store.items()):
                    if (g, p) == (gv, plural) and (namespace is None or ns == namespace) and name in (None, n) \
                            and _selected(obj, query.get("labelSelector", "")) \
                            and _field_selected(obj, query.get("fieldSelector", "")):
                        await response.write(json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n")
                bookmark = {"kind": info.kind, "apiVersion": gv, "metadata": {
                    "resourceVersion": str(self._now_revision()),
                    "annotations": {"k8s.io/initial-events-end": "true"}}}
                await response.write(json.dumps({"type": "BOOKMARK", "object": bookmark}).encode() + b"\n")
            timeout = float(query.get("timeoutSeconds", "300"))
            while True:
                event = await asyncio.wait_for(queue.get(), timeout)
                await response.write(json.dumps(event).encode() + b"\n")
        except (TimeoutError, ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.watchers.remove(watcher)
        return response


class _Status(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.body: dict[str, Any] = {"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                     "message": message, "reason": reason, "code": code}


def _decode(body: bytes, content_type: str) -> dict[str, Any]:
    if not body:
        return {}
    if "protobuf" in content_type:
        return decode_protobuf(body)
    if "yaml" in content_type:
        return yaml.safe_load(body) or {}
    return json.loads(body)


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7386); strategic merge patches are treated the same, which Helm's use allows."""
    for k, v in patch.items():
        if v is None:
            base.pop(k, None)
        elif isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = _merge(base[k], v)
        else:
            base[k] = v
    return base


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


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RunningEmulator:
    """The emulator served on 127.0.0.1 from a background thread; a kubeconfig that points at it."""

    def __init__(self) -> None:
        self.emulator: HelmReadyEmulator | None = None
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self.url = ""
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with HelmReadyEmulator() as emulator, Server(emulator, host="127.0.0.1") as server:
            self.emulator = emulator
            self.url = f"http://127.0.0.1:{server.port}"
            self._started.set()
            await self._stop.wait()

    def start(self) -> RunningEmulator:
        self._thread.start()
        if not self._started.wait(30):
            raise RuntimeError("the Kubernetes emulator did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def store(self) -> dict[Key, dict[str, Any]]:
        assert self.emulator is not None
        return self.emulator.store

    def create_namespace(self, name: str) -> None:
        """What the platform team does once per environment; writes into namespaces that do not exist fail."""
        self.store[("v1", "namespaces", None, name)] = {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "resourceVersion": "1"}}

    def break_image(self, image: str) -> None:
        """Deployments running `image` never become ready (a crash-looping release)."""
        assert self.emulator is not None
        self.emulator.broken.add(image)

    def kubeconfig(self, *contexts: str) -> str:
        """A kubeconfig with these contexts, all on the emulator; no current context (nothing may rely on it)."""
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {}}],
            "contexts": [{"name": c, "context": {"cluster": "emulator", "user": "emulator"}} for c in contexts],
        })
