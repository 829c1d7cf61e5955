"""Publishing into a repository another tool wrote (Helm's `helm package` + `helm repo index`, a hand edit): every
entry of theirs stays as it was, Helm's clients still read the result, and what they hold that is ours already
(an archive with the same files, an entry without its digest) is taken over, not refused."""

import hashlib
import json
import shutil
from pathlib import Path

import helm_python
import pytest
import yaml

from tests.conftest import invoke
from tests.support.indexes import MERGE_KEYS, helm_reads


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def index_of(folder: Path) -> dict:
    return json.loads((folder / "index.yaml").read_bytes())


def foreign_chart(root: Path, name: str = "foreign", version: str = "1.2.0") -> Path:
    chart = root / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    (chart / "templates" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    return chart


def changed_copy(chart: Path, target: Path) -> Path:
    """The chart at the same version with other content: what another team published under that version."""
    copied = shutil.copytree(chart, target)
    values = copied / "values.yaml"
    values.write_text(values.read_text().replace("replicaCount: 1", "replicaCount: 2"))
    return copied


def helm_repository(folder: Path, *charts: Path) -> Path:
    """A folder repository as the article's script makes one: `helm package` of each chart, `helm repo index`."""
    folder.mkdir(parents=True)
    for chart in charts:
        helm_python.package(chart, destination=folder)
    helm_python.repo_index_generate(folder)
    return folder


def test_an_index_with_yaml_merge_keys_keeps_every_entry_as_helm_reads_it_and_helm_reads_the_publish(project, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "index.yaml").write_text(MERGE_KEYS)
    theirs = helm_reads(repo)
    result = invoke(project, "repo.publish", "--url", f"file://{repo}")
    assert "3 new, 0 unchanged" in result.stdout
    ours = helm_reads(repo)  # Helm's client loads what was written (a `<<` key in annotations would fail it)
    assert {name: ours[name] for name in theirs} == theirs
    assert sorted(ours) == sorted([*theirs, "common", "hello-api", "hello-world"])
    assert ours["prometheus-pushgateway"][0]["annotations"] == {
        "team": "observability", "oncall": "#obs", "category": "monitoring"}
    assert [e["version"] for e in ours["jiralert"]] == ["1.9.0", "1.8.0"]


@pytest.fixture(params=["folder", "s3"])
def target(request, tmp_path):
    """(repository url, env, put(path), get(name)) for a folder or an S3 bucket."""
    if request.param == "folder":
        repo = tmp_path / "repo"
        repo.mkdir()
        return (f"file://{repo}", {}, lambda path: shutil.copy(path, repo / path.name),
                lambda name: (repo / name).read_bytes())
    bucket = request.getfixturevalue("bucket")
    client = bucket.client()
    return (bucket.url, bucket.env,
            lambda path: client.put_object(Bucket=bucket.name, Key=path.name, Body=path.read_bytes()), bucket.get)


def test_an_unindexed_archive_another_tool_made_of_the_same_files_is_indexed_as_it_is(project, tmp_path, target):
    """`helm package` of our own chart, left beside a Helm-made index: the same files, so the same version."""
    url, env, put, get = target
    made = helm_repository(tmp_path / "helm", foreign_chart(tmp_path / "src"))
    stray = Path(helm_python.package(project / "charts" / "hello-world", destination=tmp_path / "stray"))
    for path in [*made.iterdir(), stray]:
        put(path)
    result = invoke(project, "repo.publish", "--url", url, env=env)
    assert "3 new, 0 unchanged" in result.stdout and result.stderr == ""
    index = json.loads(get("index.yaml"))
    assert index["entries"]["hello-world"][0]["digest"] == sha256(stray)  # the archive clients download: theirs
    assert get(stray.name) == stray.read_bytes()  # kept, not overwritten
    assert index["entries"]["foreign"] == yaml.safe_load((made / "index.yaml").read_text())["entries"]["foreign"]
    assert "no strays" in invoke(project, "repo.verify", "--url", url, env=env).stdout


def test_an_unindexed_archive_with_other_files_fails_only_its_chart_and_the_others_are_indexed(project, tmp_path):
    repo = helm_repository(tmp_path / "repo", foreign_chart(tmp_path / "src"))
    other = changed_copy(project / "charts" / "hello-world", tmp_path / "other" / "hello-world")
    stray = Path(helm_python.package(other, destination=repo))
    before = stray.read_bytes()
    result = invoke(project, "repo.publish", "--url", f"file://{repo}", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [occupied(repo)]
    assert result.stdout.strip().splitlines()[-2:] == [f"published to file://{repo}: 2 new, 0 unchanged",
                                                       "published 2, failed 1: hello-world"]
    entries = index_of(repo)["entries"]
    assert sorted(entries) == ["common", "foreign", "hello-api"]  # index.yaml written, for the others only
    assert stray.read_bytes() == before
    fingerprints = json.loads(index_of(repo)["annotations"]["invoke-charts/fingerprints"])
    assert sorted(fingerprints) == ["common-0.1.0", "hello-api-0.1.0"]  # so the next run tries hello-world again
    again = invoke(project, "repo.publish", "--url", f"file://{repo}", check=False)
    assert again.returncode == 1 and again.stderr.strip().splitlines() == [occupied(repo)]
    assert again.stdout.strip().splitlines()[-1] == "published 2, failed 1: hello-world"
    forced = invoke(project, "repo.publish", "--url", f"file://{repo}", "--force")
    assert index_of(repo)["entries"]["hello-world"][0]["digest"] == sha256(stray) != hashlib.sha256(before).hexdigest()
    assert forced.returncode == 0


def occupied(repo: Path) -> str:
    return (f"error: hello-world 0.1.0: file://{repo}/hello-world-0.1.0.tgz exists with different content, not yet in "
            "the index (another publisher is publishing this version, or was interrupted); bump the chart's version, "
            "or pass --force to replace it")


def test_an_atomic_publish_over_an_unindexed_archive_with_other_files_uploads_nothing(project, tmp_path):
    repo = helm_repository(tmp_path / "repo", foreign_chart(tmp_path / "src"))
    other = changed_copy(project / "charts" / "hello-world", tmp_path / "other" / "hello-world")
    Path(helm_python.package(other, destination=repo))
    before = {path.name: path.read_bytes() for path in repo.iterdir()}
    result = invoke(project, "repo.publish", "--url", f"file://{repo}", "--atomic", "--output", "json", check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [occupied(repo), (
        f"error: 1 chart(s) failed (hello-world) and repo.atomic is on: nothing published to file://{repo}")]
    assert {path.name: path.read_bytes() for path in repo.iterdir() if path.name != ".lock"} == before


def without_digests(folder: Path) -> None:
    index = folder / "index.yaml"
    index.write_text("".join(line for line in index.read_text().splitlines(keepends=True)
                             if not line.lstrip().startswith("digest:")))


def test_an_entry_without_a_digest_whose_archive_holds_our_files_gets_its_digest_recorded(project, tmp_path):
    repo = helm_repository(tmp_path / "repo", project / "charts" / "hello-world", foreign_chart(tmp_path / "src"))
    without_digests(repo)
    helm_made = repo / "hello-world-0.1.0.tgz"
    before = helm_made.read_bytes()
    entry = next(e for e in helm_reads(repo)["hello-world"])
    assert verify(project, repo) == {("digest", "hello-world-0.1.0.tgz"), ("digest", "foreign-1.2.0.tgz")}
    result = invoke(project, "repo.publish", "--url", f"file://{repo}")
    assert ("hello-world  0.1.0    replace  digest recorded: index.yaml had none, and the stored archive holds the "
            "same files as this package (nothing uploaded)") in result.stdout  # said in the plan: an index-only change
    assert "2 new, 1 replaced, 0 unchanged" in result.stdout
    recorded = index_of(repo)["entries"]["hello-world"][0]
    assert recorded == {**entry, "digest": hashlib.sha256(before).hexdigest()}  # the rest as Helm wrote it
    assert helm_made.read_bytes() == before  # nothing uploaded
    assert verify(project, repo) == {("digest", "foreign-1.2.0.tgz")}  # theirs still has none: not ours to record
    again = invoke(project, "repo.publish", "--url", f"file://{repo}")
    assert "0 new, 3 unchanged" in again.stdout


def test_an_entry_without_a_digest_whose_archive_holds_other_files_is_refused_as_changed_content(project, tmp_path):
    other = changed_copy(project / "charts" / "hello-world", tmp_path / "other" / "hello-world")
    repo = helm_repository(tmp_path / "repo", other)
    without_digests(repo)
    result = invoke(project, "repo.publish", "--url", f"file://{repo}", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [(
        "error: hello-world 0.1.0: already published with different content; a published version is immutable: "
        "bump version in the chart's Chart.yaml (or pass --force to replace it)")]
    assert "digest" not in index_of(repo)["entries"]["hello-world"][0]


def test_a_digest_deleted_from_our_own_index_is_recorded_again_though_the_chart_is_not_rebuilt_otherwise(project):
    invoke(project, "repo.publish")
    repo = project / "dist" / "repo"
    index = index_of(repo)
    digest = index["entries"]["hello-world"][0].pop("digest")
    (repo / "index.yaml").write_text(json.dumps(index))
    result = invoke(project, "repo.publish")
    assert "digest recorded" in result.stdout and "0 new, 1 replaced, 2 unchanged (2 not rebuilt" in result.stdout
    assert index_of(repo)["entries"]["hello-world"][0]["digest"] == digest
    assert "no strays" in invoke(project, "repo.verify").stdout


def verify(project: Path, repo: Path) -> set[tuple[str, str]]:
    """repo.verify's findings, (kind, key)."""
    result = invoke(project, "repo.verify", "--url", f"file://{repo}", "--json", check=False)
    return {(f["kind"], f["key"]) for f in json.loads(result.stdout)["findings"]}
