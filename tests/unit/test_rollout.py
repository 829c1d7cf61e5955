"""Environment-wide runs on plain functions: needs first, a parallel limit, nothing new after a failure."""

import threading
from pathlib import Path

import pytest

from tasks import environments, rollout, settings
from tasks.errors import ToolError


def states(outcomes):
    return {o.release: (o.state, o.detail) for o in outcomes}


def test_a_release_starts_only_once_its_needs_are_done():
    finished = []

    def action(name):
        finished.append(name)
        return f"{name} ok"

    outcomes, interrupted = rollout.run({"a": ["b"], "b": ["d"], "c": [], "d": []}, action, parallel=4)
    assert not interrupted
    assert finished.index("d") < finished.index("b") < finished.index("a")
    assert [(o.release, o.state, o.result) for o in outcomes] == [
        ("a", "done", "a ok"), ("b", "done", "b ok"), ("c", "done", "c ok"), ("d", "done", "d ok")]


def test_independent_releases_run_together_up_to_the_limit():
    together = threading.Barrier(2)  # passes only when two actions run at the same time
    lock, active, peak = threading.Lock(), [0], [0]

    def action(name):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        together.wait(timeout=60)  # a guard against a hang, not a measurement
        with lock:
            active[0] -= 1

    outcomes, _ = rollout.run({name: [] for name in "abcd"}, action, parallel=2)
    assert [o.state for o in outcomes] == ["done"] * 4
    assert peak[0] == 2


def test_after_a_failure_nothing_new_starts_and_each_release_says_why():
    def action(name):
        if name == "b":
            raise ToolError("b broke")

    outcomes, _ = rollout.run({"a": ["b"], "b": [], "c": [], "e": ["a"]}, action, parallel=1)
    assert states(outcomes) == {"a": ("skipped", "b failed"), "b": ("failed", "b broke"), "c": ("not started", ""),
                                "e": ("skipped", "b failed")}


def test_a_reading_run_goes_on_after_a_failure():
    def action(name):
        if name == "a":
            raise ToolError("a broke")
        return name

    outcomes, _ = rollout.run({"a": [], "b": [], "c": []}, action, parallel=1, stop_on_failure=False)
    assert [o.state for o in outcomes] == ["failed", "done", "done"]


def test_a_bug_in_one_action_is_that_releases_failure_not_a_hang():
    outcomes, _ = rollout.run({"a": []}, lambda name: 1 / 0, parallel=1)
    assert states(outcomes) == {"a": ("failed", "unexpected ZeroDivisionError: division by zero (a bug)")}


def config(**releases):
    return {"environments": {"staging": {"namespace": "staging", "kube_context": "s"},
                             "production": {"namespace": "prod", "kube_context": "p"}},
            "releases": releases}


def test_an_environment_holds_the_releases_that_name_it_or_name_none():
    environment, releases = environments.resolve_environment(Path("/p"), config(
        web={"needs": ["db"]}, db={"namespace": "data"}, tool={"environments": ["production"]}), env_name="staging")
    assert [(r.name, r.needs, r.namespace_in(environment)) for r in releases] == [
        ("web", ("db",), "staging"), ("db", (), "data")]
    with pytest.raises(ToolError, match=r"^--release 'tool' is not deployed to staging \(release.releases.tool."
                                        r"environments\); staging has web, db$"):
        environments.resolve_release(Path("/p"), config(web={}, db={}, tool={"environments": ["production"]}),
                                     env_name="staging", release_name="tool")


@pytest.mark.parametrize("releases, message", [
    ({"a": {"needs": ["b"]}, "b": {"needs": ["c"]}, "c": {"needs": ["a"]}},
     "release.releases: needs form a cycle: a -> b -> c -> a; remove one of these needs"),
    ({"a": {"needs": ["a"]}}, "release.releases: needs form a cycle: a -> a"),
    ({"a": {"environments": ["qa"]}}, "release.releases.a.environments: 'qa' is not an environment"),
    ({"a": {"environments": "staging"}}, (r"release.releases.a.environments in invoke.yaml must be a list of names, "
                                         r"not the text 'staging'; write it as \[staging\]")),
    ({"a": {"namespace": "Data"}}, "release.releases.a.namespace 'Data' is not a Kubernetes namespace"),
])
def test_bad_needs_environments_and_namespaces_are_one_line_naming_the_releases(releases, message):
    with pytest.raises(ToolError, match=message):
        environments.resolve_environment(Path("/p"), config(**releases), env_name="staging")


@pytest.mark.parametrize("raw, message", [
    ({"history_max": -1}, ("release.environments.staging.history_max in invoke.yaml is the number -1; write a whole "
                          "number, 0 or more")),
    ({"history_max": "10"}, "history_max in invoke.yaml is the text '10'"),
])
def test_history_max_is_a_count(raw, message):
    with pytest.raises(ToolError, match=message):
        environments.environment_settings(Path("/p"), "staging", {"namespace": "s", **raw})


def test_parallel_is_a_count_of_one_or_more():
    assert environments.resolve_parallel({}, None) == 4
    assert environments.resolve_parallel({"parallel": 2}, None) == 2
    assert environments.resolve_parallel({"parallel": 2}, 1) == 1
    for config, flag in (({"parallel": 0}, None), ({"parallel": True}, None), ({}, 0)):
        with pytest.raises(ToolError, match="use a whole number of releases, 1 or more"):
            environments.resolve_parallel(config, flag)


def test_invoke_release_parallel_that_is_no_number_is_one_line_not_invokes_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("INVOKE_RELEASE_PARALLEL", "four")
    with pytest.raises(ToolError, match="^INVOKE_RELEASE_PARALLEL 'four' is not a whole number; set it to one"):
        settings.check_project_file(tmp_path, {})
    monkeypatch.setenv("INVOKE_RELEASE_PARALLEL", "2")
    settings.check_project_file(tmp_path, {})
