"""Values as Helm reads them: YAML files as go-yaml v2 and sigs.k8s.io/yaml decode them, CI variables expanded into
one value each, parsed by Helm's own strvals parser."""

import datetime

import pytest

from tasks import drone_subst, environments, ui, values_files
from tasks import values as vals
from tasks.errors import ToolError


def read(tmp_path, text):
    path = tmp_path / "values.yaml"
    path.write_text(text)
    return values_files.read_values(path, "--values")


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


@pytest.mark.parametrize("text", [
    "a: &a {x: 1, w: 2}\nb: {w: 9, <<: *a, z: 3}\n",  # a key before << is overridden by the merge (go-yaml)
    "a: &a {x: 1}\nb: &b {x: 2, q: 1}\nc:\n  <<: [*a, *b]\n  q: 7\n",  # of merged maps the first wins; after << own
    "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\n",  # a merge of a merge
])
def test_merge_keys_give_the_values_helms_yaml_reader_gives(tmp_path, text):
    import helm_python

    assert read(tmp_path, text) == helm_python.values_from_yaml(text)


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


# --- CI variables expand into one value, whatever they hold ------------------------------------------

STAGING = environments.Environment("staging", "staging", "staging", None, (), False)
BRANCHES = ["feat,db.user=injected,image.repository=evil.example/x", "a\\,b=c", "{x,y}", "a[0]=1", "x.y", 'q"uote\\']


def layered(branch, **flags):
    """The values of a release with these flags, in a build of `branch`."""
    return vals.layered_values(environments.Release("app", "app", None, (), (), ()), STAGING, vals.Overrides(**flags),
                               {"DRONE_BRANCH": branch}, {})[0]


def test_an_expanded_ci_variable_stays_one_value_or_key_in_every_set_flavour():
    wrong = []
    for branch in BRANCHES:
        for flags, expected in [
            ({"set_string": ("db.tag=${DRONE_BRANCH}",)}, {"db": {"tag": branch}}),
            ({"set": ("db.tag=${DRONE_BRANCH}-1,db.port=5432",)}, {"db": {"tag": f"{branch}-1", "port": 5432}}),
            ({"set_string": ("labels.${DRONE_BRANCH}=on",)}, {"labels": {branch: "on"}}),
            ({"set_string": ("hosts={${DRONE_BRANCH},b}",)}, {"hosts": [branch, "b"]}),
            ({"set_json": ('db={"tag":"${DRONE_BRANCH}"}',)}, {"db": {"tag": branch}}),
            ({"set_json": ("labels.${DRONE_BRANCH}=1",)}, {"labels": {branch: 1}}),
            ({"set": ("db.tag=${DRONE_BRANCH:-none}",)}, {"db": {"tag": branch}}),
            ({"set": ("db.tag=${CI_UNSET:-${DRONE_BRANCH}}",)}, {"db": {"tag": branch}}),
            ({"set": ("db.tag=$DRONE_BRANCH",)}, {"db": {"tag": branch}}),
        ]:
            found = layered(branch, **flags)
            if found != expected:
                wrong.append((flags, branch, found))
    assert wrong == []


