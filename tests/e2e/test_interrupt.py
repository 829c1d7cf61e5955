"""Ctrl-C and SIGTERM during `invoke release.deploy`: Helm stops waiting, one line says where the release
was left and which command recovers it, exit 130. Signals are sent on progress the emulator OBSERVED."""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import invoke

IMAGE = "quay.io/honestbee/hello-drone-helm"


def start_deploy(cluster, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INVOKE_", "PLUGIN_", "DRONE"))}
    return subprocess.Popen([sys.executable, "-m", "invoke", "release.deploy", "--env", "staging", *args],
                            cwd=cluster.project, env={**env, "CI": "true", **cluster.env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_write(cluster, process, image, revision=None):
    """Until the emulator holds the Deployment with `image` (and Helm's record of `revision`): observed, not guessed."""
    for _ in range(6000):  # a bound so a regression fails instead of hanging; each turn is one look at the store
        try:
            written = cluster.image() == f"{IMAGE}:{image}"
        except KeyError:
            written = False
        recorded = revision is None or f"sh.helm.release.v1.hello-world.v{revision}" in cluster.release_secrets()
        if written and recorded:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise AssertionError(f"the emulator never saw {image}")


def history(cluster):
    out = invoke(cluster.project, "release.history", "--env", "staging", "--json", env=cluster.env).stdout
    return [(r["revision"], r["status"]) for r in json.loads(out)]


def to_the_process(process, signum):
    process.send_signal(signum)


def to_another_thread(process, signum):
    """What the kernel may do with a signal sent to the process: hand it to any thread that does not block it,
    here one of the Go runtime's or a worker, not the main thread."""
    tgkill = ctypes.CDLL(None, use_errno=True).tgkill
    for tid in sorted(int(t) for t in os.listdir(f"/proc/{process.pid}/task") if int(t) != process.pid):
        status = (Path(f"/proc/{process.pid}/task/{tid}/status")).read_text()
        blocked = int(status.split("SigBlk:")[1].split()[0], 16)
        if not blocked & (1 << (signum - 1)) and tgkill(process.pid, tid, signum) == 0:
            return
    raise AssertionError(f"no thread of {process.pid} but the main one takes signal {signum}")


SENT = pytest.mark.parametrize("send", [to_the_process, to_another_thread])


def stop(process, signum, send=to_the_process):
    send(process, signum)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


@SENT
def test_ctrl_c_during_the_wait_stops_it_and_helm_rolls_the_upgrade_back(cluster, send):
    invoke(cluster.project, "release.deploy", "--env", "staging", "--set", "image.tag=v1", env=cluster.env)
    cluster.emulator.break_image(f"{IMAGE}:hangs")
    process = start_deploy(cluster, "--set", "image.tag=hangs")  # waits 5 minutes unless interrupted
    wait_for_write(cluster, process, "hangs", revision=2)
    code, _, err = stop(process, signal.SIGINT, send)
    assert code == 130
    assert err == ("interrupted: deploy of hello-world 0.1.0 as hello-world stopped; Helm rolled it back: the release "
                   "is at revision 3 (deployed, hello-world-0.1.0); nothing to recover\n")
    assert history(cluster) == [(1, "superseded"), (2, "failed"), (3, "deployed")]
    assert cluster.image() == f"{IMAGE}:v1"


def test_sigterm_during_a_first_install_leaves_nothing_installed(cluster):
    cluster.emulator.break_image(f"{IMAGE}:never")
    process = start_deploy(cluster, "--set", "image.tag=never")
    wait_for_write(cluster, process, "never", revision=1)
    code, _, err = stop(process, signal.SIGTERM)
    assert code == 130
    assert err == ("interrupted: deploy of hello-world 0.1.0 as hello-world stopped; the release is not installed; "
                   "nothing to recover\n")
    assert cluster.release_secrets() == []
    invoke(cluster.project, "release.deploy", "--env", "staging", "--set", "image.tag=v1", env=cluster.env)
    assert history(cluster) == [(1, "deployed")]


def test_a_second_ctrl_c_stops_waiting_for_helms_rollback_too_and_names_the_command_that_recovers(cluster):
    cluster.emulator.break_image(f"{IMAGE}:slow")  # the running version is not ready either
    invoke(cluster.project, "release.deploy", "--env", "staging", "--set", "image.tag=slow", "--no-wait",
           env=cluster.env)
    cluster.emulator.break_image(f"{IMAGE}:hangs")
    process = start_deploy(cluster, "--set", "image.tag=hangs")
    wait_for_write(cluster, process, "hangs", revision=2)
    process.send_signal(signal.SIGINT)  # Helm stops waiting and rolls back to `slow`, then waits for that
    wait_for_write(cluster, process, "slow", revision=3)
    code, _, err = stop(process, signal.SIGINT)
    assert code == 130
    assert err.startswith("interrupted: deploy of hello-world 0.1.0 as hello-world stopped; the release is at "
                          "revision 3 (pending-rollback, hello-world-0.1.0)")
    assert err.endswith("; recover with: invoke release.rollback --env staging --release hello-world\n")
    assert len(err.splitlines()) == 1
    cluster.emulator.emulator.broken.discard(f"{IMAGE}:slow")  # the old version comes up after all
    invoke(cluster.project, "release.rollback", "--env", "staging", "--release", "hello-world", env=cluster.env)
    assert history(cluster)[-1] == (4, "deployed")
    assert cluster.image() == f"{IMAGE}:slow"
    invoke(cluster.project, "release.deploy", "--env", "staging", "--set", "image.tag=v2", env=cluster.env)
    assert cluster.image() == f"{IMAGE}:v2"


def start(cluster, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INVOKE_", "PLUGIN_", "DRONE"))}
    return subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=cluster.project,
                            env={**env, "CI": "true", **cluster.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@SENT
def test_a_second_ctrl_c_during_an_environment_deploy_ends_with_the_table_and_each_releases_recovery(cluster, send):
    """It raised a bare interrupt: no table, no recovery command, a release left pending-rollback unsaid."""
    import yaml

    config = yaml.safe_load((cluster.project / "invoke.yaml").read_text())
    config["release"]["releases"]["second"] = {"chart": "hello-world", "version": "~0.1"}
    (cluster.project / "invoke.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cluster.emulator.break_image(f"{IMAGE}:slow")  # the running version is not ready either
    invoke(cluster.project, "release.deploy", "--env", "staging", "--set", "image.tag=slow", "--no-wait",
           env=cluster.env)
    cluster.emulator.break_image(f"{IMAGE}:hangs")
    process = start(cluster, "release.deploy", "--env", "staging", "--set", "image.tag=hangs")
    wait_for_write(cluster, process, "hangs", revision=2)
    send(process, signal.SIGINT)  # Helm stops waiting and rolls back to `slow`, then waits for that
    wait_for_write(cluster, process, "slow", revision=3)
    code, out, err = stop(process, signal.SIGINT, send)
    assert code == 130, err
    assert "interrupted" in out and "hello-world" in out  # the table ends the run
    assert err.startswith("interrupted: deploy of staging stopped; ")
    assert "hello-world: stopped waiting for it; the release is at revision 3 (pending-rollback, hello-world-0.1.0)" \
           "; recover with: invoke release.rollback --env staging --release hello-world" in err
    assert "Traceback" not in err


def test_ctrl_c_during_a_rollback_is_taken_when_it_ends_and_says_where_the_release_is(cluster):
    """Helm cannot cancel a rollback: the signal landed in its log callback, where ctypes dropped it with a
    traceback, and the rollback ended as a plain failure, exit 1."""
    cluster.emulator.break_image(f"{IMAGE}:slow")
    invoke(cluster.project, "release.deploy", "--env", "staging", "--set", "image.tag=slow", "--no-wait",
           env=cluster.env)
    invoke(cluster.project, "release.deploy", "--env", "staging", "--set", "image.tag=v1", env=cluster.env)
    process = start(cluster, "release.rollback", "--env", "staging", "--revision", "1", "--timeout", "5s")
    wait_for_write(cluster, process, "slow", revision=3)  # the rollback has begun, and waits for `slow`
    code, _, err = stop(process, signal.SIGINT)
    assert code == 130, err
    assert err.startswith("interrupted: the rollback ran to its end first (Helm cannot cancel one); the release is "
                          "at revision 3 (failed, hello-world-0.1.0)"), err
    assert "Exception ignored" not in err and "Traceback" not in err
