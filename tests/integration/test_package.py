"""Packaging with Helm's SDK: reproducible bytes from any checkout, dependencies built, and Helm can load it."""

import errno
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import helm_python
import pytest

from tasks import archives, charts, helm, packaging
from tasks.errors import ToolError
from tests.conftest import copy_project, invoke


def build(project: Path, env: dict[str, str] | None = None) -> dict[str, bytes]:
    found = charts.discover(project / "charts")
    built = packaging.build(found, project / "charts", project / "dist" / "packages", env or {})
    if built.failures:
        raise ToolError(built.failures[0].message)
    return {p.filename: p.path.read_bytes() for p in built.packages}


def touch_everything(folder: Path, when: float) -> None:
    for path in folder.rglob("*"):
        os.utime(path, (when, when))


def test_two_checkouts_with_different_mtimes_give_byte_identical_packages(tmp_path):
    one, two = copy_project(tmp_path / "one"), copy_project(tmp_path / "two")
    touch_everything(one / "charts", time.time() - 86400 * 400)
    touch_everything(two / "charts", time.time())
    first, second = build(one), build(two)
    assert sorted(first) == ["common-0.1.0.tgz", "hello-api-0.1.0.tgz", "hello-world-0.1.0.tgz"]
    assert first == second
    assert build(one) == first  # and again in the same checkout: dependency builds leave no trace


def test_package_with_a_file_dependency_contains_the_subchart_and_loads_in_helm(project):
    data = build(project)["hello-api-0.1.0.tgz"]
    files = archives.archive_files(data)
    assert "hello-api/charts/common/templates/_labels.tpl" in files
    lock = files["hello-api/Chart.lock"].decode()  # kept, as Helm keeps it, but stamped with the package epoch
    assert 'generated: "1980-01-01T00:00:00Z"' in lock
    with helm_python.Chart.load_archive(data) as chart:
        rendered = chart.render(name="demo")
    assert "app.kubernetes.io/managed-by: Helm" in rendered["hello-api/templates/configmap.yaml"]


def test_building_dependencies_does_not_write_into_the_checkout(project):
    build(project)
    assert not (project / "charts" / "hello-api" / "charts").exists()
    assert not (project / "charts" / "hello-api" / "Chart.lock").exists()


def test_a_shallow_and_a_full_clone_give_the_same_digests_with_no_variable_set(project):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    for when in ("2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z"):
        (project / "charts" / "hello-world" / "NOTES.txt").write_text(when)
        subprocess.run([*git, "add", "."], cwd=project, check=True)
        env = {**os.environ, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
        subprocess.run([*git, "commit", "-qm", when], cwd=project, check=True, env=env)
    shallow = project.parent / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{project}", str(shallow)], check=True)
    assert build(shallow) == build(project)
    assert build(project, {"SOURCE_DATE_EPOCH": "1714521600"}) != build(project)  # the variable still wins


def test_a_chart_that_helm_cannot_lint_is_reported_with_the_charts_name(project):
    template = project / "charts" / "hello-world" / "templates" / "broken.yaml"
    template.write_text("{{ .Values.image.tag ")
    findings, failures = packaging.lint(charts.discover(project / "charts"), project / "charts", project / "dist", {})
    assert failures == []
    assert any(m["severity"] == 3 and "broken.yaml" in m["error"] for chart, m in findings if chart.name == "hello-world")


def test_a_missing_file_dependency_is_one_clear_error_and_nothing_is_built(project):
    chart_yaml = project / "charts" / "hello-api" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("../library/common", "../library/gone"))
    built = packaging.build(charts.discover(project / "charts"), project / "charts", project / "dist" / "packages", {})
    [failure] = built.failures
    assert failure.name == "hello-api" and "\n" not in failure.message
    assert failure.message == ("charts/hello-api/Chart.yaml: dependency common: file://../library/gone leads to "
                               "library/gone, which holds no chart; fix the path")
    assert ".stage-" not in failure.message  # it names the checkout, not the scratch copy
    assert sorted(p.name for p in built.packages) == ["common", "hello-world"]  # the others are still built


