"""Output for scripts and for people: --output json|yaml is one document on stdout; NO_COLOR and CI honoured."""

import json
import os
import pty
import subprocess
import sys

import pytest
import yaml

from tests.conftest import arguments, invoke

PARSE = {"json": json.loads, "yaml": yaml.safe_load}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_every_repository_report_is_one_document_on_stdout(project, fmt):
    published = invoke(project, "repo.publish", "--output", fmt)
    document = PARSE[fmt](published.stdout)
    assert {(s["chart"], s["action"]) for s in document["steps"]} == {
        ("common", "new"), ("hello-api", "new"), ("hello-world", "new")}
    assert "published to" in published.stderr  # people's lines go to stderr
    assert [r["chart"] for r in PARSE[fmt](invoke(project, "repo.list", "-o", fmt).stdout)] == [
        "common", "hello-api", "hello-world"]
    assert PARSE[fmt](invoke(project, "repo.verify", "-o", fmt).stdout)["ok"] is True
    assert any(r["setting"] == "repo.url" for r in PARSE[fmt](invoke(project, "config", "-o", fmt).stdout))
    (project / "dist" / "repo" / "stray-1.0.0.tgz").write_bytes(b"not in the index")
    failing = invoke(project, "repo.verify", "-o", fmt, check=False)
    assert failing.returncode == 1
    assert [f["kind"] for f in PARSE[fmt](failing.stdout)["findings"]] == ["orphan"]
    assert failing.stderr.strip().endswith(f"the {fmt} document says what to do for each")
    again = invoke(project, "repo.publish", "--output", fmt)
    assert {s["detail"] for s in PARSE[fmt](again.stdout)["steps"]} == {"not rebuilt: inputs unchanged"}


def test_json_stays_an_alias_and_a_bad_output_is_one_line(project):
    assert json.loads(invoke(project, "repo.list", "--json").stdout) == []
    assert {s["action"] for s in json.loads(invoke(project, "repo.publish", "--json").stdout)["steps"]} == {"new"}
    bad = invoke(project, "repo.list", "--output", "xml", check=False)
    assert bad.returncode == 1 and bad.stderr.strip() == "error: --output 'xml': use table, json or yaml"
    both = invoke(project, "repo.list", "--json", "-o", "yaml", check=False)
    assert (both.returncode, both.stdout, both.stderr.strip()) == (
        1, "", "error: --json and --output yaml disagree; give one of them")
    assert json.loads(invoke(project, "repo.list", "--json", "-o", "json").stdout)  # the same thing twice is no conflict


def test_every_task_with_an_output_flag_takes_json_as_its_alias():
    import tasks

    flags = {name: {argument.name for argument in arguments(tasks.ns[name])} for name in tasks.ns.task_names}
    with_output = {name for name, names in flags.items() if "output" in names}
    assert {"repo.publish", "repo.list", "config", "release.deploy"} <= with_output
    assert {name for name in with_output if "json" not in flags[name]} == set()


def on_a_terminal(project, *args, env):
    """`invoke ARGS` with stdout on a pseudo-terminal, as a person runs it; everything it printed."""
    leader, follower = pty.openpty()
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR")}
    process = subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=project, stdout=follower,
                               stderr=follower, stdin=subprocess.DEVNULL, env={**base, "COLUMNS": "120", **env})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(120)
    os.close(leader)
    return b"".join(chunks).decode()


def test_a_terminal_gets_tables_ci_and_no_color_get_plain_lines_without_escape_codes(project):
    invoke(project, "repo.publish")
    person = on_a_terminal(project, "repo.list", env={"CI": "false"})
    assert "╭" in person and "\x1b[" in person  # CI=false is not CI: a person at a terminal
    for env in ({"NO_COLOR": "1"}, {"CI": "true"}, {"CI": "1"}):
        plain = on_a_terminal(project, "repo.list", env=env)
        assert "\x1b[" not in plain and "╭" not in plain, env
        assert "hello-world" in plain


