"""Which handler takes Ctrl-C and SIGTERM while a block runs: the task's, Helm's call's, an environment run's."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def taken_by(handler: Callable[[int, Any], None], *numbers: signal.Signals) -> Iterator[None]:
    """The signals `numbers` to `handler` within the block, then back to the handlers before it; when in the main
    thread only (the only one that may set a handler; elsewhere the main thread's handlers stay)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, handler) for number in numbers}
    try:
        yield
    finally:
        for number, before in previous.items():
            signal.signal(number, before)
