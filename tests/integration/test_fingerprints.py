"""A push that changes nothing rebuilds nothing: fingerprints of each chart's inputs, kept in index.yaml."""

import json
import os
import subprocess
from pathlib import Path

import helm_python
import pytest

from tasks import charts, fingerprints, git
from tasks import index as idx
from tasks.store import LocalStore
from tests.conftest import copy_project, invoke
from tests.support.faults import fault_proxy

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]


def commit(project: Path, message: str = "charts") -> None:
    subprocess.run([*GIT, "add", "-A"], cwd=project, check=True)
    subprocess.run([*GIT, "commit", "-qm", message], cwd=project, check=True)


@pytest.fixture
def checkout(tmp_path):
    project = copy_project(tmp_path / "project")
    subprocess.run([*GIT, "init", "-q"], cwd=project, check=True)
    commit(project)
    return project


def prints(project: Path, epoch: int = 0) -> dict[str, str]:
    return fingerprints.of(charts.discover(project / "charts").charts, project, epoch)


def test_a_fingerprint_follows_the_charts_inputs_and_nothing_else(checkout, tmp_path):
    first = prints(checkout)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{checkout}", str(clone)], check=True)
    assert prints(clone) == first  # a shallow clone: same inputs, same fingerprints, from git alone
    no_git = copy_project(tmp_path / "no-git")
    assert prints(no_git) == first  # without git, file contents give the same answer
    (checkout / "charts" / "library" / "common" / "templates" / "_labels.tpl").write_text("{{/* changed */}}")
    changed = prints(checkout)
    assert changed["common-0.1.0"] != first["common-0.1.0"]
    assert changed["hello-api-0.1.0"] != first["hello-api-0.1.0"]  # it uses common through file://
    assert changed["hello-world-0.1.0"] == first["hello-world-0.1.0"]
    commit(checkout, "common changed")
    assert prints(checkout) == changed  # committed or not: the content decides
    assert prints(checkout, epoch=1)["hello-world-0.1.0"] != changed["hello-world-0.1.0"]  # SOURCE_DATE_EPOCH too


