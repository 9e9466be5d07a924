"""Items (SKUs), their units and conversions, and grades with prices."""

from __future__ import annotations

import enum
from decimal import Decimal

from sqlalchemy import Boolean, Enum, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin
from models.types import Money, ScaledDecimal, UnitCost


class Dimension(enum.StrEnum):
    MASS = "mass"
    COUNT = "count"


class Unit(IdMixin, OrgMixin, Base):
    """A unit of measure an organisation accepts, with its factor to the dimension's SI base."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    name: Mapped[str] = mapped_column(String(16))
    dimension: Mapped[Dimension] = mapped_column(Enum(Dimension, native_enum=False, length=8))
    #: Mass units: kilograms per unit (斤 = 0.5). Count units: 1.
    factor: Mapped[Decimal] = mapped_column(ScaledDecimal(20, 6))


class Item(IdMixin, OrgMixin, CreatedMixin, Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    #: The unit every stock move is kept in (公斤 for fresh leaf, 罐 for packed tea).
    base_unit: Mapped[str] = mapped_column(String(16))
    dimension: Mapped[Dimension] = mapped_column(Enum(Dimension, native_enum=False, length=8))
    shelf_life_days: Mapped[int | None] = mapped_column(Integer)
    #: Other names people type or say for it ("龙井" for "龙井 250g 罐").
    aliases: Mapped[str] = mapped_column(String(256), default="")
    sale_price: Mapped[Decimal | None] = mapped_column(UnitCost())
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: VAT rate (0.13, 0.09, 0 …); None: the party's or the org's applies (models.vat).
    vat_rate: Mapped[Decimal | None] = mapped_column(ScaledDecimal(6, 4))

    packs: Mapped[list[ItemUnit]] = relationship(lazy="selectin", cascade="all, delete-orphan")
    grades: Mapped[list[Grade]] = relationship(lazy="selectin", cascade="all, delete-orphan")


class ItemUnit(IdMixin, OrgMixin, Base):
    """An item-specific pack: 箱 = 20 罐 for one item, 箱 = 12 瓶 for another."""

    __tablename__ = "item_units"
    __table_args__ = (UniqueConstraint("item_id", "name"),)

    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"), index=True)
    name: Mapped[str] = mapped_column(String(16))
    #: How many base units one of these holds.
    factor: Mapped[Decimal] = mapped_column(ScaledDecimal(20, 6))


class Grade(IdMixin, OrgMixin, Base):
    __tablename__ = "grades"
    __table_args__ = (UniqueConstraint("item_id", "name"),)

    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"), index=True)
    name: Mapped[str] = mapped_column(String(16))
    #: Purchase price per base unit paid to farmers for this grade.
    purchase_price: Mapped[Decimal] = mapped_column(UnitCost())
    rank: Mapped[int] = mapped_column(Integer, default=0)


__all__ = ["Dimension", "Grade", "Item", "ItemUnit", "Money", "Unit"]
