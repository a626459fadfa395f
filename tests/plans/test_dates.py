from datetime import date

import pytest

from taskflow.plans.dates import PhraseError, recurrence_rule, resolve_date, shift_years


@pytest.mark.parametrize(("phrase", "due", "start"), [
    ("6 月 10 日前", date(2025, 6, 10), date(2025, 6, 10)),  # the seed's spacing
    ("12 月 10 前", date(2025, 12, 10), date(2025, 12, 10)),  # 日 missing in the seed
    ("6月底前", date(2025, 6, 30), date(2025, 6, 30)),
    ("7 月前", date(2025, 6, 30), date(2025, 1, 1)),  # before 1 July
    ("1月前", date(2024, 12, 31), date(2025, 1, 1)),
    ("8 月", date(2025, 8, 31), date(2025, 8, 1)),
    ("9月中旬", date(2025, 9, 20), date(2025, 9, 11)),
    ("2月下旬", date(2025, 2, 28), date(2025, 2, 21)),
    ("三季度", date(2025, 9, 30), date(2025, 7, 1)),
    ("第一季度", date(2025, 3, 31), date(2025, 1, 1)),
    ("上半年", date(2025, 6, 30), date(2025, 1, 1)),
    ("年底前", date(2025, 12, 31), date(2025, 1, 1)),
    ("年内", date(2025, 12, 31), date(2025, 1, 1)),
    ("到2020年底", date(2020, 12, 31), date(2020, 1, 1)),
    ("2019年11月底前", date(2019, 11, 30), date(2019, 11, 30)),
    ("20xx年底", date(2025, 12, 31), date(2025, 1, 1)),
    ("2025-06-30", date(2025, 6, 30), date(2025, 6, 30)),
    ("次年底", date(2026, 12, 31), date(2026, 1, 1)),
    ("明年6月底前", date(2026, 6, 30), date(2026, 6, 30)),
])
def test_phrases_resolve_to_deadline_and_start(phrase, due, start):
    assert resolve_date(phrase, 2025) == due
    assert resolve_date(phrase, 2025, bound="start") == start


@pytest.mark.parametrize("phrase", ["6月31日", "13月底", "五季度", "下个月", "2025-02-30", ""])
def test_bad_phrases_say_what_is_expected(phrase):
    with pytest.raises(PhraseError):
        resolve_date(phrase, 2025)


def test_unknown_phrase_message_lists_supported_forms():
    with pytest.raises(PhraseError, match="6月底前"):
        resolve_date("尽快", 2025)


@pytest.mark.parametrize(("phrase", "rule"), [
    ("每季度至少研究一次", "FREQ=MONTHLY;INTERVAL=3"),
    ("每 2 月至少到联系村调研指导一次", "FREQ=MONTHLY;INTERVAL=2"),
    ("每月至少一次", "FREQ=MONTHLY"),
    ("每半年", "FREQ=MONTHLY;INTERVAL=6"),
    ("每年", "FREQ=YEARLY"),
    ("一月一通报", "FREQ=MONTHLY"),
    ("FREQ=WEEKLY;INTERVAL=2", "FREQ=WEEKLY;INTERVAL=2"),
])
def test_recurrence_phrases_become_rrules(phrase, rule):
    assert recurrence_rule(phrase) == rule


def test_invalid_rrule_is_refused():
    with pytest.raises(PhraseError, match="RRULE"):
        recurrence_rule("FREQ=SOMETIMES")


def test_shift_years_keeps_the_day_and_clamps_leap_day():
    assert shift_years(date(2016, 12, 31), 9) == date(2025, 12, 31)
    assert shift_years(date(2016, 2, 29), 9) == date(2025, 2, 28)
