"""Dependencies as Helm resolves them, against a chart repository served on loopback behind basic auth."""

import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import helm_python
import pytest
import yaml

from tasks import archives, charts, dependencies, packaging, publish, ui
from tasks.store import LocalStore
from tests.conftest import copy_project
from tests.support.http import basic_auth_server

USER, PASSWORD = "deployer", "p@ss:w/rd%1"


@pytest.fixture
def remote(tmp_path):
    """hello-world 0.1.0 in a chart repository built by Helm's own package + repo index."""
    folder = tmp_path / "remote"
    helm_python.package(copy_project(tmp_path / "source") / "charts" / "hello-world", destination=folder)
    helm_python.repo_index_generate(folder)
    return folder


def consumer(root: Path, repository: str, *, api: str = "v2", requirements: bool | None = None) -> Path:
    """A chart using hello-world ~0.1 from `repository`, declared in requirements.yaml (v1's way, which Helm reads for
    v2 too) or in Chart.yaml."""
    folder = root / "charts" / "consumer"
    (folder / "templates").mkdir(parents=True)
    dependency = f"- name: hello-world\n  version: ~0.1\n  repository: '{repository}'\n"
    if api == "v1" if requirements is None else requirements:
        (folder / "Chart.yaml").write_text(f"apiVersion: {api}\nname: consumer\nversion: 1.0.0\n")
        (folder / "requirements.yaml").write_text("dependencies:\n" + dependency)
    else:
        (folder / "Chart.yaml").write_text("apiVersion: v2\nname: consumer\nversion: 1.0.0\ndependencies:\n" + dependency)
    return folder


def build(root: Path, env: dict[str, str], configured: dict | None = None) -> packaging.Result:
    tree = charts.discover(root / "charts")
    return packaging.build(tree, root / "charts", root / "dist" / "packages", env,
                           dependencies.Repositories(configured or {}, env))


def files_of(result: packaging.Result, name: str) -> dict[str, bytes]:
    [package] = [p for p in result.packages if p.name == name]
    return archives.archive_files(package.path.read_bytes())


def helm_home(tmp_path: Path, url: str, **credentials: str) -> dict[str, str]:
    config = tmp_path / "helm" / "repositories.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump({"apiVersion": "", "repositories": [{"name": "remote", "url": url, **credentials}]}))
    return {"HELM_REPOSITORY_CONFIG": str(config)}


def test_an_alias_resolves_through_helms_repository_config_with_its_credentials(tmp_path, remote):
    consumer(tmp_path, "@remote")
    with basic_auth_server(remote, USER, PASSWORD) as server:
        env = helm_home(tmp_path, f"http://127.0.0.1:{server.port}", username=USER, password=PASSWORD)
        result = build(tmp_path, env)
    assert result.failures == [] and server.authorized >= 2 and server.unauthorized == 0
    files = files_of(result, "consumer")
    assert "consumer/charts/hello-world/templates/deployment.yaml" in files
    assert "'@remote'" in files["consumer/Chart.yaml"].decode()  # the package holds what the author wrote
    lock = yaml.safe_load(files["consumer/Chart.lock"])
    assert lock["dependencies"] == [{"name": "hello-world", "repository": "@remote", "version": "0.1.0"}]
    assert lock["generated"] == "1980-01-01T00:00:00Z"
    declared = yaml.safe_load(files["consumer/Chart.yaml"])["dependencies"]
    assert lock["digest"] == dependencies.lock_digest(declared, lock["dependencies"])
    everything = b"".join(files.values()) + b"".join(p.path.read_bytes() for p in result.packages)
    assert PASSWORD.encode() not in everything and b"p%40ss" not in everything
    assert not (tmp_path / "charts" / "consumer" / "charts").exists()  # the checkout is never written to


