"""Plain YAML straight from the parser's events: data and positions without a node tree.

PyYAML's own path (compose a node tree, then construct) keeps every node and two marks per
node alive at once: for a plan of 100,000 tasks that is seconds and hundreds of megabytes. A
plan file is plain YAML (mappings, sequences, scalars), so ``build`` folds libyaml's event
stream (pure-Python PyYAML where libyaml is missing) into the data directly, resolving and
constructing each scalar with PyYAML's own resolver and SafeConstructor, so values are exactly
what ``yaml.safe_load`` gives. It records the position of every mapping and sequence (a task,
a unit: what rows are located by); ``scalars=True`` records every scalar's too, for locating a
problem at its field.

Anything beyond plain YAML (anchors and aliases, merge keys, tags on collections, complex keys,
unknown tags, several documents) returns None: the caller takes PyYAML's node path, which
handles (or refuses) it as before.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from taskflow.plans import yamlguard

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_COLLECTION_TAGS = {None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_CONSTRUCTORS = SafeConstructor.yaml_constructors
# The first characters of the implicit types (int, float, bool, null, dates...); None would
# mean a resolver for any start, in which case every plain scalar is resolved.
_TYPED_STARTS = (set(Resolver.yaml_implicit_resolvers) - {None}
                 if None not in Resolver.yaml_implicit_resolvers else None)


class BadScalar(ValueError):
    """A scalar that cannot be constructed (an impossible date), with its position."""

    def __init__(self, value: str, line: int, column: int, reason: ValueError):
        super().__init__(str(reason))
        self.value, self.line, self.column = value, line, column


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Building a large acyclic structure, the cyclic collector only rescans it over and over
    (it was two thirds of a 100,000-task load): pause it while building."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


Built = tuple[Any, dict[tuple, tuple[int, int]], list[tuple[Any, tuple, int, int, int]]]


def build(text: str, *, scalars: bool = False) -> Built | None:
    """(data, positions by path, duplicate keys); EMPTY for a text without a document; None
    when the text is not plain YAML.

    A duplicate key is (key, path, line, column, first line). Syntax errors raise PyYAML's
    MarkedYAMLError; an impossible scalar raises BadScalar; nesting deeper than
    yamlguard.MAX_DEPTH raises yamlguard.Refused.
    """
    with no_cyclic_gc():
        return _build(text, scalars)


def _build(text: str, scalars: bool):
    loader = Loader(text)
    resolver = Resolver()
    constructor = SafeConstructor()
    marks: dict[tuple, tuple[int, int]] = {}
    duplicates: list[tuple[Any, tuple, int, int, int]] = []
    # one frame per open collection: [container, its path, the key awaiting its value,
    # the key's position, first line of each key (mappings)]
    stack: list[list[Any]] = []
    root: Any = None
    documents = 0
    try:
        while True:
            event = loader.get_event()
            kind = type(event)
            if kind is ScalarEvent:
                if event.anchor is not None:
                    return None
                tag, value = event.tag, event.value
                if tag is None or tag == "!":
                    # A quoted scalar, or a plain one no implicit type can start with (most
                    # text here is Chinese), is a string without asking the resolver.
                    if event.implicit[0] and (not value or _TYPED_STARTS is None
                                              or value[0] in _TYPED_STARTS):
                        tag = resolver.resolve(ScalarNode, value, event.implicit)
                    else:
                        tag = _STR
                mark = event.start_mark
                if tag == _STR:
                    pass
                elif tag == _MERGE or tag not in _CONSTRUCTORS:
                    return None
                else:
                    try:
                        value = _CONSTRUCTORS[tag](constructor, ScalarNode(
                            tag, event.value, mark, event.end_mark, event.style))
                    except ValueError as exc:
                        raise BadScalar(event.value, mark.line + 1, mark.column + 1,
                                        exc) from None
                if not stack:
                    root = value
                    continue
                frame = stack[-1]
                container = frame[0]
                if type(container) is dict:
                    if frame[2] is _NO_KEY:
                        frame[2], frame[3] = value, mark
                        continue
                    path = _add(container, frame, value, duplicates)
                else:
                    path = (*frame[1], len(container))
                    container.append(value)
                if scalars:
                    marks[path] = (mark.line + 1, mark.column + 1)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.anchor is not None or event.tag not in _COLLECTION_TAGS:
                    return None
                if len(stack) >= yamlguard.MAX_DEPTH:
                    raise yamlguard.too_deep(event.start_mark)
                new: Any = {} if kind is MappingStartEvent else []
                if stack:
                    frame = stack[-1]
                    container = frame[0]
                    if type(container) is dict:
                        if frame[2] is _NO_KEY:
                            return None  # a mapping or sequence as a key
                        path = _add(container, frame, new, duplicates)
                    else:
                        path = (*frame[1], len(container))
                        container.append(new)
                else:
                    root, path = new, ()
                mark = event.start_mark
                marks[path] = (mark.line + 1, mark.column + 1)
                stack.append([new, path, _NO_KEY, None, {} if type(new) is dict else None])
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                stack.pop()
            elif kind is AliasEvent:
                return None
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    return None  # PyYAML's path says "expected a single document"
            elif kind is StreamEndEvent:
                break
    finally:
        loader.dispose()
    if documents == 0:
        return EMPTY
    return root, marks, duplicates


_NO_KEY = object()
EMPTY: Built = (None, {}, [])


def _add(mapping: dict, frame: list, value: Any, duplicates: list) -> tuple:
    """Put ``value`` under the frame's awaiting key; note a key seen before (the later value
    wins, as in PyYAML, and the duplicate is reported)."""
    key, mark, seen = frame[2], frame[3], frame[4]
    path = (*frame[1], key)
    line = mark.line + 1
    if key in seen:
        duplicates.append((key, path, line, mark.column + 1, seen[key]))
    else:
        seen[key] = line
    mapping[key] = value
    frame[2] = _NO_KEY
    return path
