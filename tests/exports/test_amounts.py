"""大写: the capital amount on vouchers, delivery notes and statements."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exports.amounts import money_text, quantity_text, rmb_upper


@pytest.mark.parametrize("amount, words", [
    ("0.00", "零元整"),
    ("0.05", "伍分"),
    ("0.50", "伍角"),
    ("1.05", "壹元零伍分"),
    ("10.30", "壹拾元叁角"),
    ("20.08", "贰拾元零捌分"),
    ("1001.00", "壹仟零壹元整"),
    ("10005.00", "壹万零伍元整"),
    ("100010.50", "壹拾万零壹拾元伍角"),
    ("1010000.00", "壹佰零壹万元整"),
    ("1000000.01", "壹佰万元零壹分"),
    ("100000000.00", "壹亿元整"),
    ("100000001.00", "壹亿零壹元整"),
    ("999999999999.99", "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
    ("-5.00", "负伍元整"),
    ("1.005", "壹元零壹分"),  # rounded to the fen half-up first
    ("1.004", "壹元整"),
])
def test_capital_amounts(amount, words):
    assert rmb_upper(D(amount)) == words


@given(st.decimals(min_value=0, max_value=D("999999999999.99"), places=2, allow_nan=False, allow_infinity=False))
def test_the_capital_amount_ends_as_the_fen_say(amount):
    words = rmb_upper(amount)
    assert set(words) <= set("零壹贰叁肆伍陆柒捌玖拾佰仟万亿元角分整")
    jiao, fen = divmod(int(amount * 100) % 100, 10)
    assert words.endswith("分" if fen else "角" if jiao else "整")
    assert ("元" in words) == (amount >= 1 or amount == 0)


def test_figures():
    assert money_text(D("1234567.5")) == "1,234,567.50"
    assert quantity_text(D("11.750000")) == "11.75" and quantity_text(D("500.000000")) == "500"
    with pytest.raises(ValueError):
        rmb_upper(D("NaN"))
