"""The unit directory used to resolve unit names written in plans.

Plans name units as their authors wrote them ("区扶贫开发局", "人力资源社会保障局",
"各乡(镇)人民政府"). A name resolves in the plan's jurisdiction first, then in each wider
scope up the tree, so "县林业局" in one county's plan never picks another county's bureau.
Exact names and aliases win over names that differ only by the level prefix (区/县/市/省).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from taskflow.domain.names import clean_name
from taskflow.errors import Problem, UserError
from taskflow.plans.schema import UnitsFile, UnitSpec
from taskflow.plans.yamlio import Located, read_located, validate

_LEVEL_PREFIX = re.compile(r"^[省市州县区乡镇]")
# Which units a level prefix refers to: 市 is a city or a county-level city (涟源市).
_LEVEL_KINDS = {"省": {"province"}, "市": {"city", "county"}, "州": {"city"},
                "县": {"county"}, "区": {"county"}, "乡": {"township"}, "镇": {"township"}}


def normalize(name: str) -> str:
    """The form names are compared in: clean_name's (NFKC, invisible characters removed:
    full-width parentheses are ASCII ones), without spaces ("县 林业局" is "县林业局")."""
    return clean_name(name).replace(" ", "")


def _stripped(name: str) -> str | None:
    rest = _LEVEL_PREFIX.sub("", name, count=1)
    return rest if rest != name and len(rest) >= 3 else None


@dataclass
class UnitEntry:
    code: str
    name: str
    kind: str
    parent: str | None
    aliases: list[str] = field(default_factory=list)
    member_kind: str | None = None

    def labels(self) -> list[str]:
        return [normalize(self.name), *(normalize(a) for a in self.aliases)]


@dataclass
class FlatUnit:
    """A unit spec flattened out of a units file, with where it was written."""

    spec: UnitSpec
    parent: str | None
    file: str
    line: int | None
    path: tuple


class UnitIndex:
    def __init__(self, entries: Iterable[UnitEntry]):
        self.by_code: dict[str, UnitEntry] = {}
        self.children: dict[str | None, list[str]] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: UnitEntry) -> None:
        self.by_code[entry.code] = entry
        self.children.setdefault(entry.parent, []).append(entry.code)

    def extended(self, entries: Iterable[UnitEntry]) -> UnitIndex:
        """A new directory: this one's units and ``entries`` (this one is left as it is)."""
        return UnitIndex([*self.by_code.values(), *entries])

    def __contains__(self, code: str) -> bool:
        return code in self.by_code

    def subtree(self, code: str) -> Iterator[UnitEntry]:
        stack = [code]
        while stack:
            current = stack.pop()
            entry = self.by_code.get(current)
            if entry is not None:
                yield entry
            stack.extend(reversed(self.children.get(current, [])))

    def ancestors(self, code: str) -> list[str]:
        """``code`` and its ancestors, nearest first (stops on a broken or cyclic chain)."""
        out, seen = [], set()
        current: str | None = code
        while current is not None and current in self.by_code and current not in seen:
            out.append(current)
            seen.add(current)
            current = self.by_code[current].parent
        return out

    def _scopes(self, jurisdiction: str | None, wanted: str) -> list[list[UnitEntry]]:
        """Where an exact name may match, nearest first.

        A name with a level prefix ("县林业局", "市林业局") is relative: it means that level's
        unit of the plan's own area, so it is looked up only below the jurisdiction's ancestors
        of that level (县/区 → the county, 市 → a county-level city or the city). Any other name
        is looked up in widening scopes up the jurisdiction's chain — never in another
        province's tree, so one county's bureau is never taken for another's.
        """
        if jurisdiction is None or jurisdiction not in self.by_code:
            return [list(self.by_code.values())]
        chain = self.ancestors(jurisdiction)
        kinds = _LEVEL_KINDS.get(wanted[:1]) if _stripped(wanted) else None
        if kinds is not None:
            roots = [code for code in chain if self.by_code[code].kind in kinds]
        else:
            roots = chain
        scopes: list[list[UnitEntry]] = []
        seen: set[str] = set()
        for scope_root in roots:
            fresh = [u for u in self.subtree(scope_root) if u.code not in seen]
            seen.update(u.code for u in fresh)
            scopes.append(fresh)
        return scopes

    def resolve(self, name: str, jurisdiction: str | None) -> str:
        """The code of the unit called ``name`` seen from ``jurisdiction``; ValueError if none."""
        if name in self.by_code:
            return name
        wanted = normalize(name)
        scopes = self._scopes(jurisdiction, wanted)
        for scope in scopes:
            hits = [u.code for u in scope if wanted in u.labels()]
            if hits:
                return self._one(name, hits)
        # "人力资源社会保障局" for "区人力资源社会保障局": a name written without its level
        # prefix matches in the jurisdiction's own tree only.
        if not _stripped(wanted):
            own = scopes[0] if scopes else []
            hits = [u.code for u in own if any(_stripped(label) == wanted
                                               for label in u.labels())]
            if hits:
                return self._one(name, hits)
        raise ValueError(self._unknown_message(name, self._scopes(jurisdiction, "")))

    @staticmethod
    def _one(name: str, hits: list[str]) -> str:
        if len(hits) > 1:
            raise ValueError(f"单位名称 {name!r} 在此处有歧义：{', '.join(hits)}；"
                             "请改写单位代码")
        return hits[0]

    def _unknown_message(self, name: str, scopes: list[list[UnitEntry]]) -> str:
        nearby = [u for scope in scopes[:3] for u in scope]
        labels: dict[str, str] = {}
        for u in nearby:
            for label in (u.name, *u.aliases):
                labels.setdefault(normalize(label), u.name)
        close = difflib.get_close_matches(normalize(name), list(labels), n=3, cutoff=0.5)
        message = f"未知单位 {name!r}"
        if close:
            suggestions = ", ".join(dict.fromkeys(labels[c] for c in close))
            message += f"；是否应为 {suggestions}？"
        else:
            message += "；请把它加入单位文件（taskflow units import）或方案的 units:"
        return message


