"""Publishing through the plain modules against a real S3 endpoint (moto server) and a local folder."""

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tasks import archives, charts, packaging, publish
from tasks import index as idx
from tasks.errors import ConflictError, ToolError
from tasks.store import INDEX, LocalStore, S3Store
from tests.conftest import ROOT


def make_chart(root: Path, name: str, version: str = "1.0.0", data: str = "a") -> Path:
    folder = root / "charts" / name
    (folder / "templates").mkdir(parents=True, exist_ok=True)
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    (folder / "templates" / "cm.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}\ndata:\n  x: {data!r}\n")
    return folder


def build(root: Path) -> list[charts.Package]:
    return packaging.build(charts.discover(root / "charts"), root / "charts", root / "dist" / "packages", {}).packages


def run(store, packages, *, force=False, public_url=None, created=None):
    created = created or idx.timestamp()
    plan = publish.make_plan(store, packages, public_url=public_url, force=force, created=created)
    return publish.apply(store, plan, packages, created=created, sleep=lambda s: None)


def index_of(store) -> idx.Index:
    return idx.read(store)[0]


@pytest.fixture(params=["s3", "local"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "repo")
    return S3Store(request.getfixturevalue("bucket").url)


def test_first_publish_uploads_every_package_and_an_index_that_names_them(store, tmp_path):
    make_chart(tmp_path, "alpha")
    make_chart(tmp_path, "beta", "0.2.0")
    packages = build(tmp_path)
    run(store, packages)
    index = index_of(store)
    for package in packages:
        entry = index.get(package.name, package.version)
        assert entry["digest"] == package.digest == archives.digest(store.read(package.filename)[0])
        assert entry["urls"] == [package.filename]


def test_s3_objects_carry_content_types_and_a_short_cache_on_the_index(bucket, tmp_path):
    make_chart(tmp_path, "alpha")
    run(S3Store(bucket.url), build(tmp_path))
    client = bucket.client()
    index_head = client.head_object(Bucket=bucket.name, Key="index.yaml")
    package_head = client.head_object(Bucket=bucket.name, Key="alpha-1.0.0.tgz")
    assert (index_head["ContentType"], index_head["CacheControl"]) == ("application/x-yaml", "max-age=60")
    assert package_head["ContentType"] == "application/gzip"


def test_republishing_200_charts_with_one_changed_costs_one_read_and_three_writes_package_index_page(bucket, tmp_path):
    for i in range(200):
        make_chart(tmp_path, f"chart-{i:03}")
    run(S3Store(bucket.url), build(tmp_path))
    make_chart(tmp_path, "chart-007", "1.0.1", data="changed")
    store = S3Store(bucket.url)
    run(store, build(tmp_path))
    assert store.requests == {"GetObject": 1, "PutObject": 3}
    unchanged = S3Store(bucket.url)
    run(unchanged, build(tmp_path))
    assert unchanged.requests == {"GetObject": 1}


def test_republish_same_version_with_new_content_is_refused_and_nothing_is_uploaded(store, tmp_path):
    make_chart(tmp_path, "alpha")
    run(store, build(tmp_path))
    before = store.read(INDEX)
    make_chart(tmp_path, "alpha", data="changed but not bumped")
    make_chart(tmp_path, "beta")
    with pytest.raises(ToolError, match="alpha 1.0.0: already published with different content.*bump version"):
        run(store, build(tmp_path))
    assert store.read(INDEX) == before
    assert store.read("beta-1.0.0.tgz") is None  # refused before anything was written


def test_a_version_whose_package_is_gone_is_refused_saying_so_and_force_publishes_this_build(store, tmp_path):
    """A deploy said `missing from the repository; run invoke repo.publish`, and the publish then said only `already
    published with different content`: there was nothing to compare with."""
    make_chart(tmp_path, "alpha")
    run(store, build(tmp_path))
    store.delete("alpha-1.0.0.tgz")
    make_chart(tmp_path, "alpha", data="built elsewhere, from other content")
    with pytest.raises(ToolError, match=r"alpha 1.0.0: already published with different content.* \(the published "
                                        r"archive: missing from the repository, so not compared; restore it\)"):
        run(store, build(tmp_path))
    assert store.read("alpha-1.0.0.tgz") is None
    run(store, build(tmp_path), force=True)
    assert store.read("alpha-1.0.0.tgz") is not None


def test_force_replaces_the_package_and_keeps_created(store, tmp_path):
    make_chart(tmp_path, "alpha")
    run(store, build(tmp_path), created="2020-01-01T00:00:00.000000Z")
    make_chart(tmp_path, "alpha", data="hotfix")
    packages = build(tmp_path)
    done = run(store, packages, force=True)
    assert [s.action for s in done.steps] == [publish.REPLACE]
    entry = index_of(store).get("alpha", "1.0.0")
    assert entry["digest"] == packages[0].digest == archives.digest(store.read("alpha-1.0.0.tgz")[0])
    assert entry["created"] == "2020-01-01T00:00:00.000000Z"


def test_other_charts_older_versions_and_created_survive_a_publish(store, tmp_path):
    make_chart(tmp_path, "alpha", "1.0.0")
    run(store, build(tmp_path), created="2020-01-01T00:00:00.000000Z")
    make_chart(tmp_path, "alpha", "1.1.0")  # the checkout only has the newest version now
    make_chart(tmp_path, "beta")
    run(store, build(tmp_path))
    index = index_of(store)
    assert [e["version"] for e in index.entries["alpha"]] == ["1.1.0", "1.0.0"]
    assert index.get("alpha", "1.0.0")["created"] == "2020-01-01T00:00:00.000000Z"
    assert index.get("alpha", "1.1.0")["created"] != "2020-01-01T00:00:00.000000Z"
    assert index.get("beta", "1.0.0") is not None


def test_an_archive_with_the_same_files_made_by_another_tool_is_unchanged_not_a_conflict(store, tmp_path):
    import helm_python

    make_chart(tmp_path, "alpha")
    helm_made = Path(helm_python.package(tmp_path / "charts" / "alpha", destination=tmp_path / "helm"))
    assert store.create(helm_made.name, helm_made.read_bytes())
    index = idx.Index()
    index.add(idx.entry({"name": "alpha", "version": "1.0.0"}, archives.digest(helm_made.read_bytes()), helm_made.name, "T"))
    store.replace(INDEX, idx.dump(index), None)
    packages = build(tmp_path)
    assert packages[0].digest != archives.digest(helm_made.read_bytes())  # Helm's own archive carries mtimes
    done = run(store, packages)
    assert [(s.action, s.detail) for s in done.steps] == [(publish.UNCHANGED, "same files as the published archive")]
    assert index_of(store).get("alpha", "1.0.0")["digest"] == archives.digest(helm_made.read_bytes())


def test_a_package_left_by_a_killed_publisher_is_adopted_by_the_next_run(store, tmp_path):
    make_chart(tmp_path, "alpha")
    packages = build(tmp_path)
    store.create(packages[0].filename, packages[0].path.read_bytes())  # uploaded, then killed before the index
    run(store, packages)
    assert index_of(store).get("alpha", "1.0.0")["digest"] == packages[0].digest


def test_absolute_urls_when_public_url_is_set(store, tmp_path):
    make_chart(tmp_path, "alpha")
    run(store, build(tmp_path), public_url="https://charts.example.com")
    assert index_of(store).get("alpha", "1.0.0")["urls"] == ["https://charts.example.com/alpha-1.0.0.tgz"]


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_publishers_of_different_charts_lose_nothing(store, tmp_path, round_):
    publishers = 6
    prepared = []
    for i in range(publishers):
        root = tmp_path / f"p{i}"
        make_chart(root, f"chart-{i}")
        prepared.append(build(root))
    store_url_kind = type(store)
    errors: list[BaseException] = []
    barrier = threading.Barrier(publishers)

    def publisher(packages):
        mine = store if store_url_kind is LocalStore else S3Store(store.url)
        barrier.wait()
        try:
            run(mine, packages)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=publisher, args=(p,)) for p in prepared]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(index_of(store).entries) == [f"chart-{i}" for i in range(publishers)]


