"""The files of a chart as Helm's loader reads them: nothing but regular files is opened, and every refusal is one
line naming the file; a chart that holds such a file fails alone."""

import os

from tests.conftest import invoke


def new_chart(project, name):
    folder = project / "charts" / name
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    return folder


def test_a_fifo_or_a_symlink_to_dev_zero_fails_its_chart_alone_and_is_never_opened(project):
    """publish hung: fingerprints read /dev/zero without end and blocked opening the FIFO; lint blocked on it too."""
    os.symlink("/dev/zero", new_chart(project, "zero") / "templates" / "zero.yaml")
    result = invoke(project, "repo.publish", check=False, timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [("error: charts/zero/templates/zero.yaml: symlink to /dev/zero, a character "
                                           "device, not a regular file; Helm cannot load it (irregular file): remove it")]
    assert result.stdout.splitlines()[-1] == "published 3, failed 1: zero"
    os.mkfifo(new_chart(project, "pipe") / "templates" / "pipe.yaml")
    for task in ("repo.lint", "repo.publish"):
        result = invoke(project, task, "--chart", "pipe", "--chart", "hello-world", check=False, timeout=60)
        assert result.returncode == 1
        assert result.stderr.splitlines() == [("error: charts/pipe/templates/pipe.yaml: a named pipe (FIFO), not a "
                                               "regular file; Helm cannot load it (irregular file): remove it")]
    assert sorted(p.name for p in (project / "dist" / "repo").glob("*.tgz")) == \
        ["common-0.1.0.tgz", "hello-api-0.1.0.tgz", "hello-world-0.1.0.tgz"]
