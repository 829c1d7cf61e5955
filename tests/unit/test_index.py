"""The index data model: exact strings, Helm's order, created kept, bad documents refused clearly."""

import json
import re

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tasks import index as idx
from tasks.errors import ToolError
from tests.support.indexes import MERGE_KEYS, helm_reads

HELM_WRITTEN = b"""apiVersion: v1
entries:
  app:
  - apiVersion: v2
    created: 2016-10-06T16:23:20.499814565-06:00
    digest: aaa
    name: app
    urls:
    - https://example.com/app-1.10.0.tgz
    version: 1.10.0
    appVersion: 1.10
    deprecated: true
  - apiVersion: v2
    created: 2016-10-06T16:23:20.499814565-06:00
    digest: bbb
    name: app
    urls: [app-1.9.0.tgz]
    version: 1.9.0
generated: 2016-10-06T16:23:20.499029981-06:00
serverInfo:
  contextPath: /v1/helm
"""


def entry(name, version, created="2020-01-01T00:00:00Z", digest="d"):
    return {"name": name, "version": version, "created": created, "digest": digest, "urls": [f"{name}-{version}.tgz"]}


def test_yaml_index_from_helm_keeps_timestamps_and_versions_as_exact_strings():
    index = idx.load(HELM_WRITTEN, "index.yaml")
    first = index.get("app", "1.10.0")
    assert first["created"] == "2016-10-06T16:23:20.499814565-06:00"
    assert first["appVersion"] == "1.10"  # PyYAML's safe loader would make this the float 1.1
    assert first["deprecated"] is True
    assert index.extra == {"serverInfo": {"contextPath": "/v1/helm"}}


def test_dump_is_json_that_yaml_reads_back_identically():
    index = idx.load(HELM_WRITTEN, "index.yaml")
    data = idx.dump(index, generated="2026-01-01T00:00:00.000000Z")
    assert json.loads(data) == yaml.safe_load(data)  # JSON is valid YAML: Helm's client reads it
    again = idx.load(data, "index.yaml")
    assert again.entries == index.entries and again.extra == index.extra


def test_add_replacing_a_version_keeps_its_created_timestamp():
    index = idx.Index()
    index.add(entry("app", "1.0.0", created="2020-01-01T00:00:00Z", digest="old"))
    index.add(entry("app", "1.0.0", created="2030-01-01T00:00:00Z", digest="new"))
    assert index.get("app", "1.0.0") == entry("app", "1.0.0", created="2020-01-01T00:00:00Z", digest="new")
    assert len(index) == 1


def test_entries_are_sorted_newest_semver_first_like_helm():
    index = idx.Index()
    for version in ["1.2.0", "1.10.0", "1.10.0-rc.1", "0.9.0", "not-semver", "2.0.0"]:
        index.add(entry("app", version))
    assert [e["version"] for e in index.entries["app"]] == ["2.0.0", "1.10.0", "1.10.0-rc.1", "1.2.0", "0.9.0", "not-semver"]


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=30))
def test_sorted_order_never_depends_on_insertion_order(triples):
    versions = [f"{a}.{b}.{c}" for a, b, c in triples]
    forward, backward = idx.Index(), idx.Index()
    for v in versions:
        forward.add(entry("x", v))
    for v in reversed(versions):
        backward.add(entry("x", v))
    assert [e["version"] for e in forward.entries["x"]] == [e["version"] for e in backward.entries["x"]]
    assert [e["version"] for e in forward.entries["x"]] == sorted(set(versions), key=lambda v: tuple(map(int, v.split("."))), reverse=True)


def test_new_entry_carries_metadata_url_created_and_digest_and_drops_empty_fields():
    made = idx.entry({"name": "a", "version": "1.0.0", "keywords": [], "icon": ""}, "abc", "a-1.0.0.tgz", "T")
    assert made == {"name": "a", "version": "1.0.0", "urls": ["a-1.0.0.tgz"], "created": "T", "digest": "abc"}


def test_missing_index_is_an_empty_repository():
    assert len(idx.load(None, "s3://b/index.yaml")) == 0


