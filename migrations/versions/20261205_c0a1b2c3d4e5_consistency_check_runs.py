"""consistency check runs: the hourly pass rate, for the event-health board over time; handler runs
by organisation and time (the board's series)

Revision ID: c0a1b2c3d4e5
Revises: c0d5d0c5a11e
Create Date: 2026-12-05 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = 'c0a1b2c3d4e5'
down_revision: str | Sequence[str] | None = 'c0d5d0c5a11e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'consistency_check_runs',
        sa.Column('id', _ID, primary_key=True, autoincrement=True),
        sa.Column('org_id', _ID, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('checks_total', sa.Integer(), nullable=False),
        sa.Column('checks_passed', sa.Integer(), nullable=False),
        sa.Column('problems', sa.JSON(), nullable=False),
        sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
    )
    op.create_index('ix_consistency_check_runs_org_id', 'consistency_check_runs', ['org_id'])
    op.create_index('ix_consistency_check_runs_org_created', 'consistency_check_runs', ['org_id', 'created_at'])
    op.create_index('ix_handler_runs_org_created', 'handler_runs', ['org_id', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_handler_runs_org_created', table_name='handler_runs')
    op.drop_index('ix_consistency_check_runs_org_created', table_name='consistency_check_runs')
    op.drop_index('ix_consistency_check_runs_org_id', table_name='consistency_check_runs')
    op.drop_table('consistency_check_runs')