@pytest.mark.parametrize("flags, message", [
    ({"set_json": ("db=${DRONE_BRANCH}",)},
     "--set-json db=${DRONE_BRANCH}: ${DRONE_BRANCH}: outside a JSON string it must hold a whole number, true, false"),
    ({"set": ("db=\\${DRONE_BRANCH}",)},
     "--set db=\\${DRONE_BRANCH}: ${DRONE_BRANCH}: the backslash before it would escape the first character of its"),
])
def test_an_expansion_that_cannot_stay_one_value_is_refused(flags, message):
    with pytest.raises(ToolError) as refused:
        layered("feat,db.user=injected", **flags)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize("text, message", [
    ("${DRONE_TAG:+x}", ("${DRONE_TAG:+x}: Drone evaluates :+ as :- (unlike a shell), so it is not used; write "
                        "${DRONE_TAG:-DEFAULT}")),
    ("${DRONE_TAG:0:-2}", "${DRONE_TAG:0:-2}: a negative length makes Drone's substitution fail; use ${DRONE_TAG%GLOB}"),
    ("${DRONE_TAG: -2}", "${DRONE_TAG: -2}: offset and length must be whole numbers, as in ${DRONE_TAG:0:7}"),
    ("${DRONE_TAG/#v/}", ("${DRONE_TAG/#v/}: Drone leaves the value unchanged when NEW is empty (unlike a shell); "
                         "write ${DRONE_TAG#TEXT} to remove TEXT")),
    ("${DRONE_TAG%[0-9]}", "${DRONE_TAG%[0-9]}: Drone matches a %-pattern reversed, so [ and \\ in it do not mean"),
    ("${DRONE_TAG#[0-9}", "${DRONE_TAG#[0-9}: '[0-9' is not a pattern Drone can match"),
    ("${DRONE_TAG-x}", "${DRONE_TAG-x}: '-' is not part of a substitution Drone evaluates (${NAME}, ${#NAME}, "),
    ("${DRONE_TAG/v}", "${DRONE_TAG/v}: expected /NEW after the text to replace"),
    ("${DRONE_TAG##}", "${DRONE_TAG##}: its pattern or offset is empty, which Drone refuses"),
    ("v-${DRONE_TAG", "${DRONE_TAG: the ${ is never closed; write $$ for a literal $"),
    ("${}", "${}: a variable name must follow ${"),
    ("${DRONE_UNSET##v}", "${DRONE_UNSET} is not set; set it, give a default (${DRONE_UNSET:-DEFAULT}), or write $$"),
    ("$HOME", "${HOME} is not expanded: only ${DRONE_*} and ${CI_*} are; write $$ for a literal $"),
    ("${DRONE_TAG:-$DRONE_NETRC_PASSWORD}", "${DRONE_NETRC_PASSWORD} is a credential"),
])
def test_what_drone_would_not_evaluate_as_a_shell_does_is_one_line_naming_the_flag(text, message):
    with pytest.raises(ToolError) as refused:
        drone_subst.expand(text, {"DRONE_TAG": "v1.2.3", "DRONE_NETRC_PASSWORD": "hunter22"}, f"--set x={text}")
    assert str(refused.value).startswith(f"--set x={text}: {message}")
    assert "\n" not in str(refused.value)


# --- invoke.yaml's set: keeps YAML's types ----------------------------------------------------------

def test_a_set_entry_of_invoke_yaml_keeps_the_type_yaml_gave_it_and_is_never_parsed_as_set_text():
    typed = {"image.tag": "2024", "extra.flag": "true", "extra.list": "{x,y}", "podAnnotations.note": "a,b=c",
             "replicaCount": 3, "debug": True, "ratio": 1.5, "gone": None, "labels.build": "${DRONE_TAG##v}",
             "hosts[1]": "x.example", "labels.${DRONE_BRANCH}": "on"}
    values = vals.layered_values(environments.Release("app", "app", None, (), (), ()), STAGING, vals.Overrides(),
                                 {"DRONE_TAG": "v1.2.3", "DRONE_BRANCH": "a.b"}, typed)[0]
    assert values == {"image": {"tag": "2024"}, "extra": {"flag": "true", "list": "{x,y}"},
                      "podAnnotations": {"note": "a,b=c"}, "replicaCount": 3, "debug": True, "ratio": 1.5,
                      "gone": None, "labels": {"build": "1.2.3", "a.b": "on"}, "hosts": [None, "x.example"]}


@pytest.mark.parametrize("key, value, message", [
    ("since", datetime.date(2024, 1, 1), ("release.releases.app.set.since is 2024-01-01, which Helm cannot take (YAML "
                                          "read it as a date); quote it in invoke.yaml to make it text")),
    ("ratio", float("inf"), "release.releases.app.set.ratio is inf, which Helm cannot take"),
])
def test_a_set_value_helm_cannot_take_is_refused_with_invoke_yaml_before_any_task(tmp_path, key, value, message):
    """Checked where invoke.yaml is (environments.release_settings): `invoke --list` and every task refuse it."""
    with pytest.raises(ToolError) as refused:
        environments.release_settings(tmp_path, "app", {"chart": "app", "set": {key: value}})
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize("key, value, message", [
    (".note", "x", "release.releases.app.set..note: '.note' is not a values path; use dotted keys like image.tag"),
    ("podAnnotations.note", "${HOME}", "release.releases.app.set.podAnnotations.note: ${HOME} is not expanded"),
])
def test_a_set_entry_helm_cannot_take_is_one_line_naming_the_setting(key, value, message):
    with pytest.raises(ToolError) as refused:
        vals.layered_values(environments.Release("app", "app", None, (), (), ()), STAGING, vals.Overrides(), {},
                            {key: value})
    assert str(refused.value).startswith(message)


# --- a --set item that would set nothing, and which --set failed ------------------------------------

@pytest.mark.parametrize("flags, message", [
    ({"set": ("replicaCount=2", ".a=1")}, "--set '.a=1': '.a=1' sets nothing (a part of its key is empty"),
    ({"set": ("[0]=x",)}, "--set '[0]=x': '[0]=x' sets nothing"),
    ({"set": ("a=1,=2",)}, "--set 'a=1,=2': '=2' sets nothing"),
    ({"set_string": ("a={x,y},.c=3",)}, "--set-string 'a={x,y},.c=3': '.c=3' sets nothing"),
    ({"set_json": ('a={"k":1,".k":2},b[0].=1',)}, "--set-json 'a={\"k\":1,\".k\":2},b[0].=1': 'b[0].=1' sets nothing"),
])
def test_a_set_item_helms_parser_would_skip_is_refused_naming_it(flags, message):
    with pytest.raises(ToolError) as refused:
        layered("main", **flags)
    assert str(refused.value).startswith(message)


