"""native_stderr: what native code writes to file descriptor 2 itself goes through the redaction, all of it."""

import os
import subprocess
import sys

from tasks import native_stderr
from tests.conftest import ROOT

WRITES = """
import os, sys
from tasks import native_stderr, ui
ui.add_secret("hunter2-Secret")
native_stderr.arm()
native_stderr.guard()
print("python's own line", file=sys.stderr)
for i in range(3000):  # more than a pipe holds: the pump reads while this writes
    os.write(2, b"WARN go log %d: name=db-hunter2-Secret\\n" % i)
os.write(2, b"a last line without its newline: hunter2-Secret")
"""


def test_lines_written_to_fd_2_itself_are_redacted_and_all_out_before_the_process_ends():
    done = subprocess.run([sys.executable, "-c", WRITES], cwd=ROOT, capture_output=True, text=True, check=True)
    lines = done.stderr.splitlines()
    assert "hunter2" not in done.stderr
    assert [line for line in lines if line.startswith("WARN")] == \
        [f"WARN go log {i}: name=db-***" for i in range(3000)]
    assert "python's own line" in lines and lines[-1] == "a last line without its newline: ***"


def test_unarmed_it_leaves_fd_2_alone():
    """Tests that call Helm in their own process keep their captured stderr."""
    before = os.fstat(2)
    native_stderr.guard()
    assert os.fstat(2) == before and native_stderr._pump is None
