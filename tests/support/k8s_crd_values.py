"""A custom resource's values checked against its CRD's structural schema, as apiextensions-apiserver checks them
(kube-openapi's validate, in the words it uses): type, enum, pattern, required, minimum/maximum, the lengths of
strings and lists, and the keys of `x-kubernetes-list-type: map` lists. A monitoring chart's ServiceMonitor whose
interval a value made "30 seconds" is refused here as on a real cluster. (Formats, CEL rules and defaults are not
checked.)"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.k8s_status import FieldError, required

_TYPES = {"string": str, "boolean": bool, "object": dict, "array": list}


def errors(value: Any, schema: dict[str, Any], path: str = "") -> list[FieldError]:
    """What the schema refuses in `value` (a whole object: its apiVersion, kind and metadata are the server's)."""
    found: list[FieldError] = []
    _walk(value, schema, path, found, top=True)
    return found


def _walk(value: Any, schema: dict[str, Any], path: str, found: list[FieldError], top: bool = False) -> None:
    if value is None:  # allowed where nullable, else dropped before validation (as the API server prunes it)
        return
    if not _typed(value, schema):
        shown = _type_name(value)
        found.append(FieldError("Invalid", path, shown, f"{path} in body must be of type {schema['type']}: "
                                f'"{shown}"'))
        return
    if "enum" in schema and value not in schema["enum"]:
        found.append(FieldError("NotSupported", path, value, "supported values: " +
                                ", ".join(json.dumps(v) for v in schema["enum"])))
    if isinstance(value, str):
        _text(value, schema, path, found)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _number(value, schema, path, found)
    elif isinstance(value, list):
        _items(value, schema, path, found)
    elif isinstance(value, dict):
        properties, additional = schema.get("properties") or {}, schema.get("additionalProperties")
        for name in schema.get("required") or ():
            if value.get(name) is None and not (name in value and (properties.get(name) or {}).get("nullable")):
                found.append(required(f"{path}.{name}".lstrip(".")))
        for key, item in value.items():
            if top and key in ("apiVersion", "kind", "metadata"):
                continue
            below = properties.get(key) or (additional if isinstance(additional, dict) else None)
            if below is not None:
                _walk(item, below, f"{path}.{key}".lstrip("."), found)


def _typed(value: Any, schema: dict[str, Any]) -> bool:
    if schema.get("x-kubernetes-int-or-string") is True:
        return isinstance(value, int | str) and not isinstance(value, bool)
    kind = schema.get("type")
    if kind is None:
        return True
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and value.is_integer()
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES.get(kind, object))


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number" if isinstance(value, float) and not value.is_integer() else "integer"
    return next((name for name, kind in _TYPES.items() if isinstance(value, kind)), "null")


def _text(value: str, schema: dict[str, Any], path: str, found: list[FieldError]) -> None:
    if "pattern" in schema and not _matches(schema["pattern"], value):
        found.append(FieldError("Invalid", path, value, f"{path} in body should match '{schema['pattern']}'"))
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        found.append(FieldError("TooLong", path, value, f"may not be longer than {schema['maxLength']}"))
    if "minLength" in schema and len(value) < schema["minLength"]:
        found.append(FieldError("Invalid", path, value,
                                f"{path} in body should be at least {schema['minLength']} chars long"))


def _matches(pattern: str, value: str) -> bool:
    """Go's RE2 and Python agree on the patterns CRDs use; one Python cannot read is taken as matched."""
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return True


def _number(value: float, schema: dict[str, Any], path: str, found: list[FieldError]) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        found.append(FieldError("Invalid", path, value,
                                f"{path} in body should be greater than or equal to {schema['minimum']}"))
    if "maximum" in schema and value > schema["maximum"]:
        found.append(FieldError("Invalid", path, value,
                                f"{path} in body should be less than or equal to {schema['maximum']}"))


def _items(value: list[Any], schema: dict[str, Any], path: str, found: list[FieldError]) -> None:
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        found.append(FieldError("Invalid", path, len(value),
                                f"{path} in body should have at most {schema['maxItems']} items"))
    if "minItems" in schema and len(value) < schema["minItems"]:
        found.append(FieldError("Invalid", path, len(value),
                                f"{path} in body should have at least {schema['minItems']} items"))
    keys = schema.get("x-kubernetes-list-map-keys") or ()
    seen: set[str] = set()
    for index, item in enumerate(value):
        if isinstance(schema.get("items"), dict):
            _walk(item, schema["items"], f"{path}[{index}]", found)
        if schema.get("x-kubernetes-list-type") == "map" and keys and isinstance(item, dict):
            identity = json.dumps({k: item.get(k) for k in keys}, sort_keys=True)
            if identity in seen:
                found.append(FieldError("Duplicate", f"{path}[{index}]", {k: item.get(k) for k in keys}))
            seen.add(identity)
        elif schema.get("x-kubernetes-list-type") == "set":
            identity = json.dumps(item, sort_keys=True)
            if identity in seen:
                found.append(FieldError("Duplicate", f"{path}[{index}]", item))
            seen.add(identity)
