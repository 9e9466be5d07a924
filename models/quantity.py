"""Chinese quantities -> exact Decimal amounts in an item's base unit: ONE parser for typed fields,
speech transcripts and chat messages, so the three can never read the same words differently.

``parse_quantity`` normalises (full-width forms, traditional characters, recognizer spaces between
characters, filler words), reads every quantity in the text and resolves them: a self-correction
("二十斤 不对 二十五斤") keeps what follows it, an exact repeat ("二十斤 二十斤") is one quantity.
Whatever it cannot be sure of — two different quantities, an approximation (大概, 左右, 七八斤), a
correction with nothing after it, a numeral it does not know, money (两块五) — raises a specific
InvalidQuantity subclass for the channel to ask back; it never guesses a different number.

Conventions (decided, and tested in tests/models/test_quantity.py and tests/security/test_weights.py):
- 两 is the numeral 2 before a magnitude or a unit (两斤, 两千两百), the unit 50 g after a number (二两).
- 半 after a unit adds half of it (二十三斤半, 两吨半); 斤半 = 一斤半; 半斤 = 0.5 斤.
- 廿 = 二十, 卅 = 三十, 卌 = 四十.
- A single digit right after 斤 or 吨 is tenths of it: 三斤二 = 三斤二两 = 3.2 斤, 一吨二 = 1.2 吨.
  After other units (一公斤二, 三两二) it stays an error: there is no agreed reading.
- 七八斤, 三五斤, 二三十斤, 十几斤, 二十多斤, 3-5斤 are ranges or estimates: approximate, asked back.

cn2an converts the numeral runs; the unit layer is ours, because cn2an.transform mis-reads "三斤二两"
and ignores 半, and cn2an reads "七八" as 78.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal, DecimalException, Inexact, InvalidOperation, localcontext
from itertools import pairwise
from types import MappingProxyType
from typing import cast

import cn2an

from models.errors import (
    InvalidQuantity,
    QuantityAmbiguous,
    QuantityApproximate,
    QuantityCorrectionUnclear,
    QuantityIsMoney,
    QuantityNumeralUnknown,
    QuantityUnitMissing,
    UnknownUnit,
)

MASS_UNITS_KG: Mapping[str, Decimal] = MappingProxyType({
    "公斤": Decimal(1), "千克": Decimal(1), "kg": Decimal(1), "KG": Decimal(1), "Kg": Decimal(1),
    "斤": Decimal("0.5"), "市斤": Decimal("0.5"), "两": Decimal("0.05"),
    "克": Decimal("0.001"), "g": Decimal("0.001"), "吨": Decimal(1000), "t": Decimal(1000),
})  # read-only: it is every caller's shared default
# Written spellings -> the name we report; applied only when the caller's units agree on the factor.
_ALIASES = {"千克": "公斤", "kg": "公斤", "KG": "公斤", "Kg": "公斤", "g": "克", "t": "吨", "市斤": "斤"}
_DIGITS = dict(zip("零〇一二三四五六七八九", (0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9), strict=True))
_TENS = {"廿": "二十", "卅": "三十", "卌": "四十"}
_NUMERALS = set("零〇一二三四五六七八九十百千万亿两壹贰叁肆伍陆柒捌玖拾佰仟") | set(_TENS)
_MAGNITUDES = set("十百千万亿拾佰仟")
_NONZERO = set("一二三四五六七八九两壹贰叁肆伍陆柒捌玖")
_ZERO = set("零〇")
#: Units whose tenths are the next smaller unit people name: 三斤二 = 三斤二两, 一吨二 = 1.2 吨.
_TENTHS_UNITS = frozenset({"斤", "市斤", "吨"})
#: Per character (offsets into the caller's text stay valid): traditional forms people type.
_TRADITIONAL = str.maketrans("萬億兩貳參陸點噸", "万亿两贰叁陆点吨")
_ARABIC = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_LATIN = re.compile(r"[A-Za-z]+")
_MAX_BASE = Decimal(10) ** 9
_EXACT = Context(prec=60, traps=[Inexact, InvalidOperation])  # never round silently: money-relevant

#: A self-correction: only what follows the last one counts. Shared with the speech grammar.
CORRECTION_WORDS = ("说错了", "不对", "不是", "错了", "哦不", "噢不", "改成", "改为", "重说", "更正", "应该是")
#: Estimates: a weight said with one of these is asked back, never booked.
APPROXIMATE_WORDS = ("大概", "大约", "约莫", "差不多", "左右", "上下", "估计", "约")
#: Hesitations: ignored, but they separate what is on either side (二十 嗯 三斤 is not 二十三斤).
FILLER_WORDS = ("那个", "这个", "就是", "嗯", "啊", "呃", "额", "哦", "噢", "唔", "呢", "吧")
#: Numerals the speech grammar offers; all of them are read here.
SPOKEN_NUMERALS = tuple("零一二两三四五六七八九十百千万点半廿卅")
_NEAR = set("多来余把几")  # 二十多斤, 二十来斤, 十余斤, 斤把, 十几斤
_RANGE = set("-~到至")
_MONEY = set("块元毛角")
_NOT_UNITS = set("级号等次年月日第位")  # 一级, 3号: a number inside a name, not an unknown unit
#: Container and pack words: after a number they are a unit even with a space between ("3 袋"), so an
#: unknown one is refused rather than read as a bare number in the default unit. Other words after a
#: space stay names ("茶青 20 特级").
_PACK_WORDS = set("袋箱筐包桶件盒瓶罐篮篓担捆把提盘板托车框只个条斗瓮坛听扎")
_CUT, _PAUSE, _STOP = "\0", "\1", "\2"  # correction, filler, punctuation: in the cleaned text
_SEPARATORS = (".", "-", "~", _PAUSE, _STOP)  # between a bare number and a quantity: still next to it


@dataclass(frozen=True)
class QuantityPart:
    value: Decimal
    unit: str


@dataclass(frozen=True)
class ParsedQuantity:
    base: Decimal
    parts: tuple[QuantityPart, ...]
    text: str
    base_unit: str = "公斤"

    @property
    def value(self) -> Decimal:
        return self.parts[0].value if len(self.parts) == 1 else self.base

    @property
    def unit(self) -> str:
        return self.parts[0].unit if len(self.parts) == 1 else self.base_unit

    def describe(self) -> dict[str, str]:
        """JSON-safe form, for an error's candidates."""
        return {"text": self.text, "quantity": f"{self.value:f}", "unit": self.unit, "base": f"{self.base:f}"}


