"""The field rules Kubernetes' validation applies across kinds (apimachinery's IsDNS1123Subdomain and Label,
IsQualifiedName, IsValidPortName and port numbers, protocols, config keys, non-negative numbers), with its words;
and how a JSON value is read when the object may hold the wrong shape there."""

from __future__ import annotations

import re
from typing import Any

from tests.support.k8s_status import FieldError, invalid_value

SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
QUALIFIED = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
NAME_RULES = {
    "subdomain": (SUBDOMAIN, 253, ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                  "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
                  "'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"
                  "([-a-z0-9]*[a-z0-9])?)*')")),
    "label": (LABEL, 63, ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
              "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
              "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")),
    "dns1035": (DNS1035, 63, ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                "with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
                "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")),
    "segment": (re.compile(r"(?!\.\.?$)[^/%]+"), 10**6, "may not contain '/' or '%' and may not be '.' or '..'"),
    "wildcard": (re.compile(r"\*\." + SUBDOMAIN.pattern), 253, (
        "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of "
        "lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', "
        "regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")),
}
LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
               "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
               "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
QUALIFIED_NAME = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                  "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                  "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
PROTOCOLS = ("SCTP", "TCP", "UDP")
NEGATIVE = "must be greater than or equal to 0"  # apimachineryvalidation.IsNegativeErrorMsg


def name_errors(field: str, name: Any, rule: str) -> list[FieldError]:
    pattern, limit, message = NAME_RULES[rule]
    errors = []
    if len(name) > limit:
        errors.append(invalid_value(field, name, f"must be no more than {limit} characters"))
    if not pattern.fullmatch(name):
        dotted = rule == "label" and SUBDOMAIN.fullmatch(name)  # IsDNS1123Label: a subdomain, so it has dots
        errors.append(invalid_value(field, name, "must not contain dots" if dotted else message))
    return errors


def port_number_errors(field: str, number: int) -> list[FieldError]:
    return [] if 1 <= number <= 65535 else [invalid_value(field, number, "must be between 1 and 65535, inclusive")]


def protocol_errors(field: str, protocol: str) -> list[FieldError]:
    if protocol in PROTOCOLS:
        return []
    return [FieldError("NotSupported", field, protocol, "supported values: " + ", ".join(f'"{p}"' for p in PROTOCOLS))]


def port_name_errors(field: str, name: str) -> list[FieldError]:
    """IsValidPortName (an IANA_SVC_NAME)."""
    problems = []
    if len(name) > 15:
        problems.append("must be no more than 15 characters")
    if not re.fullmatch(r"[-a-z0-9]+", name):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        problems.append("must contain at least one letter (a-z)")
    if "--" in name:
        problems.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return [invalid_value(field, name, problem) for problem in problems]


def config_key_errors(field: str, key: str) -> list[FieldError]:
    """IsConfigMapKey: a ConfigMap's, a Secret's or a key selector's key."""
    errors = [invalid_value(field, key, "must be no more than 253 characters")] if len(key) > 253 else []
    if not CONFIG_KEY.fullmatch(key):
        errors.append(invalid_value(field, key, "a valid config key must consist of alphanumeric characters, '-', '_' "
                                    "or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                                    "validation is '[-._a-zA-Z0-9]+')"))
    if key in (".", ".."):
        errors.append(invalid_value(field, key, f"must not be '{key}'"))
    elif key.startswith(".."):
        errors.append(invalid_value(field, key, "must not start with '..'"))
    return errors


def as_dict(value: Any) -> dict[str, Any]:
    """A field that should hold an object, or {} (what a field of the wrong type is to these checks)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def label_errors(labels: dict[str, Any], field: str) -> list[FieldError]:
    """ValidateLabels: each key a qualified name, each value a label value of at most 63 characters (JSON's null
    decodes into a map[string]string as "")."""
    errors: list[FieldError] = []
    for key, value in labels.items():
        errors += qualified_key_errors(field, key)
        value = str(value or "")
        if len(value) > 63:
            errors.append(invalid_value(field, value, "must be no more than 63 characters"))
        if value and not QUALIFIED.fullmatch(value):
            errors.append(invalid_value(field, value, LABEL_VALUE))
    return errors


def qualified_key_errors(field: str, key: str) -> list[FieldError]:
    prefix, _, name = key.rpartition("/")
    errors = name_errors(field, prefix, "subdomain") if prefix else []
    if len(name) > 63:
        errors.append(invalid_value(field, key, "name part must be no more than 63 characters"))
    if not QUALIFIED.fullmatch(name):
        errors.append(invalid_value(field, key, QUALIFIED_NAME))
    return errors