def test_publishers_that_planned_on_the_same_index_all_land_through_retries(store, tmp_path):
    """The worst interleaving, made certain: every plan is made before any index write."""
    created = idx.timestamp()
    jobs = []
    for i in range(4):
        make_chart(tmp_path / f"p{i}", f"chart-{i}")
        packages = build(tmp_path / f"p{i}")
        jobs.append((packages, publish.make_plan(store, packages, public_url=None, force=False, created=created)))
    retries: list[float] = []
    for packages, plan in jobs:
        publish.apply(store, plan, packages, created=created, sleep=retries.append)
    assert len(retries) == 3  # each later publisher lost exactly one race, re-read and re-merged
    assert sorted(index_of(store).entries) == [f"chart-{i}" for i in range(4)]


def test_a_publisher_that_keeps_losing_the_race_gives_up_clearly_and_leaves_the_index_valid(store, tmp_path, monkeypatch):
    make_chart(tmp_path, "alpha")
    packages = build(tmp_path)
    real_replace = store.replace

    def always_changed(key, data, etag):
        real_replace(key, idx.dump(index_of(store)), idx.read(store)[1])  # someone else wrote first
        raise publish.ConflictError("changed")

    monkeypatch.setattr(store, "replace", always_changed)
    with pytest.raises(ToolError, match=r"index.yaml: changed by someone else 12 times in a row .* run the publish again"):
        run(store, packages)
    assert store.read("alpha-1.0.0.tgz") is not None  # the package is there, unindexed: the next run adopts it


