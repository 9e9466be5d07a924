"""models.quantity: Chinese quantities -> exact Decimal amounts in the base unit."""

from __future__ import annotations

from decimal import Decimal

import cn2an
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.errors import (
    InvalidQuantity,
    QuantityAmbiguous,
    QuantityApproximate,
    QuantityCorrectionUnclear,
    QuantityUnitMissing,
    UnknownUnit,
)
from models.quantity import MASS_UNITS_KG, ParsedQuantity, QuantityPart, parse_quantity

# Typed, spoken and chat text go through the one parser; these names say which kind a test feeds it.
extract_spoken_quantity = parse_quantity

PACK = {"罐": Decimal(1), "箱": Decimal(20)}
D = Decimal


@pytest.mark.parametrize(
    ("text", "base"),
    [
        ("23.5公斤", D("23.5")),
        ("23.5 kg", D("23.5")),
        ("23.5KG", D("23.5")),
        ("２３．５公斤", D("23.5")),  # full-width digits and point
        ("23.5\u3000公斤", D("23.5")),  # full-width space
        ("\u300023.5公斤\u3000", D("23.5")),
        ("二十三斤半", D("11.75")),  # 半 after a unit adds half of that unit
        ("半斤", D("0.25")),
        ("斤半", D("0.75")),  # 一斤半
        ("一斤半", D("0.75")),
        ("三斤二两", D("1.6")),
        ("一百零五斤", D("52.5")),
        ("两吨半", D(2500)),
        ("两斤", D(1)),  # 两 before a unit: the numeral 2
        ("二两", D("0.1")),  # 两 after a number: the unit
        ("3两", D("0.15")),
        ("十两", D("0.5")),
        ("两千两百斤", D(1100)),
        ("二十三点五公斤", D("23.5")),
        ("1万斤", D(5000)),
        ("一万斤", D(5000)),
        ("0.5吨", D(500)),
        ("三千克", D(3)),  # longest unit: 千克, not 三千 克
        ("23.5千克", D("23.5")),
        ("3市斤", D("1.5")),  # 市斤, not 市 + 斤
        ("500克", D("0.5")),
        ("5kG", D(5)),
        ("廿三斤", D("11.5")),  # 廿 = 二十, never dropped
        ("卅斤", D(15)),
        ("一吨二", D(1200)),  # tenths of 吨, as 两吨半 is 2.5 吨
        ("一斤二", D("0.6")),  # 一斤二两: the 斤两 convention
        ("三斤二", D("1.6")),
    ],
)
def test_parse_mass(text: str, base: Decimal) -> None:
    assert parse_quantity(text).base == base


def test_parse_keeps_parts_and_aliases() -> None:
    q = parse_quantity("23.5 kg")
    assert q.parts == (QuantityPart(D("23.5"), "公斤"),)
    assert (q.value, q.unit, q.text) == (D("23.5"), "公斤", "23.5 kg")
    half = parse_quantity("二十三斤半")
    assert (half.value, half.unit) == (D("23.5"), "斤")
    mixed = parse_quantity("三斤二两")
    assert mixed.parts == (QuantityPart(D(3), "斤"), QuantityPart(D(2), "两"))
    assert (mixed.value, mixed.unit) == (D("1.6"), "公斤")  # several parts: reported in the base unit


def test_results_are_decimal_and_tidy() -> None:
    q = parse_quantity("两吨半")
    assert isinstance(q.base, Decimal)
    assert str(q.base) == "2500"  # no exponent form such as 2.5E+3 leaking into messages
    assert all(isinstance(p.value, Decimal) for p in q.parts)


@pytest.mark.parametrize(
    ("text", "base"), [("3箱", D(60)), ("3箱2罐", D(62)), ("两箱", D(40)), ("3 箱 2 罐", D(62))]
)
def test_parse_pack_units(text: str, base: Decimal) -> None:
    q = parse_quantity(text, PACK, base_unit="罐")
    assert q.base == base


def test_pack_units_merged_with_mass() -> None:
    units = {**MASS_UNITS_KG, "袋": D(25)}
    assert parse_quantity("2袋3公斤", units).base == D(53)


def test_multi_part_reports_base_unit_name() -> None:
    q = parse_quantity("3箱2罐", PACK, base_unit="罐")
    assert (q.value, q.unit) == (D(62), "罐")


