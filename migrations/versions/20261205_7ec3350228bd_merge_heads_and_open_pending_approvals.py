"""merge the six heads into one, and open the approval of documents that were waiting for the relay

Revision ID: 7ec3350228bd
Revises: 3ce9ad77e8a0, 43e27205cea5, fb8fc9239d86, 3984b514b0ee, 88946b08d23f, f69ae50d19c6
Create Date: 2026-12-05 01:00:00

Approval requests used to be opened after commit by a relay handler; now the operation that
creates a transfer or a purchase order opens it in its own transaction, and a decision without a
request is refused (APPROVAL_NOT_OPENED). Documents created before this revision whose request the
relay had not opened yet would be stuck (transfers) or ungated (purchase orders): open them here,
with the organisation's chain, exactly as the operation would.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7ec3350228bd'
down_revision: str | Sequence[str] | None = (
    '3ce9ad77e8a0', '43e27205cea5', 'fb8fc9239d86', '3984b514b0ee', '88946b08d23f', 'f69ae50d19c6')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Waiting documents without a request (names are the enum names the columns store).
WAITING = sa.text(
    "SELECT d.id FROM documents d WHERE ((d.kind = 'TRANSFER' AND d.status = 'REQUESTED')"
    " OR (d.kind = 'PURCHASE_ORDER' AND d.status = 'CONFIRMED'))"
    " AND NOT EXISTS (SELECT 1 FROM approval_requests r WHERE r.document_id = d.id)"
)


def upgrade() -> None:
    bind = op.get_bind()
    waiting = [row[0] for row in bind.execute(WAITING)]
    if not waiting:  # a new database, or nothing was in flight: the models below are never touched
        return
    # Only on a live database at this very revision: the operations' own code opens the requests.
    from decimal import Decimal

    from sqlalchemy.orm import Session

    from models.documents import DocKind, Document
    from models.operations.approvals import open_approval, purchase_order_needs_approval

    session = Session(bind=bind)
    for doc in session.scalars(sa.select(Document).where(Document.id.in_(waiting))):
        if doc.kind == DocKind.TRANSFER:
            open_approval(session, doc.org_id, "transfer", doc.id,
                          sum((ln.quantity for ln in doc.lines), Decimal(0)), bool(doc.urgent))
        elif purchase_order_needs_approval(session, doc.org_id, doc.id, doc.total_amount):
            open_approval(session, doc.org_id, "purchase_order", doc.id, doc.total_amount)
    session.flush()


def downgrade() -> None:
    pass  # the opened requests are valid under the older code too