def test_a_chart_used_through_file_counts_with_what_it_uses_itself_chosen_or_not_inside_charts_or_not(tmp_path):
    """app uses lib (beside charts/), which uses base: base is built into app's package, so it is in its inputs."""
    root = tmp_path / "project"
    for folder, name, uses in [("charts/app", "app", "../../lib"), ("lib", "lib", "../base"), ("base", "base", None)]:
        (root / folder / "templates").mkdir(parents=True)
        dependency = f"dependencies:\n- name: {uses.rsplit('/', 1)[-1]}\n  version: 1.0.0\n  repository: file://{uses}\n" \
            if uses else ""
        (root / folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 1.0.0\n{dependency}")
    first = prints(root)
    (root / "base" / "templates" / "cm.yaml").write_text("kind: ConfigMap\n")
    assert prints(root)["app-1.0.0"] != first["app-1.0.0"]


def test_fingerprints_round_trip_through_the_index_and_helm_still_reads_it(tmp_path):
    store = LocalStore(tmp_path / "repo")
    annotations: dict[str, str] = {}
    assert fingerprints.annotate(annotations, {"a-1.0.0": "f1"})
    assert not fingerprints.annotate(annotations, {"a-1.0.0": "f1"})  # unchanged: no reason to write the index
    assert fingerprints.recorded({fingerprints.ANNOTATION: "not json"}) == {}
    project = copy_project(tmp_path / "project")
    invoke(project, "repo.publish", "--url", store.url)
    index, _ = idx.read(store)
    assert set(fingerprints.recorded(index.extra["annotations"])) == {"common-0.1.0", "hello-api-0.1.0", "hello-world-0.1.0"}
    (tmp_path / "empty").mkdir()
    served = helm_python.repo_index_generate(tmp_path / "empty", merge=store.path / "index.yaml")  # Helm's own loader
    assert set(served["entries"]) == {"common", "hello-api", "hello-world"}


def test_a_clean_clone_with_nothing_changed_builds_nothing_and_writes_nothing(checkout, tmp_path, bucket):
    invoke(checkout, "repo.publish", "--url", bucket.url, env=bucket.env)
    before = bucket.objects()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{checkout}", str(clone)], check=True)
    with fault_proxy(bucket.endpoint, 0.0, 0) as (counted, proxy):  # no faults: it only counts the requests
        result = invoke(clone, "repo.publish", "--url", bucket.url, env={**bucket.env, "AWS_ENDPOINT_URL_S3": counted})
    assert "0 new, 3 unchanged (3 not rebuilt: inputs unchanged)" in result.stdout
    assert proxy.requests == 1  # reading index.yaml is all a push that changes nothing costs
    assert not list(clone.glob("dist/**/*.tgz"))  # nothing was packaged
    assert bucket.objects() == before
    verbose = invoke(clone, "repo.publish", "--url", bucket.url, "--verbose", env=bucket.env).stdout
    assert "hello-world  0.1.0    unchanged  not rebuilt: inputs unchanged" in verbose  # a row each, with --verbose
    (clone / "charts" / "hello-world" / "values.yaml").write_text("replicaCount: 2\n")
    (clone / "charts" / "hello-world" / "Chart.yaml").write_text(
        (clone / "charts" / "hello-world" / "Chart.yaml").read_text().replace("version: 0.1.0", "version: 0.2.0"))
    result = invoke(clone, "repo.publish", "--url", bucket.url, env=bucket.env)
    assert "1 new, 2 unchanged (2 not rebuilt: inputs unchanged)" in result.stdout
    assert sorted(p.name for p in (clone / "dist" / "packages").iterdir()) == ["hello-world-0.2.0.tgz"]
    forced = invoke(clone, "repo.publish", "--url", bucket.url, "--force", env=bucket.env)
    assert "0 new, 3 unchanged" in forced.stdout and "not rebuilt" not in forced.stdout  # --force rebuilds all


def clone_of(checkout: Path, where: Path) -> Path:
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{checkout}", str(where)], check=True)
    return where


def test_a_tree_key_stands_for_a_committed_tree_with_nothing_else_below_it(checkout, tmp_path):
    key = fingerprints.tree_key(checkout / "charts", 0)
    assert key and fingerprints.tree_key(clone_of(checkout, tmp_path / "clone") / "charts", 0) == key
    assert fingerprints.tree_key(checkout / "charts", 1) != key  # SOURCE_DATE_EPOCH decides bytes too
    assert fingerprints.tree_key(copy_project(tmp_path / "no-git") / "charts", 0) == ""
    chart = checkout / "charts" / "hello-world"
    (chart / "notes.txt").write_text("untracked")
    assert fingerprints.tree_key(checkout / "charts", 0) == ""
    (chart / "notes.txt").unlink()
    (chart / "values.yaml").write_text("modified: true\n")
    assert fingerprints.tree_key(checkout / "charts", 0) == ""
    subprocess.run(["git", "checkout", "-q", "."], cwd=checkout, check=True)
    assert fingerprints.tree_key(checkout / "charts", 0) == key
    (chart / ".gitignore").write_text("*.local\n")
    commit(checkout)
    assert fingerprints.tree_key(checkout / "charts", 0) not in ("", key)
    (chart / "values.local").write_text("ignored by git, packaged by Helm")
    assert fingerprints.tree_key(checkout / "charts", 0) == ""
    (chart / "values.local").unlink()
    committed = fingerprints.tree_key(checkout / "charts", 0)
    (chart / "values.yaml").write_text("staged: true\n")
    subprocess.run(["git", "add", "."], cwd=checkout, check=True)  # the work tree is git's index, not HEAD
    staged = fingerprints.tree_key(checkout / "charts", 0)
    assert staged not in ("", committed)
    commit(checkout)
    assert fingerprints.tree_key(checkout / "charts", 0) == staged  # the same files: the same key
    (chart / "values.yaml").unlink()
    assert fingerprints.tree_key(checkout / "charts", 0) == ""  # deleted
    subprocess.run(["git", "checkout", "-q", "."], cwd=checkout, check=True)
    (chart / "values.yaml").chmod(0o755)
    assert fingerprints.tree_key(checkout / "charts", 0) == ""  # its mode: Helm packages it too
    commit(checkout)
    executable = fingerprints.tree_key(checkout / "charts", 0)
    assert executable not in ("", staged)
    (chart / os.fsdecode(b"latin-\xe9.txt")).write_text("a name git gives as bytes, not UTF-8")
    commit(checkout)
    assert fingerprints.tree_key(checkout / "charts", 0) not in ("", executable)


def test_a_file_name_not_in_utf8_is_published_then_not_rebuilt(checkout, tmp_path):
    """Such a name (written on another system) stopped every publish: "unexpected UnicodeDecodeError", exit 2."""
    (checkout / "charts" / "hello-world" / os.fsdecode(b"notes-\xe9.txt")).write_text("a Latin-1 name")
    commit(checkout)
    store = LocalStore(tmp_path / "repo")
    assert "3 new" in invoke(checkout, "repo.publish", "--url", store.url).stdout
    again = invoke(clone_of(checkout, tmp_path / "clone"), "repo.publish", "--url", store.url)
    assert "0 new, 3 unchanged (3 not rebuilt: inputs unchanged)" in again.stdout


@pytest.mark.parametrize("how", ["gitattributes", "autocrlf"])
def test_a_checkout_whose_git_converts_line_endings_is_not_taken_as_published(checkout, tmp_path, how):
    """Helm packages the work tree's bytes: where git's checkout wrote CRLF, they are not the blobs' (helper-48)."""
    store = LocalStore(tmp_path / "repo")
    if how == "gitattributes":
        (checkout / ".gitattributes").write_text("*.yaml text eol=crlf\n")  # the checkout's own files stay LF
        commit(checkout)
    invoke(checkout, "repo.publish", "--url", store.url)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", *(["--config", "core.autocrlf=true"] if how == "autocrlf" else []),
                    f"file://{checkout}", str(clone)], check=True)  # kept in the clone's config, as on Windows
    assert b"\r\n" in (clone / "charts" / "hello-world" / "values.yaml").read_bytes()
    assert fingerprints.tree_key(clone / "charts", 0) == ""
    result = invoke(clone, "repo.publish", "--url", store.url, check=False)
    assert result.returncode == 1 and "not rebuilt" not in result.stdout
    assert "hello-world 0.1.0: already published with different content" in result.stderr
    assert "warning: git's checkout here may convert " in result.stderr


