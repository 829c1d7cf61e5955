"""A protobuf wire-format reader: enough of Secret, ConfigMap and ObjectMeta for Helm's release storage.

Helm stores releases as Secrets and sends them as application/vnd.kubernetes.protobuf (the 'k8s\\0' envelope
around a runtime.Unknown); the emulator stores JSON.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any


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
