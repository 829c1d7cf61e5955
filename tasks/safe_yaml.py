"""YAML with Helm's limit on alias expansion, for every YAML this tool reads (index, values, Chart.yaml, invoke.yaml).

PyYAML shares an aliased node instead of copying it, so a billion-laughs document loads small; whatever
walks the result afterwards (a JSON dump, a deep copy, Helm) expands it without bound. Helm refuses such
documents while decoding: go-yaml (behind sigs.k8s.io/yaml) counts every node it decodes, and fails with
"document contains excessive aliasing" once more than 100 of them came through aliases, more than 1,000
were decoded, and the share that came through aliases exceeds 99% (documents up to 400,000 decodes), 10%
(above 4,000,000), scaling linearly in between. The same rule is applied here to the composed node graph,
before anything is constructed, in time linear in the document's size however much it would expand.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yaml

ALIAS_RANGE_LOW, ALIAS_RANGE_HIGH = 400_000, 4_000_000  # go-yaml's alias_ratio_range_low / _high
EXCESSIVE = "yaml: document contains excessive aliasing"  # go-yaml's words, as Helm prints them
_MERGE, _VALUE = "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where PyYAML has it: a tenth of the Python parse


class TextLoader(SAFE_LOADER):  # type: ignore[misc, valid-type]
    """Booleans and nulls resolved, every other scalar a string: `version: 1.10` and `created` timestamps stay
    as written (Helm reads them as text). Merge keys (`<<: *base`) are merged as Helm's YAML reader merges them
    (merge_keys)."""

    yaml_implicit_resolvers: ClassVar = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag.endswith((":bool", ":null", ":merge"))]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        merge_keys(node)


def merge_keys(node: yaml.MappingNode) -> None:
    """Replace a mapping's `<<` entries by what they merge, as go-yaml v2 (Helm's YAML reader, behind
    sigs.k8s.io/yaml) decodes them: in document order, each `<<` sets the keys of its mapping (of a sequence
    of mappings, the first one's win), so a key written after `<<` overrides the merged one and a key written
    before it is overridden; then the construction's own rule (the last of equal keys wins) gives Helm's map.

    The merged mappings are merged first, without recursion; of equal scalar keys only the last is kept, so
    merges of merges stay as small as the keys they hold (the composed graph's size was bounded before, by
    check_aliases, for every document that load reads). A mapping that merges itself is refused, like a
    merge of anything but mappings (go-yaml's words)."""
    stack: list[tuple[yaml.MappingNode, bool]] = [(node, False)]
    open_ids: set[int] = set()  # mappings whose merged mappings are being merged: the path to the current one
    while stack:
        current, sources_done = stack.pop()
        if sources_done:
            open_ids.discard(id(current))
            current.value = _merged(current)
            continue
        sources = _merge_sources(current)
        if not sources:
            continue
        if id(current) in open_ids:
            raise yaml.constructor.ConstructorError(
                None, None, "yaml: a merged mapping merges itself (a recursive alias)", current.start_mark)
        open_ids.add(id(current))
        stack.append((current, True))
        stack.extend((source, False) for source in sources)


def _merge_sources(node: yaml.MappingNode) -> list[yaml.MappingNode]:
    """The mappings a mapping's `<<` entries merge, checked; none when it has no `<<`."""
    sources = []
    for key, value in node.value:
        if key.tag == _VALUE:  # `!!value` keys: text, as PyYAML's own flatten_mapping makes them
            key.tag = "tag:yaml.org,2002:str"
        if key.tag != _MERGE:
            continue
        for source in value.value if isinstance(value, yaml.SequenceNode) else [value]:
            if not isinstance(source, yaml.MappingNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "yaml: map merge requires map or sequence of maps as the value", source.start_mark)
            sources.append(source)
    return sources


def _merged(node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
    pairs: list[tuple[yaml.Node, yaml.Node]] = []
    for key, value in node.value:
        if key.tag != _MERGE:
            pairs.append((key, value))
            continue
        for source in reversed(value.value) if isinstance(value, yaml.SequenceNode) else [value]:
            pairs.extend(source.value)  # already merged itself: merge_keys merges sources first
    last = {(key.tag, key.value): i for i, (key, _) in enumerate(pairs) if isinstance(key, yaml.ScalarNode)}
    return [(key, value) for i, (key, value) in enumerate(pairs)
            if not isinstance(key, yaml.ScalarNode) or last[(key.tag, key.value)] == i]


def unique_keys(loader: type) -> type:
    """`loader`, refusing a mapping that gives one key twice, which YAML forbids and PyYAML (like go-yaml v2, so
    Helm's values files) resolves silently: the last wins. For this tool's settings, where a block pasted twice and
    not renamed would drop the first one unsaid, and for index.yaml, which Helm reads strictly. A key a `<<` merge
    brings in may still be overridden: each mapping is checked as written, once (PyYAML flattens a merged mapping
    again where it is merged, with the keys it took in)."""

    class Unique(loader):  # type: ignore[valid-type, misc]
        def flatten_mapping(self, node: yaml.MappingNode) -> None:  # PyYAML's loaders merge here
            self.check_unique(node)
            super().flatten_mapping(node)

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:  # Helm's (values_files) here
            self.check_unique(node)
            return super().construct_mapping(node, deep=deep)

        def check_unique(self, node: yaml.MappingNode) -> None:
            checked = self.__dict__.setdefault("_unique_checked", set())
            if id(node) in checked:
                return
            checked.add(id(node))
            first: dict[tuple[str, str], yaml.Mark] = {}
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE:
                    mark = first.setdefault((key.tag, key.value), key.start_mark)
                    if mark is not key.start_mark:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"`{key.value}` is given twice in one mapping, first at line {mark.line + 1}",
                            key.start_mark)

    return Unique


def go_tags(loader: Any) -> Any:
    """`loader`, changed in place and returned, reading tags as go-yaml decodes them into interface{} or a text field:
    `!!binary` as the text it encodes (a byte that is not UTF-8 as U+FFFD, as the JSON step then writes it), a tag
    it does not know (`!mine v1`, !!set, !!omap, !!pairs) as the plain value it tags. (PyYAML made bytes of the one,
    which no JSON takes, and refused the other.)"""
    loader.add_constructor("tag:yaml.org,2002:binary", _binary_text)
    for tag in (None, "tag:yaml.org,2002:set", "tag:yaml.org,2002:omap", "tag:yaml.org,2002:pairs"):
        loader.add_constructor(tag, _untagged)
    return loader


def _binary_text(loader: Any, node: yaml.ScalarNode) -> str:
    text = loader.construct_yaml_binary(node).decode("utf-8", "surrogateescape")
    return re.sub("[\udc80-\udcff]", "\ufffd", text)


def _untagged(loader: Any, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


class AliasError(yaml.YAMLError):
    """A document that expands beyond go-yaml's alias budget, or an anchor that contains itself."""


def load(data: str | bytes, loader: type) -> Any:
    """yaml.load(data, Loader=loader), refusing what Helm's YAML decoder refuses for aliasing."""
    has_anchor = b"&" in data if isinstance(data, bytes) else "&" in data  # no anchor, no alias: nothing to count
    return yaml.load(data, Loader=_bounded(loader) if has_anchor else loader)


def _bounded(loader: type) -> type:
    class Bounded(loader):  # type: ignore[valid-type, misc]
        def get_single_data(self) -> Any:
            node = self.get_single_node()
            if node is None:
                return None
            check_aliases(node)
            return self.construct_document(node)

    return Bounded


def allowed_alias_ratio(decodes: int) -> float:
    """go-yaml's allowedAliasRatio: 99% for small documents, down to 10% for very large ones."""
    if decodes <= ALIAS_RANGE_LOW:
        return 0.99
    if decodes >= ALIAS_RANGE_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decodes - ALIAS_RANGE_LOW) / (ALIAS_RANGE_HIGH - ALIAS_RANGE_LOW)


def _excessive(decodes: int, aliased: int) -> bool:
    return aliased > 100 and decodes > 1000 and aliased / decodes > allowed_alias_ratio(decodes)


def check_aliases(root: yaml.Node) -> None:
    """Count the decodes go-yaml would make of this node graph, without expanding it.

    Walked once in document order: the first visit of a node is its definition; a later reference to it is
    an alias, which go-yaml decodes again in full (expanded[node] decodes, all of them aliased). Inside one
    alias expansion the aliased share only grows, so checking once after it is the same as at each step.
    """
    decodes, aliased = 1, 0  # go-yaml counts the document node too
    expanded: dict[int, int] = {}  # id(node) -> decodes of that node with every alias in it expanded
    stack: list[tuple[yaml.Node, list[yaml.Node], int]] = []  # (node, children left, its decodes so far)
    open_ids: set[int] = set()

    def count(more: int, more_aliased: int) -> None:
        nonlocal decodes, aliased
        decodes, aliased = decodes + more, aliased + more_aliased
        if _excessive(decodes, aliased):
            raise AliasError(EXCESSIVE)

    def enter(node: yaml.Node) -> None:
        count(1, 0)
        stack.append((node, _children(node)[::-1], 1))
        open_ids.add(id(node))

    enter(root)
    while stack:
        node, children, size = stack[-1]
        if not children:
            stack.pop()
            open_ids.discard(id(node))
            expanded[id(node)] = size
            if stack:
                parent, rest, parent_size = stack[-1]
                stack[-1] = (parent, rest, parent_size + size)
            continue
        child = children.pop()
        if id(child) in open_ids:
            raise AliasError("yaml: an anchor's value contains itself (a recursive alias)")
        if id(child) not in expanded:
            enter(child)
            continue
        alias_size = 1 + expanded[id(child)]  # the alias node, then its target decoded again
        count(alias_size, alias_size - 1)
        stack[-1] = (node, children, size + alias_size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    """A node's children in document order; go-yaml merges a mapping's `<<` key without decoding the key."""
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [child for key, value in node.value for child in ((value,) if key.tag == _MERGE else (key, value))]
    return []
