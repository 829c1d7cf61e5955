"""`invoke --list` reads like a menu and stays instant: no Helm runtime, no boto3."""

import json
import subprocess
import sys

import invoke as invoke_lib

from tests.conftest import ROOT, arguments, invoke

TASKS = ("repo.lint", "repo.package", "repo.index", "repo.sync", "repo.publish", "repo.serve", "release.deploy",
         "release.rollback", "release.history", "release.status", "release.diff", "release.uninstall", "config",
         "repo.verify", "repo.doctor", "repo.list", "release.list", "release.test")


def test_list_shows_every_task_on_one_line_without_importing_helm_or_boto3():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "invoke", "--list"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    lines = [line for line in result.stdout.splitlines()[1:] if line.strip()]
    assert sorted(line.split()[0] for line in lines) == sorted(TASKS)  # no wrapped continuation lines
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert not {m for m in imported if m.split(".")[0] in ("boto3", "botocore", "helm_python")}


def test_what_start_up_loaded_is_frozen_out_of_the_cyclic_gc():
    """A full collection during a task scans only what the task made (scripts/bench_publish: ~6% of a no-op push)."""
    frozen = subprocess.run([sys.executable, "-c", "import gc, tasks; print(gc.get_freeze_count())"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    assert int(frozen) > 10_000  # every object start-up created: the modules' and the collection's


def test_every_task_and_every_parameter_has_help():
    sys.path.insert(0, str(ROOT))
    import tasks as front_door

    for name in front_door.ns.task_names:
        task = front_door.ns[name]
        assert (task.__doc__ or "").strip(), f"{name} has no docstring"
        missing = [a.name for a in arguments(task) if not a.help]
        assert not missing, f"{name}: no help for {missing}"


def test_readme_test_command_is_what_ci_runs_and_its_examples_use_real_flags():
    import re

    import tasks as front_door

    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"    {ci}\n" in readme
    flags = {name: {f"--{a.name.replace('_', '-').strip('-')}" for a in arguments(front_door.ns[name])}
             for name in front_door.ns.task_names}
    for names in flags.values():  # invoke's automatic --no-FLAG for flags that default to true
        names |= {f"--no-{f[2:]}" for f in names}
    used = re.findall(r"invoke (?:--debug )?([a-z]+(?:\.[a-z]+)?)((?: [^\n#`]*)?)", readme)
    checked = 0
    for task, rest in used:
        if task not in flags:
            continue
        for flag in re.findall(r"(--[a-z][a-z-]*)", rest):
            assert flag in flags[task], f"README: invoke {task} {flag}: no such flag"
            checked += 1
    assert checked >= 15


def test_one_short_flag_scheme_across_every_task_and_integers_typed():
    import tasks as front_door
    from tasks.cli import SHORT

    for name in front_door.ns.task_names:
        for argument in arguments(front_door.ns[name]):
            shorts = [n for n in argument.names if len(n) == 1]
            long = max(argument.names, key=len)
            assert shorts == ([SHORT[long]] if long in SHORT else []), f"{name} --{long}: short flags {shorts}"
    rollback = {max(a.names, key=len): a for a in arguments(front_door.ns["release.rollback"])}
    assert rollback["revision"].kind("3") == 3  # typed: a word is a parse error (tested below)


def test_a_mistyped_task_or_flag_gets_one_line_with_the_closest_name():
    def run(*args):
        return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False)

    task = run("repo.publsh")
    assert task.returncode == 1
    assert task.stderr.strip() == ("error: 'repo.publsh' is not a task; did you mean repo.publish? "
                                   "(invoke --list shows them all)")
    flag = run("release.deploy", "--sett", "a=b")
    assert flag.stderr.strip() == ("error: --sett is not a flag of release.deploy; did you mean --set? "
                                   "(invoke --help release.deploy)")
    typed = run("release.rollback", "--revision", "two")
    assert typed.returncode == 1 and "two" in typed.stderr and "Traceback" not in typed.stderr
    shown = run("--help", "release.deploy").stdout
    assert "-s KEY=VALUE, --set=KEY=VALUE" in shown and "-f FILE, --values=FILE" in shown
    assert "Exit codes:\n  0 done; 1 refused" in shown and "130 interrupted" in shown


def test_each_task_on_one_command_line_keeps_its_own_flags(project, tmp_path):
    """The parse copies a task's flags only when the command line names it (cli.customize skips Invoke's copy
    of the whole collection): the same task twice still gets two sets of flags."""
    invoke(project, "repo.publish", "--url", str(tmp_path / "a"))
    (tmp_path / "b").mkdir()
    out = invoke(project, "repo.list", "--url", str(tmp_path / "a"), "-o", "json",
                 "repo.list", "--url", str(tmp_path / "b"), "-o", "json").stdout
    first, end = json.JSONDecoder().raw_decode(out)
    assert [row["chart"] for row in first] == ["common", "hello-api", "hello-world"]
    assert json.loads(out[end:]) == []


def test_invoke_merges_invoke_yaml_as_checked_without_parsing_it_again(monkeypatch):
    import yaml

    import tasks  # noqa: F401 - the front door: checks invoke.yaml and hands Invoke what it read

    def parse_again(*args, **kwargs):
        raise AssertionError("Invoke parsed invoke.yaml again")

    monkeypatch.setattr(invoke_lib.config.yaml, "safe_load", parse_again)
    config = invoke_lib.Config(project_location=str(ROOT))
    config.load_project()
    assert config.repo.url == yaml.safe_load((ROOT / "invoke.yaml").read_text())["repo"]["url"]


def test_a_flag_given_no_value_is_one_line_naming_it_and_what_it_takes():
    def run(*args):
        return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False)

    for flag in ("-o", "--output"):
        result = run("repo.list", flag)
        assert result.returncode == 1 and result.stdout == ""
        assert result.stderr == "error: --output (-o) needs a value: table, json or yaml (invoke --help repo.list)\n"
    assert run("release.rollback", "--revision").stderr.strip() == (
        "error: --revision needs a value: INT (invoke --help release.rollback)")