@dataclass
class _Tok:
    kind: str  # "num" | "unit" | "half" | "other"
    start: int
    end: int
    val: Decimal | str | None = None  # num: Decimal, or None when unreadable; unit: its key; other: text
    approx: bool = False  # num: a range said as digits (七八, 三五)


@dataclass
class _Item:
    kind: str  # "qty" | "bare" | "bad" | "half" (半 of nothing) | "unit" (a unit of no number)
    start: int
    end: int
    first: int  # token indexes [first, last)
    last: int
    parts: list[tuple[Decimal | None, str]] = field(default_factory=list)
    tok: _Tok | None = None
    error: InvalidQuantity | None = None


def _char(c: str) -> str:
    n = unicodedata.normalize("NFKC", c)
    return (n if len(n) == 1 else c).translate(_TRADITIONAL)


def _tidy(d: Decimal) -> Decimal:
    n = d.normalize()
    return n.quantize(Decimal(1)) if n.as_tuple().exponent > 0 else n  # type: ignore[operator]


def _exact(op: str, a: Decimal | None, b: int | Decimal) -> Decimal | None:
    try:
        return getattr(_EXACT, op)(a, b) if a is not None else None
    except DecimalException:  # would need rounding: treat as unreadable
        return None


def _is_numeral(c: str) -> bool:
    # Any other numeric character (〢, ٣, 幺, 仨) joins the run and makes it unreadable: never skipped.
    return c in _NUMERALS or (not c.isascii() and c.isnumeric()) or c in "幺俩"


def _cn_number(run: str) -> tuple[Decimal | None, bool]:
    """(value or None when unreadable, approximate?) of a Chinese numeral run."""
    whole, _, frac = run.partition("点")
    if any(c not in _NUMERALS for c in whole):
        return None, False  # 幺, 〢, ٣: a numeral we do not read is never skipped nor guessed
    if any(a in _NONZERO and b in _NONZERO for a, b in pairwise(whole)):
        return None, True  # 七八, 三五, 二三十: a range, not 78
    for i, c in enumerate(whole):  # 零 only between a magnitude and a digit (一百零五), or in 零点五
        if c in _ZERO and not (whole == c and frac) and not (
                0 < i < len(whole) - 1 and whole[i - 1] in _MAGNITUDES and whole[i + 1] in _NONZERO):
            return None, False
    for k, v in _TENS.items():
        whole = whole.replace(k, v)
    try:
        n = cn2an.cn2an(whole, "smart")
    except (ValueError, LookupError):  # cn2an's way of saying "not a numeral", e.g. 千万, 俩
        return None, False
    if not isinstance(n, int) or any(c not in _DIGITS for c in frac):
        return None, False
    return Decimal(f"{n}.{''.join(str(_DIGITS[c]) for c in frac)}" if frac else n), False