def test_a_named_repository_from_settings_pins_the_lock_and_vendored_archives_build_offline(tmp_path, remote):
    chart = consumer(tmp_path, "remote")
    declared = yaml.safe_load((chart / "Chart.yaml").read_text())["dependencies"]
    locked = [{"name": "hello-world", "repository": "remote", "version": "0.1.0"}]
    lock = {"dependencies": locked, "digest": dependencies.lock_digest(declared, locked),
            "generated": "2024-01-01T00:00:00Z"}
    (chart / "Chart.lock").write_text(yaml.safe_dump(lock))
    env = {"CHARTS_USER": USER, "CHARTS_PASSWORD": PASSWORD}
    with basic_auth_server(remote, USER, PASSWORD) as server:
        configured = {"remote": {"url": f"http://127.0.0.1:{server.port}", "username_env": "CHARTS_USER",
                                 "password_env": "CHARTS_PASSWORD"}}
        online = build(tmp_path, env, configured)
    assert online.failures == []
    packaged_lock = yaml.safe_load(files_of(online, "consumer")["consumer/Chart.lock"])  # Helm re-writes it
    assert packaged_lock == yaml.safe_load((chart / "Chart.lock").read_text())  # as committed
    (chart / "charts").mkdir()  # vendored, the air-gapped way: the archive the lock pins, in charts/
    shutil.copy(remote / "hello-world-0.1.0.tgz", chart / "charts")
    offline = build(tmp_path, env, configured)  # the server is gone: nothing may be fetched
    assert offline.failures == []
    assert files_of(offline, "consumer").keys() == files_of(online, "consumer").keys()


@pytest.mark.parametrize("case, cause", [
    ("wrong password", "401 Unauthorized"),
    ("wrong path", "404"),
    ("server down", "connection refused"),
])
def test_a_failing_repository_is_one_line_with_the_real_cause(tmp_path, remote, case, cause):
    consumer(tmp_path, "@remote")
    (tmp_path / "charts" / "other" / "templates").mkdir(parents=True)
    (tmp_path / "charts" / "other" / "Chart.yaml").write_text("apiVersion: v2\nname: other\nversion: 1.0.0\n")
    with basic_auth_server(remote, USER, PASSWORD) as server:
        url = f"http://127.0.0.1:{server.port}" + ("/nope" if case == "wrong path" else "")
        env = helm_home(tmp_path, url, username=USER, password="wrong" if case == "wrong password" else PASSWORD)
        if case == "server down":
            server.shutdown()
            server.server_close()
        result = build(tmp_path, env)
    [failure] = result.failures
    assert failure.message.startswith(f"charts/consumer/Chart.yaml: dependency hello-world ~0.1 from {url} "
                                      "cannot be fetched (")
    assert cause in failure.message and "\n" not in failure.message
    assert PASSWORD not in ui.redact(failure.message)
    assert [p.name for p in result.packages] == ["other"]


def test_an_unknown_alias_says_where_to_define_it(tmp_path):
    consumer(tmp_path, "@nowhere")
    [failure] = build(tmp_path, {"HELM_REPOSITORY_CONFIG": str(tmp_path / "none.yaml")}).failures
    assert "repository '@nowhere', which is not defined; add it to repo.dependency_repositories" in failure.message
    assert str(tmp_path / "none.yaml") in failure.message


@pytest.mark.parametrize("raw, message", [
    ({"url": "https://charts.example.com", "username": "bob", "password": "hunter2-inline"},
     ("repo.dependency_repositories.priv.password in invoke.yaml: not a setting; name the variable that holds it: "
     "password_env")),
    ({"url": "https://charts.example.com", "passwd_env": "X"},
     ("repo.dependency_repositories.priv.passwd_env in invoke.yaml: not a setting: use url, username_env and "
     "password_env")),
])
def test_a_dependency_repository_with_a_setting_it_does_not_have_is_refused_never_ignored(tmp_path, raw, message):
    consumer(tmp_path, "@priv")
    [failure] = build(tmp_path, {"HELM_REPOSITORY_CONFIG": str(tmp_path / "none.yaml")}, {"priv": raw}).failures
    assert failure.message.endswith(message) and "hunter2-inline" not in failure.message


