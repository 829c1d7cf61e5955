"""Ctrl-C and SIGTERM: one `interrupted:` line and exit 130; during a Helm call, the signal cancels Helm's context."""

import os
import signal
import sys
import threading
import time
import traceback

import helm_python
import invoke
import pytest

from tasks import cli, helm, rollout, waits


@pytest.fixture(autouse=True)
def sigterm_fails_the_test_if_unhandled():
    """A SIGTERM that no code under test handles fails the test instead of killing pytest."""
    def unhandled(signum, frame):
        raise AssertionError("SIGTERM reached the test: nothing handled it")

    previous = signal.signal(signal.SIGTERM, unhandled)
    yield
    signal.signal(signal.SIGTERM, previous)


def interrupted(body):
    task = cli.task(help={})(body)
    with pytest.raises(invoke.Exit) as stop:
        task(invoke.Context())
    return stop.value


def test_an_interrupt_that_says_what_it_left_is_that_one_line_and_exit_130():
    def deploy(c):
        raise KeyboardInterrupt("deploy of app 1.0.0 as app stopped; nothing to recover")

    stop = interrupted(deploy)
    assert (stop.message, stop.code) == ("interrupted: deploy of app 1.0.0 as app stopped; nothing to recover", 130)


def test_sigterm_stops_a_task_like_ctrl_c_and_the_handler_is_restored_after():
    def publish(c):
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(60)  # the handler interrupts this wait at once

    before = signal.getsignal(signal.SIGTERM)
    stop = interrupted(publish)
    assert (stop.message, stop.code) == ("interrupted: publish stopped before it finished; run it again", 130)
    assert signal.getsignal(signal.SIGTERM) is before


class Context:
    """Stands in for helm_python.HelmContext: records the cancel a signal causes."""

    def __init__(self):
        self.cancelled = threading.Event()

    def cancel(self):
        self.cancelled.set()


def test_a_signal_during_a_helm_call_cancels_its_context_and_then_interrupts(monkeypatch):
    monkeypatch.setattr(helm_python, "HelmContext", Context)

    def call(context):  # Helm's Go code, waiting: it returns once its context is cancelled
        os.kill(os.getpid(), signal.SIGINT)
        assert context.cancelled.wait(60)
        raise helm_python.HelmCancelledError("context canceled")

    with pytest.raises(KeyboardInterrupt):
        helm._interruptible(call)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_signal_stops_waiting_for_a_helm_call_that_does_not_end(monkeypatch):
    monkeypatch.setattr(helm_python, "HelmContext", Context)
    release = threading.Event()

    def call(context):  # a rollback after the cancel that waits on pods that never get ready
        os.kill(os.getpid(), signal.SIGINT)
        assert context.cancelled.wait(60)
        os.kill(os.getpid(), signal.SIGTERM)
        release.wait(60)

    try:
        with pytest.raises(KeyboardInterrupt):
            helm._interruptible(call)
    finally:
        release.set()


def test_a_helm_call_without_a_signal_returns_its_result_or_raises_its_error(monkeypatch):
    monkeypatch.setattr(helm_python, "HelmContext", Context)
    def failing(context):
        raise helm_python.HelmReleaseError("failed")

    assert helm._interruptible(lambda context: {"revision": 2}) == {"revision": 2}
    with pytest.raises(helm_python.HelmReleaseError):
        helm._interruptible(failing)


def ctrl_c_taken_by_this_thread():
    """Once the main thread waits on a lock, what the kernel may do with a Ctrl-C sent to the process: hand it to
    another thread than the main one (Helm's Go threads are many). Python's handler then only flags it, for the
    main thread to act on when its wait returns."""
    main = threading.main_thread().ident
    for _ in range(6000):  # a bound so a regression fails instead of hanging; each turn is one look
        stack = [f.f_code.co_name for f, _ in traceback.walk_stack(sys._current_frames()[main])]
        if stack[0] in ("wait", "_wait_for_tstate_lock") and "start" not in stack:  # not a thread's start
            break
        time.sleep(0.01)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)