def test_an_interrupted_publish_says_what_was_and_was_not_written(tmp_path):
    class Interrupted(LocalStore):
        def create(self, key, data):
            if self.created:
                raise KeyboardInterrupt
            self.created.append(key)
            return super().create(key, data)

    for name in ("alpha", "beta"):
        make_chart(tmp_path, name)
    store = Interrupted(tmp_path / "repo")
    store.created = []
    with pytest.raises(KeyboardInterrupt) as stopped:
        run(store, build(tmp_path))
    assert str(stopped.value) == (
        f"publish to {store.url} stopped: uploaded alpha-1.0.0.tgz; not uploaded beta-1.0.0.tgz; index.yaml not "
        "written, so clients see none of it; run the publish again (the uploaded packages are adopted)")
    assert store.read(INDEX) is None
    again = LocalStore(tmp_path / "repo")
    run(again, build(tmp_path))
    assert {p.name for p in (tmp_path / "repo").glob("*.tgz")} == {"alpha-1.0.0.tgz", "beta-1.0.0.tgz"}


def test_an_object_over_the_read_limit_is_refused_without_reading_it_whole(store, monkeypatch):
    import tasks.store

    monkeypatch.setattr(tasks.store, "MAX_OBJECT", 1000)
    store.overwrite("huge-1.0.0.tgz", b"x" * 5000)
    with pytest.raises(ToolError, match=r"huge-1.0.0.tgz: larger than 1,000 bytes, more than this tool reads"):
        store.read("huge-1.0.0.tgz")
    store.overwrite("small-1.0.0.tgz", b"x" * 1000)
    assert store.read("small-1.0.0.tgz")[0] == b"x" * 1000


def test_an_index_replaced_since_it_was_read_is_a_lost_race_even_with_the_same_size(store):
    """The folder's ETag comes from the file's identity (inode, size, times), not a hash of its bytes."""
    store.replace(INDEX, b"first", None)
    _, etag = store.read(INDEX)
    store.overwrite(INDEX, b"other")  # same size: another publisher's index
    with pytest.raises(ConflictError):
        store.replace(INDEX, b"third", etag)
    _, current = store.read(INDEX)
    store.replace(INDEX, b"third", current)
    assert store.read(INDEX)[0] == b"third"


