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
