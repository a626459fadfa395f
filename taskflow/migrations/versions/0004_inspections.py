"""inspections: rounds, assignments, findings; cycle notice/sample/rectify; plan assessment

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 18:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import taskflow.models

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assessment', sa.JSON(), nullable=True))

    with op.batch_alter_table('inspectioncycle', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rectify_within', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sample', sa.JSON(), nullable=True))

    op.create_table('inspectionround',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('cycle_id', sa.Integer(), nullable=True),
    sa.Column('cycle_code', sa.String(length=120), nullable=False),
    sa.Column('code', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('scheduled_on', sa.Date(), nullable=False),
    sa.Column('notice_on', sa.Date(), nullable=True),
    sa.Column('scope', sa.JSON(), nullable=False),
    sa.Column('sample', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', taskflow.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', taskflow.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cycle_id'], ['inspectioncycle.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inspectionround', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspectionround_cycle_id'), ['cycle_id'],
                              unique=False)
        batch_op.create_index('ix_round_day', ['scheduled_on'], unique=False)
        batch_op.create_index('uq_round_plan_cycle_day',
                              ['plan_id', 'cycle_code', 'scheduled_on'], unique=True)

    op.create_table('inspectionassignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=False),
    sa.Column('target_kind', sa.String(length=20), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('inspector_contact_id', sa.Integer(), nullable=True),
    sa.Column('inspector_unit_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['inspector_contact_id'], ['contact.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['inspector_unit_id'], ['unit.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['round_id'], ['inspectionround.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inspectionassignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspectionassignment_inspector_contact_id'),
                              ['inspector_contact_id'], unique=False)
        batch_op.create_index('uq_assignment_round_target', ['round_id', 'target'], unique=True)

    op.create_table('inspectionfinding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('item', sa.String(length=200), nullable=False),
    sa.Column('criterion', sa.Text(), nullable=True),
    sa.Column('result', sa.String(length=10), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('photo', sa.String(length=500), nullable=True),
    sa.Column('inspector', sa.String(length=100), nullable=True),
    sa.Column('recorded_on', sa.Date(), nullable=False),
    sa.Column('recorded_at', taskflow.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rectification_task_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['rectification_task_id'], ['task.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['round_id'], ['inspectionround.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inspectionfinding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspectionfinding_unit_id'), ['unit_id'],
                              unique=False)
        batch_op.create_index('uq_finding_round_unit_item', ['round_id', 'unit_id', 'item'],
                              unique=True)


def downgrade() -> None:
    op.drop_table('inspectionfinding')
    op.drop_table('inspectionassignment')
    op.drop_table('inspectionround')
    with op.batch_alter_table('inspectioncycle', schema=None) as batch_op:
        batch_op.drop_column('sample')
        batch_op.drop_column('rectify_within')
        batch_op.drop_column('notice_days')
    with op.batch_alter_table('plan', schema=None) as batch_op:
        batch_op.drop_column('assessment')