def test_an_apiversion_v1_chart_builds_its_requirements_into_the_package(tmp_path, remote):
    consumer(tmp_path, f"file://{tmp_path}/source/charts/hello-world", api="v1")
    result = build(tmp_path, {})
    assert result.failures == []
    files = files_of(result, "consumer")
    assert "consumer/charts/hello-world/templates/deployment.yaml" in files
    assert b'generated: "1980-01-01T00:00:00Z"' in files["consumer/requirements.lock"]


def test_the_lock_digest_is_the_one_helm_writes(tmp_path):
    project = copy_project(tmp_path / "project")
    chart = project / "charts" / "hello-api"
    helm_python.dependency_update(chart)
    lock = yaml.safe_load((chart / "Chart.lock").read_text())
    declared = yaml.safe_load((chart / "Chart.yaml").read_text())["dependencies"]
    assert dependencies.lock_digest(declared, lock["dependencies"]) == lock["digest"]


def test_a_repository_built_by_helms_own_package_and_index_is_taken_over_with_no_conflict(tmp_path):
    """The article's script: helm dependency update + helm package + helm repo index, then this tool."""
    project = copy_project(tmp_path / "project")
    helm_side = copy_project(tmp_path / "helm-side")
    repo = tmp_path / "repo"
    for chart in charts.discover(helm_side / "charts").charts:
        if chart.dependencies:
            helm_python.dependency_update(chart.path)  # writes Chart.lock with the current time
        helm_python.package(chart.path, destination=repo)
    helm_python.repo_index_generate(repo)
    helm_made = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in repo.glob("*.tgz")}
    with tarfile.open(fileobj=io.BytesIO((repo / "hello-api-0.1.0.tgz").read_bytes())) as tar:
        assert "hello-api/Chart.lock" in tar.getnames()
    packages = build(project, {}).packages
    plan = publish.make_plan(LocalStore(repo), packages, public_url=None, force=False, created="T")
    assert {(s.package.name, s.action) for s in plan.steps} == {
        ("common", publish.UNCHANGED), ("hello-api", publish.UNCHANGED), ("hello-world", publish.UNCHANGED)}
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in repo.glob("*.tgz")} == helm_made


def test_an_oci_dependency_is_fetched_through_helms_registry_client(tmp_path, remote):
    from tests.support.registry import oci_registry

    with oci_registry(tmp_path / "registry") as host:
        helm_python.push(remote / "hello-world-0.1.0.tgz", f"oci://{host}/charts", plain_http=True)
        consumer(tmp_path, f"oci://{host}/charts")
        result = build(tmp_path, {})
    assert result.failures == []
    assert "consumer/charts/hello-world/templates/deployment.yaml" in files_of(result, "consumer")


