"""The intake pipeline: a file or an upload → a reviewed, expanded, diffed plan → its import.

One pipeline for every way a plan comes in (`taskflow plan import`, `plan check`, `init`'s
seed plans, the web upload, simulate):

    read(source)       plans found in a file: plan YAML, or a document (.txt .md .docx .xlsx)
                       parsed by taskflow.parsing; each validated, with its positions as data
                       (YAML line:column, a document's own lines) and the parser's review
    resolve(found)     expanded against the unit directory (codes, dates, units; every
                       problem at once, file:line)
    identify           the plan it updates: the same code, or the same title and issuer
                       (plan_identity); a new plan whose title another has gets one of its own
    import             services.plans.import_plan: created, or added / changed / removed

``take_in`` runs resolve → identify → import for what ``read`` found, in the caller's session:
the caller owns the transaction (a review is the same import in a transaction rolled back).
Nothing here reads the clock; ``now`` is a parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlmodel import Session

from taskflow.errors import UserError
from taskflow.parsing import Review, parse_file
from taskflow.parsing.review import place
from taskflow.plans.expand import ResolvedPlan, ResolvedTask, expand
from taskflow.plans.loader import read_plan_file
from taskflow.plans.schema import PlanFile
from taskflow.plans.units import UnitIndex
from taskflow.plans.yamlio import Located, validate
from taskflow.services.plan_identity import Match, identify
from taskflow.services.plans import ImportReport, import_plan
from taskflow.services.units import unit_index

YAML_SUFFIXES = (".yaml", ".yml")
DOCUMENT_SUFFIXES = (".txt", ".md", ".docx", ".xlsx")
_LINE_REF = re.compile(r"line (\d+)")


@dataclass(frozen=True)
class Source:
    """A file to take in: its path, and its name as the user knows it (an upload's own name,
    kept where it was staged under another); ``via`` marks where it came from in the plan's
    record ("web")."""

    path: Path
    name: str | None = None
    via: str | None = None

    @property
    def label(self) -> str:
        return self.name or str(self.path)

    @property
    def is_yaml(self) -> bool:
        return Path(self.label).suffix.lower() in YAML_SUFFIXES


@dataclass
class Found:
    """One plan found in a source: validated, positioned, not yet resolved."""

    label: str  # the file, and the part (篇) of a document that holds several plans
    plan: PlanFile | None  # None once take_in has resolved it
    located: Located
    review: Review | None = None  # documents: what the parser found, what to check by hand
    recorded_as: str | None = None  # the plan's source_file


@dataclass
class Reading:
    source: Source
    found: list[Found]
    reviews: list[Review]  # every part's review of a document, with or without tasks


@dataclass
class Intake:
    """One plan taken in: what was found, what it resolved to, what it updates, what changed."""

    found: Found
    resolved: ResolvedPlan
    match: Match | None  # the existing plan it updates (None: a new plan)
    report: ImportReport
    retitled_from: str | None = None  # the file's title, when another plan already has it

    @property
    def renamed(self) -> bool:
        """The plan gets (or now gets) a title other than its file's: worth saying."""
        return self.retitled_from is not None and (
            self.report.created or "title" in self.report.plan_changed)


# -- read ------------------------------------------------------------------------------------


def read(source: Source, *, units: UnitIndex | None, year: int | None, part: int | None = None,
         jurisdiction: str | None = None) -> Reading:
    """The plans in a file; ``units`` checks a document's unit names and infers its
    jurisdiction; ``part`` and ``jurisdiction`` apply to documents only."""
    if source.is_yaml:
        plan, located = read_plan_file(source.path, name=source.label)
        return Reading(source, [Found(source.label, plan, located,
                                      recorded_as=_recorded(source, source.label))], [])
    result = parse_file(source.path, year=year, units=units, jurisdiction=jurisdiction,
                        source=source.label)
    chosen = [result.part(part)] if part is not None else result.plans
    found = []
    for parsed in chosen:
        if parsed.plan is None:
            continue
        label = source.label + (f"（篇{parsed.part}）" if parsed.part is not None else "")
        located = document_positions(parsed.plan, parsed.review, label)
        found.append(Found(label, validate(PlanFile, located), located, parsed.review,
                           _recorded(source, label)))
    if not found:
        raise UserError.single("文件中没有找到实施方案的任务", file=source.label)
    return Reading(source, found, [parsed.review for parsed in chosen])


