"""indexes for the console's documents section (issue 13)

Revision ID: c0d5d0c5a11e
Revises: 5c0e7a91b3d4
Create Date: 2026-12-05 11:40:00

The document list filters one org's documents by business date (without a kind): (org, business
time). A document's page reads its trail — the outbox events of the document and the audit rows
about it — and its approval request by document: one index each, else each page scans tables that
grow with every posting.
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'c0d5d0c5a11e'
down_revision: str | Sequence[str] | None = '5c0e7a91b3d4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_documents_org_time', 'documents', ['org_id', 'business_time'])
    op.create_index('ix_outbox_events_document_id', 'outbox_events', ['document_id'])
    # (audit_log by org and entity comes with the stock section's migration, 5c0e7a91b3d4)
    op.create_index('ix_approval_requests_document_id', 'approval_requests', ['document_id'])


def downgrade() -> None:
    op.drop_index('ix_approval_requests_document_id', table_name='approval_requests')
    op.drop_index('ix_outbox_events_document_id', table_name='outbox_events')
    op.drop_index('ix_documents_org_time', table_name='documents')
