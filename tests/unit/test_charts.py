"""Chart discovery and Chart.yaml validation: one clear line naming the file and the fix."""

import gzip
import io
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import archives, charts
from tasks import settings as tool_settings
from tasks.errors import ToolError


def write_chart(root: Path, rel: str, chart_yaml: str) -> Path:
    folder = root / rel
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Chart.yaml").write_text(chart_yaml)
    return folder


def test_discovers_nested_charts_but_not_subcharts_vendored_in_a_charts_folder(tmp_path):
    write_chart(tmp_path, "a", "apiVersion: v2\nname: a\nversion: 1.0.0\n")
    write_chart(tmp_path, "group/b", "apiVersion: v2\nname: b\nversion: 1.0.0\n")
    write_chart(tmp_path, "a/charts/vendored", "apiVersion: v2\nname: vendored\nversion: 1.0.0\n")
    write_chart(tmp_path, ".hidden/c", "apiVersion: v2\nname: c\nversion: 1.0.0\n")
    assert [(c.name, c.rel) for c in charts.discover(tmp_path).charts] == [("a", "a"), ("b", "group/b")]


def test_a_charts_dependency_repositories_are_read_once_at_discovery(tmp_path):
    write_chart(tmp_path, "a", "apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies:\n"
                               "  - {name: b, version: 1.x, repository: 'https://c.example.com'}\n"
                               "  - {name: c, version: 1.x, repository: 'file://../c'}\n")
    write_chart(tmp_path, "z", "apiVersion: v2\nname: z\nversion: 1.0.0\n")
    assert [c.repositories for c in charts.discover(tmp_path).charts] == [("file://../c", "https://c.example.com"), ()]


def test_an_apiversion_v1_chart_declares_its_dependencies_in_requirements_yaml(tmp_path):
    folder = write_chart(tmp_path, "old", "apiVersion: v1\nname: old\nversion: 1.0.0\n")
    (folder / "requirements.yaml").write_text("dependencies:\n- {name: lib, version: 0.2.0, repository: '@stable'}\n")
    (folder / "requirements.lock").write_text("dependencies: []\n")
    chart = charts.discover(tmp_path).charts[0]
    assert chart.dependencies == (charts.Dependency("lib", "0.2.0", "@stable"),)
    assert (chart.declared_in, chart.lock) == ("requirements.yaml", "requirements.lock")


@pytest.mark.parametrize("chart_yaml, requirements, declared", [
    ("apiVersion: v2\nname: a\nversion: 1.0.0\n---\n", None, ()),  # a trailing document separator
    ("apiVersion: v2\nname: a\nversion: 1.0.0\n---\nname: b\nversion: 9.9.9\n", None, ()),  # Helm reads the first
    ("apiVersion: v2\nname: a\nversion: 1.0.0\n---\nfoo: [\n\tbar\n", None, ()),  # never the rest, even broken
    ("apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies: null\n", None, ()),
    ("apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies: ~\n", None, ()),
    ("apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies:\n", None, ()),
    ("apiVersion: v1\nname: a\nversion: 1.0.0\n", "dependencies: ~\n", ()),  # declared in requirements.yaml: none
    ("apiVersion: v1\nname: a\nversion: 1.0.0\n", "dependencies: null\n---\n", ()),
    ("apiVersion: v1\nname: a\nversion: 1.0.0\ndependencies: [{name: lib, version: 1.0.0, repository: 'file://../lib'}]\n",
     "# nothing here: Chart.yaml's list stands\n", (charts.Dependency("lib", "1.0.0", "file://../lib"),)),
])
def test_chart_yaml_that_helm_reads_is_read_as_helm_reads_it(tmp_path, chart_yaml, requirements, declared):
    """Helm reads the first YAML document of Chart.yaml and requirements.yaml, and a null list is no list."""
    folder = write_chart(tmp_path, "a", chart_yaml)
    if requirements is not None:
        (folder / "requirements.yaml").write_text(requirements)
    tree = charts.discover(tmp_path)
    assert tree.failures == []
    [chart] = tree.charts
    assert (chart.name, chart.version, chart.dependencies) == ("a", "1.0.0", declared)
    assert chart.declared_in == ("requirements.yaml" if requirements and "dependencies" in requirements else "Chart.yaml")


