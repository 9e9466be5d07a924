"""vouchers by organisation and date: the voucher list and its exports read one org's date range

Revision ID: d37bcd1bd5b4
Revises: ddd2bf2e58cf
Create Date: 2026-12-05 09:00:00

The voucher list (models.queries.vouchers; the .xlsx / 用友 / 金蝶 exports) selects one org's
vouchers dated in a range; without this index that is a scan of every voucher of every org.
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'd37bcd1bd5b4'
down_revision: str | Sequence[str] | None = 'ddd2bf2e58cf'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_vouchers_org_date', 'vouchers', ['org_id', 'voucher_date'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_vouchers_org_date', table_name='vouchers')
