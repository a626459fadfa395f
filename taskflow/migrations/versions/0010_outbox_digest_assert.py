"""outbox: the digest day and what a message asserts; the digest flag goes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 20:00:00

A digest row belonged to the digest of its creation day (in the dispatcher's timezone); it now
names that day itself (digest_on). Existing digest rows get the day of their creation in
China Standard Time (UTC+8, no daylight saving), the timezone every installation has used.
"""
from collections.abc import Sequence
from datetime import UTC, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CST = timedelta(hours=8)
BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('asserted', sa.JSON(), nullable=True))
    notification = sa.table('notification', sa.column('id', sa.Integer),
                            sa.column('digest', sa.Boolean),
                            sa.column('created_at', sa.DateTime(timezone=True)),
                            sa.column('digest_on', sa.Date))
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(notification.c.id, notification.c.created_at)
            .where(notification.c.id > last, notification.c.digest.is_(True))
            .order_by(notification.c.id).limit(BATCH)).all()
        if not rows:
            break
        connection.execute(
            notification.update().where(notification.c.id == sa.bindparam('b_id'))
            .values(digest_on=sa.bindparam('v_day')),
            [{'b_id': row.id, 'v_day': _cst_day(row.created_at)} for row in rows])
        last = rows[-1].id
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_column('digest')
        batch_op.create_index('ix_notification_digest', ['contact_id', 'digest_on', 'channel'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_digest')
        batch_op.add_column(sa.Column('digest', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.execute("UPDATE notification SET digest = TRUE WHERE digest_on IS NOT NULL")
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_column('asserted')
        batch_op.drop_column('digest_on')


def _cst_day(created_at):
    if isinstance(created_at, str):  # SQLite without type information: ISO text
        from datetime import datetime
        created_at = datetime.fromisoformat(created_at)
    if created_at.tzinfo is None:  # SQLite keeps UTC without an offset
        created_at = created_at.replace(tzinfo=UTC)
    return (created_at.astimezone(UTC) + CST).date()