def helm_package(root: Path, name: str, destination: Path) -> Path:
    """`helm package` of the chart: the same files as ours, other bytes (Helm keeps mtimes)."""
    import helm_python

    return Path(helm_python.package(root / "charts" / name, destination=destination))


def test_a_new_versions_archive_already_there_with_the_same_files_is_indexed_as_it_is(store, tmp_path):
    make_chart(tmp_path, "alpha")
    make_chart(tmp_path, "beta")
    helm_made = helm_package(tmp_path, "alpha", tmp_path / "helm")
    assert store.create(helm_made.name, helm_made.read_bytes())  # not in any index
    packages = build(tmp_path)
    done = run(store, packages)
    assert [(s.package.name, s.action, s.indexed) for s in done.steps] == [("alpha", publish.NEW, True),
                                                                          ("beta", publish.NEW, False)]
    assert "indexed as it is" in done.steps[0].detail
    assert index_of(store).get("alpha", "1.0.0")["digest"] == archives.digest(helm_made.read_bytes())
    assert store.read(helm_made.name)[0] == helm_made.read_bytes()
    assert index_of(store).get("beta", "1.0.0")["digest"] == packages[1].digest


def occupied(store, name: str) -> str:
    """The line a chart fails with when an archive not in the index, with other files, is at its package's key."""
    return (f"{name} 1.0.0: {store.url}/{name}-1.0.0.tgz exists with different content, not yet in the index (another "
            "publisher is publishing this version, or was interrupted); bump the chart's version, or pass --force to "
            "replace it")


def others_archive(tmp_path: Path, name: str) -> Path:
    """`helm package` of NAME 1.0.0 with other files than ours: what another publisher writes at our package's key."""
    make_chart(tmp_path / "other", name, data="someone else's")
    return helm_package(tmp_path / "other", name, tmp_path / "helm")


def consistent(store) -> idx.Index:
    """The index, once checked: every entry's package is in the store with the entry's digest (invariant 1)."""
    index = index_of(store)
    for versions in index.entries.values():
        for entry in versions:
            assert archives.digest(store.read(entry["urls"][0])[0]) == entry["digest"]
    return index


def test_a_new_versions_archive_already_there_with_other_files_fails_alone_and_the_others_are_indexed(store, tmp_path):
    stray = others_archive(tmp_path, "alpha")
    assert store.create(stray.name, stray.read_bytes())
    make_chart(tmp_path, "alpha")
    make_chart(tmp_path, "beta")
    packages = build(tmp_path)
    done = run(store, packages)
    assert done.failed == {("alpha", "1.0.0"): occupied(store, "alpha")}
    assert [(s.package.name, s.action) for s in done.steps] == [("beta", publish.NEW)]
    index = consistent(store)
    assert index.get("alpha", "1.0.0") is None and index.get("beta", "1.0.0")["digest"] == packages[1].digest
    assert store.read(stray.name)[0] == stray.read_bytes()
    done = run(store, packages, force=True)  # --force replaces it, as it replaces a published version
    assert index_of(store).get("alpha", "1.0.0")["digest"] == packages[0].digest == archives.digest(
        store.read("alpha-1.0.0.tgz")[0])
    assert [s.action for s in done.steps] == [publish.NEW, publish.UNCHANGED] and done.failed == {}


def planned(store, tmp_path: Path, *names: str) -> tuple[list[charts.Package], publish.Plan]:
    for name in names:
        make_chart(tmp_path, name)
    packages = build(tmp_path)
    plan = publish.make_plan(store, packages, public_url=None, force=False, created="now")
    assert [s.action for s in plan.steps] == [publish.NEW] * len(names)
    return packages, plan


def written_on_upload(store, stray: Path) -> Callable[[publish.Step], None]:
    """An `advance` that writes `stray` into the repository once the first package is up: another writer, after the
    plan was made, while this publish uploads."""

    def advance(step: publish.Step) -> None:
        store.create(stray.name, stray.read_bytes())  # create-only: written once

    return advance


