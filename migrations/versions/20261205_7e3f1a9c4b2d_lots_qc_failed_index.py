"""lots: a partial index of the QC-failed ones (held stock and available stock in the to-dos read
them without scanning every lot)

Revision ID: 7e3f1a9c4b2d
Revises: 7a3e5c1d9b42
Create Date: 2026-12-05 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7e3f1a9c4b2d'
down_revision: str | Sequence[str] | None = '7a3e5c1d9b42'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_lots_org_qc_failed', 'lots', ['org_id'], postgresql_where=sa.text("qc_status = 'FAILED'"),
                    sqlite_where=sa.text("qc_status = 'FAILED'"))


def downgrade() -> None:
    op.drop_index('ix_lots_org_qc_failed', table_name='lots')
