"""models.units.to_base: what people enter (斤, 两, 吨, 箱 …) in an item's base unit, exactly."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from models.actor import Actor
from models.catalog import Dimension, Item
from models.errors import InvalidQuantity, UnknownUnit
from models.operations import CreateItem, create_item
from models.units import MAX_LINE_QUANTITY, to_base, units_for_item
from models.uow import run


@pytest.fixture
def session(session_factory):
    with session_factory() as s:
        yield s


def _item(session, demo, name: str) -> Item:
    return session.get_one(Item, demo.items[name])


@pytest.mark.parametrize(
    ("quantity", "unit", "kg"),
    [
        ("23.5", "斤", "11.75"),  # 1 斤 = 0.5 kg
        ("1", "市斤", "0.5"),
        ("3", "两", "0.15"),  # 1 两 = 50 g
        ("10", "两", "0.5"),  # 10 两 = 1 斤
        ("0.002", "吨", "2"),  # 1 吨 = 1000 kg
        ("1", "t", "1000"),
        ("250", "克", "0.25"),  # 1 克 = 0.001 kg
        ("1", "g", "0.001"),
        ("2.5", "千克", "2.5"),
        ("2.5", "kg", "2.5"),
        ("2.5", "公斤", "2.5"),  # the base unit itself
        ("2.5", None, "2.5"),  # no unit: the base unit
    ],
)
def test_mass_units_convert_to_kilograms(session, demo, quantity, unit, kg):
    leaf = _item(session, demo, "茶青")
    assert to_base(session, leaf, D(quantity), unit) == D(kg)


def test_mass_item_with_jin_as_base_unit_divides_factors(session_factory, demo):
    # An item kept in 斤: 1 公斤 = 1 / 0.5 = 2 斤, 1 两 = 0.05 / 0.5 = 0.1 斤, 1 吨 = 2000 斤.
    item_id = run(session_factory, create_item, Actor.system_actor(demo.org_id),
                  CreateItem(code="GC", name="干茶", base_unit="斤", dimension=Dimension.MASS))
    with session_factory() as session:
        item = session.get_one(Item, item_id)
        assert to_base(session, item, D(3), "公斤") == D(6)
        assert to_base(session, item, D(3), "两") == D("0.3")
        assert to_base(session, item, D("0.5"), "吨") == D(1000)
        assert to_base(session, item, D(7), "斤") == D(7)
        assert units_for_item(session, item)["克"] == D("0.002")


def test_pack_unit_multiplies_by_pack_factor(session, demo):
    jar = _item(session, demo, "龙井")
    assert to_base(session, jar, D(3), "箱") == D(60)  # 箱 = 20 罐
    assert to_base(session, jar, D("0.5"), "箱") == D(10)
    assert to_base(session, jar, D(7), "罐") == D(7)
    assert to_base(session, jar, D(7), None) == D(7)


def test_count_item_does_not_accept_mass_units(session, demo):
    jar = _item(session, demo, "龙井")
    with pytest.raises(UnknownUnit):
        to_base(session, jar, D(1), "斤")


def test_pack_of_one_item_is_not_a_unit_of_another(session, demo):
    leaf = _item(session, demo, "茶青")
    with pytest.raises(UnknownUnit):
        to_base(session, leaf, D(1), "箱")


def test_unknown_unit_error_lists_known_units(session, demo):
    leaf = _item(session, demo, "茶青")
    with pytest.raises(UnknownUnit) as exc:
        to_base(session, leaf, D(1), "筐")
    err = exc.value
    assert err.code == "UNKNOWN_UNIT"
    assert err.details["unit"] == "筐"
    assert {"公斤", "斤", "两", "吨", "克"} <= set(err.details["known"])
    assert "箱" not in err.details["known"]
    assert "筐" in err.message and "斤" in err.message and "两" in err.message

    jar = _item(session, demo, "龙井")
    with pytest.raises(UnknownUnit) as exc:
        to_base(session, jar, D(1), "筐")
    assert exc.value.details["known"] == ["箱", "罐"]
    assert "箱" in exc.value.message and "罐" in exc.value.message


@pytest.mark.parametrize(
    ("quantity", "unit"),
    [
        (D(0), None),
        (D(0), "斤"),
        (D(-1), "斤"),
        (D("-0.5"), None),
        (D("NaN"), None),
        (D("Infinity"), "斤"),
        (D("1001"), "吨"),  # 1,001,000 kg: a slip of the finger
        (MAX_LINE_QUANTITY + D("0.5"), None),
        (D("0.0001"), "克"),  # 1e-7 kg: finer than the ledger's 6 places
        (D("0.0000001"), None),
    ],
)
def test_rejects_zero_negative_absurd_and_overprecise_quantities(session, demo, quantity, unit):
    leaf = _item(session, demo, "茶青")
    with pytest.raises(InvalidQuantity):
        to_base(session, leaf, quantity, unit)


def test_float_is_not_a_quantity(session, demo):
    leaf = _item(session, demo, "茶青")
    with pytest.raises(InvalidQuantity):
        to_base(session, leaf, 1.5, None)  # type: ignore[arg-type]


def test_upper_bound_is_inclusive_and_finest_grain_is_one_gram(session, demo):
    leaf = _item(session, demo, "茶青")
    assert to_base(session, leaf, D(1000), "吨") == MAX_LINE_QUANTITY  # exactly 1,000,000 kg is allowed
    assert to_base(session, leaf, D(1), "克") == D("0.001")
    assert to_base(session, leaf, D("0.001"), "克") == D("0.000001")
