"""The sweep's set-based writes: a batched compare-and-set still loses exactly the changed rows."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlmodel import Session

from taskflow.calendar import WorkCalendar
from taskflow.db import write_session
from taskflow.models import Task
from taskflow.services import sweep as service

from .test_sweep import local, plan_text, seed


def test_a_task_changed_under_a_batched_compare_and_set_is_the_only_one_not_written(
        engine, tmp_path):
    seed(engine, tmp_path, plan_text(count=4, duty=False))
    now = local(2025, 1, 2)
    task = service._TASK
    with write_session(engine) as session:
        connection = session.connection()
        rows = connection.execute(select(*service._TASK_COLUMNS).where(
            task.c.next_action_at <= now).order_by(task.c.id)).all()
        assert len(rows) == 4
        ctx = service._Contexts(WorkCalendar()).get(connection, rows[0].plan_id)
        items = [(row, ctx.decide(service._facts(row, True, True), now)) for row in rows]
        assert len({tuple(service._change(d, now)) for _, d in items}) == 1  # one group
        # somebody acknowledges the second task after we read it
        connection.execute(update(Task).where(Task.id == rows[1].id)
                           .values(state="acknowledged"))
        won = service._compare_and_set(connection, items, now)
    assert won == {rows[0].id, rows[2].id, rows[3].id}
    with Session(engine) as session:
        states = dict(session.execute(select(Task.id, Task.state).where(
            Task.id.in_([r.id for r in rows]))).all())
        changed = session.get(Task, rows[1].id)
        assert changed.next_action_at == rows[1].next_action_at  # untouched by the sweep
    assert states == {rows[0].id: "active", rows[1].id: "acknowledged",
                      rows[2].id: "active", rows[3].id: "active"}