def test_a_signal_taken_by_another_thread_still_cancels_the_helm_call_at_once(monkeypatch):
    """The main thread joined Helm's thread with no time limit, and ran the handler only once Helm's call ended:
    a deploy waiting on pods that never get ready went on for its whole timeout."""
    monkeypatch.setattr(helm_python, "HelmContext", Context)
    seen = []

    def call(context):
        ctrl_c_taken_by_this_thread()
        seen.append(context.cancelled.wait(60))  # a bound so a regression fails instead of hanging
        raise helm_python.HelmCancelledError("context canceled")

    with pytest.raises(KeyboardInterrupt):
        helm._interruptible(call)
    assert seen == [True]


def test_a_signal_taken_by_a_releases_thread_still_stops_an_environment_run(monkeypatch):
    cancelled = threading.Event()
    monkeypatch.setattr(helm, "cancel_running", cancelled.set)
    seen = []

    def action(name):
        if name == "a":
            ctrl_c_taken_by_this_thread()
        seen.append(cancelled.wait(60))
        raise KeyboardInterrupt("stopped; rolled back")

    outcomes, interrupted = rollout.run({"a": [], "b": []}, action, parallel=2)
    assert interrupted
    assert seen == [True, True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert [(o.release, o.state) for o in outcomes] == [("a", "interrupted"), ("b", "interrupted")]


def test_a_release_still_getting_ready_when_ctrl_c_comes_does_not_start_helm(monkeypatch):
    """Ctrl-C while the releases fetched their charts cancelled no Helm call (none had begun): each began after
    it, and waited its whole timeout."""
    monkeypatch.setattr(helm_python, "HelmContext", Context)
    cancel, cancelled, started = helm.cancel_running, threading.Event(), []
    monkeypatch.setattr(helm, "cancel_running", lambda: (cancel(), cancelled.set()))

    def action(name):  # getting ready when Ctrl-C comes; then Helm's call
        os.kill(os.getpid(), signal.SIGINT)
        assert cancelled.wait(60)
        return helm._interruptible(lambda context: started.append(name))

    outcomes, interrupted = rollout.run({"a": []}, action, parallel=1)
    assert (interrupted, started) == (True, [])
    assert [(o.release, o.state) for o in outcomes] == [("a", "interrupted")]
    assert helm._interruptible(lambda context: "after the run") == "after the run"


def test_a_ctrl_c_while_a_releases_thread_starts_is_taken_like_any_other(monkeypatch):
    """It raised wherever the main thread was: out of the run, with Helm's calls going on, not cancelled."""
    cancelled, gate, main = threading.Event(), threading.Event(), threading.main_thread().ident
    monkeypatch.setattr(helm, "cancel_running", cancelled.set)

    class Gated(threading.Thread):
        def start(self):
            super().start()
            if self.name == "release b":
                gate.wait(60)  # the main thread is here, starting b, when a's Ctrl-C comes

    def action(name):
        if name == "a":
            signal.pthread_kill(main, signal.SIGINT)
            assert cancelled.wait(60)
            gate.set()
        assert cancelled.wait(60)
        raise KeyboardInterrupt("stopped; rolled back")

    monkeypatch.setattr(rollout.threading, "Thread", Gated)
    try:
        outcomes, interrupted = rollout.run({"a": [], "b": []}, action, parallel=2)
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C left the run where it landed")
    assert interrupted
    assert [(o.release, o.state) for o in outcomes] == [("a", "interrupted"), ("b", "interrupted")]


def test_a_signal_taken_by_a_worker_stops_the_wait_for_the_pool_and_cancels_what_has_not_started():
    """repo.verify's checks: the wait ended only once every check had run, the ones not started too."""
    seen, ran, in_time = threading.Event(), [], []

    def main_thread_sees_it(signum, frame):
        seen.set()
        raise KeyboardInterrupt

    def check(key):
        ran.append(key)
        if key == 0:
            ctrl_c_taken_by_this_thread()
            in_time.append(seen.wait(60))  # a bound so a regression fails instead of hanging
        return key

    previous = signal.signal(signal.SIGINT, main_thread_sees_it)
    try:
        with pytest.raises(KeyboardInterrupt):
            waits.mapped(check, range(3), 1)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (ran, in_time) == ([0], [True])
