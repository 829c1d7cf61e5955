"""Ctrl-C and SIGTERM: one `interrupted:` line and exit 130; during a Helm call, the signal cancels Helm's context."""

import os
import signal
import threading

import helm_python
import invoke
import pytest

from tasks import cli, helm


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
