"""Which hooks a deploy runs, as Helm's releaseutil sorts a chart's templates, and the stand-in names under which
those Helm creates anew are checked."""

import yaml

from tasks import hooks

JOB = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:\n    helm.sh/hook: {events}\n"
       "{policy}spec: {{template: {{spec: {{restartPolicy: Never}}}}}}\n")


def job(name: str = "migrate", events: str = "pre-install,pre-upgrade", policy: str = "") -> str:
    return JOB.format(name=name, events=events, policy=f"    helm.sh/hook-delete-policy: {policy}\n" if policy else "")


def objects(manifest: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(manifest) if d]


def test_an_install_and_an_upgrade_each_run_their_own_events_and_nothing_else():
    templates = {
        "c/templates/a.yaml": job("a", "pre-install", "hook-succeeded"),
        "c/templates/b.yaml": job("b", " Post-Upgrade ,post-install", "hook-failed"),
        "c/templates/c.yaml": job("c", "pre-rollback", "hook-failed") + "---\n" + job("t", "test", "hook-failed"),
        "c/templates/d.yaml": job("d", "pre-upgrade,later", "hook-failed"),  # Helm skips a hook it does not know
        "c/templates/e.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
        "c/templates/NOTES.txt": job("notes", "pre-install", "hook-failed"),
        "c/templates/_helpers.tpl": job("partial", "pre-install", "hook-failed"),
    }
    install, renamed = hooks.for_check(templates, install=True)
    assert [o["metadata"]["name"] for o in objects(install)] == ["a", "b"] and renamed == {}
    upgrade, renamed = hooks.for_check(templates, install=False)
    assert [o["metadata"]["name"] for o in objects(upgrade)] == ["b"] and renamed == {}


def test_a_hook_helm_deletes_before_creating_it_gets_a_stand_in_name_of_the_same_shape():
    for policy in ("", "before-hook-creation,hook-succeeded"):
        for written, name in (("db-migrate-7", "db-migrate-7"), ('"rel.migrate"', "rel.migrate"), ("'x'", "x")):
            manifest, renamed = hooks.for_check({"c/templates/j.yaml": job(written, policy=policy)}, install=True)
            [(stand_in, real)] = renamed.items()
            assert real == name and stand_in != name and len(stand_in) == len(name)
            assert [c.isalnum() for c in stand_in] == [c.isalnum() for c in name] and stand_in == stand_in.lower()
            assert sum(a != b for a, b in zip(stand_in, name)) <= 5  # its last five letters and digits at most
            [obj] = objects(manifest)
            assert obj["metadata"]["name"] == stand_in and obj["spec"] == {"template": {"spec": {
                "restartPolicy": "Never"}}}


def test_a_name_no_stand_in_can_keep_as_it_is_is_checked_as_written():
    """A number or a boolean (refused as no string: a quoted stand-in would pass), upper case (refused: a stand-in of
    lower-case letters would pass), a name built by a block scalar: sent as written."""
    for written in ("12345", "true", "MIGRATE", "|\n    migrate"):
        templates = {"c/templates/j.yaml": job(written)}
        manifest, renamed = hooks.for_check(templates, install=True)
        assert renamed == {} and manifest == templates["c/templates/j.yaml"]
    crd = job("widgets.example.com").replace("kind: Job", "kind: CustomResourceDefinition")
    assert hooks.for_check({"c/templates/crd.yaml": crd}, install=True) == (crd, {})  # Helm never deletes a CRD
