"""Patches as the API server applies them: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge.

Strategic merge follows k8s.io/apimachinery/pkg/util/strategicpatch (patch.go, StrategicMergeMapPatch): lists
with a patchMergeKey merge item by item, the others are replaced; the directives of Helm's and kubectl's
three-way patches are honoured and never stored: `$patch: replace|delete` (on a map or a list item),
`$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.support.k8s_schema import Field
from tests.support.k8s_status import ApiError, bad_request, go_plain, unclassified

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder/"
DELETE_FROM = "$deleteFromPrimitiveList/"


def json_merge(original: Any, patch: Any) -> Any:
    """RFC 7386: maps merge, null deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge(result.get(key), value)
    return result


def json_patch(original: dict[str, Any], operations: Any) -> dict[str, Any]:
    """RFC 6902: add, remove, replace, move, copy, test at JSON pointers; any failure refuses the whole patch."""
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    document = copy.deepcopy(original)
    for operation in operations:
        op, path = operation.get("op"), operation.get("path", "")
        if op in ("move", "copy"):
            value = _pointer(document, operation.get("from", ""), remove=op == "move")[1]
            document = _put(document, path, copy.deepcopy(value), insert=True)
        elif op == "remove":
            _pointer(document, path, remove=True)
        elif op == "test":
            if _pointer(document, path)[1] != operation.get("value"):
                raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                               f"testing value {path} failed")
        elif op in ("add", "replace"):
            if op == "replace":
                _pointer(document, path)
            document = _put(document, path, copy.deepcopy(operation.get("value")), insert=op == "add")
        else:
            raise bad_request(f"Unexpected kind: {op}")
    return document


def _split(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def _pointer(document: Any, path: str, remove: bool = False) -> tuple[Any, Any]:
    """(container, value) at a JSON pointer; missing is 422 as the API server answers a failed patch."""
    parts, container = _split(path), None
    value = document
    for part in parts:
        container = value
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                           f"doc is missing path: \"{path}\"")
    if remove and container is not None:
        del container[parts[-1] if isinstance(container, dict) else int(parts[-1])]
    return container, value


