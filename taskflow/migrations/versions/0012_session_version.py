"""appuser.session_version: signing out, a new password, deactivation end every session

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-04 19:30:00

A session cookie carries the version of its user at sign-in; a request whose cookie holds
another version than the row is signed out. Existing users start at 0, like the cookies
issued before (which hold no version and are therefore signed out once, at the upgrade).

Chained after 0010: 0011 (collective mode) was not on main when this was written; the
merge re-chains it after 0011.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('appuser', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False,
                                      server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('appuser', schema=None) as batch_op:
        batch_op.drop_column('session_version')
