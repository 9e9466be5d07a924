"""site_policies: a site's autonomy policy while its edge node is offline (issue 14): which operation
kinds may run offline, a daily money ceiling for offline shipments, and after how many hours unsynced
the node warns and then refuses money-bearing operations. No row: the defaults (models.org).

Revision ID: 9d3e6b1f0a58
Revises: a9e4c7d2f1b3
Create Date: 2026-12-05 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = '9d3e6b1f0a58'
down_revision: str | Sequence[str] | None = 'a9e4c7d2f1b3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'site_policies',
        sa.Column('site_id', _ID, sa.ForeignKey('sites.id', name='fk_site_policies_site_id_sites'), nullable=False),
        sa.Column('org_id', _ID, sa.ForeignKey('orgs.id', name='fk_site_policies_org_id_orgs'), nullable=False),
        sa.Column('offline_kinds', sa.String(64), nullable=False),
        sa.Column('ship_credit_per_day', models.types.ScaledDecimal(18, 2), nullable=True),
        sa.Column('warn_after_hours', sa.Integer(), nullable=False),
        sa.Column('refuse_money_after_hours', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('site_id', name='pk_site_policies'),
    )
    op.create_index('ix_site_policies_org_id', 'site_policies', ['org_id'])


def downgrade() -> None:
    op.drop_index('ix_site_policies_org_id', table_name='site_policies')
    op.drop_table('site_policies')