def simple_chart(folder: Path, name: str, uses: str | None = None) -> Path:
    (folder / "templates").mkdir(parents=True)
    chart_yaml = f"apiVersion: v2\nname: {name}\nversion: 1.0.0\n"
    if uses:
        chart_yaml += f"dependencies:\n- name: {uses.rsplit('/', 1)[-1]}\n  version: 1.0.0\n  repository: file://{uses}\n"
    (folder / "Chart.yaml").write_text(chart_yaml)
    (folder / "templates" / "cm.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
    return folder


def test_a_file_dependency_outside_the_charts_folder_is_built_as_helm_builds_it(tmp_path):
    """file://../../lib (a chart beside charts/, as monorepos keep shared charts), which itself uses another."""
    root = tmp_path / "project"
    simple_chart(root / "charts" / "app", "app", "../../lib")
    simple_chart(root / "lib", "lib", "../base")
    simple_chart(root / "base", "base")
    result = build(root, {})
    assert not result.failures, result.failures
    assert {"app/charts/lib/Chart.yaml", "app/charts/lib/charts/base/Chart.yaml"} <= set(files_of(result, "app"))
    helm_side = tmp_path / "helm-side"
    shutil.copytree(root, helm_side)
    helm_python.dependency_update(helm_side / "lib")  # Helm builds each level when asked to, bottom up
    helm_python.dependency_update(helm_side / "charts" / "app")
    ours = packaging.comparable(next(p for p in result.packages if p.name == "app").path.read_bytes(), "ours")
    made = helm_python.package(helm_side / "charts" / "app", destination=tmp_path / "helm-out")
    theirs = packaging.comparable(Path(made).read_bytes(), "helm's")
    assert ours == theirs
    assert not (root / "lib" / "charts").exists() and not (root / "charts" / "app" / "charts").exists()


def test_a_chart_using_a_file_chain_is_the_same_package_built_alone_or_with_the_tree(tmp_path):
    """a uses b (file://) which uses c: b's own dependency is built before a takes b in, with --chart a too."""
    root = tmp_path / "project"
    simple_chart(root / "charts" / "a", "a", "../b")
    simple_chart(root / "charts" / "b", "b", "../c")
    simple_chart(root / "charts" / "c", "c")
    whole = build(root, {})
    alone = packaging.build(charts.select(charts.discover(root / "charts"), ["a"]), root / "charts",
                            tmp_path / "alone", {}, dependencies.Repositories({}, {}))
    [a_whole] = [p for p in whole.packages if p.name == "a"]
    assert [p.name for p in alone.packages] == ["a"] and alone.packages[0].digest == a_whole.digest
    assert "a/charts/b/charts/c/Chart.yaml" in files_of(alone, "a")


def test_a_vendored_archive_left_as_a_git_lfs_pointer_or_a_helm_refusal_names_the_file_in_the_checkout(tmp_path):
    root = tmp_path / "project"
    app = simple_chart(root / "charts" / "app", "app")
    (app / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: dep\n"
                                    "  version: 1.0.0\n  repository: https://charts.example.com\n")
    (app / "charts").mkdir()
    (app / "charts" / "dep-1.0.0.tgz").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\n")
    simple_chart(root / "charts" / "ok", "ok")
    simple_chart(root / "charts" / "twice", "twice")
    (root / "charts" / "twice" / "Chart.yaml").write_text(
        "apiVersion: v2\nname: twice\nversion: 1.0.0\ndependencies:\n" + "- name: ok\n  version: 1.0.0\n"
        "  repository: file://../ok\n" * 2)
    messages = sorted(f.message for f in build(root, {}).failures)
    assert messages == [
        ("charts/app/charts/dep-1.0.0.tgz: a Git LFS pointer, not the chart archive; run `git lfs pull` (in CI: "
         "fetch LFS files in the clone step)"),
        'helm dependency list charts/twice: validation: more than one dependency with name or alias "ok"']


def test_an_apiversion_v2_chart_declaring_its_dependencies_in_requirements_yaml_is_built_as_helm_builds_it(tmp_path,
                                                                                                          remote):
    """Helm's loader reads requirements.yaml for v2 too (with a warning): `helm dependency update && helm package`
    builds it. The tool read it for v1 only, built nothing, and failed with Helm's `found in Chart.yaml, but missing
    in charts/ directory: hello-world`."""
    chart = consumer(tmp_path, f"file://{tmp_path}/source/charts/hello-world", requirements=True)
    [source] = charts.discover(tmp_path / "charts").charts
    assert charts.lint_warnings(source) == [
        ('charts/consumer/requirements.yaml: Helm reads the dependencies from here, but warns: "Dependencies are '
         'handled in Chart.yaml since apiVersion v2"; move them to Chart.yaml')]
    result = build(tmp_path, {})
    assert result.failures == []
    files = files_of(result, "consumer")
    assert "consumer/charts/hello-world/templates/deployment.yaml" in files
    assert b'generated: "1980-01-01T00:00:00Z"' in files["consumer/Chart.lock"]  # the lock Helm writes for v2
    helm_side = tmp_path / "helm-side" / "consumer"
    shutil.copytree(chart, helm_side)
    helm_python.dependency_update(helm_side)
    made = Path(helm_python.package(helm_side, destination=tmp_path / "helm-out"))
    [ours] = [p for p in result.packages if p.name == "consumer"]
    assert packaging.comparable(ours.path.read_bytes(), "ours") == packaging.comparable(made.read_bytes(), "helm's")
    assert not (chart / "charts").exists() and not (chart / "Chart.lock").exists()


def test_an_alias_in_a_v2_requirements_yaml_resolves_and_its_committed_requirements_lock_pins_it(tmp_path, remote):
    """The alias path rewrites the declaring file (requirements.yaml) and keeps the committed lock Helm reads
    (requirements.lock), not the Chart.lock Helm's update writes beside it for v2."""
    chart = consumer(tmp_path, "@remote", requirements=True)
    declared = yaml.safe_load((chart / "requirements.yaml").read_text())["dependencies"]
    locked = [{"name": "hello-world", "repository": "@remote", "version": "0.1.0"}]
    lock = yaml.safe_dump({"dependencies": locked, "digest": dependencies.lock_digest(declared, locked),
                           "generated": "2024-01-01T00:00:00Z"})
    (chart / "requirements.lock").write_text(lock)
    with basic_auth_server(remote, USER, PASSWORD) as server:
        env = helm_home(tmp_path, f"http://127.0.0.1:{server.port}", username=USER, password=PASSWORD)
        result = build(tmp_path, env)
    assert result.failures == []
    files = files_of(result, "consumer")
    assert "consumer/charts/hello-world/templates/deployment.yaml" in files
    assert yaml.safe_load(files["consumer/Chart.lock"]) == yaml.safe_load(lock)  # Helm saves the lock it read


def test_a_vendored_archive_outside_its_constraint_is_packaged_as_it_is_with_a_warning(tmp_path, remote, capsys):
    """`helm package` takes what charts/ holds (it checks each dependency is there by name, not its version); the
    tool tried to download it from the (unreachable) repository and failed, advising to vendor what was vendored."""
    chart = simple_chart(tmp_path / "charts" / "vendoring", "vendoring")
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: vendoring\nversion: 1.0.0\ndependencies:\n"
                                      "- name: hello-world\n  version: ^1.0.0\n  repository: https://127.0.0.1:9/charts\n")
    (chart / "charts").mkdir()
    shutil.copy(remote / "hello-world-0.1.0.tgz", chart / "charts")
    result = build(tmp_path, {})
    assert result.failures == []
    assert capsys.readouterr().err == (
        "warning: charts/vendoring/charts/hello-world-0.1.0.tgz: the vendored hello-world is outside the constraint "
        "'^1.0.0' of charts/vendoring/Chart.yaml; it is packaged as it is, as `helm package` does: vendor a version "
        "that satisfies it, or change the constraint\n")
    made = Path(helm_python.package(chart, destination=tmp_path / "helm-out"))
    [ours] = result.packages
    assert packaging.comparable(ours.path.read_bytes(), "ours") == packaging.comparable(made.read_bytes(), "helm's")
    assert "vendoring/charts/hello-world/Chart.yaml" in files_of(result, "vendoring")