def test_only_a_key_is_checked_for_empty_parts_not_commas_and_dots_in_values_lists_or_json():
    assert layered("main", set=("a={x,.y},b=x\\,.z,c\\.d=1",), set_json=('e={"k":[1,2],".l":3},f=[4]',)) == {
        "a": ["x", ".y"], "b": "x,.z", "c.d": 1, "e": {"k": [1, 2], ".l": 3}, "f": [4]}
    with pytest.raises(ToolError, match=r"'\.z=1' sets nothing"):
        layered("main", set=("a={x,.y},b=x\\,.z,.z=1",))


def test_of_several_set_flags_the_one_helm_refuses_is_named_unless_it_holds_a_secret():
    with pytest.raises(ToolError) as refused:
        layered("main", set=("replicaCount=2", "podAnnotations.note=a,b", "image.tag=v1"))
    assert str(refused.value) == "--set 'podAnnotations.note=a,b': key \"b\" has no value"
    ui.add_secret("a-password-in-a-set")
    with pytest.raises(ToolError) as refused:
        layered("main", set=("replicaCount=2", "db.password=a-password-in-a-set,b"))
    assert str(refused.value) == "--set #2 (not shown: it holds a secret): key \"b\" has no value"


# --- --set items are written into the values as Helm writes them (strvals.ParseInto), not merged over them ---------

@pytest.mark.parametrize("items", [
    ("env[0].name=FOO", "env[0].value=bar"),  # one list item, two flags
    ("list[0]=x", "list[1]=y"),
    ("list[1]=y", "list[0]=x"),
    ("a.b=1", "a.c=2", "a={x,y}", "a[3]=z"),  # a map replaced by a list, then an index beyond it
    ("servers[0].ports[1]=80", "servers[0].name=web", "servers[1]=db"),
])
def test_several_set_flags_make_what_helm_makes_of_them_in_one_expression(items):
    """Helm parses each --set into the values it has so far: separate flags are as one expression (its own
    parser, called on the items joined, is the oracle), whatever the drone plugin or a user splits them into."""
    from tasks import helm

    assert layered("main", set=items) == helm.parse_set(",".join(items))


def test_a_set_index_writes_into_a_files_list_and_a_list_literal_or_json_replaces_it(tmp_path):
    listed = tmp_path / "list.yaml"
    listed.write_text("env: [{name: A, value: B}, {name: C, value: D}]\ntags: [p, q, r]\nports: [1, 2, 3]\n")
    assert layered("main", values=(str(listed),), set=("env[0].value=NEW", "tags={x}"), set_json=("ports=[9]",)) == {
        "env": [{"name": "A", "value": "NEW"}, {"name": "C", "value": "D"}], "tags": ["x"], "ports": [9]}
    assert layered("main", values=(str(listed),), set_string=("env[1].name=7",), set_json=('env[0]={"k":1}',)) == {
        "env": [{"k": 1}, {"name": "7", "value": "D"}], "tags": ["p", "q", "r"], "ports": [1, 2, 3]}


def test_a_secret_set_into_a_list_item_keeps_the_rest_of_the_list(tmp_path, monkeypatch):
    listed = tmp_path / "list.yaml"
    listed.write_text("env: [{name: A, value: B}, {name: PASSWORD}]\n")
    values, paths = vals.layered_values(
        environments.Release("app", "app", None, (), (), ()), STAGING,
        vals.Overrides(values=(str(listed),), set_secret=("env[1].value=DB_PASSWORD",)), {"DB_PASSWORD": "pw-123456"}, {})
    assert values == {"env": [{"name": "A", "value": "B"}, {"name": "PASSWORD", "value": "pw-123456"}]}
    assert paths == [("env", 1, "value")]


@pytest.mark.parametrize("value", ["FirstHalf99,SecondHalf-77", "FirstHalf99,SecondHalf=77", "{part-one,part-two}",
                                   "back\\slash-secret"])
def test_a_secret_a_set_flag_would_not_keep_whole_is_refused_naming_neither_it_nor_its_parts(value):
    ui.add_secret(value)
    with pytest.raises(ToolError) as refused:
        layered("main", set=("image.tag=v1", f"db.password={value}"))
    assert str(refused.value) == (
        "--set #2 (not shown: it holds a secret): a secret in it would not reach Helm whole (its parser reads a comma, "
        "a backslash or a {list} in it as syntax); pass it with --set-secret PATH=VARIABLE")


