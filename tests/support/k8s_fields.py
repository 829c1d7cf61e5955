"""Which fields a kind declares, what the API server does with the ones it does not (fieldValidation), and how
Go prints a value of the kind's types (%#v, as validation errors quote a whole PodTemplateSpec).

A built-in kind's fields are those of the Kubernetes Python client's models, which are generated from the API
server's own OpenAPI; a custom resource's are its CRD's structural schema (properties, items,
additionalProperties, x-kubernetes-preserve-unknown-fields, x-kubernetes-embedded-resource). A field neither
declares is unknown: with fieldValidation=Strict (what Helm sends) the request is refused, otherwise the field is
dropped (pruned) before the object is stored, with a warning for Warn, the default.
"""

from __future__ import annotations

from typing import Any

from kubernetes.client import models

from tasks.ui import _go_quoted
from tests.support.k8s_schema import Field, element_label
from tests.support.k8s_status import GoSyntax

Path = tuple[str | int, ...]
ROOT = ("apiVersion", "kind", "metadata")  # every object and embedded resource has them


def unknown(obj: dict[str, Any], version: str, kind: str, crd_schema: dict[str, Any] | None = None) -> list[Path]:
    """The paths of `obj`'s fields its kind does not declare, outermost first (none under an unknown one)."""
    found: list[Path] = []
    if crd_schema is not None:
        _schema_walk(obj, crd_schema, (), found, embedded=True)
    elif hasattr(models, version.capitalize() + kind):
        _model_walk(obj, version.capitalize() + kind, (), found)
    return found


def prune(obj: dict[str, Any], paths: list[Path]) -> None:
    """Drop the unknown fields, as the API server does before storing the object."""
    for path in sorted(paths, key=len, reverse=True):
        parent: Any = obj
        for step in path[:-1]:
            parent = parent[step]
        del parent[path[-1]]


def decoded(path: Path) -> str:
    """spec.template.spec.containers[0].bogus: how the strict JSON decoder names a field."""
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path).lstrip(".")


def typed(obj: dict[str, Any], path: Path, schema: Field) -> str:
    """.spec.template.spec.containers[name="web"].bogus: how structured-merge-diff names it."""
    value: Any = obj
    text, field = "", schema
    for step in path:
        if isinstance(step, int):
            value = value[step]
            text += element_label(value, field) if field.keys and isinstance(value, dict) else f"[{step}]"
            field = field.values or Field("object", fields=field.fields)
        else:
            value, field = value[step], field.child(step)
            text += f".{step}"
    return text


def _model_walk(value: Any, type_name: str, path: Path, found: list[Path]) -> None:
    if type_name.startswith("list[") and isinstance(value, list):
        for index, item in enumerate(value):
            _model_walk(item, type_name[len("list["):-1], (*path, index), found)
    elif type_name.startswith("dict[") and isinstance(value, dict):
        for key, item in value.items():
            _model_walk(item, type_name[len("dict[str, "):-1], (*path, key), found)
    elif isinstance(value, dict) and hasattr(models, type_name):
        model = getattr(models, type_name)
        declared = {name: model.openapi_types[attr] for attr, name in model.attribute_map.items()}
        for key, item in value.items():
            if key in declared:
                _model_walk(item, declared[key], (*path, key), found)
            else:
                found.append((*path, key))


def _schema_walk(value: Any, schema: dict[str, Any], path: Path, found: list[Path], *, embedded: bool) -> None:
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _schema_walk(item, schema["items"], (*path, index), found, embedded=False)
        return
    if not isinstance(value, dict) or not ({"properties", "additionalProperties", "type"} & schema.keys()):
        return  # not an object, or a schema that says nothing of its fields (int-or-string, say)
    properties, additional = schema.get("properties") or {}, schema.get("additionalProperties")
    embedded = embedded or schema.get("x-kubernetes-embedded-resource") is True
    for key, item in value.items():
        if embedded and key in ROOT:  # an object's own metadata is ObjectMeta, whatever the schema says of it
            if key == "metadata":  # (`metadata: {type: object}` is common in CRDs: its name is no unknown field)
                _model_walk(item, "V1ObjectMeta", (*path, key), found)
        elif key in properties:
            _schema_walk(item, properties[key], (*path, key), found, embedded=False)
        elif isinstance(additional, dict):
            _schema_walk(item, additional, (*path, key), found, embedded=False)
        elif additional is not True and schema.get("x-kubernetes-preserve-unknown-fields") is not True:
            found.append((*path, key))


def go_syntax(value: Any, type_name: str) -> GoSyntax:
    """`value` (JSON of the model `type_name`, V1PodTemplateSpec say) as Go's %#v prints the API server's internal
    type: core.PodTemplateSpec{ObjectMeta:v1.ObjectMeta{...}, Spec:core.PodSpec{...}}, strings as strconv.Quote."""
    return GoSyntax(_go(value, type_name))


def _go(value: Any, type_name: str) -> str:
    if isinstance(value, str):
        return f'"{_go_quoted(value)}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if type_name.startswith("list[") and isinstance(value, list):
        inner = type_name[len("list["):-1]
        return f"[]{_go_type(inner)}{{" + ", ".join(_go(item, inner) for item in value) + "}"
    if type_name.startswith("dict[") and isinstance(value, dict):
        inner = type_name[len("dict[str, "):-1]
        return f"map[string]{_go_type(inner)}{{" + ", ".join(
            f'"{_go_quoted(key)}":{_go(item, inner)}' for key, item in sorted(value.items())) + "}"
    if isinstance(value, dict) and hasattr(models, type_name):
        model = getattr(models, type_name)
        declared = {name: model.openapi_types[attr] for attr, name in model.attribute_map.items()}
        fields = ", ".join(f"{'ObjectMeta' if key == 'metadata' else key[0].upper() + key[1:]}:"
                           f"{_go(item, declared.get(key, 'object'))}" for key, item in value.items())
        return f"{_go_type(type_name)}{{{fields}}}"
    return str(value)


def _go_type(type_name: str) -> str:
    if type_name in ("str", "int", "bool", "object"):
        return {"str": "string", "int": "int32", "bool": "bool", "object": "interface {}"}[type_name]
    short = type_name.removeprefix("V1")
    return f"v1.{short}" if short in ("ObjectMeta", "LabelSelector") else f"core.{short}"