def _tokens(t: str, units: Mapping[str, Decimal]) -> list[_Tok]:
    lower = {k.lower(): k for k in sorted(units, key=lambda k: k == k.lower()) if k.isascii()}
    maxlen = max(map(len, units), default=0)

    def unit_at(i: int) -> tuple[str, int] | None:
        for n in range(min(maxlen, len(t) - i), 0, -1):  # longest first: 公斤 before 斤
            s = t[i:i + n]
            key = s if s in units else lower.get(s.lower()) if s.isascii() else None
            if key and not (_LATIN.fullmatch(s[-1]) and _LATIN.fullmatch(t[i + n:i + n + 1])):  # g != good
                return key, i + n
        return None

    def liang_is_numeral(j: int, after_num: bool) -> bool:
        # 两 is the numeral 2 before a magnitude or a unit (两斤, 两千两百); after a number it is the unit.
        k = len(t) - len(t[j + 1:].lstrip())
        return not after_num or t[k:k + 1] in _MAGNITUDES or unit_at(k) is not None

    out: list[_Tok] = []
    i = 0
    val: Decimal | None  # _exact and _cn_number answer None for a number they cannot read exactly
    while i < len(t):
        c, prev = t[i], out[-1] if out else None
        after_num = prev is not None and prev.kind == "num" and prev.end == i
        if c.isspace():
            i += 1
            continue
        if m := _ARABIC.match(t, i):
            j, val = m.end(), Decimal(m.group())
            while j < len(t) and t[j] in "百千万亿" and not unit_at(j):  # 1万斤, 1.5万
                val, j = _exact("scaleb", val, {"百": 2, "千": 3, "万": 4, "亿": 8}[t[j]]), j + 1
            tok = _Tok("num", i, j, val)
        elif _is_numeral(c) and (liang_is_numeral(i, after_num) if c == "两" else not unit_at(i)):
            j = i + 1
            while j < len(t) and (_is_numeral(t[j]) or (t[j] == "点" and t[j + 1:j + 2] in _DIGITS)):
                if not liang_is_numeral(j, True) if t[j] == "两" else unit_at(j):
                    break  # 二两 = 2 两; 三千克 = 3 千克
                j += 1
            val, approx = _cn_number(t[i:j])
            tok = _Tok("num", i, j, val, approx)
        elif c == "半":
            tok = _Tok("half", i, i + 1)
        elif u := unit_at(i):
            tok = _Tok("unit", i, u[1], u[0])
        else:
            m = _LATIN.match(t, i)
            tok = _Tok("other", i, m.end() if m else i + 1, m.group() if m else c)
        i = tok.end
        # A sign stays on the number so that -3斤 is rejected, but the dash of a range (2-3斤) does not.
        if (tok.kind == "num" and isinstance(tok.val, Decimal) and prev and prev.kind == "other"
                and prev.val in ("-", "负") and prev.end == tok.start
                and not (len(out) > 1 and out[-2].kind in ("num", "unit") and out[-2].end == prev.start)):
            out[-1] = _Tok("num", prev.start, tok.end, tok.val.copy_negate())
        else:
            out.append(tok)
    return out


def _segments(toks: list[_Tok], k: int, text: str, units: Mapping[str, Decimal]):
    """Longest run of segments (NUM UNIT 半? | UNIT 半 | 半 UNIT) from toks[k], with strictly falling units."""
    parts: list[tuple[Decimal | None, str]] = []

    def at(i: int, kind: str, prev_end: int | None, gap: bool = False) -> bool:
        if i >= len(toks) or toks[i].kind != kind:
            return False
        between = "" if prev_end is None else text[prev_end:toks[i].start]
        return between == "" or (gap and not between.strip())

    while k < len(toks):
        prev_end = toks[k - 1].end if parts else None
        if at(k, "num", prev_end, True) and at(k + 1, "unit", toks[k].end, True):
            val, unit, n = toks[k].val, toks[k + 1].val, k + 2
            if at(n, "half", toks[k + 1].end):
                val, n = _exact("add", val, Decimal("0.5")), n + 1  # type: ignore[arg-type]
        elif at(k, "unit", prev_end, True) and at(k + 1, "half", toks[k].end):
            val, unit, n = Decimal("1.5"), toks[k].val, k + 2  # 斤半 = 一斤半
        elif at(k, "half", prev_end, True) and at(k + 1, "unit", toks[k].end):
            val, unit, n = Decimal("0.5"), toks[k + 1].val, k + 2
        else:
            break
        assert isinstance(unit, str)
        if parts and units[unit] >= units[parts[-1][1]]:
            break
        parts.append((val, unit))  # type: ignore[arg-type]
        k = n
    return k, parts


