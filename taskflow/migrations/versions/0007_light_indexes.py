"""web dashboard: indexes for counting lights (covering index, partial progress-plan index)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROGRESS_PLAN_SET = "CAST(progress_plan AS TEXT) != '[]'"


def upgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index('ix_task_light', ['plan_id', 'state', 'due_at', 'submitted_at',
                                                'archived_at', 'due_on'], unique=False)
        batch_op.create_index('ix_task_progress_plan', ['state', 'plan_id'], unique=False,
                              sqlite_where=sa.text(PROGRESS_PLAN_SET),
                              postgresql_where=sa.text(PROGRESS_PLAN_SET))


def downgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index('ix_task_progress_plan',
                            sqlite_where=sa.text(PROGRESS_PLAN_SET),
                            postgresql_where=sa.text(PROGRESS_PLAN_SET))
        batch_op.drop_index('ix_task_light')
