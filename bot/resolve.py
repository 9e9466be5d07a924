"""Find the items, sites, farmers, grades and the quantity a chat message names, in one organisation."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.catalog import Item
from models.errors import NotFound, QuantityUnitMissing
from models.org import Party, PartyKind, Site, SiteKind
from models.quantity import ParsedQuantity, parse_quantity
from models.units import units_for_item

_SITE_SUFFIXES = ("收购点", "收购站", "仓库", "门店", "仓", "店", "站", "点")


@dataclass(frozen=True)
class Hit:
    id: int
    label: str
    start: int
    end: int


def _find(text: str, keys: list[tuple[str, int, str]]) -> list[Hit]:
    """Occurrences of keys in text; per id the longest, leftmost; overlapping shorter hits dropped."""
    low = text.lower()
    hits: dict[int, Hit] = {}
    for key, obj_id, label in keys:
        k = key.lower().strip()
        if not k:
            continue
        if k.isascii():
            m = re.search(rf"(?<![a-z0-9]){re.escape(k)}(?![a-z0-9])", low)
            pos = m.start() if m else -1
        else:
            pos = low.find(k)
        if pos < 0:
            continue
        hit = Hit(obj_id, label, pos, pos + len(k))
        old = hits.get(obj_id)
        if old is None or (hit.end - hit.start) > (old.end - old.start):
            hits[obj_id] = hit
    found = sorted(hits.values(), key=lambda h: (h.start, -(h.end - h.start)))
    # A hit inside a longer one (龙井 inside 龙井罐) belongs to the longer one, if they differ.
    return [h for h in found if not any(o is not h and o.start <= h.start and h.end <= o.end
                                        and (o.end - o.start) > (h.end - h.start) for o in found)]


def blank(text: str, *hits: Hit | None) -> str:
    """Replace the hits' spans by spaces (so a name like "250g" is not read as a quantity)."""
    chars = list(text)
    for h in hits:
        if h is not None:
            chars[h.start:h.end] = " " * (h.end - h.start)
    return "".join(chars)


def find_items(session: Session, org_id: int, text: str) -> list[Hit]:
    """Items named in ``text`` by name, short name, alias or code."""
    keys: list[tuple[str, int, str]] = []
    for item in session.scalars(select(Item).where(Item.org_id == org_id, Item.active.is_(True))):
        names = {item.name, item.name.split()[0], item.code}
        names |= {a.strip() for a in re.split(r"[,，;；、|\s]+", item.aliases or "") if a.strip()}
        keys += [(n, item.id, item.name) for n in names if len(n) >= 2]
    return _find(text, keys)


def find_sites(session: Session, org_id: int, text: str) -> list[Hit]:
    """Stock sites named in ``text`` (full name, name without 收购点/仓/店, or code), left to right."""
    keys: list[tuple[str, int, str]] = []
    for site in session.scalars(select(Site).where(Site.org_id == org_id, Site.active.is_(True),
                                                   Site.kind != SiteKind.IN_TRANSIT)):
        names = {site.name, site.code}
        for suffix in _SITE_SUFFIXES:
            if site.name.endswith(suffix) and len(site.name) - len(suffix) >= 2:
                names.add(site.name[: -len(suffix)])
        keys += [(n, site.id, site.name) for n in names if len(n) >= 2]
    return _find(text, keys)


def find_parties(session: Session, org_id: int, text: str, kinds: tuple[PartyKind, ...]) -> list[Hit]:
    """Parties of the given kinds named in ``text`` (by name or golden-copy code)."""
    keys: list[tuple[str, int, str]] = []
    for p in session.scalars(select(Party).where(Party.org_id == org_id, Party.active.is_(True),
                                                 Party.kind.in_(kinds))):
        keys += [(p.name, p.id, p.name), (p.code, p.id, p.name)]
    return _find(text, keys)


def find_grade(item: Item, text: str) -> Hit | None:
    """The item's grade named in ``text`` (特级, 一级 …)."""
    hits = _find(text, [(g.name, g.id, g.name) for g in item.grades])
    return hits[0] if hits else None


@dataclass(frozen=True)
class Amount:
    quantity: Decimal
    #: As said ("斤", "箱"); None means the item's base unit.
    unit: str | None
    text: str


def find_amount(session: Session, item: Item, text: str) -> Amount:
    """The one quantity in ``text`` (models.quantity.parse_quantity, as typed and spoken weights), in a
    unit the item accepts. Unsure (two quantities, 大概, a correction without a new value) raises; the
    dialog turns QuantityAmbiguous into a numbered question."""
    units = units_for_item(session, item)
    try:
        parsed = parse_quantity(text, units, base_unit=item.base_unit)
    except QuantityUnitMissing as exc:
        raise QuantityUnitMissing(f"请写明单位，例如：23.5{item.base_unit}（{item.name}可用：{'、'.join(units)}）",
                                  **exc.details) from exc
    return amount_of(parsed, item, units)


def amount_of(parsed: ParsedQuantity, item: Item, units: Mapping[str, Decimal]) -> Amount:
    """A parsed quantity as the draft keeps it: one part in its own unit, several in the base unit."""
    if len(parsed.parts) == 1 and parsed.parts[0].unit in units:
        part = parsed.parts[0]
        return Amount(part.value, None if part.unit == item.base_unit else part.unit, parsed.text)
    return Amount(parsed.base, None, parsed.text)


def item_by_id(session: Session, org_id: int, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None or item.org_id != org_id:
        raise NotFound("找不到商品", item_id=item_id)
    return item
