"""voucher_lines.document_id: the voucher's document copied onto its lines (backfilled), and carried in
the open-lines index, so the cash forecast sums what is open per farmer delivery without the vouchers

Revision ID: c4f8a2e61d7b
Revises: 7e3f1a9c4b2d
Create Date: 2026-12-05 15:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'c4f8a2e61d7b'
down_revision: str | Sequence[str] | None = '7e3f1a9c4b2d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('voucher_lines', sa.Column('document_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                             nullable=True))
    op.execute("UPDATE voucher_lines SET document_id = (SELECT vouchers.document_id FROM vouchers "
               "WHERE vouchers.id = voucher_lines.voucher_id)")
    op.drop_index('ix_voucher_lines_org_account_closed', table_name='voucher_lines')
    op.create_index('ix_voucher_lines_org_account_closed', 'voucher_lines', ['org_id', 'account_code', 'closed_on'],
                    postgresql_include=['party_id', 'voucher_date', 'debit', 'credit', 'document_id', 'id'])
    if op.get_bind().dialect.name == "postgresql":
        # The new column's statistics now, or the planner guesses 200 documents until autovacuum runs
        # (and every line was rewritten: until it runs, the index-only scans still visit the heap).
        op.execute("ANALYZE voucher_lines")


def downgrade() -> None:
    op.drop_index('ix_voucher_lines_org_account_closed', table_name='voucher_lines')
    op.create_index('ix_voucher_lines_org_account_closed', 'voucher_lines', ['org_id', 'account_code', 'closed_on'],
                    postgresql_include=['party_id', 'voucher_date', 'debit', 'credit'])
    op.drop_column('voucher_lines', 'document_id')