def _put(document: Any, path: str, value: Any, insert: bool) -> Any:
    parts = _split(path)
    if not parts:
        return value
    parent = _pointer(document, "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts[:-1]))[1]
    last = parts[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if insert:
            parent.insert(index, value)
        else:
            parent[index] = value
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                       f"doc is missing path: \"{path}\"")
    return document


def strategic_merge(original: dict[str, Any], patch: dict[str, Any], schema: Field) -> dict[str, Any]:
    return _merge_map(copy.deepcopy(original), copy.deepcopy(patch), schema)


def _merge_map(original: dict[str, Any], patch: dict[str, Any], schema: Field) -> dict[str, Any]:
    if DIRECTIVE in patch:
        directive = patch.pop(DIRECTIVE)
        if directive == "replace":
            return _clean(patch, schema)
        if directive == "delete":
            return {}
        raise unclassified(f"Unknown patch type: {directive} in map: {go_plain(patch)}")
    if RETAIN_KEYS in patch:
        _retain_keys(original, patch, patch.pop(RETAIN_KEYS))
    for key in [k for k in patch if k.startswith(SET_ORDER)]:
        order, name = patch.pop(key), key.removeprefix(SET_ORDER)
        if not isinstance(order, list):
            raise bad_request("invalid patch: $setElementOrder list must be a list")
        live, change, field = original.get(name), patch.pop(name, None), schema.child(name)
        if live is None and change is None:
            continue
        merged = _clean(change, field) if live is None else live if change is None else _merge_list(live, change, field)
        original[name] = _ordered(merged, order, live or [], field.merge_key)
    for key, value in patch.items():
        if key.startswith(DELETE_FROM):
            name = key.removeprefix(DELETE_FROM)
            if not isinstance(value, list):
                raise bad_request("invalid patch: $deleteFromPrimitiveList must be a list of primitives")
            if isinstance(original.get(name), list):
                original[name] = [item for item in original[name] if item not in value]
            continue
        if value is None:
            original.pop(key, None)
            continue
        live, field = original.get(key), schema.child(key)
        if isinstance(value, dict) and isinstance(live, dict) and not field.atomic:
            original[key] = _merge_map(live, value, field)
        elif isinstance(value, list) and isinstance(live, list) and (field.merge_key or field.scalar_set):
            original[key] = _merge_list(live, value, field)
        else:
            original[key] = _clean(value, field)
    return original


def _retain_keys(original: dict[str, Any], patch: dict[str, Any], keep: Any) -> None:
    """$retainKeys: every key not listed is cleared; a patch may only set listed keys."""
    if not isinstance(keep, list):
        raise bad_request("invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is not None and not key.startswith("$") and key not in keep:
            raise bad_request("invalid patch format of retainKeys")
    for key in [k for k in original if k not in keep]:
        del original[key]


def _merge_list(live: list[Any], patch: list[Any], field: Field) -> list[Any]:
    if not field.merge_key and not field.scalar_set:
        return _clean(patch, field)
    if not field.merge_key:  # a merge list of scalars: union, then the patch's order
        merged = list(dict.fromkeys([*live, *patch]))
        ordered = [x for x in merged if x in patch]
        return _merge_sorted([x for x in merged if x not in patch], ordered, live, "")
    key, plain, replace = field.merge_key, [], False
    live = list(live)
    for item in patch:
        if not isinstance(item, dict):
            raise unclassified(f"value for key {key} is not a map.")
        directive = item.get(DIRECTIVE)
        if directive is None:
            plain.append(item)
        elif directive == "delete":
            if key not in item:
                raise unclassified(f"map: {go_plain(item)} does not contain declared merge key: {key}")
            live = [x for x in live if x.get(key) != item[key]]
        elif directive == "replace":
            replace = True
        else:
            raise unclassified(f"Unknown patch type: {directive} in map: {go_plain(item)}")
    if replace:
        return [_clean(item, field) for item in plain]
    original = list(live)
    for item in plain:
        if key not in item:
            raise unclassified(f"map: {go_plain(item)} does not contain declared merge key: {key}")
        at = next((i for i, x in enumerate(live) if x.get(key) == item[key]), None)
        if at is None:
            live.append(_clean(item, field))
        else:
            live[at] = _merge_map(live[at], item, field)
    wanted = [x[key] for x in plain]
    patched = sorted((x for x in live if x.get(key) in wanted), key=lambda x: wanted.index(x[key]))
    return _merge_sorted([x for x in live if x.get(key) not in wanted], patched, original, key)


def _ordered(merged: list[Any], order: list[Any], live: list[Any], key: str) -> list[Any]:
    """$setElementOrder: the listed items in that order, the server's others placed by their live positions."""
    wanted = [x.get(key) if key and isinstance(x, dict) else x for x in order]
    ident = (lambda x: x.get(key)) if key else (lambda x: x)
    listed = sorted((x for x in merged if ident(x) in wanted), key=lambda x: wanted.index(ident(x)))
    server_only = [x for x in merged if ident(x) not in wanted]
    return _merge_sorted(server_only, listed, live, key)


def _merge_sorted(server_only: list[Any], patched: list[Any], live: list[Any], key: str) -> list[Any]:
    """mergeSortedSlice: interleave server-only items among the patch's, by their positions in the live list."""
    ident = (lambda x: x.get(key) if isinstance(x, dict) else x) if key else (lambda x: x)
    positions = {repr(ident(x)): i for i, x in reversed(list(enumerate(live)))}
    result, i, j = [], 0, 0
    while i < len(server_only) or j < len(patched):
        if j >= len(patched) or i < len(server_only) and _before(server_only[i], patched[j], positions, ident):
            result.append(server_only[i])
            i += 1
        else:
            result.append(patched[j])
            j += 1
    return result


def _before(left: Any, right: Any, positions: dict[str, int], ident: Any) -> bool:
    li, ri = positions.get(repr(ident(left))), positions.get(repr(ident(right)))
    return li is not None and ri is not None and li < ri


def _clean(value: Any, field: Field) -> Any:
    """A value new to the object: its directives are applied to nothing, so none is ever stored."""
    if isinstance(value, dict):
        return _merge_map({}, value, field)
    if isinstance(value, list) and field.merge_key:
        return _merge_list([], value, field)
    if isinstance(value, list):
        return [_clean(item, field) if isinstance(item, dict) else item for item in value]
    return value