def test_an_index_without_entries_is_empty_as_helm_reads_it():
    """Helm's loadIndex refuses no apiVersion only; an index with no `entries:` was refused here."""
    read = idx.load(b"apiVersion: v1\ngenerated: x\n", "index.yaml")
    assert len(read) == 0 and read.extra == {}


@pytest.mark.parametrize("data, why", [
    (b"entries: [unclosed", "not valid YAML"),
    (b"{not json", "not valid YAML"),
    (b"just a string", "not a Helm repository index"),
    (b"apiVersion: v1\nentries: [1, 2]\n", "not a Helm repository index"),
    (b"generated: x\n", "not a Helm repository index"),
    (b"\x1f\x8b\x08\x00" + bytes(20), "gzip-compressed .stored with Content-Encoding: gzip, or compressed by hand."),
    (b"apiVersion: v1\nentries:\n  app: 3\n", "entries.app is not a list"),
])
def test_bad_index_is_refused_with_its_location(data, why):
    with pytest.raises(ToolError, match=why) as error:
        idx.load(data, "s3://bucket/index.yaml")
    assert str(error.value).startswith("s3://bucket/index.yaml: ")


def test_a_yaml_flow_mapping_that_is_not_json_is_still_read():
    index = idx.load(b"{apiVersion: v1, entries: {app: [{name: app, version: 1.10}]}}", "index.yaml")
    assert index.get("app", "1.10")["version"] == "1.10"


@pytest.mark.parametrize("urls, key", [
    (["app-1.0.0.tgz"], "app-1.0.0.tgz"),
    (["./app-1.0.0.tgz"], "app-1.0.0.tgz"),
    (["charts/app-1.0.0.tgz"], "charts/app-1.0.0.tgz"),  # ChartMuseum's layout
    (["https://charts.example.com/team/app-1.0.0.tgz"], "app-1.0.0.tgz"),  # public_url + file name
    (["https://charts.example.com/team/charts/app-1.0.0.tgz"], "charts/app-1.0.0.tgz"),
    (["http://127.0.0.1:8879/app-1.0.0.tgz"], "app-1.0.0.tgz"),  # the repository's own URL
    (["app-1.0.0+build.7.tgz"], "app-1.0.0+build.7.tgz"),
    (["a%20b-1.0.0.tgz"], "a b-1.0.0.tgz"),  # a name Helm accepts, %-encoded as publish writes it
    (["x%3Fy-1.0.0.tgz"], "x?y-1.0.0.tgz"),
    (["ch%C3%A4rt-1.0.0.tgz"], "chärt-1.0.0.tgz"),
    (["-dash-1.0.0.tgz"], "-dash-1.0.0.tgz"),
    ([], "app-1.0.0.tgz"),
])
def test_an_entrys_package_key_in_its_repository(urls, key):
    bases = ("https://charts.example.com/team/", "http://user:secret@127.0.0.1:8879", None)
    assert idx.package_key({"name": "app", "version": "1.0.0", "urls": urls}, "index.yaml", bases) == key


@pytest.mark.parametrize("url, key", [
    ("s3://helms3/charts/app-1.0.0.tgz", "app-1.0.0.tgz"),  # what helm-s3 writes: below the repository's own URL
    ("s3://helms3/charts/sub/app-1.0.0.tgz", "sub/app-1.0.0.tgz"),
    ("s3://helms3/charts/./app-1.0.0.tgz", "app-1.0.0.tgz"),  # path-normalised
    ("s3://helms3//charts/app-1.0.0.tgz", "app-1.0.0.tgz"),
    ("s3://helms3/other/../charts/app-1.0.0.tgz", "app-1.0.0.tgz"),
])
def test_an_s3_url_below_the_repositorys_own_s3_url_is_inside(url, key):
    entry = {"name": "app", "version": "1.0.0", "urls": [url]}
    assert idx.package_key(entry, "index.yaml", ("s3://helms3/charts", None)) == key
    assert idx.package_key(entry, "index.yaml", ("s3://helms3", "https://charts.example.com")) == f"charts/{key}"


