"""inspection cycles declared in the web app (origin) survive a plan re-import

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 19:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inspectioncycle', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=10), nullable=False,
                                      server_default='file'))


def downgrade() -> None:
    with op.batch_alter_table('inspectioncycle', schema=None) as batch_op:
        batch_op.drop_column('origin')
