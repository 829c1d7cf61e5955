"""Values as Helm reads them: YAML files decoded as go-yaml v2 and sigs.k8s.io/yaml decode them."""

import pytest

from tasks import values as vals
from tasks.errors import ToolError


def read(tmp_path, text):
    path = tmp_path / "values.yaml"
    path.write_text(text)
    return vals.read_values(path, "--values")


def test_timestamps_and_binary_are_the_text_helm_reads_not_python_dates_or_bytes(tmp_path):
    read_back = read(tmp_path, "db:\n  since: 2024-01-01\n  at: 2001-12-14t21:59:43.10-05:00\n"
                               "  stamp: !!timestamp 2024-02-03\ncert: !!binary aGVsbG8=\nraw: !!binary /2E=\n")
    assert read_back == {"db": {"since": "2024-01-01", "at": "2001-12-14t21:59:43.10-05:00", "stamp": "2024-02-03"},
                         "cert": "hello", "raw": "\ufffda"}  # a byte that is not UTF-8: JSON's U+FFFD, as Go writes it


def test_map_keys_become_strings_as_helm_makes_them_so_1_and_true_stay_two_keys(tmp_path):
    read_back = read(tmp_path, "1: one\ntrue: yes\n1.10: minor\n1e6: big\n0.1: tenth\n")
    assert read_back == {"1": "one", "true": True, "1.1": "minor", "1e+06": "big", "0.1": "tenth"}


@pytest.mark.parametrize("text, expected", [
    ("y", True), ("N", False), ("20:30", "20:30"), ("1e3", 1000.0), ("08", 8.0), ("2024-13-45", "2024-13-45"),
])  # each read otherwise by PyYAML: y and N text, 20:30 base 60 (1230), 1e3 text, 08 text, 2024-13-45 an error
def test_plain_scalars_resolve_as_go_yaml_v2_resolves_them(tmp_path, text, expected):
    assert read(tmp_path, f"key: {text}\n") == {"key": expected}


def test_unknown_tags_and_merges_keep_their_plain_values(tmp_path):
    assert read(tmp_path, "a: !custom text\nbase: &b {x: 1}\nc:\n  <<: *b\n  z: 2\nd: !!set {p, q}\n") == {
        "a": "text", "base": {"x": 1}, "c": {"x": 1, "z": 2}, "d": {"p": None, "q": None}}


@pytest.mark.parametrize("text, message", [
    ("big: .inf\n", "--values: {path}: big is .inf, which Helm refuses (JSON has no infinity or NaN)"),
    ("l: [1, {x: -.Inf}]\n", "--values: {path}: l[1].x is -.inf, which Helm refuses"),
    ("ratio: .nan\n", "--values: {path}: ratio is .nan, which Helm refuses"),
    ("a: 1\n~: 2\n", "--values: {path} is not valid YAML (a null key on line 2, which Helm refuses; quote it)"),
])
def test_what_helm_refuses_to_read_is_one_line_naming_the_file_and_key(tmp_path, text, message):
    with pytest.raises(ToolError) as refused:
        read(tmp_path, text)
    assert str(refused.value).startswith(message.format(path=tmp_path / "values.yaml"))
