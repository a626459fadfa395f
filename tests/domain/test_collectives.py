"""The collective rule, both ways, on a county with townships and their villages."""

from __future__ import annotations

from taskflow.domain.collectives import Org, OrgUnit

COUNTY, FPB, EDU, T1, T2, V11, V12, V21 = 1, 2, 3, 10, 20, 11, 12, 21
TOWNSHIPS, VILLAGES, DEPTS, T1_VILLAGES = 90, 91, 92, 93
ORG = Org([
    OrgUnit(COUNTY, None, "county"),
    OrgUnit(FPB, COUNTY, "department"), OrgUnit(EDU, COUNTY, "department"),
    OrgUnit(T1, COUNTY, "township"), OrgUnit(T2, COUNTY, "township"),
    OrgUnit(V11, T1, "village"), OrgUnit(V12, T1, "village"), OrgUnit(V21, T2, "village"),
    OrgUnit(TOWNSHIPS, COUNTY, "collective", "township"),
    OrgUnit(VILLAGES, COUNTY, "collective", "village"),  # 各项目村: villages at any depth
    OrgUnit(DEPTS, COUNTY, "collective", "department"),
    OrgUnit(T1_VILLAGES, T1, "collective", "village"),  # one township's villages
])


def test_a_collective_stands_for_its_kind_at_any_depth_below_its_parent():
    assert ORG.members(TOWNSHIPS) == (T1, T2)
    assert ORG.members(VILLAGES) == (V11, V12, V21)
    assert ORG.members(T1_VILLAGES) == (V11, V12)
    assert ORG.members(DEPTS) == (FPB, EDU)
    assert ORG.members(FPB) == (FPB,)  # any other unit stands for itself


def test_a_unit_knows_the_collectives_it_belongs_to():
    assert ORG.collectives_of(T1) == (TOWNSHIPS,)
    assert ORG.collectives_of(V11) == (VILLAGES, T1_VILLAGES)
    assert ORG.collectives_of(V21) == (VILLAGES,)
    assert ORG.collectives_of(EDU) == (DEPTS,)
    assert ORG.collectives_of(COUNTY) == ()
    for collective in (TOWNSHIPS, VILLAGES, DEPTS, T1_VILLAGES):
        for member in ORG.members(collective):
            assert collective in ORG.collectives_of(member)


def test_who_acts_for_a_task_naming_a_unit_and_a_collective():
    assert ORG.acting([FPB, TOWNSHIPS]) == {FPB, TOWNSHIPS, T1, T2}
    assert V11 not in ORG.acting([TOWNSHIPS])  # villages do not act for their townships


def test_the_search_stops_at_the_first_unit_of_the_kind_on_a_branch():
    org = Org([OrgUnit(1, None, "county"), OrgUnit(2, 1, "township"),
               OrgUnit(3, 2, "township"),  # a township inside a township (a 街道 in a 镇)
               OrgUnit(9, 1, "collective", "township")])
    assert org.members(9) == (2,)
    assert org.collectives_of(3) == ()
