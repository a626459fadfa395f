"""app_state: named values of the installation (the secret key's fingerprint)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 19:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from taskflow.models import UTCDateTime

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('app_state',
                    sa.Column('name', sa.String(length=64), nullable=False),
                    sa.Column('value', sa.Text(), nullable=False),
                    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint('name'))


def downgrade() -> None:
    op.drop_table('app_state')
