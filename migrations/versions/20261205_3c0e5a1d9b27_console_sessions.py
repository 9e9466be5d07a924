"""console sessions: the manager console's sign-ins, ended on sign-out (issue 13)

Revision ID: 3c0e5a1d9b27
Revises: bfd80fd8df7a
Create Date: 2026-12-05 11:19:23.724090
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types


revision: str = '3c0e5a1d9b27'
down_revision: str | None = 'bfd80fd8df7a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('console_sessions',
    sa.Column('member_id', ID, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('ended_at', models.types.UTCDateTime(), nullable=True),
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('org_id', ID, nullable=False),
    sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_console_sessions_member_id_members')),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_console_sessions_org_id_orgs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_sessions'))
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_console_sessions_token_hash', ['token_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_console_sessions_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_console_sessions_org_id'), ['org_id'], unique=False)


def downgrade() -> None:
    op.drop_table('console_sessions')
