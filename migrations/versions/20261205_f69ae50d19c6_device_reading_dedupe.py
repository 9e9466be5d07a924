"""device readings: a dedupe key, unique per device (MQTT replays are stored once)

Revision ID: f69ae50d19c6
Revises: 941de4b7f1e2
Create Date: 2026-12-05 00:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'f69ae50d19c6'
down_revision: str | None = '941de4b7f1e2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('device_readings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            'uq_device_readings_device_id_dedupe_key', ['device_id', 'dedupe_key'])


def downgrade() -> None:
    with op.batch_alter_table('device_readings', schema=None) as batch_op:
        batch_op.drop_constraint('uq_device_readings_device_id_dedupe_key', type_='unique')
        batch_op.drop_column('dedupe_key')