@pytest.mark.parametrize("args", [["--list"], ["--help", "repo.publish"], ["config"], ["repo.publish", "-o", "json"]])
def test_output_into_a_pipe_already_closed_ends_quietly_as_sigpipe_would(project, args):
    """`invoke --list | head`: the reader gone before the first line (the read end closed before the command
    starts, so every write fails) is exit 141, as for `yes | head`, and no traceback."""
    read, write = os.pipe()
    os.close(read)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "PLUGIN_", "DRONE"))}
    result = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=project, stdout=write, stderr=subprocess.PIPE,
                            text=True, env={**env, "CI": "true"}, timeout=120, check=False)
    os.close(write)
    assert (result.returncode, result.stderr.count("Traceback"), "BrokenPipe" in result.stderr) == (141, 0, False)
    if args[0].startswith("--"):
        assert result.stderr == ""  # Invoke's own listing and help: nothing was under way
    else:  # a task may have been cut short: said on stderr, where the pipe's closing does not hide it
        name = args[0].split(".")[-1]  # repo.publish -o json writes its document once the publish is done
        assert result.stderr.strip().splitlines()[-1] == (f"interrupted: what read the output closed it while {name} "
                                                          f"was writing, and {name} stopped there, its work done or "
                                                          "not; run it again to make sure")


def test_a_narrow_terminal_folds_long_cells_and_hides_nothing_behind_an_ellipsis(project):
    invoke(project, "repo.publish")
    person = on_a_terminal(project, "repo.list", env={"CI": "false", "COLUMNS": "40"})
    assert "╭" in person and "…" not in person
    rows = [line.split("│")[1:-1] for line in person.splitlines() if line.startswith("│")]
    first_column = "".join(cells[0].strip() for cells in rows)  # a cell folded over lines, read back in order
    assert "hello-world" in first_column and "hello-api" in first_column, person


@pytest.mark.parametrize("args", [["repo.list"], ["repo.list", "-o", "json"], ["--list"], ["--help", "repo.list"]])
def test_a_stdout_that_cannot_be_written_is_one_line_and_exit_1_not_a_bug(project, args):
    """A full disk (/dev/full refuses every write): what the command did stands, what it printed is lost."""
    invoke(project, "repo.publish")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "PLUGIN_", "DRONE"))}
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=project, stdout=full,
                                stderr=subprocess.PIPE, text=True, env={**env, "CI": "true"}, timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr == ("error: stdout cannot be written (No space left on device): what the command did is done, "
                             "what it printed is lost; send it where it can be written\n")


def test_a_closed_stdout_is_dev_null_and_the_publish_goes_on(project):
    """`invoke repo.publish >&-`: Python has no sys.stdout then (it was an "unexpected AttributeError"), and the next
    file opened would have taken descriptor 1, where Helm's Go code writes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_", "PLUGIN_", "DRONE"))}
    result = subprocess.run(f"{sys.executable} -m invoke repo.publish >&-", shell=True, cwd=project,
                            stderr=subprocess.PIPE, text=True, env={**env, "CI": "true"}, timeout=120, check=False)
    assert (result.returncode, result.stderr) == (0, "")
    assert sorted(p.name for p in (project / "dist" / "repo").glob("*.tgz")) == [
        "common-0.1.0.tgz", "hello-api-0.1.0.tgz", "hello-world-0.1.0.tgz"]


def test_with_stdout_on_a_terminal_errors_sent_to_a_file_are_plain_whole_lines(project, tmp_path):
    """stderr decides for itself: rich wrapped an error at 80 columns into a file (and colored it with FORCE_COLOR)."""
    chart = project / "charts" / "hello-world" / "Chart.yaml"
    chart.write_text(chart.read_text().replace("version: 0.1.0", "version: latest"))
    errors = tmp_path / "errors.txt"
    leader, follower = pty.openpty()
    with errors.open("w") as sink:
        base = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR")}
        process = subprocess.run([sys.executable, "-m", "invoke", "repo.publish", "--dry-run"], cwd=project,
                                 stdout=follower, stderr=sink, stdin=subprocess.DEVNULL, timeout=120, check=False,
                                 env={**base, "COLUMNS": "120", "FORCE_COLOR": "1"})
    os.close(follower)
    os.close(leader)
    assert process.returncode == 1
    expected = ("error: charts/hello-world/Chart.yaml: version 'latest' is not a version Helm accepts; use SemVer 2 "
                "(MAJOR.MINOR.PATCH[-PRE][+BUILD])")
    assert errors.read_text().splitlines() == [expected]


def test_an_empty_output_is_refused_as_any_unknown_one(project):
    """`-o "$UNSET"` in a script: a table where it parses a document."""
    bad = invoke(project, "repo.list", "--output=", check=False)
    assert (bad.returncode, bad.stdout, bad.stderr) == (1, "", "error: --output '': use table, json or yaml\n")
