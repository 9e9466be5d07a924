"""The stock list a manager filters: a page of (site, item) rows with their lots, origin and value.

The figures per row and per lot are ``queries.stock_availability``'s (on hand, reserved, frozen,
QC-held, available — what ``ship_goods`` could ship — and the value at cost); this module only
chooses which (site, item) pairs make a page, in SQL, keyed on (site id, item id) so a page costs
the same at 2,000 items as at 20. The "held only" filter narrows candidates in SQL to pairs with a
QC-failed lot or an active outbound freeze of the item, then keeps those whose availability holds
stock back (the freeze rule itself is applied once, by ``stock_availability.lot_rows``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import and_, or_, select, tuple_
from sqlalchemy.orm import Session

from models.actor import Actor
from models.base import utcnow
from models.catalog import Grade, Item
from models.errors import ValidationError
from models.lookup import get_owned
from models.org import Party
from models.queries.stock_availability import Availability, LotAvailability, availability_of, visible_stock_sites
from models.stock import Balance, Freeze, FreezeDirection, Lot, QcStatus
from models.timeutil import local_date

PAGE_SIZE = 50
#: "Expiring within N days" accepts up to ten years: a bigger N is a typo, not a question.
MAX_EXPIRY_DAYS = 3650

QC_LABELS = {QcStatus.PENDING.value: "待检", QcStatus.PASSED.value: "合格", QcStatus.FAILED.value: "不合格"}


@dataclass(frozen=True)
class StockFilter:
    site_id: int | None = None
    item_id: int | None = None
    #: Part of an item's name or code (a desk user types "茶青" or "CQ"; no 2,000-entry picker).
    item_text: str = ""
    #: Only pairs with stock that cannot be shipped (frozen or QC failed).
    held_only: bool = False
    #: Only pairs with a lot in stock that expires within this many days (0: today or already expired).
    expiring_within_days: int | None = None


@dataclass(frozen=True)
class LotLine:
    """A lot of a stock row: its availability and where it came from."""

    lot: LotAvailability
    origin_name: str | None
    grade_name: str | None
    received_on: date | None

    @property
    def qc_label(self) -> str:
        return QC_LABELS.get(self.lot.qc_status, self.lot.qc_status)


@dataclass(frozen=True)
class StockRow:
    stock: Availability
    #: Its lots, first expiry first (the first ``lots_per_row`` if the page asked for fewer).
    lots: tuple[LotLine, ...]

    @property
    def lots_cut(self) -> bool:
        """Some of its lots are not listed (the figures still count them all)."""
        return len(self.lots) < len(self.stock.lots)


@dataclass(frozen=True)
class StockPage:
    rows: tuple[StockRow, ...]
    #: The cursor of the next page ("site_id-item_id"), or None on the last page.
    next_after: str | None
    as_of: date


def parse_cursor(after: str | None) -> tuple[int, int] | None:
    """"12-345" → (12, 345); junk is a ValidationError (never a 500)."""
    if after is None or after == "":
        return None
    parts = after.split("-")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) <= 15 for p in parts):
        raise ValidationError("翻页参数无效，请从第一页重新开始", field="after")
    return int(parts[0]), int(parts[1])


def stock_page(session: Session, actor: Actor, flt: StockFilter, *, after: str | None = None,
               limit: int | None = None, lots_per_row: int | None = None) -> StockPage:
    """One page of the stock list at the sites the actor may see (VIEW_STOCK), by site then item.

    ``lots_per_row``: list at most this many lots under each row (a screen; an export wants them all).

    A named site must be the org's (NotFound) and visible (PermissionDenied); a named item the org's.
    """
    cursor = parse_cursor(after)
    limit = limit or PAGE_SIZE
    if len(flt.item_text) > 64:
        raise ValidationError("商品名称最多 64 个字", field="item_text")
    if flt.expiring_within_days is not None and not 0 <= flt.expiring_within_days <= MAX_EXPIRY_DAYS:
        raise ValidationError(f"到期天数须在 0 到 {MAX_EXPIRY_DAYS} 之间", field="expiring_within_days")
    sites = {s.id: s for s in visible_stock_sites(
        session, actor, [flt.site_id] if flt.site_id is not None else None)}
    if flt.item_id is not None:
        get_owned(session, Item, flt.item_id, actor.org_id)
    today = local_date(utcnow())
    if not sites:
        return StockPage((), None, today)
    keys = _page_keys(session, actor.org_id, list(sites), flt, cursor, limit + 1, today)
    more = len(keys) > limit
    keys = keys[:limit]
    levels = availability_of(session, actor.org_id, sites, keys)
    if flt.held_only:  # the SQL narrowed to candidates; availability decides (the one freeze rule)
        levels = [a for a in levels if a.held_lots > 0]
    shown = [(a, a.lots[:lots_per_row] if lots_per_row else a.lots) for a in levels]
    details = _lot_details(session, actor.org_id, {lot.lot_id for _a, lots in shown for lot in lots})
    rows = tuple(StockRow(a, tuple(LotLine(lot, *details.get(lot.lot_id, (None, None, None))) for lot in lots))
                 for a, lots in shown)
    return StockPage(rows, f"{keys[-1][0]}-{keys[-1][1]}" if more else None, today)


def _page_keys(session: Session, org_id: int, site_ids: list[int], flt: StockFilter,
               cursor: tuple[int, int] | None, limit: int, today: date) -> list[tuple[int, int]]:
    stmt = (select(Balance.site_id, Balance.item_id)
            .where(Balance.org_id == org_id, Balance.site_id.in_(site_ids),
                   or_(Balance.on_hand != 0, Balance.reserved != 0))
            .group_by(Balance.site_id, Balance.item_id)
            .order_by(Balance.site_id, Balance.item_id).limit(limit))
    if flt.item_id is not None:
        stmt = stmt.where(Balance.item_id == flt.item_id)
    if flt.item_text.strip():
        pattern = "%" + flt.item_text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(Balance.item_id.in_(select(Item.id).where(
            Item.org_id == org_id, or_(Item.name.ilike(pattern, escape="\\"), Item.code.ilike(pattern, escape="\\")))))
    if cursor is not None:
        stmt = stmt.where(or_(Balance.site_id > cursor[0],
                              and_(Balance.site_id == cursor[0], Balance.item_id > cursor[1])))
    if flt.held_only or flt.expiring_within_days is not None:
        stmt = stmt.join(Lot, Lot.id == Balance.lot_id).where(Balance.on_hand > 0)
    if flt.held_only:
        # Active freezes that stop stock leaving are few: read them, then test each pair against them.
        everywhere: set[int] = set()
        at_site: set[tuple[int, int]] = set()
        for item_id, site_id in session.execute(select(Freeze.item_id, Freeze.site_id).where(
                Freeze.org_id == org_id, Freeze.active.is_(True), Freeze.direction != FreezeDirection.INBOUND)):
            if site_id is None:
                everywhere.add(item_id)
            else:
                at_site.add((site_id, item_id))
        held = [Lot.qc_status == QcStatus.FAILED]
        if everywhere:
            held.append(Balance.item_id.in_(everywhere))
        if at_site:
            held.append(tuple_(Balance.site_id, Balance.item_id).in_(sorted(at_site)))
        stmt = stmt.where(or_(*held))
    if flt.expiring_within_days is not None:
        stmt = stmt.where(Lot.expires_on <= today + timedelta(days=flt.expiring_within_days))
    return [(site_id, item_id) for site_id, item_id in session.execute(stmt)]


def _lot_details(session: Session, org_id: int,
                 lot_ids: set[int]) -> dict[int, tuple[str | None, str | None, date | None]]:
    """{lot id: (origin party's name, grade, received on)} in one statement."""
    if not lot_ids:
        return {}
    stmt = (select(Lot.id, Party.name, Grade.name, Lot.received_on)
            .outerjoin(Party, Party.id == Lot.origin_party_id).outerjoin(Grade, Grade.id == Lot.grade_id)
            .where(Lot.org_id == org_id, Lot.id.in_(lot_ids)))
    return {lot_id: (origin, grade, received) for lot_id, origin, grade, received in session.execute(stmt)}


def stock_rows_for_export(session: Session, actor: Actor, flt: StockFilter,
                          max_rows: int = 20_000) -> tuple[list[StockRow], bool]:
    """Every row the filter selects, page by page (the same query as the screen); True if cut at ``max_rows``."""
    rows: list[StockRow] = []
    after: str | None = None
    while True:
        page = stock_page(session, actor, flt, after=after, limit=500)
        rows.extend(page.rows)
        if page.next_after is None:
            return rows, False
        if len(rows) >= max_rows:
            return rows[:max_rows], True
        after = page.next_after


def total_value(rows: list[StockRow] | tuple[StockRow, ...]) -> Decimal:
    """Σ value of the rows (a page's or an export's)."""
    return sum((r.stock.value for r in rows), Decimal(0))
