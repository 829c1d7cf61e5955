"""Values files as Helm reads them: go-yaml v2 into interface{}, then sigs.k8s.io/yaml's JSON, not PyYAML's rules.

So `yes`, `1e3`, `20:30`, `2024-01-01` and a `1:` key are here what the deploy makes of them, and a file Helm would
refuse (an alias bomb, an infinity, a null key) is refused before anything runs.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from . import safe_yaml
from .errors import ToolError


def read_bytes(path: Path, where: str, *, missing: str, folder: str, limit: int | None = None) -> bytes:
    """A file's bytes (at most limit + 1 of them, so a caller can tell it is over); a file that cannot be read
    is one line naming `where` and the path, with `missing` or `folder` saying what to do."""
    try:
        with path.open("rb") as stream:
            return stream.read(-1 if limit is None else limit + 1)
    except FileNotFoundError:
        raise ToolError(f"{where}: {path} not found{missing}") from None
    except IsADirectoryError:
        raise ToolError(f"{where}: {path} is a folder{folder}") from None
    except OSError as exc:
        raise ToolError(f"{where}: {path} cannot be read ({exc.strerror}); check it") from None


def read_values(path: Path, where: str) -> dict[str, Any]:
    """A values file as Helm reads one (-f): a YAML mapping, its aliases within Helm's limit, its scalars and keys
    as Helm's decoder makes them (HelmYAML), and no infinity or NaN, which Helm's JSON step refuses."""
    data = read_bytes(path, where, missing="; create it or remove it from the list",
                 folder=", not a values file; name a YAML file")
    try:
        loaded = safe_yaml.load(data.decode("utf-8"), HelmYAML)
    except UnicodeDecodeError:
        raise ToolError(f"{where}: {path} is not UTF-8 text") from None
    except safe_yaml.AliasError as exc:
        raise ToolError(f"{where}: {path}: {exc}, which Helm refuses too; write the values out instead of aliasing "
                        "them") from None
    except yaml.YAMLError as exc:
        raise ToolError(f"{where}: {path} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ToolError(f"{where}: {path} must hold a mapping of values")
    found = next(_non_finite(loaded or {}), None)
    if found:
        shown = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in found[0]).lstrip(".")
        raise ToolError(f"{where}: {path}: {shown} is {_go_float32(found[1])}, which Helm refuses (JSON has no "
                        "infinity or NaN); quote it to make it text, or write a number")
    return loaded or {}


_GO_SPECIAL = {**dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
               **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
               **dict.fromkeys(("", "~", "null", "Null", "NULL")),
               **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
               **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
               **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf)}
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_GO_OCTAL = re.compile(r"[-+]?0[0-7]+")
_PLAIN = "tag:yaml.org,2002:plain"  # an untagged, unquoted scalar, resolved by _go_scalar


def _go_scalar(text: str) -> Any:
    """A plain scalar as go-yaml v2 (Helm's decoder, behind sigs.k8s.io/yaml) resolves it into interface{}.

    Unlike PyYAML: y/n are booleans, there are no base-60 numbers (`20:30` is text), `1e3` is a number, and a
    timestamp stays the text it is (go-yaml keeps it a string for interface{}, so `2024-01-01` is never a date).
    """
    if text in _GO_SPECIAL:
        return _GO_SPECIAL[text]
    if text[0] == ".":
        return float(text) if _GO_FLOAT.fullmatch(text) else text
    if not (text[0].isdigit() and text[0].isascii()) and text[0] not in "+-":
        return text
    plain = text.replace("_", "")
    try:
        return int(plain, 8) if _GO_OCTAL.fullmatch(plain) else int(plain, 0)  # Go's ParseInt(plain, 0, 64)
    except ValueError:
        return float(plain) if _GO_FLOAT.fullmatch(plain) else text


def _go_key(key: Any, node: yaml.Node) -> str:
    """A mapping key as sigs.k8s.io/yaml makes it a JSON key: `1:` is "1", `true:` is "true" (two keys, where
    Python's dict would merge 1 and True into one), a float is Go's shortest float32 text."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return _go_float32(key)
    kind = "null" if key is None else type(key).__name__
    raise yaml.constructor.ConstructorError(
        None, None, f"a {kind} key on line {node.start_mark.line + 1}, which Helm refuses; quote it", node.start_mark)


def _go_float32(number: float) -> str:
    """strconv.FormatFloat(number, 'g', -1, 32), with YAML's names for infinity and NaN (sigs.k8s.io/yaml's)."""
    single = struct.unpack("f", struct.pack("f", number))[0]  # beyond float32's range: an infinity, as in Go
    if not math.isfinite(single):
        return ".nan" if math.isnan(single) else ".inf" if single > 0 else "-.inf"
    text = next(t for t in (f"{single:.{d}e}" for d in range(9)) if struct.unpack("f", struct.pack("f", float(t)))[0]
                == single)
    mantissa, exponent = text.split("e")
    digits, point = len(mantissa.lstrip("-").replace(".", "")), int(exponent)
    return text if point < -4 or point >= 6 else f"{single:.{max(digits - point - 1, 0)}f}"


class HelmYAML(safe_yaml.SAFE_LOADER):  # type: ignore[misc, valid-type]
    """YAML read into the values Helm reads from it: chartutil.ReadValues decodes with go-yaml v2 into interface{},
    then sigs.k8s.io/yaml turns that into JSON. So scalars resolve as go-yaml does (_go_scalar), keys become
    strings (_go_key), !!binary is its decoded text, and a tag go-yaml does not know keeps its node's plain value."""

    def resolve(self, kind: Any, value: str, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return "tag:yaml.org,2002:merge" if value == "<<" else _PLAIN
        resolved: str = super().resolve(kind, value, implicit)
        return resolved

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
        safe_yaml.merge_keys(node)  # as go-yaml merges: a key written before `<<` is overridden by it
        return {_go_key(self.construct_object(key, deep=deep), key): self.construct_object(value, deep=deep)
                for key, value in node.value}


HelmYAML.add_constructor(_PLAIN, lambda loader, node: _go_scalar(loader.construct_scalar(node)))
HelmYAML.add_constructor("tag:yaml.org,2002:timestamp", HelmYAML.construct_scalar)
safe_yaml.go_tags(HelmYAML)


def _non_finite(tree: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], float]]:
    """Where `tree` holds an infinity or a NaN."""
    if isinstance(tree, float) and not math.isfinite(tree):
        yield path, tree
    for key, value in tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ():
        yield from _non_finite(value, (*path, key))
