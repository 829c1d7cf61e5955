"""YAML alias expansion bounded as Helm's go-yaml bounds it: bombs refused in milliseconds, real documents kept."""

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import safe_yaml

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
