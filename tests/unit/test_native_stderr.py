"""native_stderr: what native code writes to file descriptor 2 itself goes through the redaction, all of it."""

import os
import subprocess
import sys

from tests.conftest import ROOT

WRITES = """
import os, sys
from tasks import native_stderr, ui
ui.add_secret("hunter2-Secret")
native_stderr.guard()
print("python's own line", file=sys.stderr)
for i in range(3000):  # more than a pipe holds: the pump reads while this writes
    os.write(2, b"WARN go log %d: name=db-hunter2-Secret\\n" % i)
for _ in range(3):  # Helm's loader says this on each load of a chart: once is enough
    os.write(2, b"2026/11/29 04:55:02 Warning: Dependencies are handled in Chart.yaml since apiVersion v2\\n")
os.write(2, b"a chart's \\x1b[2Jcontrol line\\n")
os.write(2, b'I1130 03:01:06.925426   17759 reflector.go:664] "Warning: watch ended with error" err="canceled"\\n')
os.write(2, b'W1130 03:01:07.000001   17759 warnings.go:70] unknown field "spec.foo" name=db-hunter2-Secret\\n')
os.write(2, b"a last line without its newline: hunter2-Secret")
"""


def test_lines_written_to_fd_2_itself_are_redacted_and_all_out_before_the_process_ends():
    done = subprocess.run([sys.executable, "-c", WRITES], cwd=ROOT, capture_output=True, text=True, check=True)
    lines = done.stderr.splitlines()
    assert "hunter2" not in done.stderr
    assert [line for line in lines if line.startswith("WARN")] == \
        [f"WARN go log {i}: name=db-***" for i in range(3000)]
    assert "python's own line" in lines and lines[-1] == "a last line without its newline: ***"
    assert "\x1b" not in done.stderr and "a chart's \\x1b[2Jcontrol line" in lines  # shown, not sent to the terminal
    assert lines.count("warning: helm: Dependencies are handled in Chart.yaml since apiVersion v2") == 1
    assert "watch ended" not in done.stderr  # client-go's INFO: its own workings, for --debug
    assert 'warning: helm: unknown field "spec.foo" name=db-***' in lines


def test_client_gos_info_lines_are_shown_with_debug():
    """A successful deploy wrote client-go's "I1130 ... reflector.go:664] "Warning: watch ended with error" ...
    context canceled" when Helm's wait ended as a watch was reading: a warning-looking line for nothing."""
    debug = "import logging; logging.basicConfig(level=logging.DEBUG)\n" + WRITES
    done = subprocess.run([sys.executable, "-c", debug], cwd=ROOT, capture_output=True, text=True, check=True)
    assert 'helm: "Warning: watch ended with error" err="canceled"' in done.stderr.splitlines()



def test_without_a_stderr_it_does_nothing_and_the_task_still_runs():
    code = "from tasks import native_stderr; native_stderr.guard(); print('ran')"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          preexec_fn=lambda: os.close(2))
    assert done.stdout == "ran\n"


def test_gos_log_lines_read_as_the_tools_own():
    from tasks.native_stderr import shown

    assert shown("2026/11/29 04:55:02 WARN resource exists on cluster name=web kind=Deployment\n") == \
        "warning: helm: resource exists on cluster name=web kind=Deployment\n"
    assert shown("2026/11/29 04:55:02 ERROR job failed job=migrate\n") == "warning: helm: job failed job=migrate\n"
    assert shown("2026/11/29 04:55:02 error outputting logs for hook failure: EOF\n") == \
        "warning: helm: error outputting logs for hook failure: EOF\n"
    assert shown("2026/11/29 04:55:02 INFO Saving 1 charts\n") == "helm: Saving 1 charts\n"
    assert shown("E1130 03:01:06.925426   17759 reflector.go:200] failed to list *v1.Pod: forbidden\n") == \
        "warning: helm: failed to list *v1.Pod: forbidden\n"
    assert shown("fatal: not a git repository\n") == "fatal: not a git repository\n"
