"""invoke.yaml's values read by type: a value of the wrong type, or a key that is not a setting, is one line
naming the key and what to write instead (a YAML `false` in quotes is text, an unquoted 1.10 is a number)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import ToolError


def known(raw: Mapping[str, Any], keys: Iterable[str], where: str) -> None:
    """An unknown key is a typo until proven otherwise: named, with the closest known key."""
    keys = list(keys)
    for key in raw:
        if key not in keys:
            import difflib

            close = difflib.get_close_matches(str(key), keys, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(keys)}"
            raise ToolError(f"{f'{where}.' if where else ''}{key} in invoke.yaml is not a setting; {hint}")


def mapping(raw: Mapping[str, Any], key: str, where: str, what: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ToolError(f"{where}.{key} in invoke.yaml must be a mapping of {what}, not {kind(value)}")
    return value


def text(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise ToolError(f"{where}.{key} in invoke.yaml is {kind(value)}, not text; quote it")
    return value


def count(raw: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ToolError(f"{where}.{key} in invoke.yaml is {kind(value)}; write a whole number, 0 or more")
    return value


def names(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    """A list of names (environments, releases); None when the key is absent."""
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ToolError(f"{where}.{key} in invoke.yaml must be a list of names, not {kind(value)}"
                        + (f"; write it as [{value}]" if isinstance(value, str) else ""))
    return tuple(value)


def flag(raw: Mapping[str, Any], key: str, where: str) -> bool:
    value = raw.get(key)
    if value is not None and not isinstance(value, bool):
        raise ToolError(f"{where}.{key} in invoke.yaml is {kind(value)}, not a boolean; write true or false, "
                        "without quotes")
    return bool(value)


def paths(root: Path, raw: Any, where: str) -> tuple[Path, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        raise ToolError(f"{where} in invoke.yaml must be a list of file paths, not {kind(raw)}"
                        + ("; write it as [PATH]" if isinstance(raw, str) else ""))
    return tuple(path(root, p) for p in raw)


def path(root: Path, value: str) -> Path:
    """A path setting: relative to the project root; ~ is the home folder, as in a shell."""
    return root / Path(value).expanduser()


def kind(value: Any) -> str:
    """A value's YAML type, for messages: `the text 'false'` says why it is not the boolean false."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if value is None:
        return "empty"
    return "a mapping" if isinstance(value, Mapping) else "a list" if isinstance(value, list) else type(value).__name__


def scalar(value: Any) -> str:
    """A `set:` value as --set would take it: YAML's true, 3, null as Helm spells them."""
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
