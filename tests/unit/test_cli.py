"""The task wrapper: a ToolError or a bug becomes one redacted line and a non-zero exit."""

import invoke
import pytest

from tasks import cli, ui
from tasks.errors import ToolError


def failing(exc):
    @cli.task(help={})
    def body(c):
        raise exc

    return body


def test_a_tool_error_is_one_line_and_exit_1():
    with pytest.raises(invoke.Exit) as stop:
        failing(ToolError("charts/x/Chart.yaml: broken"))(invoke.Context())
    assert (stop.value.message, stop.value.code) == ("error: charts/x/Chart.yaml: broken", 1)


def test_a_bug_is_one_redacted_line_and_exit_2_not_a_traceback():
    ui.add_secret("bug-secret-42")
    with pytest.raises(invoke.Exit) as stop:
        failing(KeyError("bug-secret-42\nsecond line"))(invoke.Context())
    assert stop.value.code == 2
    assert stop.value.message == ("error: unexpected KeyError: '***\\nsecond line' (a bug; "
                                  "invoke --debug shows the traceback)")


def test_an_older_python_gets_one_line_naming_the_version_it_needs():
    import subprocess
    import sys

    from tests.conftest import ROOT

    fake = ("import runpy, sys; sys.version_info = (3, 10, 12, 'final', 0); sys.version = '3.10.12'; "
            f"runpy.run_path({str(ROOT / 'tasks.py')!r})")
    result = subprocess.run([sys.executable, "-c", fake], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: Python 3.10.12 is too old: these tasks need Python 3.11 or newer; create "
                                     "the virtualenv with python3.11 or later (README: Requirements)")
