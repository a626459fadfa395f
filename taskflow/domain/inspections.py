"""Inspections, pure: round dates, 抽查 samples, inspector assignment, 百分制 scores.

Plain functions over plain values (the year, the calendar and the seed are parameters; nothing
reads the clock or the database), so each rule is tested without a database. The services
``taskflow.services.inspection_rounds``, ``inspection_findings`` and ``assessment`` feed
them from the database and write what they decide.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from dateutil.rrule import rrulestr

DEFAULT_NOTICE_DAYS = 3  # working days before a round that the inspected units are told
DEFAULT_RECTIFY_WITHIN = 10  # working days to rectify (整改) a failed item
DEFAULT_WEIGHTS = {"on_time": Decimal(40), "targets": Decimal(30), "funds": Decimal(15),
                   "inspections": Decimal(15)}


# -- rounds ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundDate:
    seq: int  # 1-based within the year
    period_start: date
    period_end: date
    scheduled_on: date  # a working day
    notice_on: date  # a working day, notice_days working days before


def round_dates(*, year: int, calendar, due_on: date | None = None,
                recurrence: str | None = None, notice_days: int = DEFAULT_NOTICE_DAYS
                ) -> list[RoundDate]:
    """The rounds of one inspection cycle in ``year``, each on a working day.

    A cycle with a recurrence (an RRULE: 每季度 is FREQ=MONTHLY;INTERVAL=3) has one round per
    period from 1 January, held on the last working day of the period (the end of each
    quarter). A single round (``due_on``, from "9月", "6月底", "年底") is held on the last
    working day on or before that day; it is in ``year`` only if its day is. A round whose
    period holds no working day at all falls on the first working day after it.
    """
    first, last = date(year, 1, 1), date(year, 12, 31)
    periods: list[tuple[date, date]] = []
    if recurrence:
        midnight = datetime.min.time()
        rule = rrulestr(recurrence, dtstart=datetime.combine(first, midnight))
        starts = [d.date() for d in rule.between(datetime.combine(first, midnight),
                                                 datetime.combine(last, midnight), inc=True)]
        for i, start in enumerate(starts):
            end = starts[i + 1] - timedelta(days=1) if i + 1 < len(starts) else last
            periods.append((start, end))
    elif due_on is not None and due_on.year == year:
        periods.append((first, due_on))
    out = []
    for seq, (start, end) in enumerate(periods, 1):
        day = calendar.on_or_before(end)
        if day < start:
            day = calendar.on_or_after(start)
        notice = calendar.add_workdays(day, -notice_days) if notice_days else day
        out.append(RoundDate(seq, start, end, day, notice))
    return out


# -- 抽查: stratified random samples -----------------------------------------------------------


def sample_size(population: int, share: Decimal, minimum: int = 1) -> int:
    """ceil(share * population), at least ``minimum``, at most the population."""
    if population <= 0:
        return 0
    wanted = math.ceil(Decimal(population) * Decimal(share) - Decimal("1e-9"))
    return min(population, max(minimum, wanted))


def stratified_sample(population: Mapping[str, Iterable[str]], *, share: Decimal,
                      seed: int | str, minimum: int = 1) -> dict[str, list[str]]:
    """Draw ``share`` of each stratum (at least ``minimum``), reproducibly.

    The draw of a stratum depends only on the seed, the stratum's name and its members (as a
    set: their order does not matter), so the same seed gives the same sample, and adding a
    stratum does not change the others'. Strings seed ``random.Random`` through SHA-512, so
    the result does not depend on PYTHONHASHSEED or the platform.
    """
    out: dict[str, list[str]] = {}
    for stratum in sorted(population):
        members = sorted(set(population[stratum]))
        size = sample_size(len(members), share, minimum)
        rng = random.Random(f"{seed}|{stratum}")
        out[stratum] = sorted(rng.sample(members, size)) if size else []
    return out


# -- inspectors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    by_target: dict[Hashable, Hashable]  # target -> inspector
    unassigned: list[Hashable]  # targets nobody may inspect (every inspector is their own)

    def loads(self, inspectors: Iterable[Hashable]) -> dict[Hashable, int]:
        counts = {i: 0 for i in inspectors}
        for inspector in self.by_target.values():
            counts[inspector] = counts.get(inspector, 0) + 1
        return counts


def assign_inspectors(targets: Sequence[Hashable], inspectors: Sequence[Hashable],
                      may_inspect: Callable[[Hashable, Hashable], bool]) -> Assignment:
    """Give each target one inspector who may inspect it, with the loads as even as possible.

    ``may_inspect(inspector, target)`` is False for an inspector's own unit (and the units
    below it). Each target in turn goes to the least-loaded inspector reachable by an
    alternating path (an eligible inspector, or one who can hand one of their targets to
    another eligible inspector, and so on), and the path is shifted. This is the optimal
    semi-matching algorithm: the result minimises the sum of squared loads, hence also the
    largest load, given who may inspect what. Deterministic: ties go to the earlier inspector.
    """
    order = {inspector: i for i, inspector in enumerate(inspectors)}
    eligible = {t: [i for i in inspectors if may_inspect(i, t)] for t in targets}
    load = dict.fromkeys(inspectors, 0)
    holder: dict[Hashable, Hashable] = {}
    held: dict[Hashable, list[Hashable]] = {i: [] for i in inspectors}
    unassigned: list[Hashable] = []
    for target in targets:
        if not eligible[target]:
            unassigned.append(target)
            continue
        # BFS over inspectors: from an inspector, through one of their targets, to that
        # target's other eligible inspectors.
        came_from: dict[Hashable, tuple[Hashable, Hashable] | None] = {}
        queue: deque[Hashable] = deque()
        for inspector in eligible[target]:
            if inspector not in came_from:
                came_from[inspector] = None
                queue.append(inspector)
        while queue:
            inspector = queue.popleft()
            for moved in held[inspector]:
                for other in eligible[moved]:
                    if other not in came_from:
                        came_from[other] = (inspector, moved)
                        queue.append(other)
        best = min(came_from, key=lambda i: (load[i], order[i]))
        # shift along the path: best takes `moved` from its predecessor, and so on
        current = best
        while came_from[current] is not None:
            previous, moved = came_from[current]  # type: ignore[misc]
            held[previous].remove(moved)
            held[current].append(moved)
            holder[moved] = current
            current = previous
        held[current].append(target)
        holder[target] = current
        load[best] += 1
    return Assignment({t: holder[t] for t in targets if t in holder}, unassigned)


# -- checklists ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChecklistItem:
    key: str  # "<task code>#<n>" (n from 1)
    task_code: str
    text: str


def checklist(acceptance_by_task: Mapping[str, Sequence[str]]) -> list[ChecklistItem]:
    """验收标准 of the given tasks as checklist items, in task order."""
    return [ChecklistItem(f"{code}#{n}", code, text)
            for code, items in acceptance_by_task.items()
            for n, text in enumerate(items, 1)]


# -- the year-end assessment (百分制) -----------------------------------------------------------


@dataclass
class UnitFacts:
    """What a unit did in the year, as the assessment sees it (plain numbers)."""

    unit: str  # code
    name: str
    tasks_due: int = 0  # tasks of the unit whose deadline has come
    tasks_on_time: int = 0  # ... done by their deadline
    target_ratios: list[Decimal] = field(default_factory=list)  # per task, reported/target
    funds_planned: Decimal = Decimal(0)
    funds_disbursed: Decimal = Decimal(0)
    items_passed: int = 0  # inspection checklist items
    items_failed: int = 0


@dataclass
class UnitScore:
    unit: str
    name: str
    parts: dict[str, Decimal | None]  # attainment 0-1 per part; None: no data
    points: dict[str, Decimal]  # points per part (out of its effective weight)
    total: Decimal  # 0-100, two decimals
    rank: int = 0
    facts: UnitFacts | None = None


def _ratio(done: Decimal | int, of: Decimal | int) -> Decimal | None:
    if not of:
        return None
    return min(Decimal(1), max(Decimal(0), Decimal(done) / Decimal(of)))


def attainment(facts: UnitFacts) -> dict[str, Decimal | None]:
    """Each part as a share in [0, 1], or None when the unit has nothing to measure there.

    on_time: tasks done by their deadline / tasks due; targets: the mean of each target
    task's reported quantity / target (capped at 1); funds: disbursed / planned (capped at 1);
    inspections: items passed / items inspected.
    """
    targets = None
    if facts.target_ratios:
        capped = [min(Decimal(1), max(Decimal(0), r)) for r in facts.target_ratios]
        targets = sum(capped, Decimal(0)) / len(capped)
    return {
        "on_time": _ratio(facts.tasks_on_time, facts.tasks_due),
        "targets": targets,
        "funds": _ratio(facts.funds_disbursed, facts.funds_planned),
        "inspections": _ratio(facts.items_passed, facts.items_passed + facts.items_failed),
    }


CENT = Decimal("0.01")


def score_units(facts: Iterable[UnitFacts], weights: Mapping[str, Decimal] | None = None
                ) -> list[UnitScore]:
    """百分制 scores, best first, with competition ranking (1, 2, 2, 4).

    A unit is scored on the parts it has data for; the weights of those parts are scaled up
    to 100 (a unit with no funds is not punished for not disbursing them). A unit with no
    data at all scores 0. Ties are ranked alike and listed by unit code.
    """
    weights = {k: Decimal(v) for k, v in (weights or DEFAULT_WEIGHTS).items() if Decimal(v) > 0}
    scores = []
    for unit in facts:
        parts = attainment(unit)
        present = {k: w for k, w in weights.items() if parts.get(k) is not None}
        total_weight = sum(present.values(), Decimal(0))
        points: dict[str, Decimal] = {}
        for name, weight in present.items():
            share = parts[name]
            assert share is not None
            points[name] = (Decimal(100) * weight / total_weight * share).quantize(
                CENT, ROUND_HALF_UP)
        total = sum(points.values(), Decimal(0)).quantize(CENT, ROUND_HALF_UP)
        scores.append(UnitScore(unit.unit, unit.name, parts, points, total, facts=unit))
    scores.sort(key=lambda s: (-s.total, s.unit))
    for i, score in enumerate(scores):
        if i and score.total == scores[i - 1].total:
            score.rank = scores[i - 1].rank
        else:
            score.rank = i + 1
    return scores


# -- spreadsheets ----------------------------------------------------------------------------


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """A text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def display_width(text: str) -> int:
    """Columns a text takes: CJK and full-width characters count two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)
