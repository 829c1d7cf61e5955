"""Names written on other systems: not UTF-8 (Helm's SDK takes UTF-8 paths only), or with a line break in them.
Each is one line naming the path as its bytes read, and fails only what holds it."""

import os
import shutil
from pathlib import Path

from tests.conftest import copy_project, invoke

HELM_REFUSES = "the path is not UTF-8, which Helm's SDK cannot take; rename it in UTF-8"


def test_a_chart_folder_named_in_latin_1_fails_alone_in_one_line(tmp_path):
    project = copy_project(tmp_path / "project")
    folder = project / "charts" / os.fsdecode(b"gr\xe9") / "foo"
    shutil.copytree(project / "charts" / "hello-world", folder)
    (folder / "Chart.yaml").write_text((folder / "Chart.yaml").read_text().replace("name: hello-world", "name: foo"))
    result = invoke(project, "repo.publish", check=False)
    assert result.returncode == 1 and ": 3 new, 0 unchanged" in result.stdout
    assert result.stderr == f"error: helm package charts/gr\\xe9/foo: {HELM_REFUSES}\n"


def test_a_checkout_whose_path_is_not_utf8_stops_before_anything_runs(tmp_path):
    project = copy_project(Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9")))
    result = invoke(project, "repo.publish", check=False)
    assert result.returncode == 1 and not (project / "dist").exists()
    assert result.stderr == (f"error: {tmp_path}/caf\\xe9: the checkout's path is not UTF-8, which Helm's SDK cannot "
                             "take; rename or move it\n")


def test_a_line_break_in_a_name_stays_in_its_one_error_line(tmp_path):
    project = copy_project(tmp_path / "project")
    chart = project / "charts" / "bad\nchart"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: bad\n")
    result = invoke(project, "repo.publish", check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: charts/bad\\x0achart/Chart.yaml: 'version' is missing; add version: 0.1.0 (SemVer 2)"]