def test_unknown_unit() -> None:
    with pytest.raises(UnknownUnit) as e:
        parse_quantity("三桶")
    assert e.value.details["unit"] == "桶"
    assert "桶" in e.value.message
    with pytest.raises(UnknownUnit):
        parse_quantity("3 boxes")
    with pytest.raises(UnknownUnit):  # pack items have no 两: 二两 is not silently 22
        parse_quantity("二两", PACK)


def test_an_unknown_pack_word_after_a_space_is_refused_not_read_in_the_default_unit() -> None:
    # A typed field with a unit picker: "3 袋" must not become 3 公斤.
    for text in ("3 袋", "3 筐", "20　箱"):
        with pytest.raises(UnknownUnit):
            parse_quantity(text, default_unit="公斤")
    assert parse_quantity("3 箱", PACK, base_unit="罐").base == D(60)  # a pack the item has still reads
    assert parse_quantity("茶青 20 特级", default_unit="公斤").base == D(20)  # a grade after a space is a name


@pytest.mark.parametrize(
    "text",
    [
        "很多", "", "   ", "0斤", "零斤", "-3斤", "负三斤", "3斤-1两", "3斤0两", "0.0000001公斤",
        "20000000000斤", "二两三斤", "一公斤二", "斤", "3-5斤", "1" * 80 + "斤", "七八斤", "两块五",
    ],
)
def test_invalid_quantity(text: str) -> None:
    with pytest.raises(InvalidQuantity):
        parse_quantity(text)


def test_six_decimal_places_in_base_is_the_limit() -> None:
    assert parse_quantity("0.000001公斤").base == D("0.000001")
    assert parse_quantity("0.001克").base == D("0.000001")
    with pytest.raises(InvalidQuantity):
        parse_quantity("0.0001克")
    assert parse_quantity("20亿斤").base == D(10) ** 9
    with pytest.raises(InvalidQuantity):
        parse_quantity("1000001吨")


def test_bare_number_needs_a_unit() -> None:
    with pytest.raises(InvalidQuantity) as e:
        parse_quantity("23.5")
    assert "单位" in e.value.message
    assert parse_quantity("23.5", default_unit="斤").base == D("11.75")
    assert parse_quantity("两", default_unit="斤").base == D(1)
    assert parse_quantity("3", PACK, default_unit="箱", base_unit="罐").base == D(60)
    with pytest.raises(UnknownUnit):
        parse_quantity("3", default_unit="桶")


def test_errors_carry_code_and_chinese_message() -> None:
    with pytest.raises(InvalidQuantity) as e:
        parse_quantity("很多")
    assert e.value.to_dict()["code"] == "INVALID_QUANTITY"
    assert e.value.details["text"] == "很多"


def test_chat_text_skips_grade_and_names() -> None:
    q = parse_quantity("入库 茶青 一级 23.5公斤 王阿姨")
    assert q.base == D("23.5")
    assert q.text == "23.5公斤"


def test_chat_pack_units() -> None:
    q = parse_quantity("调拨 龙井 3箱 总仓→门店", PACK, base_unit="罐")
    assert (q.text, q.base) == ("3箱", D(60))


def test_two_different_quantities_are_asked_back() -> None:
    with pytest.raises(QuantityAmbiguous) as e:
        parse_quantity("茶青 3桶 二十三斤半，另 500g")
    assert [c["text"] for c in e.value.details["candidates"]] == ["二十三斤半", "500g"]
    assert [q.base for q in e.value.candidates] == [D("11.75"), D("0.5")]


def test_text_survives_full_width() -> None:
    q = parse_quantity("入库\u3000２３．５ｋｇ")
    assert q.text == "２３．５ｋｇ"
    assert q.base == D("23.5")


def test_bare_numbers_are_never_a_quantity() -> None:
    with pytest.raises(QuantityUnitMissing):
        parse_quantity("编号 12 一级 二")
    with pytest.raises(UnknownUnit) as e:
        parse_quantity("3 good")  # "g" must not match the start of "good"
    assert e.value.details["unit"] == "good"


