"""route transit hours: a declared transfer route's usual time on the road (sites of kind in_transit)

Revision ID: 7a3e5c1d9b42
Revises: 0e5a7c3b91d4
Create Date: 2026-12-05 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7a3e5c1d9b42'
down_revision: str | Sequence[str] | None = '0e5a7c3b91d4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, not batch mode: SQLite (3.35+) adds and drops a column in place, while batch
# mode would rebuild ``sites``, which every stock table references (a foreign-key failure on downgrade).
def upgrade() -> None:
    op.add_column('sites', sa.Column('transit_hours', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('sites', 'transit_hours')
