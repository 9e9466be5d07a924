"""accounting periods: month-end close (结账) and the lock on a closed period's voucher counter

Revision ID: fd1a10ba83d3
Revises: d37bcd1bd5b4
Create Date: 2026-12-05 09:00:00

``accounting_periods`` records which periods are closed, by whom, and why one was reopened.
``number_sequences.locked_through`` is set on a closed period's voucher counter, with a check that
no number beyond it is taken: the backstop for a posting that read the period as open just before
the close committed. The trial balance and statements read one org's lines by date.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = 'fd1a10ba83d3'
down_revision: str | Sequence[str] | None = 'd37bcd1bd5b4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'accounting_periods',
        sa.Column('period', sa.String(length=6), nullable=False),
        sa.Column('status', sa.Enum('OPEN', 'CLOSED', name='periodstatus', native_enum=False, length=8),
                  nullable=False),
        sa.Column('closed_at', models.types.UTCDateTime(), nullable=True),
        sa.Column('closed_by', _ID, nullable=True),
        sa.Column('reopened_at', models.types.UTCDateTime(), nullable=True),
        sa.Column('reopened_by', _ID, nullable=True),
        sa.Column('reason', sa.String(length=256), nullable=False),
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('org_id', _ID, nullable=False),
        sa.ForeignKeyConstraint(['closed_by'], ['members.id'], name=op.f('fk_accounting_periods_closed_by_members')),
        sa.ForeignKeyConstraint(['reopened_by'], ['members.id'],
                                name=op.f('fk_accounting_periods_reopened_by_members')),
        sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_accounting_periods_org_id_orgs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_accounting_periods')),
        sa.UniqueConstraint('org_id', 'period', name=op.f('uq_accounting_periods_org_id_period')),
    )
    op.create_index(op.f('ix_accounting_periods_org_id'), 'accounting_periods', ['org_id'], unique=False)
    # Nothing refers to number_sequences, so SQLite's batch copy of it is safe.
    with op.batch_alter_table('number_sequences') as batch:
        batch.add_column(sa.Column('locked_through', sa.Integer(), nullable=True))
        batch.create_check_constraint(op.f('ck_number_sequences_open'),
                                      'locked_through IS NULL OR last <= locked_through')


def downgrade() -> None:
    with op.batch_alter_table('number_sequences') as batch:
        batch.drop_constraint(op.f('ck_number_sequences_open'), type_='check')
        batch.drop_column('locked_through')
    op.drop_index(op.f('ix_accounting_periods_org_id'), table_name='accounting_periods')
    op.drop_table('accounting_periods')
