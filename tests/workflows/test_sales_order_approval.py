"""A sales order sent for approval (thin margin): its card goes to the manager with the preview, and
a rejection cancels the order and releases its reservation."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

import workflows.handlers  # noqa: F401  (register relay handlers)
from models.approvals import ApprovalRequest
from models.documents import DocKind, DocStatus, Document
from models.operations import CreateOrder, OrderLineIn, create_order
from models.operations.approvals import DecideApproval, decide_approval
from models.stock import Reservation
from models.uow import run
from tests.factories import drain, receive


def test_a_rejected_sales_order_is_cancelled(session_factory, demo, actors):
    receive(session_factory, demo, 20)
    thin = run(session_factory, create_order, actors["赵经理"], CreateOrder(
        DocKind.SALES_ORDER, demo.sites["ZC"], demo.parties["杭州茶城"],
        (OrderLineIn(demo.items["茶青"], Decimal(5), unit_price=Decimal(81)),)))
    assert thin.approval_reasons
    drain(session_factory)
    with session_factory() as s:
        req = s.scalar(select(ApprovalRequest).where(ApprovalRequest.doc_kind == "sales_order",
                                                     ApprovalRequest.document_id == thin.document_id))
        assert s.get_one(Document, thin.document_id).extra["margin_preview"]["margin_pct"] == "1.2"
    # The creator (赵经理) may not decide it; the director may, and rejects.
    view = run(session_factory, decide_approval, actors["钱总监"], DecideApproval(req.id, False, "价格太低"))
    assert view.status == "rejected"
    drain(session_factory)
    with session_factory() as s:
        assert s.get_one(Document, thin.document_id).status == DocStatus.CANCELLED
        assert not s.scalars(select(Reservation).where(Reservation.document_id == thin.document_id,
                                                       Reservation.active.is_(True))).all()