@pytest.mark.parametrize("url", [
    "s3://other/charts/app-1.0.0.tgz",  # another bucket
    "s3://helms3/other/app-1.0.0.tgz",  # another prefix
    "s3://helms3/chartsx/app-1.0.0.tgz",
    "s3://helms3/charts/../other/app-1.0.0.tgz",
    "s3://helms3/app-1.0.0.tgz",
    "s3://helms3.evil/charts/app-1.0.0.tgz",
    "https://helms3/charts/app-1.0.0.tgz",  # another scheme than the repository's
])
def test_an_s3_url_in_another_bucket_or_prefix_stays_outside(url):
    with pytest.raises(ToolError, match="points outside the repository"):
        idx.package_key({"name": "app", "version": "1.0.0", "urls": [url]}, "index.yaml", ("s3://helms3/charts", None))


@pytest.mark.parametrize("url, why", [
    ("../../x", "'..' is not a plain file or folder name"),
    ("charts/../../x.tgz", "'..' is not a plain file or folder name"),
    ("/etc/passwd", "an absolute path"),
    ("//host/share/x.tgz", "another host"),
    ("file:///etc/passwd", "scheme 'file'"),
    ("s3://other-bucket/x.tgz", "not below repo.public_url or the repository's own URL"),
    ("s3://b.evil/x.tgz", "not below repo.public_url"),
    ("s3://b/%2e%2e/x.tgz", "'%2e%2e' is not a plain file or folder name"),
    ("oci://b/x.tgz", "scheme 'oci'"),
    ("C:/Windows/x.tgz", "scheme 'c'"),
    ("..\\x.tgz", "a backslash"),
    ("charts\\x.tgz", "a backslash"),
    (".lock", "'.lock' is not a plain file or folder name"),
    ("a//b.tgz", "an empty part is not a plain file or folder name"),
    ("x.tgz?download=1", "is not a plain file or folder name"),
    ("http://127.0.0.1:9/x.tgz", "not below repo.public_url or the repository's own URL"),
    ("https://charts.example.com.evil.test/team/x.tgz", "not below repo.public_url"),
    ("https://charts.example.com/teams/x.tgz", "not below repo.public_url"),
    ("https://charts.example.com/team/../x.tgz", "'..' is not a plain file or folder name"),
    ("http://[::1/x.tgz", "not a valid URL"),
    ("%2e%2e/x.tgz", "'%2e%2e' is not a plain file or folder name"),  # encoded, still a way out
    ("a%2Fb.tgz", "'a%2Fb.tgz' is not a plain file or folder name"),
    ("%2elock", "is not a plain file or folder name"),
    ("x%00.tgz", "is not a plain file or folder name"),
    ("x%5C..%5Cy.tgz", "is not a plain file or folder name"),
])
def test_an_entry_pointing_outside_its_repository_is_refused_naming_the_entry_and_the_fix(url, why):
    with pytest.raises(ToolError) as error:
        idx.package_key({"name": "app", "version": "1.0.0", "urls": [url]}, "s3://b/index.yaml",
                        ("https://charts.example.com/team", "s3://b"))
    message = str(error.value)
    assert message.startswith("s3://b/index.yaml: app 1.0.0: url ") and why in message, message
    assert message.endswith("Remove the entry or restore index.yaml, then publish the chart again")
    assert "\n" not in message


@pytest.mark.parametrize("urls", ["app-1.0.0.tgz", [3], [None], {"a": 1}])
def test_urls_that_are_not_a_list_of_strings_are_refused(urls):
    with pytest.raises(ToolError, match="not a list of URLs"):
        idx.package_key({"name": "app", "version": "1.0.0", "urls": urls}, "index.yaml")


def test_a_refusal_shows_untrusted_text_on_one_line_and_never_the_credentials_of_a_url():
    entry = {"name": "app\n\x1b[31mred", "version": "1.0.0", "urls": ["https://user:hunter2@evil.test/x.tgz"]}
    with pytest.raises(ToolError) as error:
        idx.package_key(entry, "index.yaml")
    assert "\n" not in str(error.value) and "\x1b" not in str(error.value)
    assert "hunter2" not in str(error.value) and "//***@evil.test/x.tgz" in str(error.value)


