"""merge the six heads into one, and open the approval of documents that were waiting for the relay

Revision ID: 7ec3350228bd
Revises: 3ce9ad77e8a0, 43e27205cea5, fb8fc9239d86, 3984b514b0ee, 88946b08d23f, f69ae50d19c6
Create Date: 2026-12-05 01:00:00

Approval requests used to be opened after commit by a relay handler; now the operation that
creates a transfer or a purchase order opens it in its own transaction, and a decision without a
request is refused (APPROVAL_NOT_OPENED). Documents created before this revision whose request the
relay had not opened yet would be stuck (transfers) or ungated (purchase orders): open them here,
with the organisation's chain, as the operation would. Plain SQL over the tables as they stand at
this revision: the live models would break this step once a later revision adds a column.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = '7ec3350228bd'
down_revision: str | Sequence[str] | None = (
    '3ce9ad77e8a0', '43e27205cea5', 'fb8fc9239d86', '3984b514b0ee', '88946b08d23f', 'f69ae50d19c6')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
Scaled = models.types.ScaledDecimal

# The tables as they stand at this revision (never the live models: a later column would break it).
documents = sa.table('documents', sa.column('id', BigId), sa.column('org_id', BigId), sa.column('kind', sa.String),
                     sa.column('status', sa.String), sa.column('urgent', sa.Boolean),
                     sa.column('total_amount', Scaled(18, 2)))
document_lines = sa.table('document_lines', sa.column('document_id', BigId), sa.column('quantity', Scaled(20, 6)))
orgs = sa.table('orgs', sa.column('id', BigId), sa.column('settings', sa.JSON))
chains = sa.table('approval_chains', sa.column('id', BigId), sa.column('org_id', BigId),
                  sa.column('doc_kind', sa.String), sa.column('min_value', Scaled(18, 2)),
                  sa.column('urgent', sa.Boolean), sa.column('steps', sa.JSON), sa.column('active', sa.Boolean))
suggestions = sa.table('replenishment_suggestions', sa.column('document_id', BigId))
requests = sa.table('approval_requests', sa.column('id', BigId), sa.column('org_id', BigId),
                    sa.column('created_at', models.types.UTCDateTime()),
                    sa.column('doc_kind', sa.String), sa.column('document_id', BigId), sa.column('chain_id', BigId),
                    sa.column('steps', sa.JSON), sa.column('step', sa.Integer), sa.column('status', sa.String),
                    sa.column('history', sa.JSON), sa.column('card_track_id', sa.String),
                    sa.column('card_version', sa.Integer))
outbox = sa.table('outbox_events', sa.column('id', sa.Uuid), sa.column('org_id', BigId), sa.column('kind', sa.String),
                  sa.column('document_id', BigId), sa.column('payload', sa.JSON), sa.column('attempts', sa.Integer),
                  sa.column('created_at', models.types.UTCDateTime()))

#: The default chains at this revision (models.operations.approvals.DEFAULT_CHAINS then).
DEFAULT_CHAINS: dict[str, list[dict[str, Any]]] = {
    "transfer": [{"role": "manager", "timeout_hours": 24}],
    "transfer.urgent": [{"role": "manager", "timeout_hours": 2}, {"role": "director", "timeout_hours": 2}],
    "purchase_order": [{"role": "manager", "timeout_hours": 24}, {"role": "director", "timeout_hours": 48}],
}
PO_APPROVAL_THRESHOLD = Decimal(10_000)


def _steps(bind: Any, org_id: int, doc_kind: str, value: Decimal, urgent: bool) -> tuple[int | None, list[Any]]:
    """The org's most specific active chain for the document, else the default (as choose_steps did)."""
    value = value.quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    rows = bind.execute(sa.select(chains.c.id, chains.c.min_value, chains.c.urgent, chains.c.steps).where(
        chains.c.org_id == org_id, chains.c.doc_kind == doc_kind, chains.c.active.is_(True),
        chains.c.min_value <= value)).all()
    fitting = [r for r in rows if r.urgent is None or r.urgent == urgent]
    if fitting:
        best = max(fitting, key=lambda r: (r.urgent is not None, r.min_value, r.id))
        return best.id, list(best.steps)
    key = f"{doc_kind}.urgent" if urgent and f"{doc_kind}.urgent" in DEFAULT_CHAINS else doc_kind
    return None, list(DEFAULT_CHAINS[key])


def _threshold(bind: Any, org_id: int) -> Decimal:
    raw = (bind.execute(sa.select(orgs.c.settings).where(orgs.c.id == org_id)).scalar() or {}).get(
        "po_approval_threshold")
    try:
        value = Decimal(str(raw)) if raw is not None and not isinstance(raw, bool) else PO_APPROVAL_THRESHOLD
    except ArithmeticError:
        return PO_APPROVAL_THRESHOLD
    return value if value.is_finite() and value > 0 else PO_APPROVAL_THRESHOLD


def upgrade() -> None:
    bind = op.get_bind()
    waiting = bind.execute(sa.select(documents).where(
        sa.or_(sa.and_(documents.c.kind == 'TRANSFER', documents.c.status == 'REQUESTED'),
               sa.and_(documents.c.kind == 'PURCHASE_ORDER', documents.c.status == 'CONFIRMED')),
        ~sa.exists().where(requests.c.document_id == documents.c.id))).all()
    now = datetime.now(UTC)
    for doc in waiting:
        if doc.kind == 'TRANSFER':
            kind = "transfer"
            value = bind.execute(sa.select(document_lines.c.quantity).where(
                document_lines.c.document_id == doc.id)).scalars().all()
            value = sum(value, Decimal(0))
        else:
            kind, value = "purchase_order", doc.total_amount
            suggested = bind.execute(sa.select(suggestions.c.document_id).where(
                suggestions.c.document_id == doc.id)).first() is not None
            if value < _threshold(bind, doc.org_id) and not suggested:
                continue
        chain_id, steps = _steps(bind, doc.org_id, kind, value, bool(doc.urgent) and kind == "transfer")
        bind.execute(requests.insert().values(
            org_id=doc.org_id, created_at=now, doc_kind=kind, document_id=doc.id, chain_id=chain_id, steps=steps,
            step=0, status='PENDING', history=[], card_track_id=f"appr-{kind}-{doc.id}", card_version=0))
        request_id = bind.execute(sa.select(requests.c.id).where(
            requests.c.doc_kind == kind, requests.c.document_id == doc.id)).scalar()
        bind.execute(outbox.insert().values(
            id=uuid.uuid4(), org_id=doc.org_id, kind="approval.opened", document_id=doc.id, attempts=0,
            created_at=now, payload={"request_id": request_id, "doc_kind": kind, "document_id": doc.id, "step": 0,
                                     "urgent": bool(doc.urgent)}))


def downgrade() -> None:
    pass  # the opened requests are valid under the older code too