def test_attributes_that_convert_nothing_keep_a_tree_key(checkout, tmp_path):
    (checkout / ".gitattributes").write_text("* text=auto eol=lf\n*.png binary\n*.tgz -text\n")
    (checkout / "charts" / "hello-world" / ".gitattributes").write_text("*.txt -diff\n")
    commit(checkout)
    clone = clone_of(checkout, tmp_path / "clone")
    assert fingerprints.tree_key(clone / "charts", 0) != ""
    (clone / ".git" / "info" / "attributes").write_text("*.yaml filter=lfs\n")  # a filter: Git LFS's smudge
    assert fingerprints.tree_key(clone / "charts", 0) == ""


def test_a_file_whose_name_holds_a_tab_is_looked_at_by_its_whole_name(checkout):
    """tree_key reads the paths from git's listing by splitting it at tabs; a name holding one is read line by line."""
    (checkout / "charts" / "hello-world" / "notes\tcrlf.txt").write_text("a tab in a name\n")
    commit(checkout)
    assert fingerprints.tree_key(checkout / "charts", 0) != ""
    (checkout / ".git" / "info" / "attributes").write_text("*crlf.txt text eol=crlf\n")  # that file alone converts
    assert fingerprints.tree_key(checkout / "charts", 0) == ""


def checked_out_again(checkout: Path, *paths: str) -> None:
    """The files written again by git's checkout, as a fresh clone writes them (what its attributes say applies)."""
    for path in paths:
        (checkout / path).unlink()
    subprocess.run(["git", "checkout", "-q", "--", *paths], cwd=checkout, check=True)


