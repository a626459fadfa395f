"""outbox rows name their message: the message column (the key without recipient and channel)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 18:00:00

Siblings of a message on other channels used to be found by slicing ":<channel>" off the key
string; the message identity is now a column. Existing rows get it from their key
("<message>:c<contact>:<channel>"), row by row, in batches.
"""
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUFFIX = re.compile(r":c[0-9]*:[a-z]+$")
BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message', sa.String(length=300), nullable=True))
    notification = sa.table('notification', sa.column('id', sa.Integer),
                            sa.column('key', sa.String), sa.column('message', sa.String))
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(notification.c.id, notification.c.key)
            .where(notification.c.id > last).order_by(notification.c.id).limit(BATCH)).all()
        if not rows:
            break
        connection.execute(
            notification.update().where(notification.c.id == sa.bindparam('b_id'))
            .values(message=sa.bindparam('v_message')),
            [{'b_id': row.id, 'v_message': SUFFIX.sub('', row.key)} for row in rows])
        last = rows[-1].id
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.alter_column('message', existing_type=sa.String(length=300), nullable=False)
        batch_op.create_index('ix_notification_message', ['message', 'contact_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_message')
        batch_op.drop_column('message')
