"""cash forecast: the state of each organisation's cash-threshold alert

Revision ID: 729d32c34ee6
Revises: fd1a10ba83d3
Create Date: 2026-12-05 09:00:00

One row per organisation: whether the last periodic check found the 72-hour projected cash below
the organisation's threshold (``orgs.settings["cash_min_balance"]``), so the alert goes out once per
crossing and not on every check.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = '729d32c34ee6'
down_revision: str | Sequence[str] | None = 'fd1a10ba83d3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'cash_alert_states',
        sa.Column('org_id', _ID, sa.ForeignKey('orgs.id', name='fk_cash_alert_states_org_id_orgs'), nullable=False),
        sa.Column('below', sa.Boolean(), nullable=False),
        sa.Column('threshold', models.types.ScaledDecimal(18, 2), nullable=True),
        sa.Column('lowest', models.types.ScaledDecimal(18, 2), nullable=True),
        sa.Column('lowest_at', models.types.UTCDateTime(), nullable=True),
        sa.Column('checked_at', models.types.UTCDateTime(), nullable=False),
        sa.Column('changed_at', models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('org_id', name='pk_cash_alert_states'),
    )


def downgrade() -> None:
    op.drop_table('cash_alert_states')
