"""Modules of this package imported on first use, so a command pays only for the modules it runs."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _Deferred:
    """A module of this package imported when a task first uses it (importlib's own lock makes that safe
    from threads, which LazyLoader on Python 3.11 is not)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._module is None:  # then kept: a lookup in a loop over 300 charts pays no import machinery
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)


def lazy(*names: str) -> list[Any]:
    """Modules of this package imported on first use: `invoke --list` pays only for the task modules, a push
    that changes nothing never imports packaging. (Importers import them under TYPE_CHECKING too, for the
    type checker.)"""
    return [_Deferred(f"{__package__}.{name}") for name in names]
