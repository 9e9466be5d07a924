"""Issue 10, "a weight must never be silently wrong": typed, spoken and chat text go through one
parser (models.quantity.parse_quantity); rendered the ways people and recognizers write a weight,
it reads the weight exactly or refuses with a DomainError, never a different number."""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal

import cn2an
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.resolve import find_amount
from media.speech import Transcript
from models.catalog import Item
from models.errors import (
    DomainError,
    QuantityAmbiguous,
    QuantityApproximate,
    QuantityCorrectionUnclear,
    QuantityIsMoney,
    QuantityNumeralUnknown,
)
from models.operations.intake_checks import parse_weight
from models.quantity import MASS_UNITS_KG, parse_quantity
from tests.miniprogram_api.media_samples import wav
from tests.security.conftest import assert_refused, rows

D = Decimal
FACTOR = {"斤": D("0.5"), "公斤": D(1), "千克": D(1), "kg": D(1), "两": D("0.05")}
_CN = "零一二三四五六七八九"


@dataclass(frozen=True)
class Said:
    text: str
    base: Decimal  # the weight in kg
    strict: bool  # a rendering the parser must read (not merely refuse)


def _chinese(n: int, tens: bool, liang: bool) -> str:
    s = cn2an.an2cn(n)
    if tens and 20 <= n < 40:  # 廿三, 卅
        s = ("廿" if n < 30 else "卅") + (_CN[n % 10] if n % 10 else "")
    elif liang and s.startswith("二") and s[1:2] in ("百", "千"):
        s = "两" + s[1:]  # 两百, 两千
    return s


@st.composite
def weights(draw: st.DrawFn) -> Said:
    """One weight, rendered as typed, full-width, Chinese (十/百/千, 两, 廿/卅), 半, 斤两, or spaced."""
    unit = draw(st.sampled_from(sorted(FACTOR)))
    n = draw(st.integers(min_value=1, max_value=2999))
    tenth = draw(st.integers(min_value=0, max_value=9))
    value = D(n) + D(tenth) / 10
    style = draw(st.sampled_from(["arabic", "fullwidth", "chinese", "half", "jin_liang", "tail"]))
    if (style in ("half",) and tenth != 5) or (style in ("jin_liang", "tail") and (unit != "斤" or tenth == 0)):
        style = "chinese"
    if unit in ("kg",) and style not in ("arabic", "fullwidth"):
        style = "arabic"
    number = f"{value.normalize():f}"
    if style == "arabic":
        text = number + draw(st.sampled_from(["", " "])) + unit
    elif style == "fullwidth":
        text = number.translate(str.maketrans("0123456789.", "０１２３４５６７８９．")) + unit
    else:
        whole = _chinese(n, draw(st.booleans()), draw(st.booleans()))
        if style == "half":
            text = f"{whole}{unit}半"
        elif style == "jin_liang":
            text = f"{whole}斤{_CN[tenth]}两"
        elif style == "tail":
            text = f"{whole}斤{_CN[tenth]}"  # 三斤二 = 三斤二两
        else:
            text = whole + (f"点{_CN[tenth]}" if tenth else "") + unit
    spaced = draw(st.booleans())
    if spaced:  # recognizers put a space between characters
        text = " ".join(text.replace(" ", ""))
    strict = not (spaced and style in ("arabic", "fullwidth"))  # 2 3 . 5 斤 is honestly unclear
    return Said(text, value * FACTOR[unit], strict)


FILLERS = ["", "嗯 ", "那个", "呃，", "嗯 那个 "]
AFTER = ["", " 啊", "吧", "。"]
MARKERS = [" 不对 ", " 不是 ", " 哦不 ", "，说错了，", " 错了 ", " 不 对 "]


@settings(derandomize=True, max_examples=400, deadline=None)
@given(right=weights(), wrong=weights(), before=st.sampled_from(FILLERS), after=st.sampled_from(AFTER),
       shape=st.sampled_from(["plain", "correction", "repeat"]), marker=st.sampled_from(MARKERS))
