"""One action over every release of an environment: needs first, independent releases in parallel.

Like helmfile: a release starts once every release it needs has succeeded, at most `parallel` at once;
after a failure nothing new starts (what runs finishes), and every release gets an outcome. Helm's SDK
runs in-process and its calls release the GIL, so the releases run in threads, one Helm config each.
Ctrl-C (or SIGTERM) cancels every Helm call in progress, as for one release, and a second one stops
waiting for them.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import helm, interrupts, waits
from .errors import ToolError

DONE, FAILED, SKIPPED, NOT_STARTED, INTERRUPTED = "done", "failed", "skipped", "not started", "interrupted"
SHOWN = {DONE: "deployed", FAILED: "failed", SKIPPED: "skipped", NOT_STARTED: "not started",
         INTERRUPTED: "interrupted"}  # a state as an outcome table says it


@dataclass
class Outcome:
    release: str
    state: str  # DONE, FAILED, SKIPPED, NOT_STARTED or INTERRUPTED
    detail: str = ""  # why it failed, or was skipped
    result: Any = None  # what the action returned, when it is DONE


def run(
    needs: Mapping[str, Sequence[str]], action: Callable[[str], Any], *, parallel: int, stop_on_failure: bool = True,
    abandoned: Callable[[str], str] = lambda name: "stopped waiting for it",
) -> tuple[list[Outcome], bool]:
    """(an outcome per release in the order of `needs`, whether Ctrl-C stopped the run).

    `needs` maps each release to those it needs (all of them keys of `needs`, with no cycle:
    environments.check_needs checked that); `action(release)` raises ToolError for a failure of that release alone.
    A second Ctrl-C stops waiting for the releases still running (Helm rolling them back): each is INTERRUPTED,
    `abandoned(release)` saying where it is.
    """
    outcomes: dict[str, Outcome] = {}
    waiting = list(needs)
    finished: queue.Queue[Outcome] = queue.Queue()
    running = 0
    stopping = False
    signals: list[int] = []  # taken here and not raised, so a Ctrl-C never lands between a start and its count

    def work(name: str) -> None:
        try:
            finished.put(Outcome(name, DONE, result=action(name)))
        except ToolError as exc:
            finished.put(Outcome(name, FAILED, str(exc)))
        except KeyboardInterrupt as exc:
            finished.put(Outcome(name, INTERRUPTED, str(exc) or "stopped"))
        except BaseException as exc:  # noqa: BLE001 - a bug in one release's action: reported with it, not lost
            finished.put(Outcome(name, FAILED, f"unexpected {type(exc).__name__}: {exc} (a bug)"))

    def handler(signum: int, frame: Any) -> None:
        signals.append(signum)
        if len(signals) == 1:
            helm.cancel_running()

    # the handler takes together()'s lock, so it is set within together(), never while together() holds it
    with helm.together(), interrupts.taken_by(handler, signal.SIGINT, signal.SIGTERM):
        while True:
            if not (stopping or signals):
                for name in [n for n in waiting if all(outcomes.get(d, _PENDING).state == DONE for d in needs[n])]:
                    if running == parallel:
                        break
                    waiting.remove(name)
                    running += 1
                    threading.Thread(target=work, args=(name,), name=f"release {name}", daemon=True).start()
            if not running:
                break
            try:
                outcome = waits.take(finished, stop=lambda: len(signals) > 1)
            except queue.Empty:  # the second Ctrl-C: stop waiting for the releases being rolled back
                while not finished.empty():
                    done = finished.get()
                    outcomes[done.release] = done
                for name in [n for n in needs if n not in outcomes and n not in waiting]:
                    outcomes[name] = Outcome(name, INTERRUPTED, abandoned(name))
                break
            running -= 1
            outcomes[outcome.release] = outcome
            stopping = stopping or (outcome.state != DONE and stop_on_failure)
    for name in waiting:
        blocker = _failed_need(name, needs, outcomes)
        outcomes[name] = Outcome(name, SKIPPED, f"{blocker.release} {'failed' if blocker.state == FAILED else 'was stopped'}") \
            if blocker else Outcome(name, NOT_STARTED)
    return [outcomes[name] for name in needs], bool(signals)


_PENDING = Outcome("", NOT_STARTED)


def _failed_need(name: str, needs: Mapping[str, Sequence[str]], outcomes: Mapping[str, Outcome]) -> Outcome | None:
    """The outcome of the release that failed (or was stopped) among those `name` needs, directly or through others."""
    for need in needs[name]:
        outcome = outcomes.get(need, _PENDING)
        if outcome.state in (FAILED, INTERRUPTED):
            return outcome
        if outcome.state != DONE and (deeper := _failed_need(need, needs, outcomes)):
            return deeper
    return None
