"""Column types that keep quantities, money and times exact on every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class ScaledDecimal(TypeDecorator[Decimal]):
    """A Decimal with a fixed scale: NUMERIC on PostgreSQL, a scaled integer on SQLite.

    SQLite has no exact decimal type (NUMERIC affinity stores REAL), so there we store
    ``value * 10**scale`` as an integer: SUM and comparisons stay exact in SQL.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)  # every value bound or read: made once

    def __repr__(self) -> str:
        return f"ScaledDecimal({self.precision}, {self.scale})"

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        dec = value if isinstance(value, Decimal) else Decimal(str(value))
        if dec != dec.quantize(self._quantum):
            raise ValueError(f"{dec} has more than {self.scale} decimal places")
        if dialect.name == "sqlite":
            return int(dec.scaleb(self.scale))
        return dec

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale).quantize(self._quantum)
        return Decimal(value).quantize(self._quantum)


def Qty() -> ScaledDecimal:
    """Quantity in an item's base unit: up to 1 g when the base is kg."""
    return ScaledDecimal(20, 6)


def Money() -> ScaledDecimal:
    """Money in yuan, to the fen."""
    return ScaledDecimal(18, 2)


def UnitCost() -> ScaledDecimal:
    """Price or cost per base unit."""
    return ScaledDecimal(20, 6)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def __repr__(self) -> str:
        return "UTCDateTime()"

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
