"""console login codes: one-time codes for the manager console's chat-code sign-in

Revision ID: 5c1e9a2b7d40
Revises: 3c0e5a1d9b27
Create Date: 2026-12-05 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision: str = '5c1e9a2b7d40'
down_revision: str | Sequence[str] | None = '3c0e5a1d9b27'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'console_login_codes',
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('salt', sa.String(length=32), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('used_at', UTCDateTime(), nullable=True),
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_console_login_codes')),
    )
    op.create_index('ix_console_login_codes_phone_created_at', 'console_login_codes', ['phone', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_console_login_codes_phone_created_at', table_name='console_login_codes')
    op.drop_table('console_login_codes')
