"""Failures as a Kubernetes API server answers them: a v1 Status body with apimachinery's reasons and wording.

Clients (client-go, so Helm) decide on `reason` and `code` (IsNotFound, IsConflict, IsInvalid...), and people
read `message`: both follow k8s.io/apimachinery/pkg/api/errors and pkg/util/validation/field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class ApiError(Exception):
    """Raised anywhere in the emulator; served as the Status body with its HTTP code."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                     "message": message, "reason": reason, "code": code}
        if details:
            self.body["details"] = details


def resource_name(plural: str, group: str) -> str:
    """`deployments.apps`, or `secrets` for the core group: how messages name a resource."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource_name(plural, group)} "{name}" not found',
                    {"name": name, "group": group, "kind": plural})


def forbidden(verb: str, plural: str, group: str, name: str, namespace: str | None, user: str) -> ApiError:
    """What RBAC answers a request its rules do not allow."""
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    return ApiError(403, "Forbidden", f'{resource_name(plural, group)} "{name}" is forbidden: User "{user}" cannot '
                    f'{verb} resource "{plural}" in API group "{group}"{where}',
                    {"name": name, "group": group, "kind": plural})


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{resource_name(plural, group)} "{name}" already exists',
                    {"name": name, "group": group, "kind": plural})


def conflict(plural: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {resource_name(plural, group)} "{name}": {why}',
                    {"name": name, "group": group, "kind": plural})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def too_large(limit: int) -> ApiError:
    """The API server's request body limit (3 MiB), before anything is decoded."""
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def undecodable(kind: str, version: str, error: str) -> ApiError:
    """A body the API server cannot decode into the kind's Go type (create and update word it so)."""
    return bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: {error}')


def unclassified(message: str) -> ApiError:
    """A plain Go error that reached the API server's response writer: 500 with no reason."""
    return ApiError(500, "", message)


# --- field errors (pkg/util/validation/field) -------------------------------------------------------

@dataclass(frozen=True)
class FieldError:
    kind: str  # Required | Invalid | Duplicate | NotSupported | NotFound | TooLong | Forbidden
    field: str
    value: Any = None
    detail: str = ""

    def body(self) -> str:
        """ErrorBody(): the type, the value where the type shows one, the detail."""
        text = _TITLES[self.kind]
        if self.kind in ("Invalid", "Duplicate", "NotSupported", "NotFound"):
            text += f": {go_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def cause(self) -> dict[str, str]:
        return {"reason": f"FieldValue{self.kind}", "message": self.body(), "field": self.field}

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


_TITLES = {"Required": "Required value", "Invalid": "Invalid value", "Duplicate": "Duplicate value",
           "NotSupported": "Unsupported value", "NotFound": "Not found", "TooLong": "Too long",
           "Forbidden": "Forbidden"}


def required(field: str, detail: str = "") -> FieldError:
    return FieldError("Required", field, detail=detail)


def invalid_value(field: str, value: Any, detail: str) -> FieldError:
    return FieldError("Invalid", field, value, detail)


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    """NewInvalid: 422 naming the object (`Deployment.apps "web" is invalid: ...`) and each field as a cause."""
    qualified = f"{kind}.{group}" if group else kind
    listed = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(str(e) for e in errors) + "]"
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {listed}',
                    {"name": name, "group": group, "kind": kind, "causes": [e.cause() for e in errors]})


class GoSyntax(str):
    """A value already printed as Go prints it (a typed struct's %#v, k8s_fields.go_syntax): shown as it is."""


def go_value(value: Any) -> str:
    """A value as Go's %v/%q prints it in these messages: strings quoted, maps as map[k:v], nil as <nil>."""
    if isinstance(value, GoSyntax):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return go_plain(value)


def go_plain(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_plain(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_plain(v) for v in value) + "]"
    return str(value)
