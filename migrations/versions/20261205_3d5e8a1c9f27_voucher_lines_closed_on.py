"""voucher lines: the day a control-account line's matches reached its whole amount (closed_on)

Revision ID: 3d5e8a1c9f27
Revises: c7a91f3e2b40
Create Date: 2026-12-05 09:30:00

Aging as of a day and a party's open items read only the lines still open (``closed_on`` after the
day; 9999-12-31 while any of the line is unmatched), from whichever index is narrower: lines dated
up to the day, or lines closed after it. Existing lines are closed here from their matches.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '3d5e8a1c9f27'
down_revision: str | Sequence[str] | None = 'c7a91f3e2b40'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('voucher_lines', sa.Column('closed_on', sa.Date(), server_default='9999-12-31', nullable=False))
    # A line is a charge or a credit: its matches name it on one end. Closed on its last match's day
    # once they add up to its whole amount.
    greatest = 'greatest' if op.get_bind().dialect.name == 'postgresql' else 'max'
    op.execute(
        "UPDATE voucher_lines SET closed_on = ("
        " SELECT max(m.matched_on) FROM open_item_matches m"
        " WHERE m.charge_line_id = voucher_lines.id OR m.credit_line_id = voucher_lines.id)"
        f" WHERE {greatest}(debit - credit, credit - debit) = ("
        " SELECT sum(m.amount) FROM open_item_matches m"
        " WHERE m.charge_line_id = voucher_lines.id OR m.credit_line_id = voucher_lines.id)")
    op.drop_index('ix_voucher_lines_org_account_date', table_name='voucher_lines')
    op.create_index('ix_voucher_lines_org_account_date', 'voucher_lines', ['org_id', 'account_code', 'voucher_date'],
                    postgresql_include=['party_id', 'debit', 'credit', 'closed_on'])
    op.create_index('ix_voucher_lines_org_account_closed', 'voucher_lines', ['org_id', 'account_code', 'closed_on'],
                    postgresql_include=['party_id', 'voucher_date', 'debit', 'credit'])


def downgrade() -> None:
    op.drop_index('ix_voucher_lines_org_account_closed', table_name='voucher_lines')
    op.drop_index('ix_voucher_lines_org_account_date', table_name='voucher_lines')
    op.create_index('ix_voucher_lines_org_account_date', 'voucher_lines', ['org_id', 'account_code', 'voucher_date'],
                    postgresql_include=['party_id', 'debit', 'credit'])
    op.drop_column('voucher_lines', 'closed_on')
