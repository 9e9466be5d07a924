"""indexes for the console's lot trace: a lot's ledger, and the audit rows of one entity

Revision ID: 5c0e7a91b3d4
Revises: bfd80fd8df7a
Create Date: 2026-12-05 11:30:00

The lot page (console 库存 → 批次, ``models/queries/lot_trace.py``) reads one lot's moves in time order
and the audit rows of the lot (its QC results) and of its freezes (who lifted them, and why).
``stock_moves`` had no index leading with the lot, and ``audit_log`` only one on the organisation.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '5c0e7a91b3d4'
down_revision: str | Sequence[str] | None = 'bfd80fd8df7a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_stock_moves_lot_time', 'stock_moves', ['lot_id', 'business_time'])
    op.create_index('ix_audit_log_org_entity', 'audit_log', ['org_id', 'entity', 'entity_id'])


def downgrade() -> None:
    op.drop_index('ix_audit_log_org_entity', table_name='audit_log')
    op.drop_index('ix_stock_moves_lot_time', table_name='stock_moves')
