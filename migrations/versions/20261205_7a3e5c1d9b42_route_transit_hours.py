"""route transit hours: a declared transfer route's usual time on the road (sites of kind in_transit)

Revision ID: 7a3e5c1d9b42
Revises: c0a1b2c3d4e5
Create Date: 2026-12-05 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7a3e5c1d9b42'
down_revision: str | Sequence[str] | None = 'c0a1b2c3d4e5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sites') as batch:
        batch.add_column(sa.Column('transit_hours', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sites') as batch:
        batch.drop_column('transit_hours')
