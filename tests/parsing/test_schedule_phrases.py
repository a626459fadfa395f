"""The schedule grammar, phrase by phrase, for plan year 2025."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from taskflow.parsing.schedule import find_recurrences, parse_schedule, resolve
from taskflow.parsing.text import squeeze

Y = 2025


def d(month: int, day: int, year: int = Y) -> date:
    return date(year, month, day)


# phrase, kind, start, due
DATES = [
    # days, with the seed's stray spaces and its missing 日
    ("6 月 10 日前", "deadline", d(6, 10), d(6, 10)),
    ("6月10日前", "deadline", d(6, 10), d(6, 10)),
    ("12 月 10 前", "deadline", d(12, 10), d(12, 10)),
    ("9 月 1 日", "deadline", d(9, 1), d(9, 1)),
    ("9月1号", "deadline", d(9, 1), d(9, 1)),
    ("6月10日之前", "deadline", d(6, 10), d(6, 10)),
    ("十二月十日前", "deadline", d(12, 10), d(12, 10)),
    ("６月１０日前", "deadline", d(6, 10), d(6, 10)),  # full-width digits, normalised first
    # month ends and months
    ("6月底前", "deadline", d(6, 30), d(6, 30)),
    ("7 月底", "deadline", d(7, 31), d(7, 31)),
    ("2月末", "deadline", d(2, 28), d(2, 28)),
    ("8 月底前", "deadline", d(8, 31), d(8, 31)),
    ("3 月底前", "deadline", d(3, 31), d(3, 31)),
    ("7 月前", "deadline", None, d(6, 30)),
    ("1月前", "deadline", None, date(2024, 12, 31)),
    ("10月以前", "deadline", None, d(9, 30)),
    ("8 月", "period", d(8, 1), d(8, 31)),
    ("8月份", "period", d(8, 1), d(8, 31)),
    ("10月份", "period", d(10, 1), d(10, 31)),
    ("十二月", "period", d(12, 1), d(12, 31)),
    # parts of a month
    ("9月上旬", "deadline", d(9, 1), d(9, 10)),
    ("9月中旬", "deadline", d(9, 11), d(9, 20)),
    ("2月下旬", "deadline", d(2, 21), d(2, 28)),
    ("11月中旬前", "deadline", d(11, 11), d(11, 20)),
    # ranges of months and days
    ("2 至 4 月", "period", d(2, 1), d(4, 30)),
    ("3 至 5 月", "period", d(3, 1), d(5, 31)),
    ("4-5月", "period", d(4, 1), d(5, 31)),
    ("1-3 月", "period", d(1, 1), d(3, 31)),
    ("10-12 月", "period", d(10, 1), d(12, 31)),
    ("6 月至 8 月", "period", d(6, 1), d(8, 31)),
    ("9 至 12 月", "period", d(9, 1), d(12, 31)),
    ("3、4月", "period", d(3, 1), d(4, 30)),
    ("5月至6月底", "period", d(5, 1), d(6, 30)),
    ("1月25日至27日", "period", d(1, 25), d(1, 27)),
    ("6月1日至8月31日", "period", d(6, 1), d(8, 31)),
    ("3月1日-3月15日", "period", d(3, 1), d(3, 15)),
    ("4月1日至4月30日前", "period", d(4, 1), d(4, 30)),
    # quarters
    ("一季度", "period", d(1, 1), d(3, 31)),
    ("二季度", "period", d(4, 1), d(6, 30)),
    ("三季度", "period", d(7, 1), d(9, 30)),
    ("四季度", "period", d(10, 1), d(12, 31)),
    ("第一季度", "period", d(1, 1), d(3, 31)),
    ("第四季度", "period", d(10, 1), d(12, 31)),
    ("3季度", "period", d(7, 1), d(9, 30)),
    ("三季度末", "deadline", d(7, 1), d(9, 30)),
    ("二季度前", "period", d(4, 1), d(6, 30)),
    ("一、二季度", "period", d(1, 1), d(6, 30)),
    ("一二季度", "period", d(1, 1), d(6, 30)),
    ("二、三季度", "period", d(4, 1), d(9, 30)),
    ("一至三季度", "period", d(1, 1), d(9, 30)),
    ("第一、二季度", "period", d(1, 1), d(6, 30)),
    ("一、二、三季度", "period", d(1, 1), d(9, 30)),
    # halves and the year
    ("上半年", "period", d(1, 1), d(6, 30)),
    ("下半年", "period", d(7, 1), d(12, 31)),
    ("上半年末", "deadline", d(1, 1), d(6, 30)),
    ("年中", "deadline", d(6, 30), d(6, 30)),
    ("年底前", "deadline", d(1, 1), d(12, 31)),
    ("年底", "deadline", d(1, 1), d(12, 31)),
    ("年内", "deadline", d(1, 1), d(12, 31)),
    ("年终", "deadline", d(1, 1), d(12, 31)),
    ("年末", "deadline", d(1, 1), d(12, 31)),
    ("全年", "deadline", d(1, 1), d(12, 31)),
    # years named by the phrase
    ("到2020年底", "deadline", d(1, 1, 2020), d(12, 31, 2020)),
    ("2019年11月底前", "deadline", d(11, 30, 2019), d(11, 30, 2019)),
    ("2019 年底", "deadline", d(1, 1, 2019), d(12, 31, 2019)),
    ("至 2020 年", "period", d(1, 1, 2020), d(12, 31, 2020)),
    ("到2020年", "period", d(1, 1, 2020), d(12, 31, 2020)),
    ("2016 年", "period", d(1, 1, 2016), d(12, 31, 2016)),
    ("2019 年上半年", "period", d(1, 1, 2019), d(6, 30, 2019)),
    ("2016 至 2018 年", "period", d(1, 1, 2016), d(12, 31, 2018)),
    ("2016-2019年", "period", d(1, 1, 2016), d(12, 31, 2019)),
    ("20xx年底", "deadline", d(1, 1), d(12, 31)),
    ("20xx 年", "period", d(1, 1), d(12, 31)),
    ("20**年6月底前", "deadline", d(6, 30), d(6, 30)),
    ("二〇一九年底", "deadline", d(1, 1, 2019), d(12, 31, 2019)),
    ("2018年3月", "period", d(3, 1, 2018), d(3, 31, 2018)),
    ("今年年底前", "deadline", d(1, 1), d(12, 31)),
    ("明年6月底前", "deadline", d(6, 30, 2026), d(6, 30, 2026)),
    ("次年底", "deadline", d(1, 1, 2026), d(12, 31, 2026)),
    ("力争年底前", "deadline", d(1, 1), d(12, 31)),
    ("确保 2016 年", "period", d(1, 1, 2016), d(12, 31, 2016)),
    ("预计在9月", "period", d(9, 1), d(9, 30)),
    ("“十三五”期间", "period", d(1, 1, 2016), d(12, 31, 2020)),
    ("十四五期间", "period", d(1, 1, 2021), d(12, 31, 2025)),
    ("分四年实施完成", "period", d(1, 1), d(12, 31, 2028)),
    # starts, labels and words without a date
    ("2020年起", "start", d(1, 1, 2020), None),
    ("从 2016 年开始", "start", d(1, 1, 2016), None),
    ("春季学期", "label", None, None),
    ("秋季学期", "label", None, None),
    ("长期坚持", "ongoing", None, None),
    ("持续推进", "ongoing", None, None),
    ("常态化", "ongoing", None, None),
    ("尽快", "asap", None, None),
    # written as web pages and PDFs leave them
    ("6月10號前", "deadline", d(6, 10), d(6, 10)),
    ("4月20日(星期五)前", "deadline", d(4, 20), d(4, 20)),
    ("4月20日（星期五）前", "deadline", d(4, 20), d(4, 20)),
    ("2005.1—4", "period", d(1, 1, 2005), d(4, 30, 2005)),
    ("2005.5—2006.6", "period", d(5, 1, 2005), d(6, 30, 2006)),
    ("2019.12.31", "deadline", d(12, 31, 2019), d(12, 31, 2019)),
    ("2016-08-29", "deadline", d(8, 29, 2016), d(8, 29, 2016)),
    ("二○○七年四月十三日", "deadline", d(4, 13, 2007), d(4, 13, 2007)),
    ("12 月底前", "deadline", d(12, 31), d(12, 31)),
    ("5月中上旬", "deadline", d(5, 1), d(5, 20)),
]

# written as dates, but no such day: never a due date, whatever else the phrase holds
INVALID = ["2019年2月29日前", "2025年12月32日前", "12月32日前", "2月30日", "13月", "2025年13月底",
           "6月31日前", "2005.13—4"]

# phrases that are not dates at all (never given one)
NOT_DATES = ["13 月底前", "6月31日", "2 月 30 日前", "五季度", "年度工作考评", "2019 年以来",
             "适时", "另行通知", "本月", "按季度"]

RECURRENCES = [
    ("每季度至少研究一次", "FREQ=MONTHLY;INTERVAL=3"),
    ("每 2 月至少到联系村调研指导一次", "FREQ=MONTHLY;INTERVAL=2"),
    ("每月至少到联系村调研指导一次", "FREQ=MONTHLY"),
    ("每季度末月20日前报送", "FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=20"),
    ("每年2月底前", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1"),
    ("每年3月10日前上报", "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=10"),
    ("每年年底考核", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31"),
    ("每半年通报一次", "FREQ=MONTHLY;INTERVAL=6"),
    ("每周调度", "FREQ=WEEKLY"),
    ("每周一召开例会", "FREQ=WEEKLY;BYDAY=MO"),
    ("每月5日前报送进度", "FREQ=MONTHLY;BYMONTHDAY=5"),
    ("每月底前报送", "FREQ=MONTHLY;BYMONTHDAY=-1"),
    ("每旬报送一次", "FREQ=MONTHLY;BYMONTHDAY=10,20,-1"),
    ("每两个月检查一次", "FREQ=MONTHLY;INTERVAL=2"),
    ("一月一通报", "FREQ=MONTHLY"),
    ("一季一研究", "FREQ=MONTHLY;INTERVAL=3"),
    ("连续3年每年培训一次", "FREQ=YEARLY;COUNT=3"),
    ("2020年起,每年开展一次", "FREQ=YEARLY"),
]


@pytest.mark.parametrize(("phrase", "kind", "start", "due"), DATES, ids=[p for p, *_ in DATES])
def test_date_phrase_resolves(phrase, kind, start, due):
    from taskflow.parsing.text import normalize

    when = resolve(normalize(phrase), Y)
    assert when is not None, phrase
    assert (when.kind, when.start, when.due) == (kind, start, due)


@pytest.mark.parametrize("phrase", NOT_DATES)
def test_not_a_date_is_not_given_one(phrase):
    when = resolve(phrase, Y)
    assert when is None or when.due is None


@pytest.mark.parametrize("phrase", INVALID)
def test_an_invalid_date_is_invalid_not_its_month_or_year(phrase):
    when = resolve(phrase, Y)
    assert when is not None and when.kind == "invalid" and when.due is None


@pytest.mark.parametrize("phrase", INVALID)
def test_an_invalid_date_is_reported_and_gives_no_due_in_a_plan(phrase):
    from taskflow.parsing import parse_text

    result = parse_text(f"一、重点工作\n1.开展培训(牵头单位:区总工会)\n"
                        f"进度安排:{phrase}完成培训。\n", year=Y)
    task = result.plan["tasks"][0]["children"][0] if "children" in result.plan["tasks"][0] \
        else result.plan["tasks"][0]
    assert "due" not in task and "milestones" not in task
    assert any(phrase.replace(" ", "") in (i.phrase or "") for i in result.review.unresolved)


def test_a_year_in_2019_without_29_february_but_2020_with_it():
    assert resolve("2020年2月29日前", Y).due == d(2, 29, 2020)
    assert resolve("2019年2月29日前", Y).kind == "invalid"


def test_running_text_deadlines_inside_clauses_and_not_past_work():
    sched = parse_schedule("验收工作由乡镇负责,第一批验收结果于6月30日前上报,"
                           "第二批于8月31日前上报。"
                           "7月中上旬,市扶贫办对项目进行了核准备案。各责任单位年底兑现。", Y,
                           strict=False)
    assert [s.when.due for s in sched.milestones] == [d(6, 30), d(8, 31), d(12, 31)]
    assert sched.milestones[0].title == "上报" and sched.milestones[0].lead_in == "第一批验收结果"
    # a year naming things ("2015年度…项目") is no deadline in running text
    assert not parse_schedule("2015年贫困山区项目采取乡自验的方式进行。", Y, strict=False).steps
    assert parse_schedule("2016 年完成400 个村的整合任务。", Y, strict=False).due == d(12, 31, 2016)


@pytest.mark.parametrize(("phrase", "rrule", "start"), [
    ("并于每月的23日将本月项目建设进度上报", "FREQ=MONTHLY;BYMONTHDAY=23", None),
    ("从2022年第二季度起,要在每个季度第1个月的20日前报送",
     "FREQ=YEARLY;BYMONTH=1,4,7,10;BYMONTHDAY=20", d(4, 1, 2022)),
    ("从2022年3月起,务于每月25日前报送", "FREQ=MONTHLY;BYMONTHDAY=25", d(3, 1, 2022)),
    ("逐月查账", "FREQ=MONTHLY", None),
    ("每季度末(分别在6月、9月和12月底)报送", "FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1", None),
])
def test_notice_rhythms(phrase, rrule, start):
    [found] = find_recurrences(squeeze(phrase), Y)
    assert (found.rrule, found.start) == (rrule, start)
    assert not find_recurrences(squeeze("产量逐年增加"), Y)


@pytest.mark.parametrize(("phrase", "rrule"), RECURRENCES, ids=[p for p, _ in RECURRENCES])
def test_recurrence_phrase_becomes_an_rrule(phrase, rrule):
    found = find_recurrences(squeeze(phrase), Y)
    assert [r.rrule for r in found] == [rrule]


def test_recurrence_rrules_are_valid_rfc5545():
    from dateutil.rrule import rrulestr

    for _, rule in RECURRENCES:
        rrulestr(rule, dtstart=None)


def test_consecutive_years_and_start_year():
    found = find_recurrences(squeeze("2020年起,每年开展一次"), Y)
    assert found[0].start == d(1, 1, 2020)


def test_cumulative_targets_by_period():
    sched = parse_schedule("1-3 月完成培训任务 10%;4-6 月完成培训任务 30%;7-9 月完成培训任务 30%;"
                           "10-12 月完成 30%,年底并做好全年工作总结。", Y)
    assert [(by, value) for by, value in sched.progress] == [
        (d(3, 31), "10%"), (d(6, 30), "40%"), (d(9, 30), "70%"), (d(12, 31), "100%")]
    assert [s.title for s in sched.milestones][-1] == "做好全年工作总结"


def test_yearly_targets_add_up():
    sched = parse_schedule("2016 年完成400 个村的统筹整合任务;2017 年完成 500 个村的统筹整合任务;"
                           "2018 年完成 500 个村的统筹整合任务;2019 年完成 222个村的统筹整合任务。",
                           Y, strict=False)
    assert [(by.year, v) for by, v in sched.progress] == [
        (2016, Decimal(400)), (2017, Decimal(900)), (2018, Decimal(1400)), (2019, Decimal(1622))]
    assert sched.total == (Decimal(1622), "个")


def test_semesters_label_their_steps():
    sched = parse_schedule("春季学期,6 月 10 日前全部完成核定,6 月底前补助到位;秋季学期,12 月 10 前"
                           "全部完成核定,12 月底前补助到位。", Y)
    assert [(s.title, s.when.due) for s in sched.milestones] == [
        ("春季学期全部完成核定", d(6, 10)), ("春季学期补助到位", d(6, 30)),
        ("秋季学期全部完成核定", d(12, 10)), ("秋季学期补助到位", d(12, 31))]


def test_yearly_count_is_a_target_not_a_rhythm():
    sched = parse_schedule("每年至少组织 2 次以上对接活动。", Y)
    assert not sched.duties
    assert sched.counts[0][:2] == (2, "次")
    assert sched.due == d(12, 31)


def test_relative_deadline_and_asap_are_reported_not_dated():
    sched = parse_schedule("收到通知后 5 个工作日内完成整改,尽快上报结果。", Y)
    assert not sched.milestones
    messages = " ".join(i.message for i in sched.issues)
    assert "相对期限“5个工作日内”" in messages and "“尽快”：未写具体日期" in messages


def test_dateless_schedule_is_reported_with_its_line():
    sched = parse_schedule("适时组织开展检查验收。", Y, line=12)
    assert sched.due is None
    assert [(i.line, i.kind) for i in sched.issues] == [(12, "unresolved")]


def test_ongoing_work_has_no_deadline():
    sched = parse_schedule("长期坚持,持续推进。", Y)
    assert sched.due is None and sched.ongoing
