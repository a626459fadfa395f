"""Every state, action, message kind, outbox status and channel has one Chinese label."""

from __future__ import annotations

import pytest

from taskflow.domain import labels
from taskflow.domain.messages import CHANNELS, MessageKind, OutboxStatus
from taskflow.domain.states import TRANSITIONS, IllegalTransition, TaskState, transition


@pytest.mark.parametrize(("members", "table"), [
    (list(TaskState), labels.STATE_LABELS),
    (list(TRANSITIONS), labels.ACTION_LABELS),
    (list(MessageKind), labels.MESSAGE_KIND_LABELS),
    (list(MessageKind), labels.MESSAGE_KIND_SHORT_LABELS),
    (list(OutboxStatus), labels.OUTBOX_STATUS_LABELS),
    (list(OutboxStatus), labels.OUTBOX_STATUS_PAGE_LABELS),
    (list(CHANNELS), labels.CHANNEL_LABELS),
])
def test_every_member_of_a_vocabulary_has_a_label(members, table):
    missing = [m for m in members if m not in table]
    assert missing == []
    assert all(isinstance(table[m], str) and table[m] for m in members)


def test_labels_of_one_vocabulary_are_distinct():
    for table in (labels.STATE_LABELS, labels.ACTION_LABELS, labels.MESSAGE_KIND_LABELS,
                  labels.OUTBOX_STATUS_LABELS, labels.LIGHT_LABELS, labels.UNIT_ROLE_LABELS):
        assert len(set(table.values())) == len(table), table


def test_a_label_lookup_shows_an_unknown_value_as_it_is():
    assert labels.label(labels.STATE_LABELS, TaskState.submitted) == "待审核"
    assert labels.label(labels.STATE_LABELS, "archived") == "archived"
    assert labels.label(labels.STATE_LABELS, None) == ""


def test_an_illegal_transition_names_the_state_and_what_is_allowed_in_chinese():
    with pytest.raises(IllegalTransition, match="任务状态为「已办结」，不能退回（可执行：无）"):
        transition(TaskState.done, "return")
    assert transition(TaskState.submitted, "accept") == TaskState.done
