"""YAML alias expansion bounded as Helm's go-yaml bounds it: bombs refused in milliseconds, real documents kept."""

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import safe_yaml, values_files

LOADERS = [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader), getattr(yaml, "CBaseLoader", yaml.BaseLoader)]


def laughs(levels=9, fan_out=9):
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan_out)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("loader", LOADERS)
def test_a_billion_laughs_is_refused_with_helms_words_without_being_expanded(loader):
    with pytest.raises(safe_yaml.AliasError, match="^yaml: document contains excessive aliasing$"):
        safe_yaml.load(laughs(levels=30), loader)  # 9^30 nodes once expanded: only counting ends in time


# go-yaml's own limit_test.go cases, with the outcome go-yaml (and so Helm) gives them; its "1000kb of maps with
# 100 aliases" at 100kb (PyYAML takes 13 s to parse the 1000kb one; the ratio is the same).
GO_YAML_CASES = [
    ("100kb of maps with 100 aliases",
     "{a: &a [{a}" + ",{a}" * (100 * 1024 // 4 - 100) + "], b: &b [*a" + ",*a" * 99 + "]}", True),
    ("1kb of maps", "a: &a [{a}" + ",{a}" * (1 * 1024 // 4 - 1) + "]", False),
    ("10kb of maps", "a: &a [{a}" + ",{a}" * (10 * 1024 // 4 - 1) + "]", False),
    ("nine levels of nine", laughs(), True),
]


@pytest.mark.parametrize("name, text, refused", GO_YAML_CASES, ids=[c[0] for c in GO_YAML_CASES])
def test_go_yamls_own_limit_cases_get_go_yamls_outcome(name, text, refused):
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if refused:
        with pytest.raises(safe_yaml.AliasError):
            safe_yaml.load(text, loader)
    else:
        assert safe_yaml.load(text, loader) == yaml.load(text, Loader=loader)


def test_ordinary_anchors_and_merge_keys_still_load():
    text = "base: &base {image: nginx, port: 80}\nweb: {<<: *base, port: 8080}\nworker: *base\n"
    assert safe_yaml.load(text, yaml.SafeLoader) == {
        "base": {"image": "nginx", "port": 80}, "web": {"image": "nginx", "port": 8080},
        "worker": {"image": "nginx", "port": 80}}


def test_an_anchor_that_contains_itself_is_refused():
    with pytest.raises(safe_yaml.AliasError, match="contains itself"):
        safe_yaml.load("a: &a [1, *a]\n", yaml.SafeLoader)


def test_bytes_and_text_and_documents_without_anchors_load_unchanged():
    assert safe_yaml.load(b"a: [1, 2]\n", yaml.SafeLoader) == {"a": [1, 2]}
    assert safe_yaml.load("", yaml.SafeLoader) is None


def go_yaml_decodes(root):
    """go-yaml's decoder, step by step: every decode counted, every alias expanded again (small graphs only)."""
    aliases, seen = set(), {id(root)}  # alias edges (parent id, position), found in document order

    def classify(node):
        for position, child in enumerate(safe_yaml._children(node)):
            if id(child) in seen:
                aliases.add((id(node), position))
            else:
                seen.add(id(child))
                classify(child)

    classify(root)
    state = {"decodes": 1, "aliased": 0, "depth": 0}  # the document node is decoded first

    def unmarshal(node):
        state["decodes"] += 1
        state["aliased"] += state["depth"] > 0
        if safe_yaml._excessive(state["decodes"], state["aliased"]):
            raise StopIteration
        for position, child in enumerate(safe_yaml._children(node)):
            if (id(node), position) in aliases:  # the alias node, then its target decoded again
                state["decodes"] += 1
                state["aliased"] += state["depth"] > 0
                state["depth"] += 1
                unmarshal(child)
                state["depth"] -= 1
            else:
                unmarshal(child)

    try:
        unmarshal(root)
    except StopIteration:
        return True
    return False


@st.composite
def alias_documents(draw):
    """Anchored sequences, each made of scalars and aliases of earlier anchors: every shape of sharing."""
    count = draw(st.integers(1, 7))
    lines = []
    for i in range(count):
        items = draw(st.lists(st.one_of(st.just("x"), *(st.just(f"*a{j}") for j in range(i))) if i else st.just("x"),
                              min_size=1, max_size=12))
        lines.append(f"a{i}: &a{i} [{', '.join(items)}]")
    lines += [f"p{k}: x" for k in range(draw(st.integers(0, 1500)))]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(alias_documents())
def test_counting_without_expanding_agrees_with_go_yamls_step_by_step_decoding(text):
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    try:
        safe_yaml.check_aliases(root)
        refused = False
    except safe_yaml.AliasError:
        refused = True
    assert refused == go_yaml_decodes(root)


# Merge keys as Helm's YAML reader (go-yaml v2 behind sigs.k8s.io/yaml) merges them; text scalars only, since
# TextLoader keeps scalars as text where Helm's values reader makes numbers and y/n booleans of them.
MERGES = {
    "explicit key after the merge wins": "a: &a {x: p, w: q}\nb: {<<: *a, w: r}\n",
    "explicit key before the merge loses": "a: &a {x: p, w: q}\nb: {w: r, <<: *a}\n",
    "first of a list wins": "a: &a {x: p, w: q}\nc: &c {x: s, z: t}\nb: {<<: [*a, *c]}\n",
    "list between keys": "a: &a {x: p, w: q}\nc: &c {x: s, z: t}\nb: {x: o, <<: [*a, *c], z: u}\n",
    "inline mapping": "b: {<<: {x: p}, w: q}\n",
    "two merge keys": "a: &a {x: p}\nc: &c {x: q}\nb: {<<: *a, <<: *c}\n",
    "merge of a merge": "a: &a {x: p, w: q}\nc: &c {<<: *a, x: r}\nb: {<<: *c, z: s}\n",
    "nested inline merges": "b: {<<: {<<: {x: p}, x: q}}\n",
    "explicit tag": "a: &a {x: p}\nb: {!!merge <<: *a}\n",
    "quoted is a plain key": "a: &a {x: p}\nb: {'<<': *a}\n",
    "duplicate keys": "a: &a {x: p, w: q}\nb: {<<: *a, x: r, x: s}\n",
    "in a list": "a: &a {x: p}\nl: [{<<: *a, w: q}, {<<: *a}]\n",
    "block style": "a: &a\n  x: p\n  w: q\nb:\n  <<: *a\n  w: r\n",
}


@pytest.mark.parametrize("text", MERGES.values(), ids=MERGES.keys())
def test_merge_keys_are_merged_as_helms_yaml_reader_merges_them(text):
    import helm_python

    assert safe_yaml.load(text, safe_yaml.TextLoader) == helm_python.values_from_yaml(text)
    assert yaml.load(text, Loader=safe_yaml.TextLoader) == helm_python.values_from_yaml(text)  # without load's check


@pytest.mark.parametrize("text", ["a: &a p\nb: {<<: *a}\n", "b: {<<: null, x: p}\n", "b: {<<: [[x]]}\n"])
def test_a_merge_of_anything_but_mappings_is_refused_as_helm_refuses_it(text):
    import helm_python

    with pytest.raises(helm_python.HelmError, match="map merge requires map or sequence of maps as the value"):
        helm_python.values_from_yaml(text)
    with pytest.raises(yaml.YAMLError, match="map merge requires map or sequence of maps as the value"):
        safe_yaml.load(text, safe_yaml.TextLoader)


def test_a_mapping_that_merges_itself_is_refused_even_without_the_alias_check():
    with pytest.raises(safe_yaml.AliasError, match="contains itself"):
        safe_yaml.load("a: &a {<<: *a}\n", safe_yaml.TextLoader)
    with pytest.raises(yaml.YAMLError, match="merges itself"):
        yaml.load("a: &a {x: p, <<: [{<<: *a}]}\n", Loader=safe_yaml.TextLoader)


def test_merges_of_merges_are_refused_like_other_alias_bombs_and_stay_small_without_the_check():
    lines = ["a0: &a0 {k0: x, k1: x, k2: x, k3: x, k4: x, k5: x, k6: x, k7: x, k8: x}"]
    lines += [f"a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 9)}], own{i}: x}}" for i in range(1, 30)]
    text = "\n".join(lines) + "\n"
    with pytest.raises(safe_yaml.AliasError, match="^yaml: document contains excessive aliasing$"):
        safe_yaml.load(text, safe_yaml.TextLoader)
    loaded = yaml.load(text, Loader=safe_yaml.TextLoader)  # 9^30 merged pairs if each merge were copied out
    assert len(loaded["a29"]) == 9 + 29


def test_booleans_and_nulls_resolve_and_every_other_scalar_stays_text():
    assert safe_yaml.load("v: 1.10\nc: 2016-10-06T16:23:20Z\nd: true\nn: ~\n<: x\n", safe_yaml.TextLoader) == {
        "v": "1.10", "c": "2016-10-06T16:23:20Z", "d": True, "n": None, "<": "x"}


@pytest.mark.parametrize("loader", [yaml.SafeLoader, safe_yaml.SAFE_LOADER, values_files.HelmYAML])
def test_a_key_given_twice_in_one_mapping_is_refused_where_the_second_is_but_merged_keys_may_be_overridden(loader):
    unique = safe_yaml.unique_keys(loader)
    pasted = "release:\n  environments:\n    staging: {namespace: a}\n    prod: {}\n    staging:\n      namespace: b\n"
    with pytest.raises(yaml.constructor.ConstructorError) as refused:
        safe_yaml.load(pasted, unique)
    assert refused.value.problem_mark.line == 4 and "`staging` is given twice in one mapping, first at line 3" in str(
        refused.value)
    assert safe_yaml.load(pasted, loader)["release"]["environments"]["staging"] == {"namespace": "b"}  # unsaid
    merged = "base: &b {namespace: a, wait: true}\nstaging:\n  <<: *b\n  namespace: b\n"
    assert safe_yaml.load(merged, unique)["staging"] == {"namespace": "b", "wait": True}
    if loader is not values_files.HelmYAML:  # whose keys are all text, as Helm's JSON step makes them
        assert safe_yaml.load("a: 1\n'1': x\n1: y\n", unique) == {"a": 1, "1": "x", 1: "y"}  # equal text, other keys
    chained = "base: &b {namespace: a}\nstaging: &s {<<: *b, namespace: x}\neu: {<<: *s, wait: true}\n"  # merged twice
    assert safe_yaml.load(chained, unique)["eu"] == {"namespace": "x", "wait": True}
