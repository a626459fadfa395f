"""funds: disbursements; fund line deadline and schedule; plan rule measure

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import taskflow.models

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('fundline', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disburse_by', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('disburse_schedule', sa.JSON(), nullable=True))

    with op.batch_alter_table('planrule', schema=None) as batch_op:
        batch_op.add_column(sa.Column('measure', sa.JSON(), nullable=True))

    op.create_table('disbursement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('fund_line_id', sa.Integer(), nullable=True),
    sa.Column('line_code', sa.String(length=120), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('unit_id', sa.Integer(), nullable=True),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('origin', sa.String(length=10), server_default='manual', nullable=False),
    sa.Column('recorded_at', taskflow.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorder', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['fund_line_id'], ['fundline.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('disbursement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disbursement_fund_line_id'), ['fund_line_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_disbursement_task_id'), ['task_id'],
                              unique=False)
        batch_op.create_index('ix_disbursement_plan_paid', ['plan_id', 'paid_on'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('disbursement', schema=None) as batch_op:
        batch_op.drop_index('ix_disbursement_plan_paid')
        batch_op.drop_index(batch_op.f('ix_disbursement_task_id'))
        batch_op.drop_index(batch_op.f('ix_disbursement_fund_line_id'))
    op.drop_table('disbursement')
    with op.batch_alter_table('planrule', schema=None) as batch_op:
        batch_op.drop_column('measure')
    with op.batch_alter_table('fundline', schema=None) as batch_op:
        batch_op.drop_column('disburse_schedule')
        batch_op.drop_column('disburse_by')