def _lone(text: str, tok: _Tok, after_qty: bool = False) -> bool:
    """A bare number standing on its own (not 一级, not 王二), or trailing a quantity (一斤二)."""
    sep = [text[tok.end:tok.end + 1]] + ([] if after_qty else [text[tok.start - 1:tok.start]])
    return all(not s or not s.isalnum() for s in sep)


def _scan(text: str, toks: list[_Tok], units: Mapping[str, Decimal]) -> list[_Item]:
    items: list[_Item] = []
    k = 0
    while k < len(toks):
        n, parts = _segments(toks, k, text, units)
        if parts:
            start, end = toks[k].start, toks[n - 1].end
            nxt = toks[n] if n < len(toks) else None
            if nxt and nxt.kind == "num" and nxt.start == end and _lone(text, nxt, True):
                last_val, last_unit = parts[-1]
                tail = text[nxt.start:nxt.end]
                if (last_unit in _TENTHS_UNITS and toks[n - 1].kind == "unit" and last_val is not None
                        and len(tail) == 1 and tail in _DIGITS and tail not in _ZERO):
                    parts[-1] = (last_val + Decimal(_DIGITS[tail]) / 10, last_unit)  # 三斤二, 一吨二
                    items.append(_Item("qty", start, nxt.end, k, n + 1, parts))
                else:  # 一公斤二: 二 of what? never drop it silently
                    err = QuantityUnitMissing(f"最后一个数没有单位：{text[start:nxt.end]}", text=text[start:nxt.end])
                    items.append(_Item("bad", start, nxt.end, k, n + 1, error=err))
                n += 1
            else:
                items.append(_Item("qty", start, end, k, n, parts))
            k = n
        else:
            if toks[k].kind == "num" and _lone(text, toks[k]):
                items.append(_Item("bare", toks[k].start, toks[k].end, k, k + 1, tok=toks[k]))
            elif toks[k].kind == "half":  # 半 of nothing: may belong to a quantity next to it
                items.append(_Item("half", toks[k].start, toks[k].end, k, k + 1))
            elif toks[k].kind == "unit":  # a unit of no number (23斤公斤): which unit was meant?
                items.append(_Item("unit", toks[k].start, toks[k].end, k, k + 1))
            k += 1
    return items


def _build(parts: Sequence[tuple[Decimal | None, str | None]], text: str, units: Mapping[str, Decimal],
           base_unit: str) -> ParsedQuantity:
    """parts: [(value, unit key)]; a bare number arrives with default_unit (maybe None) as its unit."""
    if any(u is None for _, u in parts):
        raise QuantityUnitMissing(f"请说明单位，例如：{text}{base_unit}", text=text)
    if unknown := [u for _, u in parts if u not in units]:
        raise UnknownUnit(f"不认识的单位：{unknown[0]}", unit=unknown[0])
    if any(v is None for v, _ in parts):
        raise QuantityNumeralUnknown(f"听不懂这个数：{text}，请用阿拉伯数字，例如：23.5", text=text)
    try:
        with localcontext(_EXACT):
            base = sum((v * units[u] for v, u in parts), Decimal(0))  # type: ignore[operator,index]
    except DecimalException:
        raise InvalidQuantity(f"数量太精细或太大：{text}", text=text) from None
    if base <= 0 or any(v <= 0 for v, _ in parts):  # type: ignore[operator]  # also 3斤-1两
        raise InvalidQuantity(f"数量必须大于零：{text}", text=text)
    if base > _MAX_BASE:
        raise InvalidQuantity(f"数量太大，请核对：{text}", text=text)
    if base != base.quantize(Decimal("0.000001")):
        raise InvalidQuantity(f"数量最多精确到小数点后6位：{text}", text=text)
    named = tuple(QuantityPart(_tidy(v), _ALIASES[u] if units.get(_ALIASES.get(u, "")) == units[u] else u)  # type: ignore[arg-type,index]
                  for v, u in parts)
    return ParsedQuantity(_tidy(base), named, text, base_unit)