def test_a_stray_with_other_files_written_while_uploading_fails_its_chart_alone_and_the_others_are_indexed(
        store, tmp_path):
    stray = others_archive(tmp_path, "beta")
    packages, plan = planned(store, tmp_path, "alpha", "beta", "gamma")
    done = publish.apply(store, plan, packages, created="now",
                         advance=written_on_upload(store, stray))
    assert done.failed == {("beta", "1.0.0"): occupied(store, "beta")}
    assert [(s.package.name, s.action) for s in done.steps] == [("alpha", publish.NEW), ("gamma", publish.NEW)]
    assert sorted(consistent(store).entries) == ["alpha", "gamma"]
    assert store.read(stray.name)[0] == stray.read_bytes()  # theirs, untouched


def test_an_atomic_publish_meeting_a_stray_while_uploading_indexes_nothing_and_names_the_packages_it_left(
        store, tmp_path):
    stray = others_archive(tmp_path, "beta")
    packages, plan = planned(store, tmp_path, "alpha", "beta", "gamma")
    with pytest.raises(publish.Withheld) as stopped:
        publish.apply(store, plan, packages, created="now", atomic=True,
                      advance=written_on_upload(store, stray))
    assert stopped.value.failed == {("beta", "1.0.0"): occupied(store, "beta")}
    assert stopped.value.summary == (
        f"1 chart(s) failed (beta) and repo.atomic is on: nothing published to {store.url} (index.yaml not written; "
        "uploaded before the failure was found, and left there unindexed, so no client sees them: alpha-1.0.0.tgz; "
        "the next publish indexes them as they are)")
    assert store.read(INDEX) is None
    assert store.keys() == ["alpha-1.0.0.tgz", "beta-1.0.0.tgz"]  # gamma never went up
    done = run(store, [packages[0], packages[2]])  # beta left out (bumped, say): alpha indexed as it was uploaded
    assert [(s.package.name, s.action, s.indexed) for s in done.steps] == [("alpha", publish.NEW, False),
                                                                          ("gamma", publish.NEW, False)]
    assert consistent(store).get("alpha", "1.0.0")["digest"] == packages[0].digest


def test_an_atomic_publish_finds_a_stray_written_after_its_plan_before_uploading_anything(store, tmp_path):
    stray = others_archive(tmp_path, "beta")
    packages, plan = planned(store, tmp_path, "alpha", "beta")
    assert store.create(stray.name, stray.read_bytes())
    with pytest.raises(publish.Withheld) as stopped:
        publish.apply(store, plan, packages, created="now", atomic=True)
    assert str(stopped.value) == (f"{occupied(store, 'beta')}; 1 chart(s) failed (beta) and repo.atomic is on: "
                                  f"nothing published to {store.url}")
    assert store.keys() == ["beta-1.0.0.tgz"]  # nothing uploaded, nothing indexed


def test_an_atomic_publish_adopts_a_stray_with_the_same_files_as_a_plain_one_does(store, tmp_path):
    packages, plan = planned(store, tmp_path, "alpha")
    helm_made = helm_package(tmp_path, "alpha", tmp_path / "helm")
    assert store.create(helm_made.name, helm_made.read_bytes())
    done = publish.apply(store, plan, packages, created="now", atomic=True)
    assert [(s.action, s.indexed) for s in done.steps] == [(publish.NEW, True)] and done.failed == {}
    assert consistent(store).get("alpha", "1.0.0")["digest"] == archives.digest(helm_made.read_bytes())


def test_a_version_force_published_by_someone_else_while_uploading_fails_its_chart_alone(store, tmp_path):
    make_chart(tmp_path / "theirs", "beta", data="theirs")
    theirs = build(tmp_path / "theirs")
    packages, plan = planned(store, tmp_path, "alpha", "beta", "gamma")

    def advance(step: publish.Step) -> None:
        if step.package.name == "beta":  # ours is up; they replace it and index theirs before our index write
            run(store, theirs, force=True)

    done = publish.apply(store, plan, packages, created="now", advance=advance, sleep=lambda s: None)
    assert done.failed == {("beta", "1.0.0"): (
        "beta 1.0.0: already published with different content; a published version is immutable: bump version in "
        "the chart's Chart.yaml (or pass --force to replace it)")}
    index = consistent(store)
    assert sorted(index.entries) == ["alpha", "beta", "gamma"]
    assert index.get("beta", "1.0.0")["digest"] == theirs[0].digest  # theirs stays, ours is not indexed


