"""The main thread's waits for work on other threads, made so Ctrl-C and SIGTERM still reach them.

The kernel hands a signal sent to the process to any of its threads that does not block it: often one of
the Go runtime's, or a worker. There Python's C handler only flags it; the main thread runs the Python
handler, which raises KeyboardInterrupt, once its own wait returns. An untimed wait returns when the work
ends: minutes later for a Helm call that waits on pods, never for one that hangs. So these waits wake every
WAKE seconds.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import TypeVar

WAKE = 0.1  # seconds at most between two looks at a signal taken by another thread

A = TypeVar("A")
T = TypeVar("T")


def take(results: queue.Queue[T], timeout: float | None = None, stop: Callable[[], bool] = lambda: False) -> T:
    """The next item put in `results`; queue.Empty past `timeout` seconds (None: no limit), or once `stop()`
    (a signal handler's doing)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not stop():
        left = WAKE if deadline is None else min(WAKE, deadline - time.monotonic())
        if left <= 0:
            break
        try:
            return results.get(timeout=left)
        except queue.Empty:
            continue
    raise queue.Empty


def mapped(work: Callable[[A], T], items: Iterable[A], workers: int) -> list[T]:
    """[work(item) for item in items] on `workers` threads. A signal stops the wait and cancels the items not
    yet started; those running end first, as a thread cannot be stopped."""
    with futures.ThreadPoolExecutor(workers) as pool:
        try:
            started = [pool.submit(work, item) for item in items]
            pending = set(started)
            while pending:
                pending = futures.wait(pending, timeout=WAKE).not_done
            return [future.result() for future in started]
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise

