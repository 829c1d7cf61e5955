"""charts.files() reads a chart folder as Helm's loader does: the same files, .helmignore applied the same way."""

import os
import re

import helm_python
import pytest

from tasks import charts
from tasks.errors import ToolError

CASES = {
    "names, rooted and structural rules": ("*.bak\n/top.txt\nsub/*.txt\n  trailing.txt  \r\n# comment\n",
                                           ["a.bak", "sub/b.bak", "top.txt", "sub/top.txt", "sub/x.txt",
                                            "sub/deeper/x.txt", "trailing.txt", "keep.txt"]),
    "a folder rule leaves a file of that name in": ("tmp/\n", ["tmp/a.txt", "other/tmp"]),
    "a glob that matches a folder leaves it out whole": ("*.d\nsub/*\n", ["conf.d/a.txt", "sub/deep/a.txt", "b.txt"]),
    "the first match decides; a !rule leaves out what it does not match": (
        "!Chart.yaml\n", ["templates/cm.yaml", "notes.txt"]),
    "dot files in templates/ are Helm's default rule": ("", ["templates/.hidden.yaml", "templates/.git/x",
                                                              "templates/sub/.kept.yaml", ".top"]),
    "classes, escapes and a malformed rule Go never reports on 'abc'": (
        "[ab]?.txt\n[^c]x.log\n\\*star\n/*[/^\n", ["a1.txt", "c1.txt", "ax.log", "cx.log", "*star", "zz"]),
    "the byte order mark a Windows editor writes first is dropped, once": (
        "\ufeffa.txt\n\ufeffb.txt\n", ["a.txt", "b.txt", "c.txt"]),
}


def chart_at(folder, helmignore, paths):
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (folder / "templates" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    if helmignore:
        (folder / ".helmignore").write_text(helmignore, encoding="utf-8")
    for path in paths:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(path)
    return folder


def helm_reads(folder):
    with helm_python.Chart.load(folder) as chart:
        return {f["name"] for f in chart.files} | {t["name"] for t in chart.templates} | {"Chart.yaml"}


@pytest.mark.parametrize("case", CASES)
def test_the_files_checked_are_the_files_helm_loads(tmp_path, case):
    folder = chart_at(tmp_path / "c", *CASES[case])
    assert {rel for rel, _ in charts.files(folder, str(tmp_path), "c")} == helm_reads(folder)


MALFORMED = {  # rule: whether Helm refuses it (Go's Match of "abc" reaches the malformed part)
    "*.sw[a-": True, "templates/[abc": True, "notes\\": True, "x[]y": True, "!logs/[": True, "a*[": True,
    "b*a[-": False, "zz*[": False, "a-?*b\\": False,
    # bytes as written in the file: one that is not UTF-8 is malformed inside a class (Go's getEsc), fine outside
    b"notes-[\xe9].txt": True, b"a*[\xe9]": True, b"[a-\xe9]": True, b"[^\xed\xa0\x80]": True, b"zz*[\xe9]": False,
    b"\xe9*.txt": False, b"[\xc3\xa9]x": False,
}


@pytest.mark.parametrize("rule", MALFORMED)
def test_a_malformed_rule_is_refused_with_its_line_exactly_when_helm_refuses_it(tmp_path, rule):
    folder = chart_at(tmp_path / "c", "", ["a.txt", "b.swp"])
    raw = rule if isinstance(rule, bytes) else rule.encode()
    (folder / ".helmignore").write_bytes(b"# editor files\n" + raw + b"\n")
    try:
        helm_refuses = not helm_reads(folder)
    except helm_python.HelmError as exc:
        helm_refuses = "syntax error in pattern" in str(exc)
    assert helm_refuses is MALFORMED[rule]
    if MALFORMED[rule]:
        quoted = repr(rule)[1:] if isinstance(rule, bytes) else repr(rule)  # a stray byte named as \xNN
        with pytest.raises(ToolError, match=rf"^c/.helmignore: line 2: {re.escape(quoted)}: Helm refuses this "):
            list(charts.files(folder, str(tmp_path), "c"))
    else:  # it matches nothing, in Helm and here
        assert {rel for rel, _ in charts.files(folder, str(tmp_path), "c")} == helm_reads(folder)


def test_symlinks_are_followed_and_folder_rules_see_what_they_lead_to(tmp_path):
    folder = chart_at(tmp_path / "c", "linked-dir/\n", ["real/a.txt"])
    os.symlink("real", folder / "linked-dir")
    os.symlink("real", folder / "walked")
    os.symlink("real/a.txt", folder / "linked-file")
    found = dict(charts.files(folder, str(tmp_path), "c"))
    assert set(found) == helm_reads(folder)
    assert found["walked/a.txt"] == found["linked-file"] == str(folder / "real" / "a.txt")


IN_CHARTS = {  # what is in a chart's charts/: whether Helm's loader refuses it (it loads each entry as a subchart)
    "charts/README.md": True, "charts/docs/a.md": True, "charts/sub/charts/notes.txt": True, "charts/old.tar.gz": True,
    "charts/.gitkeep": False, "charts/_notes.txt": False, "charts/sub-0.1.0.tgz.prov": False, "charts/sub/x.md": False,
}


@pytest.mark.parametrize("path", IN_CHARTS)
def test_what_helm_would_take_for_a_subchart_but_is_none_is_refused_naming_it_with_the_fix(tmp_path, path):
    """Helm says only "error unpacking subchart README.md in c: Chart.yaml file is missing", which read as a broken
    vendored archive; the fix is to remove it or leave it out (.helmignore)."""
    folder = chart_at(tmp_path / "charts" / "c", "", [path, "charts/sub/Chart.yaml"])
    (folder / "charts" / "sub" / "Chart.yaml").write_text("apiVersion: v2\nname: sub\nversion: 0.1.0\n")
    try:
        helm_refuses = not helm_reads(folder)
    except helm_python.HelmError as exc:
        helm_refuses = "Chart.yaml file is missing" in str(exc)
    assert helm_refuses is IN_CHARTS[path]
    chart = charts.read(folder, tmp_path / "charts")
    if not IN_CHARTS[path]:
        charts.check_files(chart)
        return
    entry = "/".join(path.split("/")[:4 if path.startswith("charts/sub/") else 2])
    what = "a folder with no Chart.yaml" if path.endswith("/a.md") else "a file, not a chart archive (.tgz),"
    fix = "; remove it, or list it in the chart's .helmignore"
    with pytest.raises(ToolError, match=rf"^charts/c/{re.escape(entry)}: {re.escape(what)} in .*{re.escape(fix)}$"):
        charts.check_files(chart)
    (folder / ".helmignore").write_text(entry + "\n")
    assert helm_reads(folder)
    charts.check_files(chart)
