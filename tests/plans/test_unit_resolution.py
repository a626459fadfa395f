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