def test_a_bare_autocrlf_line_in_gits_config_is_true(checkout):
    """`[core] autocrlf` with no value is true to git: `git config --get-regexp` prints it without one."""
    with (checkout / ".git" / "config").open("a") as config:
        config.write("[core]\n\tautocrlf\n")
    checked_out_again(checkout, "charts/hello-world/values.yaml")
    assert b"\r\n" in (checkout / "charts" / "hello-world" / "values.yaml").read_bytes()
    assert fingerprints.tree_key(checkout / "charts", 0) == ""


def test_attributes_above_a_symlinked_charts_folder_are_found_where_git_finds_them(checkout):
    (checkout / "vendor").mkdir()
    (checkout / "charts").rename(checkout / "vendor" / "charts")
    (checkout / "charts").symlink_to("vendor/charts")
    (checkout / "vendor" / ".gitattributes").write_text("*.yaml eol=crlf\n")
    commit(checkout)
    checked_out_again(checkout, "vendor/charts/hello-world/values.yaml")
    assert fingerprints.tree_key(checkout / "charts", 0) == ""


def test_an_untracked_gitattributes_in_a_chart_still_counts_for_its_files(checkout):
    chart = checkout / "charts" / "hello-world"
    (chart / ".gitattributes").write_text("*.yaml eol=crlf\n")  # not committed: git's checkout still reads it
    checked_out_again(checkout, "charts/hello-world/values.yaml")
    blobs = fingerprints._committed_blobs(checkout, [str(chart)])
    assert str(chart / "values.yaml") not in blobs and str(chart / "templates" / "_helpers.tpl") in blobs


def test_no_home_folder_is_no_error_git_is_asked_instead(checkout, monkeypatch):
    """A service's uid with no passwd entry and no HOME: Path.home() raised, an "unexpected RuntimeError"."""
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)  # what it gives when no home is known
    assert fingerprints.tree_key(checkout / "charts", 0) != ""  # check-attr said: nothing converted


@pytest.mark.parametrize(("attributes", "config", "converts"), [
    ({}, {}, False),
    ({}, {"autocrlf": True}, True),
    ({"text": "unset"}, {"autocrlf": True}, False),  # -text, binary
    ({"crlf": "unset"}, {"autocrlf": True}, False),  # the legacy -crlf
    ({"text": "auto"}, {}, False),  # native line endings: LF here
    ({"text": "auto"}, {"crlf": True}, True),  # core.eol=crlf
    ({"text": "set", "eol": "lf"}, {"autocrlf": True}, False),
    ({"eol": "crlf"}, {}, True),
    ({"crlf": "input"}, {"crlf": True}, False),  # the legacy crlf=input: eol=lf
    ({"filter": "lfs"}, {}, True),
    ({"filter": "unset"}, {}, False),
    ({"ident": "set"}, {}, True),
    ({"working-tree-encoding": "UTF-16"}, {}, True),
])
def test_which_attributes_make_git_convert_a_file_on_checkout(attributes, config, converts):
    assert git._converts(attributes, config.get("autocrlf", False), config.get("crlf", False) or
                         config.get("autocrlf", False)) is converts

def test_a_tree_with_a_submodule_has_no_tree_key(checkout):
    """git lists a submodule as one entry: nothing tells whether its files changed."""
    inner = checkout / "charts" / "hello-world" / "vendored"
    inner.mkdir()
    subprocess.run([*GIT, "init", "-q"], cwd=inner, check=True)
    (inner / "a.txt").write_text("a")
    commit(inner)
    commit(checkout)
    assert "160000" in subprocess.run(["git", "ls-files", "--stage", "charts"], cwd=checkout, capture_output=True,
                                      text=True, check=True).stdout
    assert fingerprints.tree_key(checkout / "charts", 0) == ""