def test_an_entry_without_a_digest_gets_the_stored_archives_when_it_holds_the_same_files(store, tmp_path):
    make_chart(tmp_path, "alpha")
    helm_made = helm_package(tmp_path, "alpha", tmp_path / "helm")
    store.create(helm_made.name, helm_made.read_bytes())
    index = idx.Index()
    index.add({"name": "alpha", "version": "1.0.0", "urls": [helm_made.name], "created": "T", "home": "theirs"})
    store.replace(INDEX, idx.dump(index), None)
    plan = publish.make_plan(store, build(tmp_path), public_url="https://elsewhere.example.com", force=False,
                             created="now")
    assert [(s.action, s.indexed, s.package.digest) for s in plan.steps] == [
        (publish.REPLACE, True, archives.digest(helm_made.read_bytes()))]
    assert plan.writes == []  # nothing to upload: only the index changes
    done = publish.apply(store, plan, build(tmp_path), created="now")
    assert index_of(store).get("alpha", "1.0.0") == {"name": "alpha", "version": "1.0.0", "urls": [helm_made.name],
                                                     "created": "T", "home": "theirs",
                                                     "digest": archives.digest(helm_made.read_bytes())}
    assert store.read(helm_made.name)[0] == helm_made.read_bytes()
    assert [s.action for s in run(store, build(tmp_path)).steps] == [publish.UNCHANGED]
    assert done.steps[0].detail.startswith("digest recorded: index.yaml had none")


def test_a_lock_file_another_member_of_a_shared_folder_made_is_taken_without_write_permission(tmp_path):
    """A team's folder repository (setgid, group-writable): the first publisher's `.lock` is theirs, 0644, and every
    other member's publish ended in `unexpected PermissionError ... .lock (a bug)`, its packages never indexed. Run
    as a process file permissions apply to (as root: without the capabilities that override them)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".lock").touch()
    (repo / ".lock").chmod(0o444)
    replace = ("import sys; from pathlib import Path; from tasks.store import LocalStore; "
               "LocalStore(Path(sys.argv[1])).replace('index.yaml', b'merged', None)")
    capabilities = "--bounding-set=-dac_override,-dac_read_search"
    prefix = ["setpriv", "--inh-caps=-all", capabilities] if os.geteuid() == 0 else []
    done = subprocess.run([*prefix, sys.executable, "-c", replace, str(repo)], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert (repo / INDEX).read_bytes() == b"merged"
    (repo / ".lock").unlink()
    repo.chmod(0o555)  # no lock yet, and none can be made: the refusal is the folder's, said as such (exit 1)
    try:
        refused = subprocess.run([*prefix, sys.executable, "-c", replace, str(repo)], cwd=ROOT, capture_output=True,
                                 text=True, check=False)
    finally:
        repo.chmod(0o755)
    assert refused.stderr.rstrip().splitlines()[-1] == f"PermissionError: [Errno 13] Permission denied: '{repo}/.lock'"


def test_a_write_the_file_system_refuses_halfway_leaves_nothing_in_the_repository_folder(tmp_path):
    """A full disk (here: a file size limit, the same refusal mid-write) left a half-written `.tmp-*` in the folder,
    which no later publish removed."""
    repo = tmp_path / "repo"
    repo.mkdir()
    write = ("import signal, resource, sys; from pathlib import Path; from tasks.store import LocalStore; "
             "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096)); "
             "LocalStore(Path(sys.argv[1])).replace('index.yaml', bytes(100_000), None)")
    done = subprocess.run([sys.executable, "-c", write, str(repo)], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 1 and "File too large" in done.stderr
    assert list(repo.iterdir()) == [repo / ".lock"]
