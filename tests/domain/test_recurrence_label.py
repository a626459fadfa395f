"""RRULEs read as offices say them (plan tree, upload review, inspection programme)."""

from __future__ import annotations

import pytest

from taskflow.domain.labels import recurrence_label


@pytest.mark.parametrize("rule, words", [
    ("FREQ=MONTHLY;INTERVAL=3", "每季度"),
    ("FREQ=MONTHLY", "每月"),
    ("FREQ=YEARLY", "每年"),
    ("FREQ=WEEKLY;INTERVAL=2", "每两周"),
    ("FREQ=MONTHLY;INTERVAL=2", "每两个月"),
    ("FREQ=MONTHLY;INTERVAL=6", "每半年"),
    ("FREQ=MONTHLY;INTERVAL=4", "每四个月"),
    ("RRULE:FREQ=YEARLY;INTERVAL=2", "每两年"),
    ("FREQ=MONTHLY;BYMONTHDAY=5", "每月5日"),
    ("FREQ=MONTHLY;BYMONTHDAY=10,20,-1", "每月10日、20日、月底"),
    ("FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=-1", "每年3、6、9、12月底"),
    ("FREQ=YEARLY;BYMONTH=3,6,9,12;BYMONTHDAY=20", "每年3、6、9、12月20日"),
    ("FREQ=WEEKLY;BYDAY=FR", "每周五"),
    ("每季度", "每季度"),  # already Chinese: as it is
    ("FREQ=HOURLY", "FREQ=HOURLY"),  # nothing an office writes: shown, not guessed
    (None, ""),
])
def test_rrule_in_chinese(rule, words):
    assert recurrence_label(rule) == words