def test_a_weight_is_read_exactly_or_refused(right: Said, wrong: Said, before: str, after: str, shape: str,
                                            marker: str) -> None:
    said, strict = right.text, right.strict
    if shape == "correction":
        said, strict = f"{wrong.text}{marker}{right.text}", strict and wrong.strict
    elif shape == "repeat":
        # Two spoken runs of digits with a space between may join (三斤二 三斤二): refusing is allowed.
        said, strict = f"{right.text} {right.text}", False
    text = f"{before}{said}{after}"
    try:
        parsed = parse_quantity(text)
    except DomainError:
        assert not strict, f"{text!r} should read as {right.base} kg"
        return
    assert parsed.base == right.base, f"{text!r} read as {parsed.base} kg, said {right.base} kg"


@settings(derandomize=True, max_examples=150, deadline=None)
@given(a=weights(), b=weights())
def test_two_different_weights_without_a_correction_are_never_one_of_them(a: Said, b: Said) -> None:
    text = f"{a.text}，{b.text}"
    if a.base == b.base:
        return
    with pytest.raises(DomainError):
        parse_quantity(text)


# --- the reproductions, through the bot's finder, the speech path and the typed parser -------------

REPRODUCTIONS = [
    ("三 十 二 斤 半", D("16.25")),  # recognizer spacing: not a fraction of it
    ("廿三斤", D("11.5")),  # 廿 is 20, not dropped
    ("卅斤", D(15)),
    ("二十斤 不对 二十五斤", D("12.5")),  # the correction wins, never the sum
    ("二十斤 不是 二十五斤", D("12.5")),
    ("二十斤 哦不 二十五斤", D("12.5")),
    ("二十斤，说错了，二十五斤", D("12.5")),
    ("二十斤 二十斤", D(10)),  # an exact repeat is one weight
    ("一吨二", D(1200)),  # like 两吨半
    ("两吨半", D(2500)),
    ("三斤二", D("1.6")),  # 三斤二两
]

REFUSED = [
    ("二十斤 二十五斤", QuantityAmbiguous, "请问是哪一个"),
    ("二十斤 左右", QuantityApproximate, "确切的重量"),
    ("大概 二十斤", QuantityApproximate, "确切的重量"),
    ("七八斤", QuantityApproximate, "确切的重量"),
    ("二十多斤", QuantityApproximate, "确切的重量"),
    ("二十斤 不对", QuantityCorrectionUnclear, "改正之后"),
    ("两块五", QuantityIsMoney, "金额"),
    ("幺二斤", QuantityNumeralUnknown, "听不懂这个数"),
]


@pytest.fixture
def tea(session_factory, demo):
    with session_factory() as s:
        item = s.get_one(Item, demo.items["茶青"])
        yield s, item


@pytest.mark.parametrize(("text", "kg"), REPRODUCTIONS)
def test_reproductions_read_the_same_everywhere(tea, text: str, kg: Decimal) -> None:
    s, item = tea
    assert parse_quantity(text).base == kg  # typed
    assert parse_weight(s, item, text, spoken=True)[2] == kg  # spoken transcript (mini-program)
    heard = Transcript(text=text, confidence=1.0, words=(), seconds_processed=1.0, elapsed_ms=1.0)
    assert parse_weight(s, item, heard.compact_text, spoken=True)[2] == kg  # a voice message to the bot
    amount = find_amount(s, item, f"  {text}  ")  # the chat bot's finder, names already blanked
    assert parse_weight(s, item, f"{amount.quantity}{amount.unit or item.base_unit}", spoken=False)[2] == kg


@pytest.mark.parametrize(("text", "error", "fragment"), REFUSED)
def test_unsure_weights_are_asked_back_everywhere(tea, text: str, error: type, fragment: str) -> None:
    s, item = tea
    for attempt in (lambda: parse_quantity(text), lambda: parse_weight(s, item, text, spoken=True),
                    lambda: find_amount(s, item, text)):
        with pytest.raises(error) as e:
            attempt()
        assert fragment in e.value.message
        assert e.value.code == error.code