def test_a_billion_laughs_index_is_refused_with_helms_words():
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]"
                                                        for i in range(1, 30)]
    data = ("apiVersion: v1\nentries: {}\nbomb:\n" + "\n".join("  " + line for line in levels) + "\n").encode()
    with pytest.raises(ToolError) as error:
        idx.load(data, "file:///repo/index.yaml")
    assert str(error.value).startswith("file:///repo/index.yaml: yaml: document contains excessive aliasing")


NAMES = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)  # any text but lone surrogates


@given(st.dictionaries(NAMES, st.lists(st.tuples(st.integers(0, 9), st.text(max_size=8)), max_size=4), max_size=6),
       st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=2))
def test_an_index_this_tool_wrote_reads_back_lazily_as_the_same_index(charts, annotations):
    """Names and values with quotes, backslashes, newlines and non-ASCII: the lazy reading of dump's layout
    gives what a full parse gives, and writing it again changes nothing."""
    index = idx.Index(extra={"annotations": annotations} if annotations else {})
    for name, versions in charts.items():
        index.entries[name] = [{"name": name, "version": f"{v}.0.0", "description": d} for v, d in versions]
    data = idx.dump(index, generated="T")
    lazy = idx.load(data, "index.yaml")
    assert lazy.entries._raw.keys() == charts.keys()  # nothing parsed yet: this is the lazy reading
    assert json.loads(data) == yaml.safe_load(data) == {"apiVersion": "v1", **index.extra, "entries": charts and {
        n: index.entries[n] for n in charts}, "generated": "T"}
    assert idx.dump(lazy, generated="T") == data
    assert [lazy.entries.newest(n) for n in sorted(charts)] == \
        [(v[0] if v else None, len(v)) for v in (index.entries[n] for n in sorted(charts))]
    looked_at = idx.load(data, "index.yaml")
    assert all(looked_at.entries.version(n, e["version"]) == index.get(n, e["version"]) for n in charts
               for e in index.entries[n]) and looked_at.entries._raw.keys() == charts.keys()  # each from its line
    assert lazy.entries == index.entries and lazy.extra == index.extra and len(lazy) == len(index)


def test_a_version_is_read_from_its_line_alone_past_a_dependency_of_that_version():
    """A push that changes nothing looks at one version of each chart: not its whole history parsed."""
    index = idx.Index()
    index.add({**entry("app", "2.0.0"), "dependencies": [{"name": "lib", "version": "1.0.0"}]})
    index.add(entry("app", "1.0.0"))
    lazy = idx.load(idx.dump(index, generated="T"), "index.yaml")
    assert lazy.entries.version("app", "1.0.0") == index.get("app", "1.0.0") and "app" in lazy.entries._raw
    assert lazy.entries.version("app", "\ud800") is None  # from a tree record edited by hand: no line holds it
    assert lazy.entries.version("app", "3.0.0") is None


@pytest.mark.parametrize("block", [
    # valid JSON, but a dependency on a line of its own: that line is no entry of the chart's
    b'''  {"name":"a","version":"2.0.0","urls":["a-2.0.0.tgz"],"digest":"d2","dependencies":[
    {"name":"lib","version":"1.0.0","urls":["lib-1.0.0.tgz"],"digest":"dl"},
    {"name":"x","version":"3"}]}]''',
    # a YAML string over several lines, one of them looking like an entry
    b'''  {"name":"a","version":"0.9","urls":["a-0.9.tgz"],"digest":"d0","description":'notes:
  {"name":"a","version":"1.0.0","urls":["a-1.0.0.tgz"],"digest":"d1"},
  end'}]''',
    # the same, each line shaped as dump writes one
    b'''  {"name":"a","version":"0.9","urls":["a-0.9.tgz"],"digest":"d0","description":'x},
  {"name":"a","version":"1.0.0","urls":["a-1.0.0.tgz"],"digest":"d1"},
  {"q":1}'}]''',
])
def test_a_version_is_read_from_its_line_only_where_each_line_is_an_entry(block):
    """In any other layout (edited by hand) a line may be part of an entry: the chart is read whole (helper-53)."""
    data = b'{"apiVersion":"v1","entries":{\n "a":[\n' + block + b'\n},"generated":"T"}\n'
    assert idx.load(data, "index.yaml").entries.version("a", "1.0.0") is None
    assert idx.load(data, "index.yaml").get("a", "1.0.0") is None  # what a full read says


