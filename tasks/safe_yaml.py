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

from typing import Any, ClassVar

import yaml

ALIAS_RANGE_LOW, ALIAS_RANGE_HIGH = 400_000, 4_000_000  # go-yaml's alias_ratio_range_low / _high
EXCESSIVE = "yaml: document contains excessive aliasing"  # go-yaml's words, as Helm prints them
_MERGE = "tag:yaml.org,2002:merge"
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where PyYAML has it: a tenth of the Python parse


class TextLoader(SAFE_LOADER):  # type: ignore[misc, valid-type]
    """Booleans and nulls resolved, every other scalar a string: `version: 1.10` and `created` timestamps stay
    as written (Helm reads them as text)."""

    yaml_implicit_resolvers: ClassVar = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag.endswith((":bool", ":null"))]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


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
