"""Extras entered against a sales order or a shipment (运费, 包装, 佣金, 其他): what an order cost
beyond its goods. Never edited: a correction is a reversal row of the opposite amount, so the
charges of a document always add up to what stands."""

from __future__ import annotations

import enum
from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin
from models.types import Money


class ChargeKind(enum.StrEnum):
    FREIGHT = "freight"  # 运费
    PACKAGING = "packaging"  # 包装
    COMMISSION = "commission"  # 佣金
    OTHER = "other"  # 其他


CHARGE_LABELS = {ChargeKind.FREIGHT: "运费", ChargeKind.PACKAGING: "包装", ChargeKind.COMMISSION: "佣金",
                 ChargeKind.OTHER: "其他"}


class OrderCharge(IdMixin, OrgMixin, CreatedMixin, Base):
    """One extra cost on a sales order (allocated to its shipments by revenue) or on a shipment."""

    __tablename__ = "order_charges"
    __table_args__ = (
        # The margin report reads one org's charges by document.
        Index("ix_order_charges_org_document", "org_id", "document_id"),
        CheckConstraint("amount <> 0", name="nonzero"),
    )

    document_id: Mapped[int] = mapped_column(BigId, ForeignKey("documents.id"))
    kind: Mapped[ChargeKind] = mapped_column(Enum(ChargeKind, native_enum=False, length=16))
    #: Positive for a charge, negative for its reversal.
    amount: Mapped[Decimal] = mapped_column(Money())
    #: The business date the cost arose (Asia/Shanghai).
    charged_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(256), default="")
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    #: On a reversal row: the charge it undoes (at most one reversal per charge).
    reverses_charge_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("order_charges.id"), unique=True)