def test_a_stand_in_of_a_secrets_shape_differs_in_every_letter_and_digit_keeps_the_rest_and_is_never_shown():
    secret = "Hunter2Hunter2_X-ä"
    stand_in = vals.shaped({"db": {"password": secret, "user": "app"}}, [("db", "password")])["db"]
    assert stand_in["user"] == "app" and len(stand_in["password"]) == len(secret)
    for real, other in zip(secret, stand_in["password"]):
        assert (real == other) == (not (real.isascii() and real.isalnum()))  # "_", "-" and "ä" are kept
        assert real.isupper() == other.isupper() and real.isdigit() == other.isdigit()
    assert ui.redact(f"Invalid value: {stand_in['password']!r}") == "Invalid value: '***'"


def test_a_value_holding_url_credentials_or_a_registered_secret_is_a_secrets_path_and_nothing_else_is(tmp_path):
    """Masked with what the templates make of it; not an @ in a path (a CDN's /vue@3.4.0), not a number or a boolean
    (*** would turn a template's `if` around) even when registered."""
    ui.add_secret("Hunter2-Token-9d")
    ui.add_secret("true")  # a plugin's typed values secret: registered, as is every text that holds it
    given = tmp_path / "values.yaml"
    given.write_text("dsn: postgres://app:Url-Pass-4471@db:5432/x\ncdn: https://cdn.jsdelivr.net/npm/vue@3.4.0/x\n"
                     "npm: https://www.npmjs.com/package/@acme/ui\nflag: true\nport: 8080\n"
                     "header: Bearer Hunter2-Token-9d\nplain: hello\n"
                     "hook: https://hooks.example.com/x?token=Q-Tok-5521\nsearch: https://example.com/?q=helm&page=2\n"
                     "listed: https://example.com/?sort_key=name&auth=yes\n")
    _, paths = vals.layered_values(environments.Release("app", "app", None, (), (), ()), STAGING,
                                   vals.Overrides(values=(str(given),)), {}, {})
    assert sorted(paths) == [("dsn",), ("header",), ("hook",)]
    assert ui.redact("token Q-Tok-5521") == "token ***"
    assert ui.redact("metadata.name: yes") == "metadata.name: yes"  # ?sort_key=name&auth=yes registers nothing
    assert ui.redact("password Url-Pass-4471") == "password ***"  # registered as read


def test_an_escaped_dot_in_a_key_is_part_of_the_key_for_set_file_set_secret_and_secrets_as_for_set(tmp_path):
    """--set-file 'a.checksum\\.io/cfg=FILE' set {'checksum\\\\': {'io/cfg': ...}}, where Helm's --set-file (and this
    tool's --set and `set:`) set {'checksum.io/cfg': ...}: a value moved from `set:` to `secrets:` landed elsewhere."""
    given = tmp_path / "cfg.txt"
    given.write_text("x\n")
    values, paths = vals.layered_values(
        environments.Release("app", "app", None, (), (), (("ann.vault\\.io/token", "VAULT_TOKEN"),)), STAGING,
        vals.Overrides(set=("pod.sidecar\\.io/inject=true",), set_file=(f"pod.checksum\\.io/cfg={given}",),
                       set_secret=("ann.vault\\.io/role=VAULT_ROLE",)),
        {"VAULT_TOKEN": "token-6c1e8b2a", "VAULT_ROLE": "role-7d2f9c3b"}, {})
    assert values == {"pod": {"sidecar.io/inject": True, "checksum.io/cfg": "x\n"},
                      "ann": {"vault.io/token": "token-6c1e8b2a", "vault.io/role": "role-7d2f9c3b"}}
    assert sorted(paths) == [("ann", "vault.io/role"), ("ann", "vault.io/token")]


def test_a_set_whole_number_the_templates_would_print_in_exponent_form_is_warned_about(capsys):
    """`--set image.tag=20240101` deployed `prom/statsd-exporter:2.0240101e+07`: Helm's SDK takes values as JSON,
    whose numbers Go reads as decimals, where helm --set keeps a whole number (int64)."""
    assert layered("main", set=("image.tag=20240101", "ports={80,1000000}", "replicas=3", "big=1e6"),
                   set_string=("build=20240101",))["image"] == {"tag": 20240101}
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    said = ("is a whole number of 7 digits or more, which the templates get as a decimal printed in exponent form "
            "(20240101 as 2.0240101e+07)")
    assert [line.split(": ")[1:3] for line in warned] == [["--set 'image.tag=20240101'", f"image.tag {said}"],
                                                          ["--set 'ports={80,1000000}'", f"ports {said}"]]
