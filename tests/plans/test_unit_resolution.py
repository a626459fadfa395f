"""Unit names resolve in the plan's own area; a name never silently lands in another county."""

from __future__ import annotations

import pytest

from taskflow.plans.units import UnitEntry, UnitIndex


@pytest.fixture
def index() -> UnitIndex:
    e = UnitEntry
    return UnitIndex([
        e("sc", "四川省人民政府", "province", None, ["四川省"]),
        e("sc.jtt", "四川省交通运输厅", "department", "sc", ["省交通运输厅"]),
        e("sc.ya", "雅安市人民政府", "city", "sc", ["雅安市"]),
        e("sc.ya.lyj", "雅安市林业局", "department", "sc.ya", ["市林业局"]),
        e("sc.ya.x", "某县人民政府", "county", "sc.ya", ["县政府"]),
        e("sc.ya.x.lyj", "县林业局", "department", "sc.ya.x", ["林业局"]),
        e("sc.dz", "达州市人民政府", "city", "sc", []),
        e("sc.dz.q", "xx区人民政府", "county", "sc.dz", []),
        e("sc.dz.q.rsj", "区人力资源社会保障局", "department", "sc.dz.q", []),
        e("sc.dz.q.fpb", "区扶贫开发局", "department", "sc.dz.q", ["区扶贫移民局"]),
        e("hn", "湖南省人民政府", "province", None, []),
        e("hn.ld", "娄底市人民政府", "city", "hn", []),
        e("hn.ld.ly", "涟源市人民政府", "county", "hn.ld", []),
        e("hn.ld.ly.sw", "市商务粮食局", "department", "hn.ld.ly", []),
        e("hn.ld.ly.lyj", "县林业局", "department", "hn.ld.ly", []),  # a clash on purpose
    ])


@pytest.mark.parametrize(("name", "where", "code"), [
    ("县林业局", "sc.ya.x", "sc.ya.x.lyj"),
    ("林业局", "sc.ya.x", "sc.ya.x.lyj"),  # alias
    ("市林业局", "sc.ya.x", "sc.ya.lyj"),  # 市 from a county: the city's bureau
    ("省交通运输厅", "sc.dz.q", "sc.jtt"),
    ("人力资源社会保障局", "sc.dz.q", "sc.dz.q.rsj"),  # written without 区
    ("区扶贫移民局", "sc.dz.q", "sc.dz.q.fpb"),
    ("区 扶贫开发局", "sc.dz.q", "sc.dz.q.fpb"),  # stray space
    ("市商务粮食局", "hn.ld.ly", "hn.ld.ly.sw"),  # 市 of a county-level city
    ("sc.jtt", "hn.ld.ly", "sc.jtt"),  # a code always works
])
def test_names_resolve_in_the_plans_area(index, name, where, code):
    assert index.resolve(name, where) == code


@pytest.mark.parametrize(("name", "where"), [
    ("县林业局", "sc.dz.q"),  # a district plan naming a county bureau it does not have
    ("人力资源社会保障局", "sc.ya.x"),  # never another county's bureau by prefix-stripping
    ("市人民政府", "sc.ya.x"),  # not the county government
    ("市财政局", "sc.ya.x"),
    ("区扶贫开发局", "hn.ld.ly"),  # another province entirely
])
def test_names_never_land_in_another_area(index, name, where):
    with pytest.raises(ValueError, match="未知单位"):
        index.resolve(name, where)


def test_ambiguous_name_asks_for_a_code(index):
    with pytest.raises(ValueError, match="在此处有歧义") as info:
        index.resolve("县林业局", None)
    assert "sc.ya.x.lyj" in str(info.value) and "hn.ld.ly.lyj" in str(info.value)


def test_unknown_name_suggests_nearby_names(index):
    with pytest.raises(ValueError, match="是否应为 区扶贫开发局"):
        index.resolve("区扶贫开发办", "sc.dz.q")


@pytest.mark.parametrize("typed", [
    "县\u200b林业局",  # zero-width space
    "\ufeff县林业局\u200d",  # byte-order mark, zero-width joiner
    "县\u00a0林业局",  # no-break space
    "县　林业局",  # ideographic space
    "  县林业局\t",
    "县林业\u00ad局",  # soft hyphen
])
def test_names_differing_only_by_invisible_characters_are_one_unit(index, typed):
    assert index.resolve(typed, "sc.ya.x") == "sc.ya.x.lyj"


def test_full_width_forms_are_the_same_name():
    index = UnitIndex([UnitEntry("x", "各乡(镇)人民政府", "collective", None, ["ＸＸ办"])])
    assert index.resolve("各乡（镇）人民政府", None) == "x"
    assert index.resolve("XX办", None) == "x"


def test_unit_names_and_aliases_are_stored_clean_and_an_invisible_name_is_refused():
    from pydantic import ValidationError

    from taskflow.plans.schema import UnitSpec

    spec = UnitSpec(code="a", name=" 县\u200b林业局\u00a0 ", kind="department",
                    aliases=["林业\u3000 局", "ＬＹＪ"])
    assert (spec.name, spec.aliases) == ("县林业局", ["林业 局", "LYJ"])
    with pytest.raises(ValidationError, match="单位名称为空"):
        UnitSpec(code="a", name="\u200b\u00a0", kind="department")
