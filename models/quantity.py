"""Chinese spoken/typed quantities -> exact Decimal amounts in an item's base unit.

cn2an converts the numeral runs; the unit layer (斤半, 三斤二两, 两 as numeral vs unit) is ours,
because cn2an.transform mis-reads "三斤二两" and ignores 半.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, DecimalException, Inexact, InvalidOperation, localcontext
from types import MappingProxyType

import cn2an

from models.errors import InvalidQuantity, UnknownUnit

MASS_UNITS_KG: Mapping[str, Decimal] = MappingProxyType({
    "公斤": Decimal(1), "千克": Decimal(1), "kg": Decimal(1), "KG": Decimal(1), "Kg": Decimal(1),
    "斤": Decimal("0.5"), "市斤": Decimal("0.5"), "两": Decimal("0.05"),
    "克": Decimal("0.001"), "g": Decimal("0.001"), "吨": Decimal(1000), "t": Decimal(1000),
})  # read-only: it is every caller's shared default
# Written spellings -> the name we report; applied only when the caller's units agree on the factor.
_ALIASES = {"千克": "公斤", "kg": "公斤", "KG": "公斤", "Kg": "公斤", "g": "克", "t": "吨", "市斤": "斤"}
_DIGITS = dict(zip("零〇一二三四五六七八九", (0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9), strict=True))
_NUMERALS = set("零〇一二三四五六七八九十百千万亿两壹贰叁肆伍陆柒捌玖拾佰仟")
_MAGNITUDES = set("十百千万亿拾佰仟")
_ARABIC = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_LATIN = re.compile(r"[A-Za-z]+")
_MAX_BASE = Decimal(10) ** 9
_EXACT = Context(prec=60, traps=[Inexact, InvalidOperation])  # never round silently: money-relevant
_FILLERS = ("那个", "就是", "大概", "左右", "嗯", "啊", "呃")
_CORRECTIONS = ("不对", "不是", "错了", "改成", "重说")


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


@dataclass
class _Tok:
    kind: str  # "num" | "unit" | "half" | "other"
    start: int
    end: int
    val: Decimal | str | None = None  # num: Decimal, or None when unreadable; unit: its key; other: text


def _norm(text: str) -> str:
    # Per character, so offsets into the caller's text stay valid (full-width digits, ｋｇ, U+3000).
    return "".join(n if len(n := unicodedata.normalize("NFKC", c)) == 1 else c for c in text)


def _tidy(d: Decimal) -> Decimal:
    n = d.normalize()
    return n.quantize(Decimal(1)) if n.as_tuple().exponent > 0 else n  # type: ignore[operator]


def _exact(op: str, a: Decimal | None, b: int | Decimal) -> Decimal | None:
    try:
        return getattr(_EXACT, op)(a, b) if a is not None else None
    except DecimalException:  # would need rounding: treat as unreadable
        return None


def _cn_number(run: str) -> Decimal | None:
    whole, _, frac = run.partition("点")
    try:
        n = cn2an.cn2an(whole, "smart")
    except (ValueError, LookupError):  # cn2an's way of saying "not a numeral", e.g. 千万, 二十三二十四
        return None
    if not isinstance(n, int) or any(c not in _DIGITS for c in frac):
        return None
    return Decimal(f"{n}.{''.join(str(_DIGITS[c]) for c in frac)}" if frac else n)


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
        elif c in _NUMERALS and (liang_is_numeral(i, after_num) if c == "两" else not unit_at(i)):
            j = i + 1
            while j < len(t) and (t[j] in _NUMERALS or (t[j] == "点" and t[j + 1:j + 2] in _DIGITS)):
                if not liang_is_numeral(j, True) if t[j] == "两" else unit_at(j):
                    break  # 二两 = 2 两; 三千克 = 3 千克
                j += 1
            tok = _Tok("num", i, j, _cn_number(t[i:j]))
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
                and not (len(out) > 1 and out[-2].kind == "num" and out[-2].end == prev.start)):
            out[-1] = _Tok("num", prev.start, tok.end, tok.val.copy_negate())
        else:
            out.append(tok)
    return out


def _segments(toks: list[_Tok], k: int, text: str, units: Mapping[str, Decimal], gaps: bool):
    """Longest run of segments (NUM? UNIT 半? | 半 UNIT) from toks[k], with strictly falling units."""
    parts: list[tuple[Decimal | None, str]] = []

    def at(i: int, kind: str, prev_end: int | None, gap: bool = False) -> bool:
        if i >= len(toks) or toks[i].kind != kind:
            return False
        between = "" if prev_end is None else text[prev_end:toks[i].start]
        return between == "" or (gap and not between.strip())

    while k < len(toks):
        prev_end = toks[k - 1].end if parts else None
        if at(k, "num", prev_end, gaps) and at(k + 1, "unit", toks[k].end, True):
            val, unit, n = toks[k].val, toks[k + 1].val, k + 2
            if at(n, "half", toks[k + 1].end):
                val, n = _exact("add", val, Decimal("0.5")), n + 1  # type: ignore[arg-type]
        elif at(k, "unit", prev_end, gaps) and at(k + 1, "half", toks[k].end):
            val, unit, n = Decimal("1.5"), toks[k].val, k + 2  # 斤半 = 一斤半
        elif at(k, "half", prev_end, gaps) and at(k + 1, "unit", toks[k].end):
            val, unit, n = Decimal("0.5"), toks[k + 1].val, k + 2
        else:
            break
        assert isinstance(unit, str)
        if parts and units[unit] >= units[parts[-1][1]]:
            break
        parts.append((val, unit))  # type: ignore[arg-type]
        k = n
    return k, parts


def _build(parts, text: str, units: Mapping[str, Decimal], base_unit: str) -> ParsedQuantity:
    """parts: [(value, unit key)]; a bare number arrives with default_unit (maybe None) as its unit."""
    if any(u is None for _, u in parts):
        raise InvalidQuantity(f"请说明单位，例如：{text}{base_unit}", text=text)
    if unknown := [u for _, u in parts if u not in units]:
        raise UnknownUnit(f"不认识的单位：{unknown[0]}", unit=unknown[0])
    if any(v is None for v, _ in parts):
        raise InvalidQuantity(f"听不懂这个数：{text}", text=text)
    try:
        with localcontext(_EXACT):
            base = sum((v * units[u] for v, u in parts), Decimal(0))
    except DecimalException:
        raise InvalidQuantity(f"数量太精细或太大：{text}", text=text) from None
    if base <= 0 or any(v <= 0 for v, _ in parts):  # also 3斤-1两
        raise InvalidQuantity(f"数量必须大于零：{text}", text=text)
    if base > _MAX_BASE:
        raise InvalidQuantity(f"数量太大，请核对：{text}", text=text)
    if base != base.quantize(Decimal("0.000001")):
        raise InvalidQuantity(f"数量最多精确到小数点后6位：{text}", text=text)
    named = tuple(QuantityPart(_tidy(v), _ALIASES[u] if units.get(_ALIASES.get(u, "")) == units[u] else u)
                  for v, u in parts)
    return ParsedQuantity(_tidy(base), named, text, base_unit)


def _lone(text: str, tok: _Tok, after_qty: bool = False) -> bool:
    """A bare number standing on its own (not 一级, not 王二), or trailing a quantity (一斤二)."""
    sep = [text[tok.end:tok.end + 1]] + ([] if after_qty else [text[tok.start - 1:tok.start]])
    return all(not s or not s.isalnum() for s in sep)


def _scan(text: str, units: Mapping[str, Decimal], gaps: bool):
    """(start, end, kind, payload): kind "qty" (parts), "bare" (_Tok) or "bad" (exception)."""
    toks, k, items = _tokens(text, units), 0, []
    while k < len(toks):
        n, parts = _segments(toks, k, text, units, gaps)
        if parts:
            start, end = toks[k].start, toks[n - 1].end
            nxt = toks[n] if n < len(toks) else None
            if nxt and nxt.kind == "num" and nxt.start == end and _lone(text, nxt, True):
                err = InvalidQuantity(f"最后一个数没有单位：{text[start:toks[n].end]}", text=text)
                items.append((start, toks[n].end, "bad", err))  # 一斤二: never drop the 二 silently
                n += 1
            else:
                items.append((start, end, "qty", parts))
            k = n
        else:
            if toks[k].kind == "num" and _lone(text, toks[k]):
                items.append((toks[k].start, toks[k].end, "bare", toks[k]))
            k += 1
    return items


def parse_quantity(text: str, units: Mapping[str, Decimal] | None = None, *, default_unit: str | None = None,
                   base_unit: str = "公斤") -> ParsedQuantity:
    units = MASS_UNITS_KG if units is None else units
    raw, norm = text.strip(), _norm(text.strip())
    toks = _tokens(norm, units)
    if not toks:
        raise InvalidQuantity("数量不能为空", text=text)
    n, parts = _segments(toks, 0, norm, units, True)
    if parts and n == len(toks):
        return _build(parts, raw, units, base_unit)
    if not parts and len(toks) == 1 and toks[0].kind == "num":
        return _build([(toks[0].val, default_unit)], raw, units, base_unit)
    after = toks[n + 1] if toks[n].kind == "num" and n + 1 < len(toks) else None
    word = after.val if after and after.kind == "other" else ""
    if str(word).isalpha():  # 三桶, 3 boxes; not the dash of 3-5斤
        raise UnknownUnit(f"不认识的单位：{word}", unit=word)
    raise InvalidQuantity(f"无法识别数量：{raw}", text=text)


def find_quantities(text: str, units: Mapping[str, Decimal] | None = None, *, default_unit: str | None = None,
                    base_unit: str = "公斤") -> list[tuple[int, int, ParsedQuantity]]:
    """Quantities with a known unit, left to right. Bare numbers (so default_unit too) and unknown units
    are skipped; a known unit with an impossible amount (0斤, 一斤二) raises InvalidQuantity, not vanishes."""
    units = MASS_UNITS_KG if units is None else units
    out = []
    for start, end, kind, payload in _scan(_norm(text), units, gaps=False):
        if kind == "bad":
            raise payload
        if kind == "qty":
            out.append((start, end, _build(payload, text[start:end], units, base_unit)))
    return out


def extract_spoken_quantity(transcript: str, units: Mapping[str, Decimal] | None = None, *,
                            default_unit: str | None = None, base_unit: str = "公斤") -> ParsedQuantity:
    """Speech transcripts: spaces and fillers dropped; after a correction marker the last quantity wins."""
    units = MASS_UNITS_KG if units is None else units
    chars = [(c, i) for i, c in enumerate(_norm(transcript)) if not c.isspace()]
    s, pos, k = "", [], 0  # cleaned text, and each of its chars' index in the transcript
    while k < len(chars):
        ahead = "".join(c for c, _ in chars[k:k + 2])
        word = next((w for w in _CORRECTIONS + _FILLERS if ahead.startswith(w)), chars[k][0])
        if word not in _FILLERS:
            s += "\0" if word in _CORRECTIONS else word  # a separator: 二十三 不对 二十四斤 stays two numbers
            pos.append(chars[k][1])
        k += len(word)
    items = _scan(s, units, gaps=False)
    if (cut := s.rfind("\0")) >= 0:  # only what follows the last correction counts
        items = [it for it in items if it[0] > cut]
    if not items:
        raise InvalidQuantity("没有听到数量，请再说一遍，例如：二十三斤半", text=transcript)
    start, end, kind, payload = items[-1]
    said = transcript[pos[start]:pos[end - 1] + 1]
    if kind == "bad":
        raise payload
    if kind == "qty":
        return _build(payload, said, units, base_unit)
    # A bare number takes the unit of the quantity it corrects, else default_unit.
    earlier = [it[3][0][1] for it in _scan(s[:start], units, gaps=False) if it[2] == "qty"]
    return _build([(payload.val, earlier[-1] if earlier else default_unit)], said, units, base_unit)
