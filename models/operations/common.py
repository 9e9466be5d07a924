"""Helpers shared by operations: opening documents, checking sites, reading the clock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from sqlalchemy.orm import Session

from models import node
from models.actor import Actor, Permission
from models.base import utcnow
from models.catalog import Item
from models.catalog_snapshot import CatalogSnapshot, ItemInfo, PartyInfo, SiteInfo
from models.documents import DOC_PREFIX, TRANSITIONS, DocKind, DocStatus, Document
from models.errors import BusinessTimeOutOfWindow, InvalidState, ValidationError
from models.lookup import get_owned, not_found
from models.numbering import allocate
from models.org import Org, Site, SiteKind
from models.timeutil import SHANGHAI
from models.unit_of_work import catalog_of
from models.units import base_quantity

#: Offline entries may carry a past business time; a future one is a clock or typing error.
FUTURE_SLACK = timedelta(minutes=10)
#: Default window (org settings ``business_time_back_days`` / ``business_time_ahead_minutes``).
DEFAULT_BACK_DAYS = 7
#: Nothing this system books happened before it: a floor even for those who may backdate.
EARLIEST_BUSINESS_TIME = datetime(2000, 1, 1, tzinfo=UTC)
#: Default plausibility limit of one receipt (org setting ``receipt_review_above_base``), in base units.
DEFAULT_REVIEW_ABOVE = Decimal(1000)

STATUS_LABELS = {
    DocStatus.DRAFT: "草稿", DocStatus.POSTED: "已过账", DocStatus.REVERSED: "已冲销",
    DocStatus.REQUESTED: "待审批", DocStatus.APPROVED: "已批准", DocStatus.IN_TRANSIT: "在途",
    DocStatus.RECEIVED: "已收货", DocStatus.REJECTED: "已驳回", DocStatus.CANCELLED: "已取消",
    DocStatus.CONFIRMED: "已确认", DocStatus.PARTIAL: "部分完成", DocStatus.DONE: "已完成",
}


def _org_settings(session: Session, org_id: int) -> dict[str, Any]:
    org = session.get_one(Org, org_id)
    return org.settings if isinstance(org.settings, dict) else {}


def positive_setting(raw: Any, default: Decimal) -> Decimal:
    """A positive finite number from a settings value, else ``default`` (a bad setting never widens a limit)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        return default
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return default
    return value if value.is_finite() and value > 0 else default


def business_window(session: Session, org_id: int) -> tuple[timedelta, timedelta]:
    """(how far back, how far ahead of now) a business time may lie without the backdate permission."""
    return window_of(_org_settings(session, org_id))


