"""daily forecast runs (issue 15): a run's frequency and the day lines of a day run.

Revision ID: e4a7c2d9f1b6
Revises: b5d2e8f4a173
Create Date: 2026-12-05 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = 'e4a7c2d9f1b6'
down_revision: str | Sequence[str] | None = 'b5d2e8f4a173'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _qty(name: str) -> sa.Column:
    return sa.Column(name, models.types.ScaledDecimal(20, 6), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table('forecast_runs', schema=None) as batch_op:
        # existing runs were all weekly
        batch_op.add_column(sa.Column('frequency', sa.Enum('WEEK', 'DAY', name='runfrequency', native_enum=False,
                                                           length=8), nullable=False, server_default='WEEK'))
    op.create_table(
        'forecast_day_lines',
        sa.Column('run_id', _ID, nullable=False),
        sa.Column('item_id', _ID, nullable=False),
        sa.Column('site_id', _ID, nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        _qty('mean'), _qty('lo80'), _qty('hi80'), _qty('lo95'), _qty('hi95'), _qty('final'),
        sa.Column('method', sa.String(length=32), nullable=False),
        sa.Column('explanation', sa.JSON(), nullable=False),
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('org_id', _ID, nullable=False),
        sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_forecast_day_lines_item_id_items')),
        sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_forecast_day_lines_org_id_orgs')),
        sa.ForeignKeyConstraint(['run_id'], ['forecast_runs.id'],
                                name=op.f('fk_forecast_day_lines_run_id_forecast_runs')),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_forecast_day_lines_site_id_sites')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_forecast_day_lines')),
    )
    with op.batch_alter_table('forecast_day_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_forecast_day_lines_org_id'), ['org_id'], unique=False)
        batch_op.create_index('ix_forecast_day_lines_run_item_site_day', ['run_id', 'item_id', 'site_id', 'day'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('forecast_day_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_forecast_day_lines_run_item_site_day')
        batch_op.drop_index(batch_op.f('ix_forecast_day_lines_org_id'))
    op.drop_table('forecast_day_lines')
    with op.batch_alter_table('forecast_runs', schema=None) as batch_op:
        batch_op.drop_column('frequency')