def test_a_committed_chart_lock_is_honoured_and_kept_in_the_package(project):
    import helm_python

    chart = project / "charts" / "hello-api"
    helm_python.dependency_update(chart)  # what a developer runs once, then commits Chart.lock
    (chart / "charts" / "common-0.1.0.tgz").unlink()
    lock = (chart / "Chart.lock").read_text()
    first = build(project)["hello-api-0.1.0.tgz"]
    assert archives.archive_files(first)["hello-api/Chart.lock"].decode() == lock
    assert build(project)["hello-api-0.1.0.tgz"] == first
    (chart / "Chart.yaml").write_text((chart / "Chart.yaml").read_text().replace("version: 0.1.0\n    repository",
                                                                                   "version: 0.2.0\n    repository"))
    with pytest.raises(ToolError, match="hello-api"):  # the lock no longer matches Chart.yaml: Helm refuses
        build(project)


def test_a_dependency_from_a_chart_repository_is_fetched_over_http(project, tmp_path):
    import functools
    import http.server
    import threading

    from tasks import publish
    from tasks.store import LocalStore

    packages = packaging.build(charts.discover(project / "charts"), project / "charts", tmp_path / "packages", {}).packages
    store = LocalStore(tmp_path / "served")
    plan = publish.make_plan(store, packages, public_url=None, force=False, created="2024-01-01T00:00:00Z")
    publish.apply(store, plan, packages, created="2024-01-01T00:00:00Z")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(store.path))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        consumer = project / "charts" / "consumer"
        (consumer / "templates").mkdir(parents=True)
        (consumer / "Chart.yaml").write_text(
            "apiVersion: v2\nname: consumer\nversion: 1.0.0\ndependencies:\n"
            f"  - name: hello-world\n    version: ~0.1\n    repository: http://127.0.0.1:{server.server_port}\n")
        files = archives.archive_files(build(project)["consumer-1.0.0.tgz"])
    finally:
        server.shutdown()
    assert "consumer/charts/hello-world/templates/deployment.yaml" in files


def test_text_helm_would_package_must_be_utf8_and_what_helmignore_leaves_out_is_not_checked(project):
    chart = project / "charts" / "hello-world"
    (chart / "templates" / "latin1.yaml").write_bytes(b"# caf\xe9\n")
    found = charts.discover(project / "charts")
    built = packaging.build(found, project / "charts", project / "dist" / "packages", {})
    assert [f.message for f in built.failures] == \
        [("charts/hello-world/templates/latin1.yaml: not UTF-8 (byte 5); Helm packages it, but Kubernetes cannot read "
          "what it renders, so installing it would fail: save it as UTF-8")]
    assert sorted(p.name for p in (project / "dist" / "packages").iterdir()) == ["common-0.1.0.tgz",
                                                                                  "hello-api-0.1.0.tgz"]
    (chart / ".helmignore").write_text("templates/latin1.yaml\n")  # not in the package: nothing to refuse
    data = build(project)["hello-world-0.1.0.tgz"]
    assert "hello-world/templates/latin1.yaml" not in archives.archive_files(data)


def test_packaging_is_helms_package_action_with_the_metadata_of_the_chart_it_loaded(project, tmp_path):
    """tasks.helm.package runs Helm's Package action step by step: the same archive, the metadata a reload of
    it gives, and Helm's own refusal of a declared dependency that is not in charts/."""
    chart = project / "charts" / "hello-world"
    ours, metadata = helm.package(chart, tmp_path / "ours")
    theirs = Path(helm_python.package(chart, destination=tmp_path / "theirs"))
    assert archives.archive_files(ours.read_bytes()) == archives.archive_files(theirs.read_bytes())
    with helm_python.Chart.load(theirs) as reloaded:
        assert metadata == reloaded.metadata
    text = (chart / "Chart.yaml").read_text()
    (chart / "Chart.yaml").write_text(text + "dependencies:\n  - name: absent\n    version: 1.0.0\n"
                                      "    repository: https://charts.example.com\n")
    with pytest.raises(helm_python.HelmError) as helms:
        helm_python.package(chart, destination=tmp_path / "theirs")
    with pytest.raises(ToolError) as refused:
        helm.package(chart, tmp_path / "ours")
    assert "found in Chart.yaml, but missing in charts/ directory: absent" in str(helms.value)
    assert str(refused.value).endswith("found in Chart.yaml, but missing in charts/ directory: absent")


