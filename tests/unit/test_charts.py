"""Chart discovery and Chart.yaml validation: one clear line naming the file and the fix."""

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import charts
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
    assert [(c.name, c.rel) for c in charts.discover(tmp_path)] == [("a", "a"), ("b", "group/b")]


def test_a_charts_dependency_repositories_are_read_once_at_discovery(tmp_path):
    write_chart(tmp_path, "a", "apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies:\n"
                               "  - {name: b, version: 1.x, repository: 'https://c.example.com'}\n"
                               "  - {name: c, version: 1.x, repository: 'file://../c'}\n")
    write_chart(tmp_path, "z", "apiVersion: v2\nname: z\nversion: 1.0.0\n")
    assert [c.repositories for c in charts.discover(tmp_path)] == [("file://../c", "https://c.example.com"), ()]


def test_version_like_1_10_stays_a_string(tmp_path):
    write_chart(tmp_path, "a", "apiVersion: v2\nname: a\nversion: 1.10.0\nappVersion: 1.10\n")
    assert charts.discover(tmp_path)[0].version == "1.10.0"


@pytest.mark.parametrize("chart_yaml, message", [
    ("apiVersion: v2\nname: [a\n", "not valid YAML at line"),
    ("- a list\n", "must be a mapping"),
    ("apiVersion: v2\nversion: 1.0.0\n", "'name' is missing"),
    ("apiVersion: v2\nname: a\n", "'version' is missing"),
    ("apiVersion: v2\nname: a\nversion: 1.0\n", "version '1.0' is not SemVer 2"),
    ("apiVersion: v2\nname: a\nversion: v1.0.0\n", "version 'v1.0.0' is not SemVer 2"),
    ("apiVersion: v2\nname: a\nversion: 1.0.0-01\n", "is not SemVer 2"),
    ("apiVersion: v3\nname: a\nversion: 1.0.0\n", "apiVersion 'v3' is not supported"),
    ("name: a\nversion: 1.0.0\n", "apiVersion None is not supported"),
    ("apiVersion: v2\nname: My_Chart\nversion: 1.0.0\n", "name 'My_Chart' is invalid"),
    ("apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies: common\n", "dependencies must be a list"),
])
def test_bad_chart_yaml_is_one_line_naming_the_file(tmp_path, chart_yaml, message):
    write_chart(tmp_path, "broken", chart_yaml)
    with pytest.raises(ToolError, match=message) as error:
        charts.discover(tmp_path)
    assert str(error.value).startswith(f"{tmp_path.name}/broken/Chart.yaml: ")
    assert "\n" not in str(error.value)


def test_chart_yaml_that_is_not_utf8_is_refused(tmp_path):
    folder = write_chart(tmp_path, "a", "")
    (folder / "Chart.yaml").write_bytes(b"apiVersion: v2\nname: a\ndescription: caf\xe9\nversion: 1.0.0\n")
    with pytest.raises(ToolError, match="not UTF-8"):
        charts.discover(tmp_path)


def test_two_charts_with_the_same_name_are_refused_naming_both_folders(tmp_path):
    write_chart(tmp_path, "one/app", "apiVersion: v2\nname: app\nversion: 1.0.0\n")
    write_chart(tmp_path, "two/app", "apiVersion: v2\nname: app\nversion: 2.0.0\n")
    with pytest.raises(ToolError, match="two charts are named 'app': one/app and two/app"):
        charts.discover(tmp_path)


def test_symlink_pointing_outside_the_chart_is_refused(tmp_path):
    folder = write_chart(tmp_path, "charts/a", "apiVersion: v2\nname: a\nversion: 1.0.0\n")
    (tmp_path / "secret.txt").write_text("not for the chart")
    os.symlink(tmp_path / "secret.txt", folder / "leak.txt")
    with pytest.raises(ToolError, match="charts/a/leak.txt: symlink points outside the chart"):
        charts.discover(tmp_path / "charts")


def test_unknown_chart_name_lists_the_known_ones(tmp_path):
    write_chart(tmp_path, "a", "apiVersion: v2\nname: a\nversion: 1.0.0\n")
    with pytest.raises(ToolError, match="--chart 'zz': no such chart; known: a"):
        charts.select(charts.discover(tmp_path), "zz")


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
    assert charts.normalize(one, 315532800) == charts.normalize(two, 315532800)
    with tarfile.open(fileobj=io.BytesIO(charts.normalize(one, 315532800))) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["c/Chart.yaml", "c/values.yaml"]
    assert {(m.mtime, m.uid, m.gid, m.uname) for m in members} == {(315532800, 0, 0, "")}
    assert charts.archive_files(charts.normalize(one, 1)) == {"c/Chart.yaml": b"name: c", "c/values.yaml": b"a: 1"}


def test_source_date_epoch_wins_and_a_checkout_without_git_uses_the_fixed_epoch(tmp_path):
    assert charts.source_date_epoch(tmp_path, {"SOURCE_DATE_EPOCH": "1700000000"}) == 1700000000
    assert charts.source_date_epoch(tmp_path, {}) == charts.FIXED_EPOCH
    with pytest.raises(ToolError, match="SOURCE_DATE_EPOCH='soon' is not a number"):
        charts.source_date_epoch(tmp_path, {"SOURCE_DATE_EPOCH": "soon"})


_names = st.lists(st.from_regex(r"c/[a-z]{1,8}(/[a-z]{1,8})?\.yaml", fullmatch=True), min_size=1, max_size=6, unique=True)


@settings(max_examples=60, deadline=None)
@given(_names, st.data())
def test_normalize_keeps_every_file_and_is_idempotent_whatever_the_order_and_mtimes(names, data):
    contents = {n: data.draw(st.binary(max_size=64)) for n in names}
    mtimes = [data.draw(st.integers(0, 2**31)) for _ in names]
    shuffled = data.draw(st.permutations(names))
    raw = archive([(n, contents[n], m) for n, m in zip(shuffled, mtimes)])
    once = charts.normalize(raw, 315532800)
    assert charts.archive_files(once) == contents
    assert charts.normalize(once, 315532800) == once
    assert charts.normalize(archive([(n, contents[n], 7) for n in sorted(names)]), 315532800) == once
