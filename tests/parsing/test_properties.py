"""Property tests: the parser never raises on arbitrary text and never invents a date."""

from __future__ import annotations

import re
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskflow.parsing import parse_text
from taskflow.parsing.schedule import parse_schedule

YEAR = 2025
# Characters the grammar reacts to, so that random text often looks like a plan.
PIECES = ["一、", "(一)", "1.", "(1)", "①", "篇2:", "月", "日", "前", "底", "年", "季度", "上半年",
          "至", "-", "每", "次", "旬", "中旬", "上旬", "下旬", "第", "一", "二", "三", "四", "十",
          "20xx", "2019", "2016", "年底", "年内", "牵头单位:", "责任单位:", "进度安排:",
          "主要任务:", "完成时限:", "区扶贫开发局", "、", ",", ";", "。", ":", "(", ")", " ",
          "\n", "万元", "人次", "%", "起", "连续", "工作日内", "尽快", "春季学期", "分", "个",
          "“十三五”", "明年", "序号", "工作任务", "牵头单位", "0", "1", "2", "3", "5", "9", "12",
          "31"]
text_strategy = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(PIECES), max_size=80).map("".join),
)


def allowed_years(text: str) -> set[int]:
    """Years a date may have: the plan year, years written in the text, and only where the
    text says so the year after (明年), 分N年 from the plan year, and 十N五 periods."""
    flat = re.sub(r"\s+", "", text)
    # Years are read both from the text as written and with whitespace removed (PDF spacing
    # splits "20 25"); removing it alone joins digits across lines ("4\n2006" -> "42006").
    years = {YEAR} | {int(y) for source in (text, flat) for y in re.findall(r"\d{4}", source)}
    if re.search(r"明年|次年|翌年|第二年|下一年", flat):
        years.add(YEAR + 1)
    if re.search(r"分.{1,2}年", flat):
        years |= {YEAR + k for k in range(20)}
    if re.search(r"十.五", flat):
        years |= {y for first in range(1966, 2200, 5) for y in range(first, first + 5)}
    return years


def dates_in(value) -> list[date]:
    if isinstance(value, date):
        return [value]
    if isinstance(value, dict):
        return [d for v in value.values() for d in dates_in(v)]
    if isinstance(value, list):
        return [d for v in value for d in dates_in(v)]
    return []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text_strategy)
def test_parser_never_raises_and_never_invents_a_year(text):
    result = parse_text(text, year=YEAR)
    allowed = allowed_years(text)
    for parsed in result.plans:
        parsed.review.format()
        if parsed.plan is not None:
            for found in dates_in(parsed.plan):
                assert found.year in allowed, (found, text)


@settings(max_examples=300, deadline=None)
@given(text_strategy)
def test_text_without_date_words_gives_no_date(text):
    flat = re.sub(r"\s+", "", text)
    sched = parse_schedule(text, YEAR)
    if not re.search(r"[月日季年旬底\d五]|年内|年终|年末", flat):
        assert sched.due is None and not sched.milestones and not sched.progress


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.integers(1, 31), st.sampled_from(["前", "", "之前"]),
       st.sampled_from([" ", ""]))
def test_a_month_day_deadline_is_that_day_or_nothing(month, day, suffix, space):
    sched = parse_schedule(f"{month}{space}月{space}{day}{space}日{suffix}完成任务。", YEAR)
    try:
        expected = date(YEAR, month, day)
    except ValueError:
        assert sched.due is None
        return
    assert sched.due == expected


# -- real text, cut and joined at random --------------------------------------------------------

from tests.conftest import REPO  # noqa: E402

_SOURCES = sorted((REPO.parent / "shared" / "corpus").glob("*.txt"))
_SEED = REPO.parent / "shared" / "seed" / "000_cdc5908520cba364.txt"
if _SEED.exists():
    _SOURCES.append(_SEED)
_TEXTS = [p.read_text(encoding="utf-8") for p in _SOURCES]


@st.composite
def cut_and_joined(draw) -> str:
    """Pieces of real plans and notices, cut anywhere (mid-word, mid-bracket, mid-date) and
    joined in any order, with stray characters between them."""
    if not _TEXTS:
        return draw(text_strategy)
    pieces = []
    for _ in range(draw(st.integers(1, 4))):
        text = draw(st.sampled_from(_TEXTS))
        start = draw(st.integers(0, len(text) - 1))
        length = draw(st.integers(0, 1500))
        pieces.append(text[start:start + length])
        pieces.append(draw(st.sampled_from(["", "\n", "。", "(", ")", "|", "、", "\n\n", "篇3:"])))
    return "".join(pieces)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cut_and_joined(), st.sampled_from([None, 2016, 2025]))
def test_real_text_cut_and_joined_never_raises_nor_invents_a_year(text, year):
    result = parse_text(text, year=year)
    for parsed in result.plans:
        parsed.review.format()
        if parsed.plan is None:
            continue
        parsed.to_yaml()
        later = re.search(r"明年|次年|翌年|第二年|下一年", text)
        allowed = allowed_years(text) | {parsed.plan["year"]} | (
            {parsed.plan["year"] + 1} if later else set())
        for found in dates_in(parsed.plan):
            assert found.year in allowed, (found, text[:200])
        for task in parsed.review.tasks:
            assert 0.1 <= task.confidence <= 1.0


@settings(max_examples=200, deadline=None)
@given(st.integers(1900, 2100), st.integers(0, 14), st.integers(0, 35),
       st.sampled_from(["日前", "号前", "號前", "日", "日(星期五)前"]))
def test_a_date_that_does_not_exist_is_never_given(year, month, day, suffix):
    text = (f"一、重点工作\n1.开展培训(牵头单位:区总工会)\n"
            f"进度安排:{year}年{month}月{day}{suffix}完成培训。\n")
    result = parse_text(text, year=2025)
    task = result.plan["tasks"][0]
    task = task.get("children", [task])[0]
    try:
        expected = date(year, month, day)
    except ValueError:
        assert "due" not in task, text
        assert result.review.unresolved, text
        return
    if 1949 <= year <= 2200:
        assert task["due"] == expected