# -- units files ------------------------------------------------------------------------------


def flatten(specs: Iterable[UnitSpec], parent: str | None, located: Located,
            path: tuple) -> Iterator[FlatUnit]:
    for index, spec in enumerate(specs):
        here = (*path, index)
        line = located.marks.get(here, (None, None))[0]
        yield FlatUnit(spec, spec.parent or parent, located.file, line, here)
        yield from flatten(spec.children, spec.code, located, (*here, "children"))


def read_units_files(paths: Iterable[Path]) -> list[FlatUnit]:
    """Read units files (a directory means every *.yaml in it, sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")))
        else:
            files.append(path)
    if not files:
        raise UserError.single("没有找到单位文件", file=", ".join(map(str, paths)))
    flat: list[FlatUnit] = []
    problems: list[Problem] = []
    for file in files:
        try:
            located = read_located(file)
            parsed = validate(UnitsFile, located)
        except UserError as exc:
            problems.extend(exc.problems)
            continue
        flat.extend(flatten(parsed.units, None, located, ("units",)))
    if problems:
        raise UserError(problems)
    return flat


def check_units(flat: list[FlatUnit], existing: UnitIndex | None = None) -> list[Problem]:
    """Duplicate codes, unknown parents and parent cycles in a set of unit specs."""
    problems: list[Problem] = []
    seen: dict[str, FlatUnit] = {}
    for unit in flat:
        if unit.spec.code in seen:
            first = seen[unit.spec.code]
            problems.append(Problem(
                f"单位代码 {unit.spec.code!r} 重复（第一次在 {first.file}:{first.line}）",
                file=unit.file, line=unit.line, field="code"))
        seen.setdefault(unit.spec.code, unit)
        if unit.spec.kind == "collective" and unit.spec.member_kind is None:
            problems.append(Problem("集合单位需要 member_kind（例如 township）",
                                    file=unit.file, line=unit.line, field="member_kind"))
    known = set(seen) | (set(existing.by_code) if existing else set())
    for unit in flat:
        if unit.parent is not None and unit.parent not in known:
            problems.append(Problem(f"未知上级单位 {unit.parent!r}", file=unit.file,
                                    line=unit.line, field="parent"))
    parents = {code: u.parent for code, u in seen.items()}
    if existing:
        for code, entry in existing.by_code.items():
            parents.setdefault(code, entry.parent)
    for code, unit in seen.items():
        chain, current = set(), code
        while current is not None and current not in chain:
            chain.add(current)
            current = parents.get(current)
        if current == code:
            problems.append(Problem(f"单位 {code!r} 是自己的上级（上级关系成环）",
                                    file=unit.file, line=unit.line, field="parent"))
    return problems


def entries_from_flat(flat: Iterable[FlatUnit]) -> Iterator[UnitEntry]:
    for unit in flat:
        s = unit.spec
        yield UnitEntry(s.code, s.name, s.kind.value, unit.parent, list(s.aliases),
                        s.member_kind.value if s.member_kind else None)