def window_of(settings: Mapping[str, Any]) -> tuple[timedelta, timedelta]:
    """:func:`business_window` from an org's settings as read (the ORM, a catalog snapshot)."""
    back = positive_setting(settings.get("business_time_back_days"), Decimal(DEFAULT_BACK_DAYS))
    ahead = positive_setting(settings.get("business_time_ahead_minutes"), Decimal(FUTURE_SLACK.seconds // 60))
    return timedelta(days=float(min(back, Decimal(3660)))), timedelta(minutes=float(min(ahead, Decimal(1440))))


def check_business_time(session: Session, org_id: int, value: datetime, *, may_backdate: bool,
                        field: str = "business_time") -> datetime:
    """Refuse a business time outside the org's window (past it only with ``may_backdate``); the one
    check every entry passes, devices included."""
    return time_in_window(value, business_window(session, org_id), may_backdate=may_backdate, field=field)


def time_in_window(value: datetime, window: tuple[timedelta, timedelta], *, may_backdate: bool,
                   field: str = "business_time") -> datetime:
    """:func:`check_business_time` against a window already read."""
    if value.tzinfo is None:
        raise ValidationError("业务时间缺少时区", field=field)
    now = utcnow()
    back, ahead = window
    if value > now + ahead:
        raise BusinessTimeOutOfWindow("业务时间不能晚于现在", field=field, value=value.isoformat())
    if value < EARLIEST_BUSINESS_TIME or (value < now - back and not may_backdate):
        raise BusinessTimeOutOfWindow(
            f"业务时间早于 {back.days} 天前，补录须有补录权限（总监、财务）", field=field,
            value=value.isoformat(), back_days=back.days)
    return value


def business_time_or_now(session: Session, actor: Actor, value: datetime | None) -> datetime:
    """Return the business time of an entry, defaulting to now; refuse the future and, without
    Permission.BACKDATE, anything older than the org's window (so no voucher lands in an old period)."""
    if value is None:
        return utcnow()
    return time_in_window(value, window_of(catalog_of(session, actor.org_id).org.settings),
                          may_backdate=actor.can(Permission.BACKDATE))


# --- Master data from the transaction's catalog snapshot (models.catalog_snapshot): no ORM load of a
# site, item or party (the session's identity map holds them weakly, so each operation reloaded them).

def site_in(catalog: CatalogSnapshot, site_id: int) -> SiteInfo:
    """:func:`stock_site` over a catalog snapshot."""
    site = catalog.sites.get(site_id)
    if site is None:
        raise not_found("Site", site_id)
    if site.kind == SiteKind.IN_TRANSIT or not site.active:
        raise ValidationError(f"{site.name} 不能直接收发货", site_id=site_id)
    return site


def item_in(catalog: CatalogSnapshot, item_id: int) -> ItemInfo:
    """:func:`active_item` over a catalog snapshot."""
    item = catalog.items.get(item_id)
    if item is None:
        raise not_found("Item", item_id)
    if not item.active:
        raise ValidationError(f"{item.name} 已停用", item_id=item_id)
    return item


def party_in(catalog: CatalogSnapshot, party_id: int | None) -> PartyInfo | None:
    """The party of an entry (None if none given) over a catalog snapshot; NotFound if not the org's."""
    if party_id is None:
        return None
    party = catalog.parties.get(party_id)
    if party is None:
        raise not_found("Party", party_id)
    return party


def quantity_in_base(item: ItemInfo, quantity: Decimal, unit: str | None) -> Decimal:
    """:func:`models.units.to_base` with the snapshot's unit factors."""
    return base_quantity(item.id, item.name, item.base_unit, quantity, unit, lambda: item.unit_factors)


def receipt_review_limit(session: Session, org_id: int, item: Item) -> Decimal:
    """The quantity (base unit) above which one receipt of ``item`` waits for a second person:
    ``receipt_review_above_base_by_item[item code]``, else ``receipt_review_above_base``, else 1000."""
    return review_limit_of(_org_settings(session, org_id), item.code)


def review_limit_of(settings: Mapping[str, Any], item_code: str) -> Decimal:
    """:func:`receipt_review_limit` from an org's settings as read."""
    default = positive_setting(settings.get("receipt_review_above_base"), DEFAULT_REVIEW_ABOVE)
    by_item = settings.get("receipt_review_above_base_by_item")
    if isinstance(by_item, dict) and item_code in by_item:
        return positive_setting(by_item[item_code], default)
    return default


class SiteRef(Protocol):
    """A site as the ORM row or the catalog snapshot's copy: what a document number needs."""

    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...


#: Digits of a document's daily sequence number (RK-SX-20261123-0007).
DOC_SEQ_WIDTH = 4


def document_series(kind: DocKind, site: SiteRef | None, business_time: datetime) -> tuple[str, str]:
    """The counter a document's number comes from: (series "RK-SX", Shanghai day "20261123"); at an
    edge node the series carries its code ("RK-SX-N1"), so its numbers and counters are its own."""
    series = f"{DOC_PREFIX[kind]}-{site.code}" if site is not None else DOC_PREFIX[kind]
    return node.tagged(series), business_time.astimezone(SHANGHAI).strftime("%Y%m%d")


def document_number(series: str, day: str, seq: int | str) -> str:
    """RK-SX-20261123-0007 (``seq`` a number, or text already padded by the posting writer)."""
    return f"{series}-{day}-{seq:0{DOC_SEQ_WIDTH}d}" if isinstance(seq, int) else f"{series}-{day}-{seq}"


def open_document(
    session: Session,
    actor: Actor,
    kind: DocKind,
    status: DocStatus,
    business_time: datetime,
    *,
    site: SiteRef | None = None,
    **fields: Any,
) -> Document:
    """Create a document with its human number (RK-SX-20261123-0007) and flush it."""
    series, day = document_series(kind, site, business_time)
    number = document_number(series, day, allocate(session, actor.org_id, series, day))
    doc = Document(
        org_id=actor.org_id, kind=kind, number=number, status=status, business_time=business_time,
        site_id=site.id if site is not None else None, created_by=actor.member_id, lines=[], **fields,
    )  # lines=[]: a new document has none, so appending later loads nothing
    session.add(doc)
    session.flush()
    return doc


def transition(doc: Document, target: DocStatus) -> None:
    """Move a document to ``target`` if its state machine allows it."""
    allowed = TRANSITIONS.get(doc.kind, {}).get(doc.status, set())
    if target not in allowed:
        raise InvalidState(
            f"单据 {doc.number} 当前{STATUS_LABELS[doc.status]}，不能改为{STATUS_LABELS[target]}",
            number=doc.number, status=doc.status.value, target=target.value,
        )
    doc.status = target


def stock_site(session: Session, actor: Actor, site_id: int) -> Site:
    """Return an active, non-transit site of the actor's organisation."""
    site = get_owned(session, Site, site_id, actor.org_id)
    if site.kind == SiteKind.IN_TRANSIT or not site.active:
        raise ValidationError(f"{site.name} 不能直接收发货", site_id=site_id)
    return site


def active_item(session: Session, actor: Actor, item_id: int) -> Item:
    """Return an active item of the actor's organisation."""
    item = get_owned(session, Item, item_id, actor.org_id)
    if not item.active:
        raise ValidationError(f"{item.name} 已停用", item_id=item_id)
    return item


#: No price per base unit is this high: a bigger one is a typing error (and would overflow the amount columns).
MAX_UNIT_PRICE = Decimal(10_000_000)


def check_unit_price(value: Decimal, field: str = "unit_price") -> Decimal:
    """A price per base unit as the ledger can store it: a finite number, 0 … MAX_UNIT_PRICE, six decimals."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValidationError("单价必须是数字", field=field)
    if value < 0:
        raise ValidationError("单价不能为负", field=field)
    if value > MAX_UNIT_PRICE:
        raise ValidationError("单价过大，请核对", field=field)
    if value != value.quantize(Decimal("0.000001")):
        raise ValidationError("单价最多六位小数", field=field)
    return value


def dec(value: Decimal) -> str:
    """Render a Decimal for event payloads."""
    return format(value.normalize(), "f")
