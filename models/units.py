"""Convert what people enter (23.5 斤, 3 箱) into an item's base unit, exactly."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.catalog import Dimension, Item, Unit
from models.errors import InvalidQuantity, UnknownUnit

#: Above this many base units in one line we assume a slip of the tongue or the finger.
MAX_LINE_QUANTITY = Decimal(1_000_000)


def units_for_item(session: Session, item: Item) -> dict[str, Decimal]:
    """Return every unit name accepted for ``item`` with its factor to the item's base unit."""
    mass: dict[str, Decimal] = {}
    if item.dimension == Dimension.MASS:
        mass = {u.name: u.factor for u in session.scalars(
            select(Unit).where(Unit.org_id == item.org_id, Unit.dimension == Dimension.MASS))}
    return item_unit_factors(item, mass)


def item_unit_factors(item: Item, mass_units: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """The factors of :func:`units_for_item` given the org's mass units (name → kilograms)."""
    factors: dict[str, Decimal] = {item.base_unit: Decimal(1)}
    if item.dimension == Dimension.MASS:
        base_kg = mass_units.get(item.base_unit)
        if base_kg:
            factors.update({name: kg / base_kg for name, kg in mass_units.items()})
    for pack in item.packs:
        factors[pack.name] = pack.factor
    return factors


def to_base(session: Session, item: Item, quantity: Decimal, unit: str | None) -> Decimal:
    """Return ``quantity`` of ``unit`` in the item's base unit; reject unknown units and absurd amounts."""
    return base_quantity(item.id, item.name, item.base_unit, quantity, unit, lambda: units_for_item(session, item))


def base_quantity(item_id: int, item_name: str, base_unit: str, quantity: Decimal, unit: str | None,
                  factors_of: Callable[[], Mapping[str, Decimal]]) -> Decimal:
    """:func:`to_base` over an item's unit factors however they were read (the ORM, a catalog snapshot)."""
    if not isinstance(quantity, Decimal) or not quantity.is_finite():
        raise InvalidQuantity("数量必须是数字", quantity=str(quantity))
    if unit is None or unit == base_unit:
        base = quantity
    else:
        factors = factors_of()
        if unit not in factors:
            raise UnknownUnit(
                f"{item_name} 不认识单位“{unit}”，可用：{'、'.join(sorted(factors))}",
                unit=unit, item_id=item_id, known=sorted(factors),
            )
        base = quantity * factors[unit]
    if base <= 0:
        raise InvalidQuantity("数量必须大于零", quantity=str(quantity))
    if base > MAX_LINE_QUANTITY:
        raise InvalidQuantity(f"数量过大：{quantity}{unit or base_unit}，请核对", quantity=str(quantity))
    rounded = base.quantize(Decimal("0.000001"))
    if rounded != base:
        raise InvalidQuantity("数量精度过高", quantity=str(quantity))
    return rounded