def test_a_text_where_helm_wants_a_list_of_dependencies_is_refused_as_helm_refuses_it(tmp_path):
    write_chart(tmp_path, "a", "apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies: 'null'\n")
    [failure] = charts.discover(tmp_path).failures
    assert failure.message == (f"{tmp_path.name}/a/Chart.yaml: dependencies must be a list of name/version/repository "
                               "mappings")


def test_requirements_yaml_and_its_lock_are_read_for_an_apiversion_v2_chart_too_with_helms_warning(tmp_path):
    """Helm's loader reads requirements.yaml whatever the apiVersion, after Chart.yaml: its dependencies replace
    Chart.yaml's; requirements.lock is read after Chart.lock. For v2 it warns, and the tool says so naming the file."""
    folder = write_chart(tmp_path, "new", "apiVersion: v2\nname: new\nversion: 1.0.0\n"
                                          "dependencies: [{name: gone, version: 1.0.0, repository: 'file://../gone'}]\n")
    (folder / "requirements.yaml").write_text("dependencies:\n- {name: lib, version: 0.2.0, repository: '@stable'}\n")
    (folder / "requirements.lock").write_text("dependencies: []\n")
    (folder / "Chart.lock").write_text("dependencies: []\n")
    [chart] = charts.discover(tmp_path).charts
    assert chart.dependencies == (charts.Dependency("lib", "0.2.0", "@stable"),)
    assert (chart.declared_in, chart.lock, chart.api) == ("requirements.yaml", "requirements.lock", "v2")
    assert charts.lint_warnings(chart) == [
        (f'{tmp_path.name}/new/requirements.yaml: Helm reads the dependencies from here, but warns: "Dependencies are '
         'handled in Chart.yaml since apiVersion v2"; Chart.yaml\'s own dependencies are ignored; move them to '
         'Chart.yaml'),
        (f'{tmp_path.name}/new/requirements.lock: Helm reads the lock from here, but warns: "Dependency locking is '
         'handled in Chart.lock since apiVersion v2"; rename it Chart.lock')]
    (folder / "requirements.yaml").write_text("- {name: lib}\n")
    [failure] = charts.discover(tmp_path).failures
    assert failure.message == (f"{tmp_path.name}/new/requirements.yaml: must be a mapping (dependencies: [...]); Helm "
                               "cannot load anything else")


def test_version_like_1_10_stays_a_string(tmp_path):
    write_chart(tmp_path, "a", "apiVersion: v2\nname: a\nversion: 1.10.0\nappVersion: 1.10\n")
    assert charts.discover(tmp_path).charts[0].version == "1.10.0"


@pytest.mark.parametrize("chart_yaml, message", [
    ("apiVersion: v2\nname: [a\n", "not valid YAML at line"),
    ("- a list\n", "must be a mapping"),
    ("apiVersion: v2\nversion: 1.0.0\n", "'name' is missing"),
    ("apiVersion: v2\nname: a\n", "'version' is missing"),
    ("apiVersion: v2\nname: a\nversion: 1.2.3.4\n", "version '1.2.3.4' is not a version Helm accepts"),
    ("apiVersion: v2\nname: a\nversion: latest\n", "version 'latest' is not a version Helm accepts"),
    ("apiVersion: v2\nname: a\nversion: 1.0.0-rc.01\n", "version '1.0.0-rc.01' is not a version Helm accepts"),
    ("apiVersion: v2\nname: a\nversion: 18446744073709551616.0.0\n", "is not a version Helm accepts"),  # 2**64
    ("apiVersion: v2\nname: a\nversion: \uff11.9.0\n", "is not a version Helm accepts"),  # a full-width digit
    ("apiVersion: v2\nname: a\nversion: |\n  1.9.0\n", "is not a version Helm accepts"),  # a line break after
    ("apiVersion: v3\nname: a\nversion: 1.0.0\n", "apiVersion 'v3' is not supported"),
    ("name: a\nversion: 1.0.0\n", "apiVersion None is not supported"),
    ("apiVersion: v2\nname: team/a\nversion: 1.0.0\n", "name 'team/a' is invalid"),
    ("apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies: common\n", "dependencies must be a list"),
])
def test_bad_chart_yaml_is_a_failure_of_that_folder_alone(tmp_path, chart_yaml, message):
    write_chart(tmp_path, "broken", chart_yaml)
    write_chart(tmp_path, "good", "apiVersion: v2\nname: good\nversion: 1.0.0\n")
    tree = charts.discover(tmp_path)
    assert [c.name for c in tree.charts] == ["good"]
    [failure] = tree.failures
    assert failure.rel == "broken"
    assert re.search(message, failure.message)
    assert failure.message.startswith(f"{tmp_path.name}/broken/Chart.yaml: ")
    assert "\n" not in failure.message