def test_a_tree_with_a_symlink_or_a_dependency_outside_it_is_never_recorded(checkout, tmp_path):
    tree = charts.discover(checkout / "charts")
    fresh = fingerprints.of(tree.charts, checkout, 0)
    key = fingerprints.tree_key(checkout / "charts", 0)
    assert json.loads(fingerprints.tree_record(key, tree.charts, fresh, checkout / "charts"))["key"] == key
    (checkout / "outside").mkdir()
    os.symlink("../../outside", checkout / "charts" / "hello-world" / "linked")
    commit(checkout)
    assert fingerprints.tree_record(fingerprints.tree_key(checkout / "charts", 0), tree.charts, fresh,
                                    checkout / "charts") == ""
    assert fingerprints.tree_record(key, tree.charts, fresh, checkout / "charts" / "hello-api") == ""  # file:// out


def test_a_clean_checkout_of_the_published_tree_reads_no_chart(checkout, tmp_path):
    store = LocalStore(tmp_path / "repo")
    invoke(checkout, "repo.publish", "--url", store.url)
    record = json.loads(idx.read(store)[0].extra["annotations"][fingerprints.TREE])
    assert [c[:2] for c in record["charts"]] == [["common", "0.1.0"], ["hello-api", "0.1.0"], ["hello-world", "0.1.0"]]
    clone = clone_of(checkout, tmp_path / "clone")
    quiet = invoke(clone, "repo.publish", "--url", store.url, env={"PYTHONVERBOSE": "1"})  # -v: every module loaded
    imported = {line.split("'")[1] for line in quiet.stderr.splitlines() if line.startswith("import '")}
    assert "tasks.index" in imported  # what building, comparing or hashing packages needs is not even imported:
    assert not imported & {"tasks.repo_commands", "tasks.release_commands", "tasks.publish", "tasks.charts",
                            "tasks.packaging", "tasks.archives", "semver", "tarfile", "helm_python", "boto3"}
    result = invoke(clone, "repo.publish", "--url", store.url, "--output", "json")
    assert "0 new, 3 unchanged (3 not rebuilt: inputs unchanged)" in result.stderr
    assert [(r["chart"], r["action"]) for r in json.loads(result.stdout)["steps"]] == \
        [("common", "unchanged"), ("hello-api", "unchanged"), ("hello-world", "unchanged")]
    (clone / "charts/hello-world/Chart.yaml").write_text("not: [yaml")
    failed = invoke(clone, "repo.publish", "--url", store.url, check=False)  # modified: the charts are read
    assert failed.returncode == 1 and "charts/hello-world/Chart.yaml: not valid YAML" in failed.stderr


@pytest.mark.parametrize("hidden", ["--assume-unchanged", "--skip-worktree"])
def test_a_file_git_was_told_not_to_look_at_is_read_from_the_work_tree(checkout, tmp_path, hidden):
    """git status never reports a file marked assume-unchanged or skip-worktree (a sparse checkout), whatever is in the
    work tree: such a tree is not the published one, and the file is hashed from what Helm would package."""
    store = LocalStore(tmp_path / "repo")
    invoke(checkout, "repo.publish", "--url", store.url)
    clone = clone_of(checkout, tmp_path / "clone")
    values = "charts/hello-world/values.yaml"
    subprocess.run(["git", "update-index", hidden, values], cwd=clone, check=True)
    assert fingerprints.tree_key(clone / "charts", 0) == ""
    (clone / values).write_text((clone / values).read_text() + "extra: changed without a version bump\n")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True)
    assert status.stdout == ""  # git does not see the change
    failed = invoke(clone, "repo.publish", "--url", store.url, check=False)
    assert failed.returncode == 1, failed.stdout
    assert "hello-world 0.1.0" in failed.stderr and "different content" in failed.stderr
    assert "2 unchanged (2 not rebuilt" in failed.stdout + failed.stderr


