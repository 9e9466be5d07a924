"""indexes for the console's 库存 pages: the stock list's page order, a lot's ledger, one entity's audit rows

Revision ID: 5c0e7a91b3d4
Revises: 5c1e9a2b7d40
Create Date: 2026-12-05 11:30:00

The lot page (console 库存 → 批次, ``models/queries/lot_trace.py``) reads one lot's moves in time order
and the audit rows of the lot (its QC results) and of its freezes (who lifted them, and why).
``stock_moves`` had no index leading with the lot, and ``audit_log`` only one on the organisation. The
stock list (``models/queries/stock_list.py``) pages through an org's (site, item) pairs in that order: with
``balances (org_id, site_id, item_id)`` a page reads its 50 pairs, not every balance of the org.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '5c0e7a91b3d4'
down_revision: str | Sequence[str] | None = '5c1e9a2b7d40'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_balances_org_site_item', 'balances', ['org_id', 'site_id', 'item_id'])
    op.create_index('ix_stock_moves_lot_time', 'stock_moves', ['lot_id', 'business_time'])
    op.create_index('ix_audit_log_org_entity', 'audit_log', ['org_id', 'entity', 'entity_id'])


def downgrade() -> None:
    op.drop_index('ix_audit_log_org_entity', table_name='audit_log')
    op.drop_index('ix_stock_moves_lot_time', table_name='stock_moves')
    op.drop_index('ix_balances_org_site_item', table_name='balances')