def _recorded(source: Source, label: str) -> str:
    return f"{source.via}:{label}" if source.via else label


def document_positions(plan: dict, review: Review, label: str) -> Located:
    """A parsed plan with its positions: each task at its line in the document (or its place,
    "表1 第3行", in a document without lines), the plan itself at its part's span."""
    refs = {task.code: task.ref for task in review.tasks}
    marks: dict[tuple, tuple[int, int | None]] = {}
    places: dict[tuple, str] = {}
    stack = [(("tasks", i), task) for i, task in enumerate(plan.get("tasks") or [])]
    while stack:
        path, task = stack.pop()
        ref = refs.get(str(task.get("code")))
        if ref and (line := _LINE_REF.fullmatch(ref)):
            marks[path] = (int(line[1]), None)
        elif ref:
            places[path] = place(ref)
        stack.extend(((*path, "children", i), child)
                     for i, child in enumerate(task.get("children") or []))
    source = plan.get("source") or {}
    # a document with lines (text) spans lines; a .docx or a sheet counts blocks otherwise
    lines = f"第{source['lines']}行" if marks and source.get("lines") else None
    if span := "，".join(x for x in (source.get("part"), lines) if x):
        places[()] = span
    return Located(plan, marks, label, places)


# -- resolve, identify, import -----------------------------------------------------------------


def resolve(found: Found, *, units: UnitIndex, year: int | None) -> ResolvedPlan:
    """The plan expanded against ``units``; UserError listing every problem."""
    if found.plan is None:
        raise ValueError(f"{found.label} was taken in already")
    return expand(found.plan, found.located, units, year=year)


def take_in(session: Session, *, reading: Reading, year: int | None, actor: str,
            now: datetime) -> list[Intake]:
    """Resolve, identify and import every plan ``reading`` found, in ``session`` (all or
    nothing is the caller's transaction; a review rolls it back)."""
    out = []
    for found in reading.found:
        # Fresh each time: a plan before this one may have declared units of its own.
        resolved = resolve(found, units=unit_index(session), year=year)
        # The plan file has become the resolved plan: let it go before the rows are compared
        # (a large plan's validated file is most of the memory an import takes).
        found.plan = None
        identity = identify(session, resolved)
        report = import_plan(session, resolved=identity.resolved, actor=actor, now=now,
                             source_file=found.recorded_as)
        out.append(Intake(found, identity.resolved, identity.match, report,
                          identity.retitled_from))
    return out


def import_file(session: Session, *, path: Path, year: int | None, actor: str,
                now: datetime) -> list[Intake]:
    """Read and import one plan file (YAML or a document, every plan in it)."""
    source = Source(path)
    units = None if source.is_yaml else unit_index(session)
    return take_in(session, reading=read(source, units=units, year=year), year=year,
                   actor=actor, now=now)


# -- what a review shows -------------------------------------------------------------------------


@dataclass
class OutlineRow:
    """One task of a plan's tree as a review shows it."""

    code: str
    title: str
    depth: int
    kind: str
    due_on: date | None
    lead: list[str]
    responsible: list[str]  # responsible and cooperating units
    recurrence: str | None


def outline(tasks: list[ResolvedTask], names: dict[str, str]) -> list[OutlineRow]:
    """The resolved tree in order, with unit names (``names``: unit code → name)."""
    depth: dict[str, int] = {}
    out = []
    for task in tasks:
        depth[task.code] = depth.get(task.parent_code, -1) + 1 if task.parent_code else 0
        lead = [names.get(code, code) for code, role in task.units if role == "lead"]
        others = [names.get(code, code) for code, role in task.units if role != "lead"]
        out.append(OutlineRow(task.code, task.title, depth[task.code], task.kind, task.due_on,
                              lead, others, task.recurrence))
    return out


def unit_names(units: UnitIndex, resolved: ResolvedPlan) -> dict[str, str]:
    """Unit code → name for a review: the directory's units and the plan's own."""
    names = {code: entry.name for code, entry in units.by_code.items()}
    for unit in resolved.new_units:
        names.setdefault(unit.spec.code, unit.spec.name)
    return names