def test_a_chart_whose_file_dependency_fails_is_not_built_even_when_it_sorts_first(tmp_path):
    """Charts are built after the charts they use through file://: `app` sorts before `zlib`, which it uses and
    which fails (a template that is not UTF-8), so `app` is refused with the reason, not built against it."""
    root = tmp_path / "charts"
    for name, extra in (("app", "dependencies:\n  - {name: zlib, version: 0.1.0, repository: 'file://../zlib'}\n"),
                        ("zlib", ""), ("plain", "")):
        (root / name / "templates").mkdir(parents=True)
        (root / name / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n{extra}")
    (root / "zlib" / "templates" / "cm.yaml").write_bytes(b"data: \xff\n")
    failed: list[str] = []
    built = packaging.build(charts.discover(root), root, tmp_path / "dist" / "packages", {},
                            failed=lambda f: failed.append(f.name))
    assert failed == ["zlib", "app"]
    assert built.failures[1].message == "charts/app: not built: it uses charts/zlib (file://), which failed"
    assert [p.name for p in built.packages] == ["plain"]


def test_a_chart_over_helms_size_limit_once_packaged_fails_alone_naming_its_folder(project):
    """21 files of 5,000,000 bytes, each within Helm's 5 MiB a file, more than its 100 MiB a chart together: the
    line named no chart ("Helm's package: decompressed chart is larger ...")."""
    big = project / "charts" / "big"
    (big / "templates").mkdir(parents=True)
    (big / "Chart.yaml").write_text("apiVersion: v2\nname: big\nversion: 1.0.0\n")
    for n in range(21):
        with open(big / f"zeros-{n}.bin", "wb") as handle:
            handle.truncate(5_000_000)  # sparse: nothing written to the disk
    built = packaging.build(charts.discover(project / "charts"), project / "charts", project / "dist" / "packages", {})
    assert [f.message for f in built.failures] == [
        ("charts/big: decompressed chart is larger than the maximum size 104857600 (Helm's limit); keep big files out "
         "of the chart (list them in its .helmignore)")]
    assert sorted(p.name for p in built.packages) == ["common", "hello-api", "hello-world"]


@pytest.mark.parametrize("chart_yaml", [
    "apiVersion: v2\nname: t2\nversion: 1.0.0\n---\n",
    "apiVersion: v2\nname: t2\nversion: 1.0.0\n---\nname: other\nversion: 9.9.9\n",
    "apiVersion: v2\nname: t2\nversion: 1.0.0\n---\nfoo: [\n",
    "apiVersion: v2\nname: t2\nversion: 1.0.0\ndependencies: null\n",
    "apiVersion: v2\nname: t2\nversion: 1.0.0\ndependencies: ~\n",
])
def test_a_chart_yaml_helm_packages_and_lints_cleanly_is_packaged(project, chart_yaml):
    """Helm reads Chart.yaml's first YAML document only, and `dependencies: null` is no dependencies: these were
    refused (`not valid YAML at line 4 (but found another document)`, `dependencies must be a list`)."""
    chart = project / "charts" / "t2"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(chart_yaml)
    tree = charts.discover(project / "charts")
    findings, failures = packaging.lint(tree, project / "charts", project / "dist", {})
    assert failures == [] and [m for c, m in findings if c.name == "t2" and m["severity"] > 1] == []
    with helm_python.Chart.load_archive(build(project)["t2-1.0.0.tgz"]) as loaded:
        assert (loaded.metadata["name"], loaded.metadata["version"]) == ("t2", "1.0.0")


def test_an_apiversion_v1_charts_index_entry_lists_the_dependencies_helms_own_index_of_its_package_lists(project):
    """Helm's Save leaves a v1 chart's dependencies out of the packaged Chart.yaml (a v1 chart declares them in
    requirements.yaml, kept as a file): `helm repo index` of the package lists none unless requirements.yaml does."""
    import json
    import shutil

    for name, requirements in (("inline", False), ("required", True)):
        chart = project / "charts" / name
        shutil.copytree(project / "charts" / "hello-world", chart)
        declared = "dependencies:\n- {name: child, version: 0.1.0, repository: 'file://../child'}\n"
        (chart / "Chart.yaml").write_text(f"apiVersion: v1\nname: {name}\nversion: 0.1.0\n"
                                          + ("" if requirements else declared))
        if requirements:
            (chart / "requirements.yaml").write_text(declared)
    child = project / "charts" / "child"
    child.mkdir()
    (child / "Chart.yaml").write_text("apiVersion: v2\nname: child\nversion: 0.1.0\n")
    invoke(project, "repo.publish", "--chart", "inline", "--chart", "required", "--chart", "child")
    ours = json.loads((project / "dist" / "repo" / "index.yaml").read_text())["entries"]
    helms_folder = project / "helms"
    helms_folder.mkdir()
    for name in ("inline", "required"):
        shutil.copy(project / "dist" / "repo" / f"{name}-0.1.0.tgz", helms_folder)
    helms = helm_python.repo_index_generate(helms_folder)["entries"]
    for name in ("inline", "required"):
        assert ours[name][0].get("dependencies") == helms[name][0].get("dependencies"), name
    assert helms["required"][0]["dependencies"][0]["name"] == "child" and not helms["inline"][0].get("dependencies")


def tree_of(root: Path, charts_yaml: dict[str, str]) -> Path:
    for name, extra in charts_yaml.items():
        (root / name / "templates").mkdir(parents=True, exist_ok=True)
        (root / name / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n{extra}")
    return root


def failures_of(root: Path, tmp_path: Path, *chosen: str) -> dict[str, str]:
    tree = charts.select(charts.discover(root, root.parent), list(chosen))
    built = packaging.build(tree, root, tmp_path / "dist" / "packages", {})
    return {f.rel: f.message for f in built.failures}


def test_file_dependencies_in_a_cycle_are_refused_naming_the_cycle(tmp_path):
    """Each would have to be built into the other first; Helm's own error on the way named a folder that is there."""
    uses = "dependencies:\n  - {{name: {0}, version: 0.1.0, repository: 'file://../{0}'}}\n"
    root = tree_of(tmp_path / "charts", {"ping": uses.format("pong"), "pong": uses.format("ping"), "plain": ""})
    assert failures_of(root, tmp_path) == {
        "pong": "charts/pong/Chart.yaml: file:// dependencies in a cycle (charts/pong -> charts/ping -> charts/pong); "
                "a chart cannot be built into itself: remove one of them",
        "ping": "charts/ping: not built: it uses charts/pong (file://), which failed"}
    assert failures_of(root, tmp_path, "ping") == {
        "ping": "charts/ping/Chart.yaml: file:// dependencies in a cycle (charts/ping -> charts/pong -> charts/ping); "
                "a chart cannot be built into itself: remove one of them"}


def test_a_file_dependency_helm_cannot_load_is_named_not_the_chart_that_uses_it(tmp_path):
    root = tree_of(tmp_path / "charts", {
        "app": "dependencies:\n  - {name: lib, version: 0.1.0, repository: 'file://../lib'}\n", "lib": ""})
    (root / "lib" / "values.yaml").write_text("a: [b\n")
    assert failures_of(root, tmp_path)["app"] == "charts/app: not built: it uses charts/lib (file://), which failed"
    found = failures_of(root, tmp_path, "app")  # --chart app: lib is not built on its own
    assert found["app"].startswith("charts/app/Chart.yaml: dependency lib (charts/lib, file://) cannot be loaded (")
    assert found["app"].endswith("; fix it in charts/lib") and "values.yaml" in found["app"]


def test_a_vendored_dependency_is_not_blamed_for_one_missing_or_vendored_twice(tmp_path):
    """Offline, every remote repository fails: the line names the dependency that is not vendored (or is, twice),
    not the first one whose repository cannot be reached."""
    dependency = "  - {{name: {0}, version: 0.1.0, repository: 'http://127.0.0.1:9/{0}'}}\n"
    root = tree_of(tmp_path / "charts",
                   {"app": "dependencies:\n" + dependency.format("here") + dependency.format("gone")})
    sources = tree_of(tmp_path / "sources", {"here": "", "gone": ""})
    (root / "app" / "charts").mkdir()
    helm_python.package(sources / "here", destination=root / "app" / "charts")
    found = failures_of(root, tmp_path)["app"]
    assert "dependency gone 0.1.0 from http://127.0.0.1:9/gone cannot be fetched" in found and "here" not in found
    helm_python.package(sources / "gone", destination=root / "app" / "charts")
    (sources / "here" / "Chart.yaml").write_text("apiVersion: v2\nname: here\nversion: 0.2.0\n")
    helm_python.package(sources / "here", destination=root / "app" / "charts")  # here-0.1.0.tgz and here-0.2.0.tgz
    assert failures_of(root, tmp_path)["app"] == (
        "charts/app/charts/here-0.1.0.tgz and charts/app/charts/here-0.2.0.tgz are both the subchart here, which Helm "
        "packages as charts/here twice (which one installs is left to chance); remove one (or, if they are two charts, "
        "rename one in its Chart.yaml)")


def test_a_values_file_helm_cannot_load_is_named_where_it_is_in_a_subchart_folder_or_archive(tmp_path):
    """Helm names it within the chart it was loading (`cannot load values.yaml`), which for a subchart is not the
    chart's own values.yaml."""
    root = tree_of(tmp_path / "charts", {"app": "", "own": ""})
    (root / "own" / "values.yaml").write_text("a: [b\n")
    sub = tree_of(root / "app" / "charts", {"sub": ""}) / "sub"
    (sub / "values.yaml").write_text("a: [b\n")
    found = failures_of(root, tmp_path)
    assert found == {"own": "charts/own/values.yaml: Helm cannot load it (yaml: line 1: did not find expected ',' or "
                            "']'); fix it",
                     "app": "charts/app/charts/sub/values.yaml: Helm cannot load it (yaml: line 1: did not find "
                            "expected ',' or ']'); fix it"}
    with tarfile.open(root / "app" / "charts" / "sub-0.1.0.tgz", "w:gz") as archive:  # vendored as an archive instead
        archive.add(sub, arcname="sub")
    shutil.rmtree(sub)
    assert failures_of(root, tmp_path, "app")["app"].startswith(
        "charts/app/charts/sub-0.1.0.tgz: its values.yaml cannot be loaded (yaml: line 1:")


def test_a_subchart_helm_cannot_load_is_named_by_its_path_however_deep_and_an_unreadable_archive_as_the_archive(
        tmp_path):
    """Helm names a subchart by its name alone, one `error unpacking subchart` per level, and a truncated archive
    only by what its reader said (`unexpected EOF`)."""
    root = tree_of(tmp_path / "charts", {"app": "", "other": ""})
    leaf = tree_of(tree_of(root / "app" / "charts", {"mid": ""}) / "mid" / "charts", {"leaf": ""}) / "leaf"
    (leaf / "values.yaml").write_text("a: [b\n")
    assert failures_of(root, tmp_path) == {"app": "charts/app/charts/mid/charts/leaf/values.yaml: Helm cannot load it "
                                                  "(yaml: line 1: did not find expected ',' or ']'); fix it"}
    (leaf / "values.yaml").unlink()
    (leaf / "Chart.yaml").write_text("apiVersion: v2\nname: leaf\n")
    assert failures_of(root, tmp_path)["app"] == (
        "charts/app/charts/mid/charts/leaf: Helm cannot load this subchart (validation: chart.metadata.version is "
        "required); fix it")
    shutil.rmtree(root / "app" / "charts")
    (root / "app" / "charts").mkdir()
    helm_python.package(root / "other", destination=root / "app" / "charts")
    archive = root / "app" / "charts" / "other-0.1.0.tgz"
    archive.write_bytes(archive.read_bytes()[:60])
    assert failures_of(root, tmp_path) == {"app": "charts/app/charts/other-0.1.0.tgz: Helm cannot read this chart "
                                                  "archive (unexpected EOF); vendor a good archive of that chart"}


def test_a_file_that_cannot_be_copied_for_the_dependency_build_gets_the_fix_for_its_errno(tmp_path):
    """copytree's error holds each file's as text: its errno is read back, so a path too long is not a permission
    problem (it was "fix its permissions" for any)."""
    def why(errno_text: str) -> str:
        failed = shutil.Error([("/c/a", str(tmp_path / "w" / "a"), f"{errno_text}: '/c/a'")])
        return packaging._not_copied("/c", tmp_path / "build", failed)

    too_long = "; shorten the path (rename or flatten its folders): it is longer than the system takes"
    assert why(f"[Errno {errno.ENAMETOOLONG}] File name too long").endswith(too_long)
    assert why(f"[Errno {errno.EACCES}] Permission denied").endswith("; check its permissions and owner")
