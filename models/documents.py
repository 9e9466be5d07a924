"""Business documents with state machines and human numbers."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin
from models.types import Money, Qty, ScaledDecimal, UnitCost, UTCDateTime


class DocKind(enum.StrEnum):
    RECEIPT = "receipt"  # 入库单 / 交货单
    SHIPMENT = "shipment"  # 出库单
    TRANSFER = "transfer"  # 调拨单
    COUNT = "count"  # 盘点单
    PURCHASE_ORDER = "purchase_order"  # 采购订单
    SALES_ORDER = "sales_order"  # 销售订单
    SETTLEMENT = "settlement"  # 付款单 (farmer settlement)
    MONEY_IN = "money_in"  # 收款单: money received from a customer (or any party)
    MONEY_OUT = "money_out"  # 付款单: money paid to a supplier or farmer
    OPENING = "opening"  # 期初入库: stock on hand when the books start (models.operations.opening_stock)


#: Chinese names of the document kinds: what a user filters by and reads on every screen and export
#: (the document list, a document's page, a lot's trace). One map, so two screens never name a kind apart.
DOC_KIND_LABELS: dict[DocKind, str] = {
    DocKind.RECEIPT: "入库单", DocKind.SHIPMENT: "出库单", DocKind.TRANSFER: "调拨单", DocKind.COUNT: "盘点单",
    DocKind.PURCHASE_ORDER: "采购订单", DocKind.SALES_ORDER: "销售订单", DocKind.SETTLEMENT: "结算付款单",
    DocKind.MONEY_IN: "收款单", DocKind.MONEY_OUT: "付款单", DocKind.OPENING: "期初入库",
}

#: Human number prefixes: RK-SX-20261123-0007.
DOC_PREFIX: dict[DocKind, str] = {
    DocKind.RECEIPT: "RK",
    DocKind.SHIPMENT: "CK",
    DocKind.TRANSFER: "DB",
    DocKind.COUNT: "PD",
    DocKind.PURCHASE_ORDER: "CG",
    DocKind.SALES_ORDER: "XS",
    DocKind.SETTLEMENT: "FK",
    DocKind.MONEY_IN: "SK",
    DocKind.MONEY_OUT: "FK",  # one 付款单 series with farmer settlements (one counter: numbers stay unique)
    DocKind.OPENING: "QC",  # 期初
}


class DocStatus(enum.StrEnum):
    DRAFT = "draft"
    POSTED = "posted"  # receipts, shipments, counts, settlements
    REVERSED = "reversed"
    # transfers
    REQUESTED = "requested"
    APPROVED = "approved"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    # orders
    CONFIRMED = "confirmed"
    PARTIAL = "partial"
    DONE = "done"


#: Allowed state changes; anything else is InvalidState.
TRANSITIONS: dict[DocKind, dict[DocStatus, set[DocStatus]]] = {
    DocKind.TRANSFER: {
        DocStatus.REQUESTED: {DocStatus.APPROVED, DocStatus.REJECTED, DocStatus.CANCELLED},
        DocStatus.APPROVED: {DocStatus.IN_TRANSIT, DocStatus.CANCELLED},
        DocStatus.IN_TRANSIT: {DocStatus.RECEIVED},
    },
    DocKind.PURCHASE_ORDER: {
        DocStatus.CONFIRMED: {DocStatus.PARTIAL, DocStatus.DONE, DocStatus.CANCELLED},
        DocStatus.PARTIAL: {DocStatus.PARTIAL, DocStatus.DONE},
    },
    DocKind.SALES_ORDER: {
        DocStatus.CONFIRMED: {DocStatus.PARTIAL, DocStatus.DONE, DocStatus.CANCELLED},
        DocStatus.PARTIAL: {DocStatus.PARTIAL, DocStatus.DONE},
    },
}
for _kind in (DocKind.RECEIPT, DocKind.SHIPMENT, DocKind.COUNT, DocKind.SETTLEMENT, DocKind.MONEY_IN,
              DocKind.MONEY_OUT, DocKind.OPENING):
    TRANSITIONS[_kind] = {DocStatus.POSTED: {DocStatus.REVERSED}}
#: A receipt above its plausibility limit waits as a draft until a second person confirms it.
TRANSITIONS[DocKind.RECEIPT][DocStatus.DRAFT] = {DocStatus.POSTED, DocStatus.CANCELLED}


class Document(IdMixin, OrgMixin, CreatedMixin, Base):
    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("org_id", "number"),
        # The margin report reads one org's shipments of a date range (the VAT summary its month's
        # receipts and shipments: the same index, created by whichever migration runs first).
        Index("ix_documents_org_kind_time", "org_id", "kind", "business_time"),
        # The console's document list filtered by business date alone.
        Index("ix_documents_org_time", "org_id", "business_time"),
    )

    kind: Mapped[DocKind] = mapped_column(Enum(DocKind, native_enum=False, length=16), index=True)
    number: Mapped[str] = mapped_column(String(48))
    status: Mapped[DocStatus] = mapped_column(Enum(DocStatus, native_enum=False, length=16))
    site_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sites.id"))
    #: Transfers: destination. In-transit site in `transit_site_id`.
    to_site_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sites.id"))
    transit_site_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sites.id"))
    party_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("parties.id"), index=True)
    business_time: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    total_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    tax_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(String(512), default="")
    #: The order a receipt or shipment fulfils, or the document a reversal undoes.
    source_document_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("documents.id"), index=True)
    reverses_document_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("documents.id"), index=True)
    decided_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Channel-specific extras (photo ids, transcript, client id): evidence, not state.
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: 发票号码 of the VAT invoice issued or received for it (set when posting or later, audited).
    invoice_number: Mapped[str | None] = mapped_column(String(32))

    lines: Mapped[list[DocumentLine]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="DocumentLine.line_no"
    )


class DocumentLine(IdMixin, OrgMixin, Base):
    __tablename__ = "document_lines"

    document_id: Mapped[int] = mapped_column(BigId, ForeignKey("documents.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"))
    lot_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("lots.id"))
    grade_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("grades.id"))
    #: In the item's base unit.
    quantity: Mapped[Decimal] = mapped_column(Qty())
    #: As the person entered it ("23.5" "斤"), for display and audit.
    entered_quantity: Mapped[Decimal | None] = mapped_column(Qty())
    entered_unit: Mapped[str | None] = mapped_column(String(16))
    unit_price: Mapped[Decimal] = mapped_column(UnitCost(), default=Decimal(0))
    amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    #: Orders and transfers: how much has been received / shipped / dispatched so far.
    done_quantity: Mapped[Decimal] = mapped_column(Qty(), default=Decimal(0))
    #: Counts: what the system held when counted.
    expected_quantity: Mapped[Decimal | None] = mapped_column(Qty())
    #: Receipts and shipments: the VAT rate applied (None before VAT was kept per line) and the
    #: line's tax (amount × rate, to the fen); the document's tax_amount is their sum.
    tax_rate: Mapped[Decimal | None] = mapped_column(ScaledDecimal(6, 4))
    tax_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")


class NumberSequence(Base):
    """Next number per (org, series, period). Allocated outside the posting transaction."""

    __tablename__ = "number_sequences"
    __table_args__ = (
        # A closed period's voucher counter (models.operations.closing): a posting that read "open"
        # before the close committed still cannot take a number, so it cannot land in the period.
        CheckConstraint("locked_through IS NULL OR last <= locked_through", name="open"),  # ck_number_sequences_open
    )

    org_id: Mapped[int] = mapped_column(BigId, ForeignKey("orgs.id"), primary_key=True)
    series: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
    #: Set while the period is closed: the last number it may hold.
    locked_through: Mapped[int | None] = mapped_column(Integer)