def test_of_two_entries_of_one_version_the_first_is_read_however_it_is_written():
    data = (b'{"apiVersion":"v1","entries":{\n "a":[\n  {"name":"a","version": "1.0.0","urls":["first.tgz"]},\n'
            b'  {"name":"a","version":"1.0.0","urls":["second.tgz"]}]\n},"generated":"T"}\n')
    assert idx.load(data, "index.yaml").entries.version("a", "1.0.0")["urls"] == ["first.tgz"]
    assert idx.load(data, "index.yaml").get("a", "1.0.0")["urls"] == ["first.tgz"]


def test_a_merge_parses_only_the_chart_it_touches_and_writes_the_others_back_byte_for_byte():
    index = idx.Index()
    for name in ("alpha", "beta", "gamma"):
        index.add(entry(name, "1.0.0"))
    data = idx.dump(index, generated="T")
    # another tool's entry that this tool would not write this way: kept exactly, since it is not touched
    data = data.replace(b'{"name":"gamma","version":"1.0.0"', b'{"name":"gamma", "zz":1.50,"version":"1.0.0"')
    lazy = idx.load(data, "index.yaml")
    lazy.add(entry("beta", "2.0.0"))
    merged = idx.dump(lazy, generated="T")
    assert b'"zz":1.50' in merged and set(lazy.entries._raw) == {"alpha", "gamma"}
    assert [e["version"] for e in idx.load(merged, "index.yaml").entries["beta"]] == ["2.0.0", "1.0.0"]


def test_a_broken_chart_in_the_layout_is_refused_when_used_naming_it():
    index = idx.Index()
    index.add(entry("ok", "1.0.0"))
    index.add(entry("bad", "1.0.0"))
    data = idx.dump(index, generated="T").replace(b'{"name":"bad"', b'{"name":"bad",,')
    lazy = idx.load(data, "s3://b/index.yaml")
    assert lazy.get("ok", "1.0.0")["digest"] == "d"
    with pytest.raises(ToolError, match=r"^s3://b/index.yaml: entries.bad is not valid YAML .*; restore it from a "):
        lazy.get("bad", "1.0.0")


@pytest.mark.parametrize("edit", [
    lambda d: d.replace(b'"description":"x"}]', b'"description":"x",}]'),  # a trailing comma
    lambda d: d.replace(b'"urls":["ok-1.0.0.tgz"]', b"'urls':['ok-1.0.0.tgz']"),  # single quotes
    lambda d: d.replace(b'{"name":"ok","version":"1.0.0"', b'{"name": ok, "version": 1.0.0'),  # unquoted
    lambda d: d.replace(b'"description":"x"', b'"description":"x\ty"'),  # a raw tab
])
def test_a_line_of_the_layout_edited_by_hand_is_read_as_the_yaml_helm_still_reads(edit):
    """It blocked every publish and list (`entries.ok is not valid JSON (trailing comma is not allowed ...)`)."""
    index = idx.Index()
    index.add({**entry("ok", "1.0.0"), "description": "x"})
    index.add(entry("other", "1.0.0"))
    data = idx.dump(index, generated="T")
    edited = edit(data)
    assert edited != data
    lazy = idx.load(edited, "index.yaml")
    assert lazy.entries._raw  # still read lazily
    assert idx.load(edited, "index.yaml").entries.version("ok", "1.0.0")["urls"] == ["ok-1.0.0.tgz"]
    assert lazy.get("ok", "1.0.0")["urls"] == ["ok-1.0.0.tgz"] and lazy.get("other", "1.0.0")["digest"] == "d"
    assert lazy.get("ok", "1.0.0")["description"] in ("x", "x\ty")