def test_ambiguity_carries_the_candidates() -> None:
    with pytest.raises(QuantityAmbiguous) as e:
        parse_quantity("二十斤 二十五斤")
    assert e.value.to_dict()["code"] == "QUANTITY_AMBIGUOUS"
    assert [c["base"] for c in e.value.details["candidates"]] == ["10", "12.5"]
    assert [c["text"] for c in e.value.details["candidates"]] == ["二十斤", "二十五斤"]


def test_mass_units_unchanged() -> None:
    assert MASS_UNITS_KG["斤"] == D("0.5")


# --- over HTTP: the mini-program's quick entry, typed and spoken ------------------------------------

class _Heard:
    def __init__(self, text: str) -> None:
        self.text = text

    def recognize(self, audio, *, grammar=None):
        assert "左右" in grammar and "廿" in grammar  # the grammar lets the parser hear what it refuses
        return Transcript(text=self.text, confidence=0.95, words=(), seconds_processed=audio.seconds,
                          elapsed_ms=1.0)


def _intake(client, as_, demo, files=None, **fields):
    data = {"site_id": str(demo.sites["SX"]), "grade_id": str(demo.grades["一级"]),
            "party": str(demo.parties["王阿姨"]), **fields}
    for name, blob in (files or {}).items():
        data[name] = (io.BytesIO(blob), "clip.bin")
    return client.post("/api/v1/intake", data=data, headers=as_("小周"), content_type="multipart/form-data")


@pytest.mark.parametrize(("heard", "code", "fragment"), [
    ("二 十 斤 二 十 五 斤", "QUANTITY_AMBIGUOUS", "请问是哪一个"),
    ("二 十 斤 左 右", "QUANTITY_APPROXIMATE", "确切的重量"),
    ("二 十 斤 不 对", "QUANTITY_CORRECTION_UNCLEAR", "改正之后"),
])
def test_spoken_weight_it_cannot_be_sure_of_is_refused_and_writes_nothing(
        client, as_, demo, engine, monkeypatch, heard, code, fragment):
    monkeypatch.setattr("miniprogram_api.intake_media.load_recognizer", lambda _p: _Heard(heard))
    before = rows(engine)
    resp = _intake(client, as_, demo, files={"audio": wav(1)})
    assert_refused(resp, 422, code, fragment)
    assert rows(engine) == before


def test_typed_weight_with_two_values_is_refused_and_writes_nothing(client, as_, demo, engine):
    before = rows(engine)
    assert_refused(_intake(client, as_, demo, weight="二十斤 二十五斤"), 422, "QUANTITY_AMBIGUOUS", "请问是哪一个")
    assert_refused(_intake(client, as_, demo, weight="二十多斤", unit="斤"), 422, "QUANTITY_APPROXIMATE", "确切")
    # The picker's unit is a unit name, never text glued to the number ("二十" + "多斤")
    assert_refused(_intake(client, as_, demo, weight="二十", unit="多斤"), 422, "UNKNOWN_UNIT", "不认识的单位")
    # A second unit after a quantity is asked back, never read as the first (二十三斤半公斤 was 11.75 kg)
    assert_refused(_intake(client, as_, demo, weight="二十三斤半公斤"), 422, "QUANTITY_AMBIGUOUS", "看不明白")
    assert rows(engine) == before


@pytest.mark.parametrize(("heard", "kg"), [("二 十 斤 不 对 二 十 五 斤", "12.5"), ("廿 三 斤", "11.5"),
                                           ("三 斤 二", "1.6"), ("二 十 斤 二 十 斤", "10")])
def test_spoken_corrections_and_numerals_are_read_exactly(client, as_, demo, monkeypatch, heard, kg):
    monkeypatch.setattr("miniprogram_api.intake_media.load_recognizer", lambda _p: _Heard(heard))
    resp = _intake(client, as_, demo, files={"audio": wav(1)})
    assert resp.status_code == 200, resp.get_json()
    assert Decimal(resp.get_json()["weight"]["kilograms"]) == Decimal(kg)