def _clean(text: str, units: Mapping[str, Decimal]) -> tuple[str, list[int], list[int]]:
    """(cleaned text, each cleaned char's index in text, positions of approximate words).

    Spaces between two quantity characters are dropped (recognizers write "三 十 二 斤 半"); other
    spaces and punctuation become one space; corrections become _CUT, fillers _PAUSE. Words are
    matched across spaces, because a recognizer may split them too ("不 对").
    """
    joinable = _NUMERALS | set("点半") | {c for u in units for c in u if not c.isascii()}
    chars: list[tuple[str, int]] = []
    soft: set[int] = set()  # after a space: joined between two quantity characters
    hard: set[int] = set()  # after punctuation: never joined (三斤，二 is not 三斤二)
    pending: set[int] | None = None
    for i, c in enumerate(map(_char, text)):
        if c.isspace() or _punct(c):
            pending = hard if _punct(c) or pending is hard else soft
            continue
        if pending is not None:
            pending.add(i)
            pending = None
        chars.append((c, i))
    words = sorted(CORRECTION_WORDS + APPROXIMATE_WORDS + FILLER_WORDS, key=len, reverse=True)
    out, pos, approx = "", [], []
    k = 0
    while k < len(chars):
        c, i = chars[k]
        word = next((w for w in words if "".join(ch for ch, _ in chars[k:k + len(w)]) == w), None)
        if word in APPROXIMATE_WORDS:
            approx.append(len(out))
        if word in CORRECTION_WORDS or word in FILLER_WORDS:
            out += _CUT if word in CORRECTION_WORDS else _PAUSE
            pos.append(i)
            k += len(word)
            continue
        if out and (i in hard or (i in soft and not (out[-1] in joinable and c in joinable))):
            out += _STOP if i in hard else " "
            pos.append(i - 1)
        out += c
        pos.append(i)
        k += 1
    return out, pos, approx


def _punct(c: str) -> bool:
    # "." "-" "~" stay: a decimal point, a sign or a range must not vanish between two numbers.
    return c not in ".-~" and unicodedata.category(c).startswith("P")


def parse_quantity(text: str, units: Mapping[str, Decimal] | None = None, *, default_unit: str | None = None,
                   base_unit: str = "公斤") -> ParsedQuantity:
    """The one quantity a typed field, a speech transcript or a chat message says.

    ``default_unit`` is for a bare number (a typed field with a unit picker); without it a bare
    number asks for its unit. Raises an InvalidQuantity subclass (or UnknownUnit) when unsure.
    """
    units = MASS_UNITS_KG if units is None else units
    if not text or not text.strip():
        raise InvalidQuantity("数量不能为空", text=text)
    clean, pos, approx_at = _clean(text, units)
    toks = _tokens(clean, units)
    cut = clean.rfind(_CUT)
    if cut >= 0:  # only what follows the last correction counts
        before = [it for it in _scan(clean, toks, units) if it.end <= cut]
        toks = [t for t in toks if t.start > cut]
    else:
        before = []
    said = lambda start, end: text[pos[start]:pos[end - 1] + 1]  # noqa: E731
    nums = [t for t in toks if t.kind == "num"]
    if (any(a > cut for a in approx_at) and nums) or any(t.approx for t in nums) or _estimate(clean, toks):
        raise QuantityApproximate(f"请说一个确切的重量，不要说大概：{text.strip()}", text=text)
    items = _scan(clean, toks, units)
    for it in items:
        if it.kind == "bad":
            raise it.error  # type: ignore[misc]
    qtys = [it for it in items if it.kind == "qty"]
    bares = [it for it in items if it.kind == "bare"]
    found = [_build(it.parts, said(it.start, it.end), units, base_unit) for it in qtys]
    strays = [it for it in items if it.kind in ("half", "unit")]
    # A number without a unit next to a quantity (2 3.5斤, 3 5斤, 1 k g，1.1kg) may be part of it or
    # another weight: ask. So is a 半 that belongs to no quantity (三十二斤，半), and a second unit
    # after a quantity (二十三斤半公斤: 斤 or 公斤?).
    if found and (bares or any(_touches(toks, h, qtys) for h in strays)):
        raise QuantityAmbiguous(f"这个数量看不明白：{text.strip()}，请重新说一遍，例如：二十三斤半",
                                text=text, candidates=[q.describe() for q in found])
    distinct = list({q.base: q for q in found}.values())
    if len(distinct) > 1:
        raise QuantityAmbiguous(
            f"听到了几个不同的数量：{'、'.join(q.text for q in distinct)}，请问是哪一个？",
            parsed=tuple(distinct), text=text, candidates=[q.describe() for q in distinct])
    if distinct:
        return found[0]
    if any(t.kind == "num" and _next_is(clean, t, _MONEY) for t in toks):
        raise QuantityIsMoney(f"这是金额，不是重量：{text.strip()}，请说重量，例如：二十三斤半", text=text)
    if word := _unknown_unit(toks, clean):
        raise UnknownUnit(f"不认识的单位：{word}", unit=word)
    if bares:
        corrected = [it.parts[0][1] for it in before if it.kind == "qty" and len(it.parts) == 1]
        unit = corrected[-1] if corrected else default_unit
        values = {b.tok.val for b in bares}  # type: ignore[union-attr]
        if unit is not None and len(values) > 1:
            raise QuantityAmbiguous(f"听到了几个不同的数：{'、'.join(said(b.start, b.end) for b in bares)}，"
                                    "请问是哪一个？", text=text, candidates=[said(b.start, b.end) for b in bares])
        b, tok = bares[-1], cast(_Tok, bares[-1].tok)  # a bare item always carries its number token
        return _build([(cast(Decimal | None, tok.val), unit)], said(b.start, b.end), units, base_unit)
    if cut >= 0 and before:
        raise QuantityCorrectionUnclear("改正之后没有听到新的数量，请再说一遍，例如：二十三斤半", text=text)
    raise InvalidQuantity("没有听到数量，请说或写明数量和单位，例如：二十三斤半", text=text)


