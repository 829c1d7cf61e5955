"""The files of a chart as Helm's loader reads them: nothing but regular files is opened, and every refusal is one
line naming the file; a chart that holds such a file fails alone."""

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

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


def unprivileged(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`invoke ARGS` in `project`, as a process file permissions apply to. Tests run as root in CI, where they do
    not: there root runs it without the capabilities that override them (setpriv, util-linux, Essential in Debian),
    so a mode 000 file or folder cannot be read, and the interpreter stays reachable wherever it is (pyenv's under
    /root, 0700, is out of another user's reach)."""
    prefix = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INVOKE_", "PLUGIN_", "DRONE"))}
    return subprocess.run([*prefix, sys.executable, "-m", "invoke", *args], cwd=project, env={**env, "CI": "true"},
                          capture_output=True, text=True, timeout=120, check=False)


def locked(*paths: Path) -> list[Path]:
    for path in paths:
        path.chmod(0)
    return list(paths)


def test_an_unreadable_folder_chart_yaml_or_helmignore_fails_only_its_chart_or_folder(project):
    """Each crashed every task (`unexpected PermissionError`, exit 2, nothing published, even with --chart). A folder
    in no chart that cannot be listed was then a warning, exit 0: a chart in it went unpublished, and the tree was
    recorded as published, so once its permissions were fixed it stayed unpublished (test_fingerprints)."""
    (project / "charts" / "nopermdir" / "secret").mkdir(parents=True)  # in no chart: nothing there to publish
    (new_chart(project, "locked") / "Chart.yaml").write_text("apiVersion: v2\nname: locked\nversion: 0.1.0\n")
    (new_chart(project, "hidden") / ".helmignore").write_text("*.bak\n")
    (new_chart(project, "listing") / "cache").mkdir()
    ignoring = new_chart(project, "ignoring")
    (ignoring / ".helmignore").write_text("cache/\n")
    (ignoring / "cache").mkdir()
    unreadable = locked(project / "charts" / "nopermdir" / "secret", project / "charts" / "locked" / "Chart.yaml",
                        project / "charts" / "hidden" / ".helmignore", project / "charts" / "listing" / "cache",
                        ignoring / "cache")
    try:
        result = unprivileged(project, "repo.publish")
        alone = unprivileged(project, "repo.publish", "--chart", "hello-world")
    finally:
        for path in unreadable:
            path.chmod(0o755)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        "error: charts/locked/Chart.yaml: cannot be read (Permission denied); check its permissions and owner",
        ("error: charts/nopermdir/secret: cannot be read (Permission denied), so no chart in it can be published; "
         "check its permissions and owner"),
        "error: charts/hidden/.helmignore: cannot be read (Permission denied); check its permissions and owner",
        "error: charts/listing/cache/: cannot list the folder (Permission denied); check its permissions and owner"]
    assert result.stdout.splitlines()[-1] == "published 4, failed 4: locked, nopermdir/secret, hidden, listing"
    assert sorted(p.name for p in (project / "dist" / "repo").glob("*.tgz")) == [
        "common-0.1.0.tgz", "hello-api-0.1.0.tgz", "hello-world-0.1.0.tgz", "ignoring-0.1.0.tgz"]
    assert (alone.returncode, alone.stderr) == (0, "")


def test_a_chart_in_a_folder_that_could_not_be_listed_is_published_once_it_can_be(project):
    """The folder was skipped with exit 0 and the committed tree recorded as published, so the next publish of the
    same commit, the folder's permissions fixed, built nothing: `3 unchanged (3 not rebuilt: inputs unchanged)`."""
    (new_chart(project, "team/later") / "Chart.yaml").write_text("apiVersion: v2\nname: later\nversion: 0.1.0\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "charts"]):
        subprocess.run([*git, *step], cwd=project, check=True)
    [team] = locked(project / "charts" / "team")
    try:
        first = unprivileged(project, "repo.publish")
    finally:
        team.chmod(0o755)
    assert first.returncode == 1 and "charts/team: cannot be read (Permission denied)" in first.stderr
    again = unprivileged(project, "repo.publish")
    assert again.returncode == 0, again.stderr
    assert "published to" in again.stdout and "1 new, 3 unchanged" in again.stdout
    assert (project / "dist" / "repo" / "later-0.1.0.tgz").is_file()


def test_a_folder_the_tool_cannot_write_is_one_line_naming_it_with_what_to_do_and_exit_1(project, tmp_path):
    """A repository folder or a build folder that cannot be written was `unexpected PermissionError: ... .tmp-q74szckl
    (a bug ...)`, exit 2, naming a temporary file."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (project / "dist").mkdir()
    try:
        repo.chmod(0o555)
        published = unprivileged(project, "repo.publish", "--url", str(repo))
        (project / "dist").chmod(0o555)
        packaged = unprivileged(project, "repo.package")
    finally:
        for folder in (repo, project / "dist"):
            folder.chmod(0o755)
    assert published.returncode == 1
    assert published.stderr == (f"error: {repo} (writing a file in it): Permission denied; check its permissions and "
                                "owner\n")
    assert list(repo.iterdir()) == []
    assert (packaged.returncode, packaged.stderr.splitlines()) == (1, [
        f"error: {project / 'dist'} (writing a file in it): Permission denied; check its permissions and owner"])
    (project / "dist").chmod(0o555)
    try:
        linted = unprivileged(project, "repo.lint")  # only the chart with a file:// dependency needs dist/
    finally:
        (project / "dist").chmod(0o755)
    assert linted.returncode == 1 and linted.stdout.splitlines()[-1] == "lint: ok 2, failed 1: hello-api"
    assert linted.stderr.startswith(f"error: {project / 'dist'} (repo.build_dir): the dependency build of ")  # not
    assert linted.stderr.rstrip().endswith("set repo.build_dir to another folder")  # the chart's permissions


def test_a_chart_nobody_can_read_fails_alone_and_a_chart_built_with_file_dependencies_is_published(project):
    """parent's file:// dependency was built in a copy of the whole tree, which failed on noperm's file: parent
    failed too (`charts: cannot be copied for the dependency build (... Permission denied ...)`)."""
    shutil.rmtree(project / "charts")
    new_chart(project, "child")
    (new_chart(project, "parent") / "Chart.yaml").write_text(
        "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n- name: child\n  version: 0.1.0\n"
        "  repository: file://../child\n")
    (new_chart(project, "noperm") / "private.txt").write_text("not for everyone\n")
    unreadable = locked(project / "charts" / "noperm" / "private.txt")
    try:
        result = unprivileged(project, "repo.publish")
    finally:
        unreadable[0].chmod(0o644)
    assert result.returncode == 1
    [error] = result.stderr.splitlines()
    assert error.startswith("error: ") and "charts/noperm/private.txt" in error and "permission denied" in error
    assert result.stdout.splitlines()[-1] == "published 2, failed 1: noperm"
    assert "charts/child/Chart.yaml" in packaged(project, "parent")


def test_what_helmignore_leaves_out_of_a_chart_with_dependencies_to_build_is_not_copied_to_build_it(project):
    """A chart built in a scratch copy (its file:// dependency) failed on a folder its .helmignore leaves out and
    nobody can read (`cannot be copied for the dependency build`), which Helm packages without reading it."""
    shutil.rmtree(project / "charts")
    new_chart(project, "child")
    parent = new_chart(project, "parent")
    (parent / "Chart.yaml").write_text("apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n- name: child\n"
                                       "  version: 0.1.0\n  repository: file://../child\n")
    (parent / ".helmignore").write_text("cache/\n*.bak\n")
    (parent / "cache").mkdir()
    (parent / "values.bak").write_text("old: values\n")
    unreadable = locked(parent / "cache")
    try:
        result = unprivileged(project, "repo.publish")
    finally:
        unreadable[0].chmod(0o755)
    assert result.returncode == 0, result.stderr
    files = packaged(project, "parent")
    assert "charts/child/Chart.yaml" in files and ".helmignore" in files
    assert not any(name.startswith("cache") or name.endswith(".bak") for name in files)