def test_an_alias_in_a_chart_yaml_that_ends_in_a_document_separator_resolves(tmp_path, remote):
    """Helm reads the first YAML document; so does the rewrite that names the alias by its URL (it crashed on the
    second, empty one: `expected a single document in the stream`)."""
    chart = consumer(tmp_path, "@remote")
    (chart / "Chart.yaml").write_text((chart / "Chart.yaml").read_text() + "---\n")
    with basic_auth_server(remote, USER, PASSWORD) as server:
        result = build(tmp_path, helm_home(tmp_path, f"http://127.0.0.1:{server.port}", username=USER,
                                           password=PASSWORD))
    assert result.failures == []
    assert "consumer/charts/hello-world/templates/deployment.yaml" in files_of(result, "consumer")


def test_a_chart_with_dependencies_keeps_symlinks_to_what_its_helmignore_leaves_out_as_helm_does(tmp_path):
    """Helm reads a symlink by its own path: a link to an ignored file or folder is packaged, and a file its
    .helmignore names by path under a folder is packaged when reached through a link to that folder. The scratch
    copy of the dependency build left ignored files out, so such a link led nowhere there."""
    root = tmp_path / "project"
    app = simple_chart(root / "charts" / "app", "app", "../lib")
    simple_chart(root / "charts" / "lib", "lib")
    (app / ".helmignore").write_text("*.bak\nignored/\nshared/secret.txt\n")
    for path, text in {"real.bak": "data\n", "ignored/f.txt": "in an ignored folder\n", "shared/secret.txt": "s\n"
                       }.items():
        (app / path).parent.mkdir(parents=True, exist_ok=True)
        (app / path).write_text(text)
    os.symlink("real.bak", app / "link.txt")
    os.symlink("ignored", app / "to-ignored")
    os.symlink("shared", app / "view")
    result = build(root, {})
    assert result.failures == []
    ours = files_of(result, "app")
    assert ours["app/link.txt"] == b"data\n" and ours["app/view/secret.txt"] == b"s\n"
    assert "app/to-ignored/f.txt" in ours and "app/shared/secret.txt" not in ours
    helm_side = tmp_path / "helm-side"
    shutil.copytree(root, helm_side, symlinks=True)
    helm_python.dependency_update(helm_side / "charts" / "app")
    made = Path(helm_python.package(helm_side / "charts" / "app", destination=tmp_path / "helm-out"))
    [package] = [p for p in result.packages if p.name == "app"]
    assert packaging.comparable(package.path.read_bytes(), "ours") == packaging.comparable(made.read_bytes(), "helm's")
    assert build(root, {}).packages == result.packages  # byte for byte again