def test_impossible_amounts_are_refused_loudly() -> None:
    with pytest.raises(InvalidQuantity):
        parse_quantity("入库 0斤")
    with pytest.raises(QuantityUnitMissing):
        parse_quantity("入库 一公斤二")  # 二 of what? never drop it silently


@pytest.mark.parametrize(
    ("transcript", "base"),
    [
        ("二 十 三 斤 半", D("11.75")),
        ("嗯 那个 二十三斤 啊", D("11.5")),
        ("呃，就是 三斤二两 啊", D("1.6")),
        ("二十三 不对 二十四斤", D(12)),
        ("二十三斤 错了 二十四斤", D(12)),
        ("二十四斤 不对 二十三", D("11.5")),  # the bare correction keeps the corrected unit
        ("改成 两吨半", D(2500)),
        ("一级 二十斤 王二", D(10)),
        ("二十斤 二十斤", D(10)),  # an exact repeat
    ],
)
def test_extract_spoken(transcript: str, base: Decimal) -> None:
    assert extract_spoken_quantity(transcript).base == base


@pytest.mark.parametrize(
    ("transcript", "error"),
    [
        ("十斤 二十斤", QuantityAmbiguous),  # no correction marker: ask, never take one of them
        ("嗯 那个 二十三斤 左右", QuantityApproximate),
        ("呃，大概 就是 三斤二两 啊", QuantityApproximate),
        ("二十斤 不对", QuantityCorrectionUnclear),
    ],
)
def test_extract_spoken_unsure(transcript: str, error: type) -> None:
    with pytest.raises(error):
        extract_spoken_quantity(transcript)


def test_extract_spoken_text_points_into_transcript() -> None:
    q = extract_spoken_quantity("二十三 不对 二十四 斤")
    assert q.text == "二十四 斤"


def test_extract_spoken_bare_uses_default_unit() -> None:
    assert extract_spoken_quantity("嗯 二十三", default_unit="斤").base == D("11.5")
    assert extract_spoken_quantity("三 不对 五", PACK, default_unit="箱", base_unit="罐").base == D(100)
    with pytest.raises(InvalidQuantity):
        extract_spoken_quantity("二十三")


@pytest.mark.parametrize("transcript", ["", "嗯 啊", "那个 很多", "二十斤 不对"])
def test_extract_spoken_nothing_heard(transcript: str) -> None:
    with pytest.raises(InvalidQuantity):
        extract_spoken_quantity(transcript)


def test_extract_spoken_unknown_unit_is_not_a_quantity() -> None:
    # The recogniser puts spaces between words: "三 桶" is the same utterance as "三桶".
    for spoken in ("三 桶", "三桶"):
        with pytest.raises(UnknownUnit):
            extract_spoken_quantity(spoken)


def test_parsed_quantity_is_frozen() -> None:
    q = parse_quantity("1斤")
    assert isinstance(q, ParsedQuantity)
    with pytest.raises(AttributeError):
        q.base = D(2)  # type: ignore[misc]


def test_default_units_cannot_be_mutated() -> None:
    with pytest.raises(TypeError):
        MASS_UNITS_KG["桶"] = D(1)  # type: ignore[index]


amounts = st.integers(min_value=1, max_value=10**8 - 1).map(lambda cents: D(cents) / 100)


@given(value=amounts, unit=st.sampled_from(sorted(MASS_UNITS_KG)))
def test_property_arabic_amount_times_factor(value: Decimal, unit: str) -> None:
    q = parse_quantity(f"{value:f}{unit}")
    assert q.base == value * MASS_UNITS_KG[unit]
    assert q.base > 0


@given(n=st.integers(min_value=1, max_value=99999))
def test_property_chinese_numerals(n: int) -> None:
    q = parse_quantity(cn2an.an2cn(n) + "斤")
    assert q.base == D(n) * D("0.5")


@given(text=st.text(alphabet="一二两三十百千万点半斤两公克吨0123456789. kg不对嗯桶", max_size=12))
def test_property_deterministic_and_positive(text: str) -> None:
    outcomes = []
    for _ in range(2):
        try:
            outcomes.append(parse_quantity(text))
        except (InvalidQuantity, UnknownUnit) as e:
            outcomes.append(type(e))
    assert outcomes[0] == outcomes[1]
    if isinstance(outcomes[0], ParsedQuantity):
        assert outcomes[0].base > 0
