"""Task states and the state machine: which action takes a task from which state to which."""

from __future__ import annotations

from enum import StrEnum

from taskflow.domain.labels import ACTION_LABELS, STATE_LABELS
from taskflow.errors import UserError


class TaskState(StrEnum):
    pending = "pending"  # imported, not yet started
    active = "active"  # started, waiting for the units' acknowledgement (签收)
    acknowledged = "acknowledged"
    in_progress = "in_progress"
    submitted = "submitted"  # reported done, waiting for the coordinator
    done = "done"
    cancelled = "cancelled"


S = TaskState
OPEN = (S.pending, S.active, S.acknowledged, S.in_progress, S.submitted)
OPEN_NOT_SUBMITTED = (S.pending, S.active, S.acknowledged, S.in_progress)
WORKING = (S.active, S.acknowledged, S.in_progress)  # the units still owe something
CLOSED = (S.done, S.cancelled)

# Steps of a task (no 签收 of their own) and the kinds taskflow makes itself (duty
# occurrences, 整改 after a failed inspection item): those are never written in a plan file,
# so a re-import leaves them alone.
STEP_KINDS = ("milestone", "occurrence")
GENERATED_KINDS = ("occurrence", "rectification")


class TaskAction(StrEnum):
    activate = "activate"
    acknowledge = "acknowledge"
    report = "report"
    submit = "submit"
    accept = "accept"
    return_ = "return"
    extend = "extend"
    cancel = "cancel"


TRANSITIONS: dict[str, dict[str, str]] = {
    TaskAction.activate: {S.pending: S.active},
    TaskAction.acknowledge: {S.active: S.acknowledged},
    TaskAction.report: {S.active: S.in_progress, S.acknowledged: S.in_progress,
                    S.in_progress: S.in_progress},
    TaskAction.submit: {S.active: S.submitted, S.acknowledged: S.submitted,
                    S.in_progress: S.submitted},
    TaskAction.accept: {S.submitted: S.done},
    TaskAction.return_: {S.submitted: S.in_progress},
    TaskAction.extend: {s: s for s in OPEN},
    TaskAction.cancel: {s: S.cancelled for s in OPEN},
}


class IllegalTransition(UserError):
    """An action that the task's state does not allow (a user's mistake: exit code 2)."""


def transition(state: str, action: str) -> str:
    """The state after ``action``; IllegalTransition says what is allowed instead."""
    allowed = TRANSITIONS.get(action)
    if allowed is None:
        raise ValueError(f"unknown action {action!r}")
    if state not in allowed:
        possible = [ACTION_LABELS[a] for a, table in TRANSITIONS.items() if state in table]
        raise IllegalTransition.single(
            f"任务状态为「{STATE_LABELS.get(state, state)}」，不能{ACTION_LABELS[action]}"
            f"（可执行：{'、'.join(possible) or '无'}）")
    return allowed[state]