def test_a_sparse_checkout_publishes_what_it_holds_and_the_full_tree_after_it_the_rest(checkout, tmp_path):
    """A sparse checkout's charts/ has the full tree's id at HEAD: what it published must not stand for that tree."""
    store = LocalStore(tmp_path / "repo")
    sparse = tmp_path / "sparse"
    subprocess.run(["git", "clone", "-q", "--no-checkout", f"file://{checkout}", str(sparse)], check=True)
    subprocess.run(["git", "sparse-checkout", "set", "--no-cone", "/tasks/", "/tasks.py", "/invoke.yaml",
                    "/environments/", "/charts/hello-world/"], cwd=sparse, check=True)
    subprocess.run(["git", "checkout", "-q"], cwd=sparse, check=True)
    assert not (sparse / "charts" / "hello-api").exists()
    assert "1 new" in invoke(sparse, "repo.publish", "--url", store.url).stdout
    full = invoke(clone_of(checkout, tmp_path / "full"), "repo.publish", "--url", store.url)
    assert "2 new, 1 unchanged" in full.stdout
    assert sorted(p.name for p in store.path.glob("*.tgz")) == [
        "common-0.1.0.tgz", "hello-api-0.1.0.tgz", "hello-world-0.1.0.tgz"]


def test_the_tree_record_stands_for_nothing_once_a_version_is_replaced_from_elsewhere(checkout, tmp_path):
    store = LocalStore(tmp_path / "repo")
    invoke(checkout, "repo.publish", "--url", store.url)
    other = copy_project(tmp_path / "other")
    (other / "charts" / "hello-world" / "values.yaml").write_text("replicaCount: 5\n")
    invoke(other, "repo.publish", "--url", store.url, "--force")  # same version, other content: replaced
    result = invoke(clone_of(checkout, tmp_path / "clone"), "repo.publish", "--url", store.url, check=False)
    assert result.returncode == 1 and "hello-world 0.1.0: already published with different content" in result.stderr


def test_a_fingerprint_covers_what_helm_reads_a_symlink_by_its_target_and_vouches_for_nothing_unread(checkout):
    """Files .helmignore leaves out change nothing; a committed symlink is fingerprinted by the file Helm reads
    through it (git's blob is the link); a folder that cannot be read whole is built every time."""
    chart = checkout / "charts" / "hello-world"
    (chart / ".helmignore").write_text("*.bak\n")
    (checkout / "charts" / "shared.yaml").write_text("shared: 1\n")
    os.symlink("../shared.yaml", chart / "shared.yaml")
    commit(checkout)
    first = prints(checkout)
    (chart / "values.bak").write_text("Helm never reads it")
    assert prints(checkout) == first
    (checkout / "charts" / "shared.yaml").write_text("shared: 2\n")
    commit(checkout)
    assert prints(checkout)["hello-world-0.1.0"] != first["hello-world-0.1.0"]
    os.symlink("nowhere", chart / "dangling.yaml")
    assert prints(checkout)["hello-world-0.1.0"] != prints(checkout)["hello-world-0.1.0"]
    assert prints(checkout)["hello-api-0.1.0"] == first["hello-api-0.1.0"]


def test_an_unchanged_tree_whose_index_entry_lost_its_digest_is_not_taken_as_published(checkout):
    """The shortcut for a tree published as it is checks every entry still has its digest: one removed is recorded
    again (a deploy refuses an entry without one), not skipped as published for ever."""
    import json

    invoke(checkout, "repo.publish")
    index_file = checkout / "dist" / "repo" / "index.yaml"
    index = json.loads(index_file.read_text())
    digest = index["entries"]["hello-world"][0].pop("digest")
    index_file.write_text(json.dumps(index))
    result = invoke(checkout, "repo.publish")
    assert "digest recorded" in result.stdout
    assert json.loads(index_file.read_text())["entries"]["hello-world"][0]["digest"] == digest
