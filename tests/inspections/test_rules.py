"""The pure inspection rules: round dates, 抽查 samples, inspector assignment, scores."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import chinese_calendar
from hypothesis import given, settings
from hypothesis import strategies as st

from taskflow.calendar import WorkCalendar
from taskflow.domain.inspections import (
    UnitFacts,
    assign_inspectors,
    round_dates,
    safe_cell,
    sample_size,
    score_units,
    stratified_sample,
)

CAL = WorkCalendar()
QUARTERLY = "FREQ=MONTHLY;INTERVAL=3"


def workdays_after(start: date, end: date) -> int:
    """Working days in (start, end] according to chinese-calendar itself."""
    return len([d for d in chinese_calendar.get_dates(start, end)
                if d > start and chinese_calendar.is_workday(d)])


def test_quarterly_rounds_fall_on_the_last_working_day_of_each_quarter():
    rounds = round_dates(year=2025, calendar=CAL, recurrence=QUARTERLY, notice_days=3)
    assert [r.scheduled_on for r in rounds] == [
        date(2025, 3, 31), date(2025, 6, 30), date(2025, 9, 30), date(2025, 12, 31)]
    assert [(r.period_start, r.period_end) for r in rounds][1] == (date(2025, 4, 1),
                                                                   date(2025, 6, 30))
    for r in rounds:
        assert chinese_calendar.is_workday(r.scheduled_on)
        assert chinese_calendar.is_workday(r.notice_on)
        assert workdays_after(r.notice_on, r.scheduled_on) == 3
    # 2025-09-28 is a Sunday worked in exchange for the National Day holiday: it counts.
    assert rounds[2].notice_on == date(2025, 9, 26)


def test_a_round_on_a_holiday_moves_to_the_working_day_before_and_a_makeup_sunday_stays():
    national_day = round_dates(year=2025, calendar=CAL, due_on=date(2025, 10, 3))
    assert national_day[0].scheduled_on == date(2025, 9, 30)
    makeup = round_dates(year=2025, calendar=CAL, due_on=date(2025, 9, 28), notice_days=0)
    assert makeup[0].scheduled_on == date(2025, 9, 28) == makeup[0].notice_on
    assert round_dates(year=2026, calendar=CAL, due_on=date(2025, 9, 28)) == []


def test_semiannual_and_monthly_cycles_are_on_working_days_all_year():
    for rule, count in (("FREQ=MONTHLY;INTERVAL=6", 2), ("FREQ=MONTHLY", 12)):
        rounds = round_dates(year=2024, calendar=CAL, recurrence=rule, notice_days=5)
        assert len(rounds) == count
        for r in rounds:
            assert chinese_calendar.is_workday(r.scheduled_on), r
            assert r.period_start <= r.scheduled_on <= r.period_end
            assert workdays_after(r.notice_on, r.scheduled_on) == 5


POPULATION = {"t.a": ["t.a.v1", "t.a.v2", "t.a.v3"], "t.b": ["t.b.v1", "t.b.v2"],
              "t.c": [f"t.c.v{i}" for i in range(10)]}


def test_the_sample_is_reproducible_and_respects_strata():
    first = stratified_sample(POPULATION, share=Decimal("0.3"), seed=7)
    again = stratified_sample({k: list(reversed(v)) for k, v in POPULATION.items()},
                              share=Decimal("0.3"), seed=7)
    assert first == again  # same seed, same members: same sample, whatever their order
    assert {k: len(v) for k, v in first.items()} == {"t.a": 1, "t.b": 1, "t.c": 3}
    for stratum, drawn in first.items():
        assert set(drawn) <= set(POPULATION[stratum])
    others = {str(stratified_sample(POPULATION, share=Decimal("0.3"), seed=s)) for s in range(8)}
    assert len(others) > 1  # the seed matters


@given(st.dictionaries(st.text("abc", min_size=1, max_size=3),
                       st.sets(st.text("xyz0123", min_size=1, max_size=4), max_size=12),
                       max_size=5),
       st.decimals(min_value=Decimal("0.01"), max_value=1, places=2),
       st.integers(0, 3), st.integers())
def test_each_stratum_gets_its_share_of_its_own_members(population, share, minimum, seed):
    drawn = stratified_sample(population, share=share, seed=seed, minimum=minimum)
    assert drawn == stratified_sample(population, share=share, seed=seed, minimum=minimum)
    assert set(drawn) == set(population)
    for stratum, members in population.items():
        assert set(drawn[stratum]) <= members
        assert len(drawn[stratum]) == sample_size(len(members), share, minimum)
        assert len(set(drawn[stratum])) == len(drawn[stratum])


# -- inspectors over random org charts --------------------------------------------------------


@st.composite
def org_charts(draw, max_units=12, max_inspectors=5, max_targets=7):
    n = draw(st.integers(1, max_units))
    parents = [None] + [draw(st.integers(0, i - 1)) for i in range(1, n)]
    inspectors = [(f"p{i}", draw(st.integers(0, n - 1)))
                  for i in range(draw(st.integers(1, max_inspectors)))]
    targets = draw(st.lists(st.integers(0, n - 1), min_size=0, max_size=max_targets,
                            unique=True))
    return parents, inspectors, targets


def below(parents, unit):
    """The unit and every unit under it."""
    out = {unit}
    changed = True
    while changed:
        changed = False
        for child, parent in enumerate(parents):
            if parent in out and child not in out:
                out.add(child)
                changed = True
    return out


def setup(chart):
    parents, inspectors, targets = chart
    subtree = {unit: below(parents, unit) for _, unit in inspectors}

    def may(inspector, target):
        return target not in subtree[inspector[1]]

    return inspectors, targets, may


@settings(max_examples=300, deadline=None)
@given(org_charts())
def test_nobody_inspects_their_own_unit_and_every_possible_target_is_covered(chart):
    inspectors, targets, may = setup(chart)
    result = assign_inspectors(targets, inspectors, may)
    for target, inspector in result.by_target.items():
        assert may(inspector, target), (inspector, target)
    for target in targets:
        assert (target in result.by_target) == any(may(i, target) for i in inspectors)
    assert set(result.unassigned) == set(targets) - set(result.by_target)


@settings(max_examples=200, deadline=None)
@given(org_charts(max_units=8, max_inspectors=4, max_targets=6))
def test_the_load_is_as_balanced_as_the_rules_allow(chart):
    inspectors, targets, may = setup(chart)
    result = assign_inspectors(targets, inspectors, may)
    loads = result.loads(inspectors)
    possible = [t for t in targets if any(may(i, t) for i in inspectors)]
    best_max, best_squares = len(possible) + 1, None
    options = [[i for i in inspectors if may(i, t)] for t in possible]
    for choice in itertools.product(*options):
        counts = {i: 0 for i in inspectors}
        for inspector in choice:
            counts[inspector] += 1
        squares = sum(c * c for c in counts.values())
        best_squares = squares if best_squares is None else min(best_squares, squares)
        best_max = min(best_max, max(counts.values()))
    assert max(loads.values()) == best_max
    assert sum(c * c for c in loads.values()) == best_squares


@given(st.integers(0, 40), st.integers(1, 8))
def test_without_own_units_in_the_way_loads_differ_by_at_most_one(n_targets, n_inspectors):
    inspectors = [f"p{i}" for i in range(n_inspectors)]
    result = assign_inspectors(list(range(n_targets)), inspectors, lambda i, t: True)
    loads = result.loads(inspectors).values()
    assert max(loads) - min(loads) <= 1 and sum(loads) == n_targets


def test_assignment_is_deterministic():
    inspectors = [("a", 1), ("b", 2), ("c", 3)]
    targets = [1, 2, 3, 4, 5]

    def may(i, t):
        return i[1] != t

    assert assign_inspectors(targets, inspectors, may) == \
        assign_inspectors(targets, inspectors, may)


# -- scores -----------------------------------------------------------------------------------


def test_scores_match_a_hand_computation():
    weights = {"on_time": Decimal(40), "targets": Decimal(30), "funds": Decimal(15),
               "inspections": Decimal(15)}
    facts = [
        # 2 of 4 on time; targets 0.5 and 1.2 (capped: 1); funds 3/4; 9 of 10 items passed
        UnitFacts("a", "甲局", tasks_due=4, tasks_on_time=2,
                  target_ratios=[Decimal("0.5"), Decimal("1.2")],
                  funds_planned=Decimal(400), funds_disbursed=Decimal(300),
                  items_passed=9, items_failed=1),
        # no funds: on time 1/1, targets 0.6, inspections 1/2 on 40+30+15 = 85 points
        UnitFacts("b", "乙局", tasks_due=1, tasks_on_time=1, target_ratios=[Decimal("0.6")],
                  items_passed=1, items_failed=1),
        UnitFacts("c", "丙局"),  # nothing to measure
    ]
    scores = {s.unit: s for s in score_units(facts, weights)}
    # a: 40*0.5 + 30*0.75 + 15*0.75 + 15*0.9 = 20 + 22.5 + 11.25 + 13.5
    assert scores["a"].total == Decimal("67.25")
    # b: 100*40/85*1 + 100*30/85*0.6 + 100*15/85*0.5 = 47.06 + 21.18 + 8.82
    assert scores["b"].points == {"on_time": Decimal("47.06"), "targets": Decimal("21.18"),
                                  "inspections": Decimal("8.82")}
    assert scores["b"].total == Decimal("77.06")
    assert scores["c"].total == Decimal("0.00")
    assert [(s.rank, s.unit) for s in score_units(facts, weights)] == [
        (1, "b"), (2, "a"), (3, "c")]


def test_equal_scores_share_a_rank():
    facts = [UnitFacts(c, c, tasks_due=2, tasks_on_time=t) for c, t in
             (("x", 2), ("y", 1), ("z", 2), ("w", 0))]
    assert [(s.rank, s.unit) for s in score_units(facts)] == [
        (1, "x"), (1, "z"), (3, "y"), (4, "w")]


def test_formula_like_text_is_neutralised():
    assert [safe_cell(v) for v in ("=1+1", "+86", "-3", "@SUM(A1)", "县林业局", 5, None)] == [
        "'=1+1", "'+86", "'-3", "'@SUM(A1)", "县林业局", 5, None]
