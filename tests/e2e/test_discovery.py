"""`invoke --list` reads like a menu and stays instant: no Helm runtime, no boto3."""

import subprocess
import sys

from tests.conftest import ROOT

TASKS = ("repo.lint", "repo.package", "repo.index", "repo.sync", "repo.publish", "repo.serve", "release.deploy",
         "release.rollback", "release.history", "release.status", "release.diff", "release.uninstall", "config",
         "repo.verify", "repo.doctor")


def test_list_shows_every_task_on_one_line_without_importing_helm_or_boto3():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "invoke", "--list"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    lines = [line for line in result.stdout.splitlines()[1:] if line.strip()]
    assert sorted(line.split()[0] for line in lines) == sorted(TASKS)  # no wrapped continuation lines
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert not {m for m in imported if m.split(".")[0] in ("boto3", "botocore", "helm_python")}


def test_every_task_and_every_parameter_has_help():
    sys.path.insert(0, str(ROOT))
    import tasks as front_door

    for name in front_door.ns.task_names:
        task = front_door.ns[name]
        assert (task.__doc__ or "").strip(), f"{name} has no docstring"
        missing = [a.name for a in task.get_arguments(ignore_unknown_help=False) if not a.help]
        assert not missing, f"{name}: no help for {missing}"