def _next_is(text: str, tok: _Tok, chars: set[str]) -> bool:
    return text[tok.end:tok.end + 1] in chars


def _estimate(text: str, toks: list[_Tok]) -> bool:
    """二十多斤, 十几斤, 斤把, 3-5斤, 三到五斤: an estimate or a range, not a weight."""
    for n, t in enumerate(toks):
        if t.kind == "other" and isinstance(t.val, str) and t.val in _NEAR:  # "other": val is its text
            prev = toks[n - 1] if n else None
            nxt = toks[n + 1] if n + 1 < len(toks) else None
            if (prev and prev.kind in ("num", "unit") and prev.end == t.start) or (
                    t.val == "几" and nxt and nxt.kind in ("num", "unit") and nxt.start == t.end):
                return True
        if t.kind == "other" and isinstance(t.val, str) and t.val in _RANGE and 0 < n < len(toks) - 1:
            prev, nxt = toks[n - 1], toks[n + 1]
            gaps = (text[prev.end:t.start] + text[t.end:nxt.start]).strip()
            if not gaps and nxt.kind == "num" and (prev.kind == "num" or (prev.kind == "unit" and t.val in "-~")):
                return True
    return False


def _touches(toks: list[_Tok], bare: _Item, qtys: list[_Item]) -> bool:
    """A token next to a quantity, with at most separators between."""
    starts, ends = {q.first for q in qtys}, {q.last for q in qtys}
    k = bare.last
    while k < len(toks) and toks[k].kind == "other" and toks[k].val in _SEPARATORS:
        k += 1
    j = bare.first
    while j > 0 and toks[j - 1].kind == "other" and toks[j - 1].val in _SEPARATORS:
        j -= 1
    return k in starts or j in ends


def _unknown_unit(toks: list[_Tok], text: str) -> str | None:
    """The word after a number that no unit matched: 三桶, 3 boxes (not 一级, not 3号)."""
    for n, t in enumerate(toks[:-1]):
        nxt = toks[n + 1]
        if t.kind != "num" or nxt.kind != "other" or not isinstance(nxt.val, str):
            continue
        glued = nxt.start == t.end and nxt.val.isalpha() and nxt.val not in _NOT_UNITS
        spaced = (_LATIN.fullmatch(nxt.val) or nxt.val[:1] in _PACK_WORDS) and not text[t.end:nxt.start].strip()
        if glued or spaced:
            return nxt.val
    return None


__all__ = ["APPROXIMATE_WORDS", "CORRECTION_WORDS", "FILLER_WORDS", "MASS_UNITS_KG", "SPOKEN_NUMERALS",
           "ParsedQuantity", "QuantityPart", "parse_quantity"]
