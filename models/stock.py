"""Lots, the append-only stock ledger, balances, freezes and reservations."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin, utcnow
from models.types import Money, Qty, UnitCost, UTCDateTime


class QcStatus(enum.StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


class Lot(IdMixin, OrgMixin, CreatedMixin, Base):
    __tablename__ = "lots"
    __table_args__ = (
        UniqueConstraint("org_id", "item_id", "code"),
        # The few QC-failed lots (held stock, the to-dos' availability): found without reading every lot.
        Index("ix_lots_org_qc_failed", "org_id", postgresql_where=text("qc_status = 'FAILED'"),
              sqlite_where=text("qc_status = 'FAILED'")),
        # Lots near expiry (首页) walked soonest first, stopping at the page's limit.
        Index("ix_lots_org_expiry", "org_id", "expires_on", "id", postgresql_where=text("expires_on IS NOT NULL"),
              sqlite_where=text("expires_on IS NOT NULL")),
    )

    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"), index=True)
    code: Mapped[str] = mapped_column(String(48))
    received_on: Mapped[date | None] = mapped_column(Date)
    produced_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    origin_party_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("parties.id"))
    grade_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("grades.id"))
    qc_status: Mapped[QcStatus] = mapped_column(
        Enum(QcStatus, native_enum=False, length=8), default=QcStatus.PENDING
    )


class StockMove(OrgMixin, Base):
    """One line of the ledger. Never updated or deleted: a correction is a reversing move.

    Ids are global UUIDs (a phone or an edge box may mint them offline), so two ledgers
    that diverged merge by set union.
    """

    __tablename__ = "stock_moves"
    __table_args__ = (
        Index("ix_stock_moves_item_site_lot", "item_id", "site_id", "lot_id"),
        # A lot's ledger in time order (the lot's trace from farmer to shelf).
        Index("ix_stock_moves_lot_time", "lot_id", "business_time"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"))
    lot_id: Mapped[int] = mapped_column(BigId, ForeignKey("lots.id"))
    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id"))
    #: Signed, in the item's base unit: receipts positive, issues negative.
    quantity: Mapped[Decimal] = mapped_column(Qty())
    unit_cost: Mapped[Decimal] = mapped_column(UnitCost())
    #: Signed inventory value this move adds; kept explicitly so Σ value is exact.
    value: Mapped[Decimal] = mapped_column(Money())
    document_id: Mapped[int] = mapped_column(BigId, ForeignKey("documents.id"), index=True)
    #: When it happened in the world (may lie in the past for offline entries).
    business_time: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    origin_node: Mapped[str] = mapped_column(String(64), default="server")
    reverses_move_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("stock_moves.id"))


class Balance(IdMixin, OrgMixin, Base):
    """Σ of the ledger per (item, site, lot), kept in the same transaction as its moves."""

    __tablename__ = "balances"
    __table_args__ = (
        UniqueConstraint("item_id", "site_id", "lot_id"),
        Index("ix_balances_item_site", "item_id", "site_id"),
        # The console's stock list pages through one org's (site, item) pairs in this order.
        Index("ix_balances_org_site_item", "org_id", "site_id", "item_id"),
        # A lot's balances (near-expiry lots probe them lot by lot). No predicate on on_hand: an index
        # reading on_hand would make every balance update non-HOT on PostgreSQL.
        Index("ix_balances_lot", "lot_id"),
    )

    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"))
    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id"))
    lot_id: Mapped[int] = mapped_column(BigId, ForeignKey("lots.id"))
    on_hand: Mapped[Decimal] = mapped_column(Qty(), default=Decimal(0))
    #: Promised to sales orders; not available to other shipments.
    reserved: Mapped[Decimal] = mapped_column(Qty(), default=Decimal(0))
    value: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))


class FreezeDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    BOTH = "both"


class Freeze(IdMixin, OrgMixin, CreatedMixin, Base):
    """Stops an item or a lot at a site (or everywhere) from moving in, out, or both."""

    __tablename__ = "freezes"

    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"), index=True)
    #: None: every site.
    site_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sites.id"))
    #: None: every lot of the item.
    lot_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("lots.id"))
    direction: Mapped[FreezeDirection] = mapped_column(Enum(FreezeDirection, native_enum=False, length=8))
    reason: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))


class Reservation(IdMixin, OrgMixin, CreatedMixin, Base):
    """Stock promised to a sales order, lot by lot; consumed by shipping or released."""

    __tablename__ = "reservations"

    document_id: Mapped[int] = mapped_column(BigId, ForeignKey("documents.id"), index=True)
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"))
    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id"))
    lot_id: Mapped[int] = mapped_column(BigId, ForeignKey("lots.id"))
    quantity: Mapped[Decimal] = mapped_column(Qty())
    active: Mapped[bool] = mapped_column(Boolean, default=True)
