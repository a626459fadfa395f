"""Limits for YAML files people write or upload (plans, unit directories, holiday files).

A YAML file is small on disk but not necessarily small in memory: nested aliases multiply
("billion laughs": 400 bytes of eight nested aliases are 43 million strings once every path is
walked and validated), an alias inside its own anchor is a cycle every walk recurses into
forever, and PyYAML's composer and constructor recurse once per nesting level. ``check`` reads
the parser's events only (no node tree, no data: constant memory per event) and refuses such a
file at the line where it crosses a limit, before anything composes or walks it.
"""

from __future__ import annotations

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    ScalarEvent,
    StreamEndEvent,
)

# A plan file of 100,000 tasks (bench/import.py, the design's scale) is about 13 MB; 32 MiB
# leaves room for long titles and notes while keeping a read file's memory bounded.
MAX_BYTES = 32 * 1024 * 1024
# A plan's tree nests two collections per task level (children: [ {...} ]); a ten-level tree
# is about 25 deep. 100 is far beyond any real file and far below Python's recursion limit,
# which PyYAML's composer and constructor (one frame or more per level) would otherwise reach.
MAX_DEPTH = 100
# Hand-written files use anchors for a few shared defaults (a lead unit, a schedule); a
# thousand aliases is more than any such file, and bounds the work of counting them.
MAX_ALIASES = 1_000
# What aliases add when expanded: every later step (positions, validation, expansion) visits
# each path, so an alias costs as many nodes as its anchor holds. 100,000 nodes is a large
# plan's worth of shared values and a few tens of megabytes at most.
MAX_EXPANDED_NODES = 100_000

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Refused(ValueError):
    """A file beyond a limit, with the 1-based line and column where it crossed it."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.line, self.column = line, column


def too_deep(mark) -> Refused:
    return Refused(f"嵌套超过 {MAX_DEPTH} 层", mark.line + 1, mark.column + 1)


def check_size(size: int) -> None:
    """A file of ``size`` bytes (or characters: each is at least a byte) is refused over
    MAX_BYTES."""
    if size > MAX_BYTES:
        raise Refused(f"文件过大（{size // (1024 * 1024)} MB）：不超过 "
                      f"{MAX_BYTES // (1024 * 1024)} MB")


def check(text: str) -> None:
    """Refuse ``text`` if it nests deeper than MAX_DEPTH, uses more than MAX_ALIASES aliases,
    expands past MAX_EXPANDED_NODES through them, repeats an anchor or refers to an anchor
    from inside itself (a cycle). Syntax errors raise PyYAML's YAMLError, as composing would
    (libyaml refuses 1,000 nested flow collections before emitting the 100th: the pure-Python
    composer must not be left to recurse into them)."""
    check_size(len(text))
    loader = Loader(text)
    # One frame per open collection: [its anchor, nodes in it so far, aliases expanded].
    stack: list[list] = []
    sizes: dict[str, int | None] = {}  # an anchor's node count; None while still open
    aliases = expanded = 0
    try:
        while True:
            event = loader.get_event()
            if event is None or isinstance(event, StreamEndEvent):
                return
            if isinstance(event, (ScalarEvent, CollectionStartEvent)) and \
                    event.anchor in sizes:
                raise _at(event, f"锚点 &{event.anchor} 重复定义")
            if isinstance(event, ScalarEvent):
                if event.anchor:
                    sizes[event.anchor] = 1
                _add(stack, 1)
            elif isinstance(event, CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise too_deep(event.start_mark)
                if event.anchor:
                    sizes[event.anchor] = None
                stack.append([event.anchor, 1])
            elif isinstance(event, CollectionEndEvent):
                anchor, size = stack.pop()
                if anchor:
                    sizes[anchor] = size
                _add(stack, size)
            elif isinstance(event, AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise _at(event, f"别名（*）超过 {MAX_ALIASES} 个")
                if event.anchor in sizes and sizes[event.anchor] is None:
                    raise _at(event, f"别名 *{event.anchor} 在自己的锚点 &{event.anchor} "
                                     "之内：循环引用")
                size = sizes.get(event.anchor) or 1  # an undefined one: the composer says so
                expanded += size
                if expanded > MAX_EXPANDED_NODES:
                    raise _at(event, f"别名展开后超过 {MAX_EXPANDED_NODES:,} 个值")
                _add(stack, size)
    finally:
        loader.dispose()


def _add(stack: list[list], size: int) -> None:
    if stack:
        stack[-1][1] += size


def _at(event, message: str) -> Refused:
    mark = event.start_mark
    return Refused(message, mark.line + 1, mark.column + 1)
