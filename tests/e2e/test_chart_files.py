"""The files of a chart as Helm's loader reads them: nothing but regular files is opened, and every refusal is one
line naming the file; a chart that holds such a file fails alone."""

import os
import shutil
import sys
import tarfile

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
                                           "device, not a regular file; Helm cannot load it (irregular file): remove "
                                           "it, or list it in the chart's .helmignore")]
    assert result.stdout.splitlines()[-1] == "published 3, failed 1: zero"
    shutil.rmtree(project / "charts" / "zero")
    os.mkfifo(new_chart(project, "pipe") / "templates" / "pipe.yaml")
    for task in ("repo.lint", "repo.publish"):  # the whole tree: hello-api's dependencies are built in a copy of it
        result = invoke(project, task, check=False, timeout=60)
        assert result.returncode == 1
        assert result.stderr.splitlines() == [("error: charts/pipe/templates/pipe.yaml: a named pipe (FIFO), not a "
                                               "regular file; Helm cannot load it (irregular file): remove it, or "
                                               "list it in the chart's .helmignore")]
    assert sorted(p.name for p in (project / "dist" / "repo").glob("*.tgz")) == \
        ["common-0.1.0.tgz", "hello-api-0.1.0.tgz", "hello-world-0.1.0.tgz"]


def packaged(project, name):
    with tarfile.open(project / "dist" / "repo" / f"{name}-0.1.0.tgz") as tar:
        return {m.name.partition("/")[2]: tar.extractfile(m).read() for m in tar if m.isfile()}


def test_what_helmignore_leaves_out_is_never_checked(project):
    """Each was refused though Helm never reads it, and lint refused the .bak that publish took."""
    chart = new_chart(project, "z")
    (chart / ".helmignore").write_text("big.yaml\n.venv/\ntmp/\n*.bak\n")
    (chart / "big.yaml").write_bytes(b"x" * 6_000_000)
    (chart / ".venv" / "bin").mkdir(parents=True)
    os.symlink(sys.executable, chart / ".venv" / "bin" / "python")
    (chart / "tmp").mkdir()
    os.symlink("nowhere", chart / "tmp" / "dangling")
    (chart / "templates" / "x.yaml.bak").write_bytes(b"a: caf\xe9\n")
    for task in ("repo.lint", "repo.publish"):
        assert invoke(project, task, "--chart", "z").stderr == ""
    assert sorted(packaged(project, "z")) == [".helmignore", "Chart.yaml"]


def test_a_file_shared_inside_the_checkout_is_packaged_one_from_beyond_it_is_refused(project, tmp_path):
    chart = new_chart(project, "z")
    (project / "shared").mkdir()
    (project / "shared" / "common.yaml").write_text("shared: true\n")
    (chart / "files").mkdir()
    os.symlink("../../../shared/common.yaml", chart / "files" / "common.yaml")
    api = project / "charts" / "hello-api"  # its dependencies are built in a scratch copy, where the link leads nowhere
    os.symlink("../../shared", api / "shared")
    invoke(project, "repo.publish")
    assert packaged(project, "z")["files/common.yaml"] == b"shared: true\n"
    assert packaged(project, "hello-api")["shared/common.yaml"] == b"shared: true\n"
    (tmp_path / "elsewhere.yaml").write_text("not in the checkout\n")
    os.symlink(tmp_path / "elsewhere.yaml", chart / "files" / "elsewhere.yaml")
    result = invoke(project, "repo.lint", "--chart", "z", check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [(
        f"error: charts/z/files/elsewhere.yaml: symlink points outside the checkout ({tmp_path}/elsewhere.yaml -> "
        f"{tmp_path}/elsewhere.yaml); Helm would package that file, this tool packages nothing from outside the "
        "checkout: copy it into the checkout")]


def test_text_helm_and_kubernetes_accept_is_accepted(project):
    """A Chart.yaml in UTF-16 with a byte order mark (Windows PowerShell 5's Out-File), which Helm's YAML reader
    takes, and a Latin-1 NOTES.txt: Kubernetes never reads it."""
    chart = new_chart(project, "z")
    (chart / "Chart.yaml").write_bytes("\ufeffapiVersion: v2\r\nname: z\r\nversion: 0.1.0\r\n".encode("utf-16-le"))
    (chart / "templates" / "NOTES.txt").write_bytes(b"Install\xe9\n")
    for task in ("repo.lint", "repo.publish"):
        assert invoke(project, task, "--chart", "z").stderr == ""
    files = packaged(project, "z")
    assert b"name: z" in files["Chart.yaml"] and files["templates/NOTES.txt"] == b"Install\xe9\n"


def test_a_chart_used_through_file_is_checked_as_a_chart_being_built_and_nothing_beyond_the_checkout_is_copied(
        project, tmp_path):
    """--chart app builds lib only as app's dependency: a symlink out of the checkout in lib must not reach app's
    package (nor the scratch copy), as it would not if lib were built itself."""
    (tmp_path / "outside.txt").write_text("not in the checkout\n")
    lib = new_chart(project, "lib")
    os.symlink(tmp_path / "outside.txt", lib / "leak.txt")
    app = new_chart(project, "app")
    (app / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- name: lib\n"
                                    "  version: 0.1.0\n  repository: file://../lib\n")
    result = invoke(project, "repo.publish", "--chart", "app", check=False)
    assert result.returncode == 1 and result.stderr.startswith("error: charts/lib/leak.txt: symlink points outside "
                                                               "the checkout")
    assert not (project / "dist" / "repo" / "app-0.1.0.tgz").exists()
