"""发票号码 on a receipt or shipment: set when posting (ReceiveGoods/ShipGoods ``invoice_number``) or
afterwards here, when the VAT invoice is issued or arrives. Audited: it is what ties a document to
the tax return. E-invoicing gateways are out of scope; this only keeps the number."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.documents import DocKind, DocStatus, Document
from models.errors import InvalidState
from models.idempotency import idempotent
from models.lookup import get_owned
from models.vat import check_invoice_number

#: Documents that carry VAT (进项 on receipts, 销项 on shipments).
INVOICED_KINDS = (DocKind.RECEIPT, DocKind.SHIPMENT)


@dataclass(frozen=True)
class SetInvoiceNumber:
    document_id: int
    #: None or "" clears it.
    invoice_number: str | None
    reason: str = ""


@dataclass(frozen=True)
class InvoiceNumber:
    document_id: int
    number: str
    invoice_number: str | None
    previous: str | None


@idempotent("document.invoice_number")
def set_invoice_number(session: Session, actor: Actor, cmd: SetInvoiceNumber) -> InvoiceNumber:
    """Record (or correct, or clear) the invoice number of a posted receipt or shipment."""
    actor.require(Permission.SETTLE)
    invoice_number = check_invoice_number(cmd.invoice_number)
    doc = get_owned(session, Document, cmd.document_id, actor.org_id, lock=True)
    if doc.kind not in INVOICED_KINDS or doc.status not in (DocStatus.POSTED, DocStatus.REVERSED):
        raise InvalidState(f"{doc.number} 不是已记账的入库单或出库单，不能登记发票号码", number=doc.number)
    previous = doc.invoice_number
    doc.invoice_number = invoice_number
    record_audit(session, actor, "document.invoice_number", "document", doc.id,
                 before={"invoice_number": previous}, after={"invoice_number": invoice_number, "number": doc.number},
                 reason=cmd.reason.strip())
    return InvoiceNumber(document_id=doc.id, number=doc.number, invoice_number=invoice_number, previous=previous)