@pytest.mark.parametrize("name, version, warned", [
    ("MyChart", "0.1.0", "name 'MyChart' is not lowercase"),
    ("my_chart", "0.1.0", "name 'my_chart' is not lowercase"),
    ("vchart", "v1.2.3", "version 'v1.2.3' is not SemVer 2"),
    ("short", "1.2", "version '1.2' is not SemVer 2"),
    ("lead", "01.2.3", "version '01.2.3' is not SemVer 2"),
    ("fine", "1.0.0-rc.1+b5", None),
])
def test_what_helm_packages_is_accepted_and_what_its_lint_warns_about_is_a_warning(tmp_path, name, version, warned):
    write_chart(tmp_path, "c", f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    [chart] = charts.discover(tmp_path).charts
    assert (chart.name, chart.version) == (name, version)
    warnings = charts.lint_warnings(chart)
    assert (warned in warnings[0]) if warned else warnings == []


def test_chart_yaml_that_is_not_utf8_is_a_failure(tmp_path):
    folder = write_chart(tmp_path, "a", "")
    (folder / "Chart.yaml").write_bytes(b"apiVersion: v2\nname: a\ndescription: caf\xe9\nversion: 1.0.0\n")
    assert "not UTF-8" in charts.discover(tmp_path).failures[0].message


def test_two_folders_may_hold_two_versions_of_one_chart_but_not_the_same_version(tmp_path):
    write_chart(tmp_path, "one/app", "apiVersion: v2\nname: app\nversion: 1.0.0\n")
    write_chart(tmp_path, "app-v2", "apiVersion: v2\nname: app\nversion: 2.0.0\n")
    assert sorted(c.version for c in charts.discover(tmp_path).charts) == ["1.0.0", "2.0.0"]
    write_chart(tmp_path, "two/app", "apiVersion: v2\nname: app\nversion: 1.0.0\n")
    tree = charts.discover(tmp_path)
    assert [c.rel for c in tree.charts] == ["app-v2"]
    assert [f.rel for f in tree.failures] == ["one/app", "two/app"]
    assert f"{tmp_path.name}/one/app and {tmp_path.name}/two/app both hold app 1.0.0" in tree.failures[0].message


def test_two_charts_whose_packages_would_have_one_file_name_are_both_refused(tmp_path):
    write_chart(tmp_path, "foo", "apiVersion: v2\nname: foo\nversion: 1.0.0-1.0.0\n")  # foo-1.0.0-1.0.0.tgz
    write_chart(tmp_path, "foo-1.0.0", "apiVersion: v2\nname: foo-1.0.0\nversion: 1.0.0\n")  # the same file
    write_chart(tmp_path, "ok", "apiVersion: v2\nname: ok\nversion: 1.0.0\n")
    tree = charts.discover(tmp_path)
    assert [c.rel for c in tree.charts] == ["ok"]
    assert [(f.rel, f.name) for f in tree.failures] == [("foo", "foo"), ("foo-1.0.0", "foo-1.0.0")]
    assert ("hold foo 1.0.0-1.0.0 and foo-1.0.0 1.0.0, both packaged as foo-1.0.0-1.0.0.tgz"
            in tree.failures[0].message)


def test_a_folder_whose_chart_yaml_is_misnamed_is_a_failure_not_skipped_unsaid(tmp_path):
    for folder, name in (("yml", "Chart.yml"), ("lower", "chart.yaml")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text(f"apiVersion: v2\nname: {folder}\nversion: 1.0.0\n")
    (tmp_path / "dir" / "Chart.yaml").mkdir(parents=True)
    (tmp_path / "dangling").mkdir()
    (tmp_path / "dangling" / "Chart.yaml").symlink_to(tmp_path / "nowhere.yaml")
    write_chart(tmp_path, "ok", "apiVersion: v2\nname: ok\nversion: 1.0.0\n")
    (tmp_path / "ok" / "templates").mkdir()
    (tmp_path / "ok" / "templates" / "chart.yml").write_text("inside a chart: a file of its own\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "README.md").write_text("no chart, and none meant\n")
    tree = charts.discover(tmp_path)
    assert [c.rel for c in tree.charts] == ["ok"]
    assert {f.rel: f.message.split(": ", 1)[1].split(";")[0] for f in tree.failures} == {
        "dir": "no Chart.yaml, but a Chart.yaml that is not a file", "lower": "no Chart.yaml, but chart.yaml",
        "dangling": "no Chart.yaml, but a Chart.yaml that is not a file",
        "yml": "no Chart.yaml, but Chart.yml"}


def gitlinks(checkout: Path, *paths: str) -> None:
    """A repository at `checkout` recording each path as a submodule (mode 160000), as a clone has it."""
    subprocess.run(["git", "init", "-q"], cwd=checkout, check=True)
    for path in paths:
        subprocess.run(["git", "update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},{path}"], cwd=checkout,
                       check=True)


def test_a_git_submodule_not_checked_out_is_a_failure_of_its_folder_not_skipped_unsaid(tmp_path):
    """A clone without --recurse-submodules (Drone's default) leaves each submodule an empty folder (one cloned but
    not checked out holds only its .git file): a chart there would go unpublished, the run green. An empty folder git
    does not record is nothing."""
    checkout = tmp_path / "checkout"
    write_chart(checkout / "charts", "ok", "apiVersion: v2\nname: ok\nversion: 1.0.0\n")
    for rel in ("sub", "team/sub", "gitdir", "empty"):
        (checkout / "charts" / rel).mkdir(parents=True)
    (checkout / "charts" / "gitdir" / ".git").write_text("gitdir: ../../.git/modules/gitdir\n")
    gitlinks(checkout, "charts/sub", "charts/team/sub")
    tree = charts.discover(checkout / "charts", checkout)
    assert [c.rel for c in tree.charts] == ["ok"]
    assert {f.rel: f.message for f in tree.failures} == {rel: (
        f"charts/{rel}: a git submodule that is not checked out (empty); run git submodule update --init --recursive "
        "(in Drone: clone with recursive submodules)") for rel in ("gitdir", "sub", "team/sub")}
    other = tmp_path / "other"
    (other / "charts").mkdir(parents=True)
    gitlinks(other, "charts")  # the charts folder itself a submodule: nothing to publish is not a success
    with pytest.raises(ToolError, match=r"^charts: a git submodule that is not checked out \(empty\); run git "):
        charts.discover(other / "charts", other)


def test_symlinked_chart_folders_are_followed_inside_the_checkout_and_warned_about_outside(tmp_path):
    checkout = tmp_path / "checkout"
    write_chart(checkout, "shared/lib", "apiVersion: v2\nname: lib\nversion: 1.0.0\n")
    write_chart(tmp_path, "elsewhere/ext", "apiVersion: v2\nname: ext\nversion: 1.0.0\n")
    (checkout / "charts").mkdir()
    os.symlink(checkout / "shared" / "lib", checkout / "charts" / "lib")
    os.symlink(tmp_path / "elsewhere" / "ext", checkout / "charts" / "ext")
    os.symlink(checkout / "charts", checkout / "charts" / "loop")
    tree = charts.discover(checkout / "charts", checkout)
    assert [(c.name, c.rel) for c in tree.charts] == [("lib", "lib")]
    assert tree.warnings == [f"charts/ext: symlink to {tmp_path / 'elsewhere' / 'ext'}, outside the checkout; skipped"]


def test_a_folder_symlink_out_of_the_checkout_in_a_chart_is_said_once_by_its_chart_and_not_warned_about(tmp_path):
    """Discovery walks a chart's folders too (for charts nested in it): a bad link there is the chart's file, which
    building it refuses, so a warning that it was skipped said it twice (and wrongly: the chart fails on it)."""
    checkout = tmp_path / "checkout"
    folder = write_chart(checkout / "charts", "a", "apiVersion: v2\nname: a\nversion: 1.0.0\n")
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", folder / "etc")
    (checkout / "charts" / "docs").mkdir()
    os.symlink(tmp_path / "outside", checkout / "charts" / "docs" / "etc")
    tree = charts.discover(checkout / "charts", checkout)
    assert tree.warnings == [f"charts/docs/etc: symlink to {tmp_path / 'outside'}, outside the checkout; skipped"]
    with pytest.raises(ToolError, match=r"^charts/a/etc: symlink points outside the checkout "):
        charts.check_files(tree.charts[0])


def test_a_symlink_is_followed_inside_the_checkout_and_refused_beyond_it_or_looping(tmp_path):
    """Helm follows every symlink; a chart may use a file shared in its checkout, nothing from beyond it."""
    folder = write_chart(tmp_path, "checkout/charts/a", "apiVersion: v2\nname: a\nversion: 1.0.0\n")
    (tmp_path / "checkout" / "shared.yaml").write_text("shared: true\n")
    os.symlink("../../shared.yaml", folder / "shared.yaml")
    [chart] = charts.discover(tmp_path / "checkout" / "charts", tmp_path / "checkout").charts
    charts.check_files(chart)
    (tmp_path / "secret.txt").write_text("not for the chart")
    os.symlink(tmp_path / "secret.txt", folder / "leak.txt")
    with pytest.raises(ToolError, match=r"charts/a/leak.txt: symlink points outside the checkout \(/.*secret.txt -> "):
        charts.check_files(chart)
    (folder / "leak.txt").unlink()
    os.symlink("loop.yaml", folder / "loop.yaml")
    with pytest.raises(ToolError, match="charts/a/loop.yaml: symlink loop"):
        charts.check_files(chart)


@pytest.mark.parametrize("dot_git, target, refused", [
    ("folder", ".git/config", "linked: symlink into git's own files (../../.git/config -> {checkout}/.git/config);"),
    ("folder", ".git", "linked: symlink into git's own files (../../.git -> {checkout}/.git);"),
    ("folder", "vendor/lib/.git/config", "linked: symlink into git's own files (../../vendor/lib/.git/config -> "),
    ("folder", "vendor/lib", "linked/.git: git's own files ({checkout}/vendor/lib/.git), reached through the symlink"),
    ("gitdir file", "gitdata/config", "linked: symlink into git's own files (../../gitdata/config -> "),
    ("symlink", "gitdata", "linked: symlink into git's own files (../../gitdata -> {checkout}/gitdata);"),
], ids=["its config", "its folder", "a nested repository's", "a folder holding one", "a gitdir file's", "a link's"])
def test_a_symlink_into_gits_own_files_is_refused_naming_it(tmp_path, dot_git, target, refused):
    """Helm would package git's files through a link, and a CI's .git/config holds credentials (http.extraheader):
    a link into the checkout's git folder (wherever its .git leads) or a nested repository's is refused."""
    checkout = tmp_path / "checkout"
    folder = write_chart(checkout, "charts/a", "apiVersion: v2\nname: a\nversion: 1.0.0\n")
    for git_dir in (checkout / "gitdata", checkout / "vendor" / "lib" / ".git"):
        git_dir.mkdir(parents=True)
        (git_dir / "config").write_text("[http]\n\textraheader = AUTHORIZATION: basic c2VjcmV0\n")
    if dot_git == "folder":
        (checkout / "gitdata").rename(checkout / ".git")
    elif dot_git == "gitdir file":
        (checkout / ".git").write_text("gitdir: gitdata\n")
    else:
        os.symlink("gitdata", checkout / ".git")
    [chart] = charts.discover(checkout / "charts", checkout).charts
    (checkout / ".github").mkdir()
    (checkout / ".github" / "ok.yaml").write_text("ok: true\n")
    os.symlink("../../.github/ok.yaml", folder / "ok.yaml")
    charts.check_files(chart)  # a file of the checkout's, whatever its name
    os.symlink(f"../../{target}", folder / "linked")
    with pytest.raises(ToolError) as refusal:
        charts.check_files(chart)
    assert str(refusal.value).startswith("charts/a/" + refused.format(checkout=os.path.realpath(checkout)))
    assert str(refusal.value).endswith("may hold credentials (a CI's .git/config does): remove the link, or copy into "
                                       "the chart what it needs")
    (folder / ".helmignore").write_text("linked\n")  # what Helm does not read is not refused
    charts.check_files(chart)



def test_a_repositorys_own_git_folder_in_a_chart_is_refused_unless_helmignore_leaves_it_out(tmp_path):
    """A chart cloned into place: Helm packages its .git (credentials in its config too), and git's listing of the
    checkout never shows it, so no fingerprint would see it change."""
    folder = write_chart(tmp_path, "charts/a", "apiVersion: v2\nname: a\nversion: 1.0.0\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("[http]\n\textraheader = AUTHORIZATION: basic c2VjcmV0\n")
    [chart] = charts.discover(tmp_path / "charts", tmp_path).charts
    with pytest.raises(ToolError, match=r"^charts/a/\.git: a git repository's own folder, in the chart; Helm would "
                       r"package it, and its config may hold credentials: list \.git/ in the chart's \.helmignore"):
        charts.check_files(chart)
    (folder / ".helmignore").write_text(".git/\n")
    charts.check_files(chart)
    (folder / ".helmignore").unlink()
    (folder / ".git" / "config").unlink()
    (folder / ".git").rmdir()
    (folder / ".git").write_text("gitdir: ../../.git/modules/a\n")  # a submodule's pointer, packaged as Helm does
    charts.check_files(chart)


def test_two_subcharts_of_one_name_in_a_charts_folder_are_refused_naming_both(tmp_path):
    """Helm packages each as charts/NAME: its package holds both, and which one installs is left to chance."""
    folder = write_chart(tmp_path, "charts/app", "apiVersion: v2\nname: app\nversion: 1.0.0\n")
    write_chart(folder, "charts/a", "apiVersion: v2\nname: sub\nversion: 0.1.9\n")
    write_chart(folder, "charts/b", "apiVersion: v2\nname: other\nversion: 0.1.1\n")
    write_chart(folder, "charts/_old", "apiVersion: v2\nname: sub\nversion: 0.1.0\n")  # Helm's loader skips it
    [chart] = charts.discover(tmp_path / "charts").charts
    charts.check_files(chart)

    def refused(first: str, second: str, name: str, level: str = "charts") -> str:
        return (f"^charts/app/{first} and charts/app/{second} are both the subchart {name}, which Helm packages as "
                rf"{level}/{name} twice \(which one installs is left to chance\); remove one")

    write_chart(folder, "charts/b", "apiVersion: v2\nname: sub\nversion: 0.1.1\n")
    with pytest.raises(ToolError, match=refused("charts/a", "charts/b", "sub")):
        charts.check_files(chart)
    (folder / ".helmignore").write_text("charts/b/\n")  # what Helm does not read is not refused
    charts.check_files(chart)
    (folder / "charts" / "sub-0.1.0.tgz").write_bytes(archive([("sub/Chart.yaml", b"name: sub\nversion: 0.1.0", 0)]))
    with pytest.raises(ToolError, match=refused("charts/sub-0.1.0.tgz", "charts/a", "sub")):
        charts.check_files(chart)
    (folder / "charts" / "sub-0.1.0.tgz").unlink()
    write_chart(folder, "charts/a/charts/x", "apiVersion: v2\nname: deep\nversion: 1.0.0\n")
    write_chart(folder, "charts/a/charts/y", "apiVersion: v2\nname: deep\nversion: 2.0.0\n")
    with pytest.raises(ToolError, match=refused("charts/a/charts/x", "charts/a/charts/y", "deep", "charts/a/charts")):
        charts.check_files(chart)


def test_templates_must_be_utf8_and_within_helms_file_size(tmp_path):
    folder = write_chart(tmp_path, "charts/a", "apiVersion: v2\nname: a\nversion: 1.0.0\n")
    (folder / "templates").mkdir()
    (folder / "templates" / "big.yaml").write_bytes(b"x" * (archives.MAX_FILE + 1))
    [chart] = charts.discover(tmp_path / "charts").charts
    with pytest.raises(ToolError, match='charts/a/templates/big.yaml: chart file "big.yaml" is larger than'):
        charts.check_files(chart)
    (folder / "templates" / "big.yaml").write_bytes(b"caf\xe9")
    with pytest.raises(ToolError, match="charts/a/templates/big.yaml: not UTF-8"):
        charts.check_files(chart)


def test_a_path_over_the_systems_limit_fails_its_chart_alone_saying_to_shorten_it(tmp_path, monkeypatch):
    """ENAMETOOLONG is no permission problem: the advice is the one for that errno. A file whose own path is over
    the limit (its folder's is not) failed the whole run with an OSError, where it is its chart's failure."""
    folder = write_chart(tmp_path, "charts/a", "apiVersion: v2\nname: a\nversion: 1.0.0\n")
    monkeypatch.chdir(folder)
    while len(os.getcwd()) < 4000:  # made a level at a time: the system refuses the longer path whole
        level = "d" * min(200, 3999 - len(os.getcwd()))
        os.mkdir(level)
        os.chdir(level)
    Path("f" * 120).write_text("its path is over 4096 bytes, its folder's under\n")
    [chart] = charts.discover(tmp_path / "charts").charts
    with pytest.raises(ToolError, match=r"/f+: cannot be read \(File name too long\); shorten the path \(rename "):
        charts.check_files(chart)
    os.unlink("f" * 120)
    os.mkdir("e" * 120)
    with pytest.raises(ToolError, match=r"/e+/: cannot list the folder \(File name too long\); shorten the path "):
        charts.check_files(chart)


def test_a_file_helm_reads_whole_is_read_past_the_size_it_reports_and_never_past_helms_limit(tmp_path):
    """Chart.yaml and .helmignore are read to the size the file reports, then on: a file whose size the kernel
    cannot tell (/proc reports 0) is still read whole, and one over Helm's limit is refused at the limit."""
    assert len(Path("/proc/self/cmdline").read_bytes()) > 1
    assert charts._chart_file("/proc/self/cmdline", "cmdline") == Path("/proc/self/cmdline").read_bytes()
    exact = tmp_path / "exact.yaml"
    exact.write_bytes(b"a" * archives.MAX_FILE)
    assert charts._chart_file(exact, "exact.yaml") == exact.read_bytes()
    exact.write_bytes(b"a" * (archives.MAX_FILE + 1))
    with pytest.raises(ToolError, match='exact.yaml: chart file "exact.yaml" is larger than the maximum file size'):
        charts._chart_file(exact, "exact.yaml")


def test_chart_selection_takes_names_or_folders_and_ignores_the_state_of_the_others(tmp_path):
    write_chart(tmp_path, "a", "apiVersion: v2\nname: a\nversion: 1.0.0\n")
    write_chart(tmp_path, "group/b", "apiVersion: v2\nname: b\nversion: 1.0.0\n")
    write_chart(tmp_path, "broken", "apiVersion: v2\nname: broken\n")
    tree = charts.discover(tmp_path)
    assert [c.name for c in charts.select(tree, ["a", "group/b"]).charts] == ["a", "b"]
    assert charts.select(tree, ["a"]).failures == []
    assert [f.rel for f in charts.select(tree, ["broken"]).failures] == ["broken"]
    with pytest.raises(ToolError, match="--chart 'zz': no such chart; known: a, b, broken"):
        charts.select(tree, ["zz"])


def archive(entries: list[tuple[str, bytes, int]]) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=1234) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, data, mtime in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.uid, info.uname = len(data), mtime, 1000, "dev"
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_normalize_gives_identical_bytes_whatever_the_mtimes_order_and_owner():
    one = archive([("c/Chart.yaml", b"name: c", 1), ("c/values.yaml", b"a: 1", 2)])
    two = archive([("c/values.yaml", b"a: 1", 99999), ("c/Chart.yaml", b"name: c", 5)])
    assert one != two
    assert archives.normalized(one, 315532800)[0] == archives.normalized(two, 315532800)[0]
    with tarfile.open(fileobj=io.BytesIO(archives.normalized(one, 315532800)[0])) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["c/Chart.yaml", "c/values.yaml"]
    assert {(m.mtime, m.uid, m.gid, m.uname) for m in members} == {(315532800, 0, 0, "")}
    assert archives.archive_files(archives.normalized(one, 1)[0]) == {"c/Chart.yaml": b"name: c", "c/values.yaml": b"a: 1"}


@pytest.mark.parametrize("folder", ["c", "c" * 100], ids=["helm's ustar", "a pax header"])
def test_normalize_refuses_an_archive_holding_a_name_twice_naming_it(folder):
    """The fast path and the general one alike: sorted, one name twice would still leave to the order of the entries
    which one a reader keeps."""
    twice = f"{folder}/charts/sub/Chart.yaml"
    raw = archive([(twice, b"name: sub", 1), (f"{folder}/Chart.yaml", b"name: c", 1), (twice, b"name: sub\n", 1)])
    with pytest.raises(ToolError, match=rf"^charts/c: its package would hold {twice} twice \(two subcharts of one "):
        archives.normalized(raw, 1, "charts/c")


def test_the_package_epoch_is_source_date_epoch_else_a_fixed_date_never_a_commit_time(tmp_path):
    assert tool_settings.package_epoch({"SOURCE_DATE_EPOCH": "1700000000"}) == 1700000000
    assert tool_settings.package_epoch({}) == tool_settings.FIXED_EPOCH
    with pytest.raises(ToolError, match="SOURCE_DATE_EPOCH='soon' is not a number"):
        tool_settings.package_epoch({"SOURCE_DATE_EPOCH": "soon"})


def test_a_package_epoch_a_tar_header_cannot_hold_is_refused_naming_the_range():
    """ustar's mtime is 11 octal digits: -5 or 8**11 would be written as a header Helm's loader refuses."""
    assert tool_settings.package_epoch({"SOURCE_DATE_EPOCH": str(8**11 - 1)}) == 8**11 - 1
    for bad in ("-5", str(8**11)):
        with pytest.raises(ToolError, match=rf"SOURCE_DATE_EPOCH={bad} is outside 0\.\.8589934591"):
            tool_settings.package_epoch({"SOURCE_DATE_EPOCH": bad})


_names = st.lists(st.from_regex(r"c/[a-z]{1,8}(/[a-z]{1,8})?\.yaml", fullmatch=True), min_size=1, max_size=6, unique=True)


@settings(max_examples=60, deadline=None)
@given(_names, st.data())
def test_normalize_keeps_every_file_and_is_idempotent_whatever_the_order_and_mtimes(names, data):
    contents = {n: data.draw(st.binary(max_size=64)) for n in names}
    mtimes = [data.draw(st.integers(0, 2**31)) for _ in names]
    shuffled = data.draw(st.permutations(names))
    raw = archive([(n, contents[n], m) for n, m in zip(shuffled, mtimes)])
    once = archives.normalized(raw, 315532800)[0]
    assert archives.archive_files(once) == contents
    assert archives.normalized(once, 315532800)[0] == once
    assert archives.normalized(archive([(n, contents[n], 7) for n in sorted(names)]), 315532800)[0] == once


@settings(max_examples=40, deadline=None)
@given(_names, st.data())
def test_the_fast_normalize_gives_the_bytes_of_the_general_one(names, data):
    contents = {n: data.draw(st.binary(max_size=2000)) for n in names}
    raw = archive([(n, contents[n], data.draw(st.integers(0, 2**31))) for n in names])
    fast, files = archives._normalize_ustar(raw, 315532800) or (b"", {})
    assert fast and files == contents
    fast_path = archives._normalize_ustar
    try:
        archives._normalize_ustar = lambda data, mtime: None  # type: ignore[assignment]
        assert archives.normalized(raw, 315532800) == (fast, files)
    finally:
        archives._normalize_ustar = fast_path


def test_the_fast_normalize_leaves_what_it_does_not_know_to_the_general_one():
    long_name = "c/" + "x" * 120 + ".yaml"
    raw = archive([(long_name, b"a: 1", 1)])
    assert archives._normalize_ustar(raw, 1) is None  # a pax header: the general path
    assert archives.archive_files(archives.normalized(raw, 1)[0]) == {long_name: b"a: 1"}
    assert archives._normalize_ustar(b"not gzip", 1) is None


def test_merge_keys_in_chart_yaml_are_merged_as_helm_reads_them(tmp_path):
    chart = tmp_path / "charts" / "merged"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: merged\nversion: 1.0.0\nx-team: &team {team: web}\n"
                                      "annotations: {owner: me, <<: *team}\n")
    source = charts.read(chart, tmp_path / "charts")
    assert charts._load_yaml(chart / "Chart.yaml", "Chart.yaml")["annotations"] == {"owner": "me", "team": "web"}
    assert (source.name, source.version) == ("merged", "1.0.0")
