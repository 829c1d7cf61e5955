"""What a deploy records on its revision, read back: description, labels, where its secrets are."""

import base64
import json
import re

from tasks import revision_records


def test_description_and_labels_record_chart_commit_author_and_build():
    description, labels = revision_records.describe("app", "1.2.3+build.5", {
        "commit": "0123456789abcdef", "who": "Alice Example <alice@example.com>", "build": "https://drone/1"})
    assert description == "app-1.2.3+build.5; commit 0123456789ab; by Alice Example <alice@example.com>; https://drone/1"
    assert labels == {"chart-version": "1.2.3_build.5", "git-commit": "0123456789abcdef",
                      "deployed-by": "Alice_Example__alice_example.com"}
    linked = revision_records.describe("app", "1.0.0", {"build": "https://ci-bot:Bu1ld-Pass@drone.example.com/a/7"})[0]
    assert linked == "app-1.0.0; https://***@drone.example.com/a/7"  # stored in the cluster: no credentials
    blank = revision_records.describe("app", "1.0.0", {"build": "https://ci-bot:Bu1ld Pass/x@drone.example.com/a/7"})[0]
    assert blank == "app-1.0.0; https://***@drone.example.com/a/7"  # a password typed with a blank and a / too


def test_secret_paths_are_recorded_as_valid_label_values_and_read_back_only_for_the_values_they_were_recorded_with():
    recorded, labels_of = revision_records.recorded_secret_paths, revision_records.secret_labels
    paths = [("db", "password"), ("hosts", 0, "key"), ("tls", "certificat\u00e9", "a/b.c d")]
    values = {"db": {"password": "x", "host": "db"}, "hosts": [{"key": "k"}], "tls": {"certificat\u00e9": {"a/b.c d": 1}},
              "empty": {}, "unset": None}
    labels = labels_of(paths + [("db", "password")], values)
    assert labels["secret-paths.count"] == str(len(labels) - 2) != "1"
    assert all(re.fullmatch(r"[a-z2-7]{1,63}", v) for k, v in labels.items() if k.split(".")[1].isdigit())
    assert re.fullmatch(r"[0-9a-f]{32}", labels["secret-paths.keys"])
    assert recorded({"labels": labels}, values) == set(paths)
    # what Helm stores as the config, read back: the same keys; other values at them are the same record
    stored = {**json.loads(json.dumps(values)), "db": {"host": "other", "password": "y"}, "unset": None}
    assert recorded({"labels": labels}, stored) == set(paths)
    none = labels_of([], values)
    assert none["secret-paths.count"] == "0" and recorded({"labels": none}, values) == set()
    assert recorded({"labels": {"owner": "helm"}}, values) is None  # nothing recorded: unknown
    # a plain `helm upgrade` merges its labels into the last revision's: a record of other keys is no record
    for changed in ({**values, "extra": "1"}, {**values, "hosts": [{"key": "k"}, {"key": "l"}]}, {"db": values["db"]}):
        assert recorded({"labels": labels}, changed) is None
    # Helm merges labels: a shorter record leaves pieces of the longer one behind, which are not read
    assert recorded({"labels": {**labels, **labels_of([("x",)], values)}}, values) == {("x",)}
    assert recorded({"labels": {**labels, **none}}, values) == set()
    damaged = {**labels, "secret-paths.0": labels["secret-paths.0"][:-3]}
    missing = {k: v for k, v in labels.items() if k != "secret-paths.0"}
    not_paths = labels_of([], values) | {
        "secret-paths.count": "1", "secret-paths.0": base64.b32encode(b'[["a"], "b"]').decode().rstrip("=").lower()}
    for record in (damaged, missing, {**labels, "secret-paths.count": "x"}, {**labels, "secret-paths.count": "\u0663"},
                   {**labels, "secret-paths.count": "9" * 30}, not_paths):
        assert recorded({"labels": record}, values) == {()}  # nothing shown as if no secret
    assert revision_records.any_record([{"labels": {"owner": "helm"}}, {"labels": none}, {}])
    assert not revision_records.any_record([{"labels": {"owner": "helm"}}, {}])


def test_the_error_helm_stored_as_a_description_is_left_out_when_the_values_may_hold_secrets_whatever_the_status():
    values = {"db": {"password": "x"}}
    error = 'Upgrade "sec" failed: ConfigMap "db-X" is invalid: metadata.name: Invalid value: "db-X"'
    secrets = revision_records.secret_labels([("db", "password")], values)
    none = revision_records.secret_labels([], values)

    def shown(revision, configured):
        paths = revision_records.recorded_secret_paths(revision, values)
        return revision_records.shown_description(
            error, revision_records.may_hold_secrets(paths, [revision], configured))

    for status in ("failed", "superseded"):  # Helm makes a failed revision superseded, and keeps its description
        assert shown({"status": status, "labels": secrets}, False) == (
            'Upgrade "sec" failed (the error is not shown: it may quote what a template made of a secret value)')
    assert shown({"labels": none}, True) == error  # recorded: no secrets
    assert shown({"labels": {}}, False) == error  # no record, none configured
    assert shown({"labels": {}}, True) != error
