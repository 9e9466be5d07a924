"""binding codes: stored as SHA-256, and a table of binding attempts for throttling

Revision ID: 88946b08d23f
Revises: 941de4b7f1e2
Create Date: 2026-12-05 10:00:00

Unused six-digit codes are dropped (they were stored in clear and are guessable): managers issue
new twelve-digit ones.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = '88946b08d23f'
down_revision: str | None = '941de4b7f1e2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.execute("DELETE FROM binding_codes")
    with op.batch_alter_table('binding_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_binding_codes_code_active')
        batch_op.drop_column('code')
        batch_op.add_column(sa.Column('code_hash', sa.String(length=64), nullable=False))
        batch_op.create_index('ix_binding_codes_code_hash', ['code_hash'], unique=True)

    op.create_table(
        'binding_attempts',
        sa.Column('identity', sa.String(length=160), nullable=False),
        sa.Column('org_id', BigId, nullable=True),
        sa.Column('succeeded', sa.Boolean(), nullable=False),
        sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_binding_attempts_org_id_orgs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_binding_attempts')),
    )
    with op.batch_alter_table('binding_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_binding_attempts_identity_created', ['identity', 'created_at'], unique=False)
        batch_op.create_index('ix_binding_attempts_org_created', ['org_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_binding_attempts_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('binding_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_binding_attempts_created_at'))
        batch_op.drop_index('ix_binding_attempts_org_created')
        batch_op.drop_index('ix_binding_attempts_identity_created')
    op.drop_table('binding_attempts')

    op.execute("DELETE FROM binding_codes")
    with op.batch_alter_table('binding_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_binding_codes_code_hash')
        batch_op.drop_column('code_hash')
        batch_op.add_column(sa.Column('code', sa.String(length=6), nullable=False))
        batch_op.create_index('ix_binding_codes_code_active', ['code', 'used_at'], unique=False)