def test_a_subchart_the_dependency_build_fetches_beside_a_vendored_one_of_its_name_fails_that_chart_alone(tmp_path):
    """A vendored folder charts/mysub (name: sub) and `sub` fetched by `helm dependency update` (another dependency
    is not vendored, so the build runs): Helm packages both under charts/sub, each entry twice."""
    root = tmp_path / "project"
    app = simple_chart(root / "charts" / "app", "app", "../sub")
    (app / "Chart.yaml").write_text((app / "Chart.yaml").read_text() + "- {name: other, version: 1.0.0, "
                                                                         "repository: 'file://../other'}\n")
    simple_chart(app / "charts" / "mysub", "sub")
    simple_chart(root / "charts" / "sub", "sub")
    simple_chart(root / "charts" / "other", "other")
    helm_side = tmp_path / "helm-side"
    shutil.copytree(root, helm_side)
    helm_python.dependency_update(helm_side / "charts" / "app")
    with tarfile.open(helm_python.package(helm_side / "charts" / "app", destination=tmp_path / "helm-out")) as made:
        assert made.getnames().count("app/charts/sub/Chart.yaml") == 2  # Helm's own package
    result = build(root, {})
    assert [(f.rel, f.message) for f in result.failures] == [("app", (
        "charts/app: its package would hold app/charts/sub/Chart.yaml twice (two subcharts of one name: one vendored "
        "in charts/, one fetched by the dependency build?), and which one installs would be left to chance; keep one "
        "(remove the vendored copy, or that dependency)"))]
    assert sorted(p.name for p in result.packages) == ["other", "sub"]
