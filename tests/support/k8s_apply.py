"""Server-side apply and field ownership (metadata.managedFields), after structured-merge-diff.

An apply (PATCH application/apply-patch+yaml) states the desired value of the fields it names: they merge
into the live object by the list keys of k8s_schema; fields this manager applied before and names no
more are removed, unless another manager owns them too; fields others own are kept. Without force, a field
another manager owns with a different value is a 409 conflict, as with Helm 4 after `kubectl scale`.
Every other write (create, update, patch) makes its manager own the fields whose values it set.

A field path is a tuple of FieldsV1 elements: `f:spec`, `k:{"name":"web"}` (an item of a keyed list),
`v:"finalizer"` (an item of a set).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.support.k8s_schema import Field, element_label
from tests.support.k8s_status import ApiError

Path = tuple[str, ...]
OWNED_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")


def field_paths(obj: dict[str, Any], schema: Field) -> set[Path]:
    """The fields an object sets; status and identity (name, uid, resourceVersion...) belong to nobody."""
    paths: set[Path] = set()
    for name, value in obj.items():
        if name == "metadata" and isinstance(value, dict):
            for meta in OWNED_METADATA:
                if value.get(meta) is not None:
                    _collect(value[meta], schema.child("metadata").child(meta), ("f:metadata", f"f:{meta}"), paths)
        elif name not in ("apiVersion", "kind", "status") and value is not None:
            _collect(value, schema.child(name), (f"f:{name}",), paths)
    return paths


def _collect(value: Any, field: Field, prefix: Path, out: set[Path]) -> None:
    if isinstance(value, dict) and value and not field.atomic:
        for name, child in value.items():
            if child is not None:
                _collect(child, field.child(name), (*prefix, f"f:{name}"), out)
    elif isinstance(value, list) and value and field.keys and all(isinstance(x, dict) for x in value):
        for item in value:
            element = (*prefix, _element(item, field))
            out.add(element)
            for name, child in item.items():
                if child is not None:
                    _collect(child, field.child(name), (*element, f"f:{name}"), out)
    elif isinstance(value, list) and value and field.scalar_set:
        out.update((*prefix, "v:" + json.dumps(item)) for item in value)
    else:
        out.add(prefix)


def _element(item: dict[str, Any], field: Field) -> str:
    key = {k: item.get(k, field.key_defaults.get(k)) for k in field.keys}
    return "k:" + json.dumps({k: v for k, v in key.items() if v is not None}, sort_keys=True, separators=(",", ":"))


def _find(value: Any, element: str, field: Field) -> tuple[Any, Any]:
    """(container, index or key) of one path element inside `value`, or (None, None)."""
    if element.startswith("f:") and isinstance(value, dict) and element[2:] in value:
        return value, element[2:]
    if element.startswith("k:") and isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict) and _element(item, field) == element:
                return value, index
    if element.startswith("v:") and isinstance(value, list) and json.loads(element[2:]) in value:
        return value, value.index(json.loads(element[2:]))
    return None, None


def lookup(obj: Any, path: Path, schema: Field) -> tuple[bool, Any]:
    value, field = obj, schema
    for element in path:
        container, at = _find(value, element, field)
        if container is None:
            return False, None
        value = container[at]
        field = field.child(element[2:]) if element.startswith("f:") else field
    return True, value


def _remove(obj: dict[str, Any], path: Path, schema: Field) -> None:
    value, field = obj, schema
    for element in path[:-1]:
        container, at = _find(value, element, field)
        if container is None:
            return
        value = container[at]
        field = field.child(element[2:]) if element.startswith("f:") else field
    container, at = _find(value, path[-1], field)
    if container is not None:
        del container[at]


def _merge(live: Any, applied: Any, field: Field) -> Any:
    if isinstance(applied, dict) and isinstance(live, dict) and not field.atomic:
        merged = dict(live)
        for name, value in applied.items():
            if value is not None:
                merged[name] = _merge(live.get(name), value, field.child(name))
        return merged
    if isinstance(applied, list) and isinstance(live, list) and field.keys \
            and all(isinstance(x, dict) for x in [*applied, *live]):
        by_key = {_element(item, field): item for item in live}
        merged_items = [_merge(by_key.get(_element(item, field)), item, field) for item in applied]
        named = {_element(item, field) for item in applied}
        return merged_items + [item for item in live if _element(item, field) not in named]
    if isinstance(applied, list) and isinstance(live, list) and field.scalar_set:
        return live + [item for item in applied if item not in live]
    return copy.deepcopy(applied)


# --- managedFields ------------------------------------------------------------------------------------

def owners(obj: dict[str, Any] | None) -> dict[tuple[str, str], set[Path]]:
    """(manager, operation) -> the paths it owns, read from metadata.managedFields."""
    found: dict[tuple[str, str], set[Path]] = {}
    for entry in (obj or {}).get("metadata", {}).get("managedFields") or []:
        paths: set[Path] = set()
        _unfold(entry.get("fieldsV1") or {}, (), paths)
        found[(entry["manager"], entry["operation"])] = paths
    return found


def _unfold(tree: dict[str, Any], prefix: Path, out: set[Path]) -> None:
    for element, children in tree.items():
        if element == ".":
            out.add(prefix)
        elif children:
            _unfold(children, (*prefix, element), out)
        else:
            out.add((*prefix, element))


def managed_fields(owned: dict[tuple[str, str], set[Path]], api_version: str, now: str) -> list[dict[str, Any]]:
    entries = []
    for (manager, operation), paths in owned.items():
        tree: dict[str, Any] = {}
        for path in sorted(paths):
            node = tree
            for element in path:
                node = node.setdefault(element, {})
            if path[-1].startswith("k:"):
                node["."] = {}
        entries.append({"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
                        "fieldsType": "FieldsV1", "fieldsV1": tree})
    return entries


def apply(live: dict[str, Any] | None, applied: dict[str, Any], manager: str, force: bool,
          schema: Field) -> tuple[dict[str, Any], dict[tuple[str, str], set[Path]]]:
    """The object after `manager` applies `applied`, and who owns what then."""
    owned = owners(live)
    mine = owned.pop((manager, "Apply"), set())
    wanted = field_paths(applied, schema)
    if live is not None:
        clashes = [(who, path) for who, paths in owned.items() for path in sorted(wanted & paths)
                   if not path[-1].startswith(("k:", "v:")) and lookup(live, path, schema)[0]
                   and lookup(live, path, schema) != lookup(applied, path, schema)]
        if clashes and not force:
            raise _conflicts(clashes, live)
        for who, path in clashes:
            owned[who].discard(path)
    others = set().union(*owned.values()) if owned else set()
    result = copy.deepcopy(live or {})
    for path in sorted(mine - wanted, key=len):
        if not any(theirs[:len(path)] == path or path[:len(theirs)] == theirs for theirs in others):
            _remove(result, path, schema)
    result = _merge(result, applied, schema)
    owned = {who: paths for who, paths in owned.items() if paths}
    owned[(manager, "Apply")] = wanted
    return result, owned


def record_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str,
                  schema: Field) -> dict[tuple[str, str], set[Path]]:
    """Ownership after a create, update or patch: the writer owns what it changed, others lose it."""
    owned = owners(old)
    before, after = (field_paths(old, schema) if old else set()), field_paths(new, schema)
    changed = {path for path in after if path not in before or lookup(old, path, schema) != lookup(new, path, schema)}
    for paths in owned.values():
        paths -= changed | (before - after)
    mine = owned.setdefault((manager, "Update"), set())
    mine |= changed
    return {who: paths for who, paths in owned.items() if paths}


def _conflicts(clashes: list[tuple[tuple[str, str], Path]], live: dict[str, Any]) -> ApiError:
    versions = {(e["manager"], e["operation"]): e.get("apiVersion", "") for e in live["metadata"]["managedFields"]}
    by_manager: dict[tuple[str, str], list[str]] = {}
    for who, path in clashes:
        by_manager.setdefault(who, []).append(_readable(path))
    parts = []
    for who, paths in by_manager.items():
        using = f" using {versions.get(who)}" if versions.get(who) else ""
        parts.append(f'conflict with "{who[0]}"{using}: {paths[0]}' if len(paths) == 1 else
                     f'conflicts with "{who[0]}"{using}:\n' + "\n".join(f"- {p}" for p in paths))
    count = len(clashes)
    causes = [{"reason": "FieldManagerConflict", "message": f'conflict with "{who[0]}"', "field": _readable(path)}
              for who, path in clashes]
    return ApiError(409, "Conflict", f"Apply failed with {count} conflict{'s' if count > 1 else ''}: "
                    + "\n".join(parts), {"causes": causes})


def _readable(path: Path) -> str:
    """.spec.template.spec.containers[name="web"].image"""
    text = ""
    for element in path:
        if element.startswith("f:"):
            text += "." + element[2:]
        elif element.startswith("k:"):
            text += element_label(json.loads(element[2:]), Field(list_keys=tuple(json.loads(element[2:]))))
        else:
            text += f"[={element[2:]}]"
    return text