@pytest.mark.parametrize("data, why", [
    ((b"apiVersion: v1\nentries:\n  a:\n  - {name: a, version: 1.9.0, urls: [a.tgz]}\n  b: []\n  a:\n"
     b"  - {name: a, version: 1.0.0}\n"), "`a` is given twice in one mapping, first at line 3"),  # a block appended
    (b"apiVersion: v1\nentries:\n  a:\n  - {name: a, version: 1.9.0, version: 2.0.0}\n", "`version` is given twice"),
    ((b'{"apiVersion":"v1","entries":{\n "a":[\n  {"name":"a","version":"1.0.0"}],\n "a":[\n  {"name":"a",'
     b'"version":"2.0.0"}]\n},"generated":"T"}\n'),
     "entries.a is given twice, and a reader keeps only the last, dropping the versions of the first"),
])
def test_a_key_given_twice_is_refused_where_the_last_one_silently_replaced_the_first(data, why):
    with pytest.raises(ToolError, match=re.escape(why)):
        idx.load(data, "index.yaml")


def test_tags_helm_reads_in_an_index_are_read_as_helm_reads_them():
    """`!!binary` crashed every publish (`unexpected TypeError: Type is not JSON serializable: bytes`, exit 2) and a
    local tag was refused as not valid YAML."""
    read = idx.load(b"apiVersion: v1\nentries:\n  a:\n  - {name: a, version: 1.0.0, appVersion: !!binary aGVsbG8=}\n"
                    b"  - {name: a, version: 0.9.0, appVersion: !mine v1, keywords: !list [x]}\n", "index.yaml")
    assert [(e["appVersion"], e.get("keywords")) for e in read.entries["a"]] == [("hello", None), ("v1", ["x"])]
    assert json.loads(idx.dump(read))["entries"]["a"][0]["appVersion"] == "hello"


@pytest.mark.parametrize("change", [
    lambda d: d.replace(b"\n", b"\r\n"),  # an editor's line endings
    lambda d: json.dumps(json.loads(d), indent=2).encode(),  # `helm repo index --json`'s layout
    lambda d: d.replace(b'},"generated"', b'},"serverInfo":{},"generated"'),  # keys after entries
    lambda d: d.replace(b'\n "app":[', b'\n "app" :['),
])
def test_an_index_in_another_layout_is_read_whole_with_the_same_result(change):
    index = idx.Index(extra={"serverInfo": {}})
    index.add(entry("app", "1.0.0"))
    index.add(entry("lib", "0.1.0"))
    read = idx.load(change(idx.dump(index, generated="T")), "index.yaml")
    assert not read.entries._raw  # parsed whole
    assert read.entries == index.entries and read.extra == index.extra


def test_a_truncated_index_in_the_layout_is_refused_not_half_read():
    index = idx.Index()
    for name in ("a", "b", "c"):
        index.add(entry(name, "1.0.0"))
    data = idx.dump(index, generated="T")
    with pytest.raises(ToolError, match="not valid YAML"):
        idx.load(data[: len(data) // 2], "index.yaml")


def test_an_index_with_yaml_merge_keys_is_read_and_written_back_as_helm_reads_it(tmp_path):
    index = idx.load(MERGE_KEYS.encode(), "index.yaml")
    assert index.get("prometheus-pushgateway", "3.8.0")["annotations"] == {
        "team": "observability", "oncall": "#obs", "category": "monitoring"}
    assert index.get("jiralert", "1.8.0")["annotations"] == {"team": "observability", "oncall": "#obs"}
    assert index.entries["jiralert-mirror"] == [index.get("jiralert", "1.9.0")]
    for name, data in (("theirs", MERGE_KEYS.encode()), ("ours", idx.dump(index))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.yaml").write_bytes(data)
    helm = helm_reads(tmp_path / "theirs")
    assert helm_reads(tmp_path / "ours") == helm
    assert helm["prometheus-pushgateway"][0]["annotations"] == {
        "team": "observability", "oncall": "#obs", "category": "monitoring"}
